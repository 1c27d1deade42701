"""Attaching a terminal (or pipes) to a container through its shim's socket.

`run` in the foreground, `run -it`, `start -a [-i]` and `attach` all connect to
the `attach.sock` the container's shim serves (protocol in runtime/shim.c): its
output comes to our stdout and stderr, our stdin goes to it, the window size
follows ours, and the detach keys (Ctrl-P Ctrl-Q by default) leave it running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import sys

from cnmctl.errors import CnmError, InvalidArgument

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
DETACHED = -1  # relay's answer when the detach keys were typed
# Signals `run`/`attach` pass on to the container without a terminal (--sig-proxy);
# with one, Ctrl-C reaches it through the terminal itself, as the character it is.
PROXIED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
           signal.SIGUSR1, signal.SIGUSR2)
MESSAGE_MAX = 32769  # the shim's largest message: a type byte and 32 KiB
MAX_CLIENTS = 16  # the shim's MAX_CLIENTS


@contextlib.contextmanager
def raw_mode(fd: int):
    """Our terminal at `fd` in raw mode while inside (keys go through as typed,
    Ctrl-C included); nothing if `fd` is not a terminal."""
    if fd < 0 or not os.isatty(fd):
        yield
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSANOW)  # TCSAFLUSH (the default) would drop keys typed already
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def window_size() -> tuple[int, int] | None:
    """(rows, columns) of our terminal (stdout), or None if it has none."""
    import fcntl
    import termios

    try:
        packed = fcntl.ioctl(sys.stdout.fileno(), termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return None
    rows, cols = struct.unpack("HHHH", packed)[:2]
    return (rows, cols) if rows and cols else None


def parse_detach_keys(spec: str) -> bytes:
    """Docker's --detach-keys: comma-separated keys, each a single character or
    `ctrl-X` (X a letter, or one of @ [ \\ ] ^ _)."""
    keys = bytearray()
    for key in spec.split(","):
        if len(key) == 1 and key.isascii():
            keys.append(ord(key))
        elif key.lower().startswith("ctrl-") and len(key) == 6:
            char = key[5].lower()
            if "a" <= char <= "z":
                keys.append(ord(char) - ord("a") + 1)
            elif char in "@[\\]^_":
                keys.append("@[\\]^_".index(char) + (0 if char == "@" else 26))
            else:
                raise InvalidArgument(f"Invalid detach keys ({spec}) provided")
        else:
            raise InvalidArgument(f"Invalid detach keys ({spec}) provided")
    return bytes(keys)


class Detector:
    """Finds the detach sequence in what is typed; bytes that may start it are held
    back until it is clear they do not (as Docker's escape proxy does)."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(the bytes to pass on, whether the whole sequence was typed)."""
        out = bytearray()
        for byte in data:
            candidate = self.held + bytes([byte])
            if self.keys and self.keys.startswith(candidate):
                self.held = candidate
                if candidate == self.keys:
                    return bytes(out), True
                continue
            out += candidate
            self.held = b""
        return bytes(out), False


class Attachment:
    """A connection to a container's shim."""

    def __init__(self, folder: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        from cnmctl.linux import connect_unix

        try:
            connect_unix(self.sock, os.path.join(folder, "attach.sock"))
        except OSError:
            self.sock.close()
            raise

    def close(self) -> None:
        """Leave (the container goes on)."""
        self.sock.close()

    def _send_size(self) -> None:
        size = window_size()
        if size is not None:
            with contextlib.suppress(OSError):  # the shim is gone: relay() sees it next
                self.sock.send(b"w" + struct.pack("=HH", *size))

    def relay(self, *, stdin: bool, tty: bool, detach_keys: str = DEFAULT_DETACH_KEYS,
              close_stdin: bool = False, proxy=None) -> int | None:
        """Copy our stdin to the container (if `stdin`) and its output to our stdout
        and stderr until it exits (its status), the detach keys are typed (DETACHED)
        or the shim goes away without a word (None: the caller asks the store).
        With `tty` and a terminal of ours, that terminal is put in raw mode and its
        size followed; `close_stdin` closes the container's stdin at our EOF;
        `proxy(signal)` receives the signals we get (--sig-proxy)."""
        keys = Detector(parse_detach_keys(detach_keys) if stdin else b"")
        fd_in = sys.stdin.fileno() if stdin else -1
        previous = {}
        try:
            if tty:
                self._send_size()
                previous[signal.SIGWINCH] = signal.signal(
                    signal.SIGWINCH, lambda *_: self._send_size())
            elif proxy is not None:
                for sig in PROXIED:
                    previous[sig] = signal.signal(sig, lambda number, _frame: proxy(number))
            with raw_mode(fd_in if tty else -1):
                return self._pump(fd_in, keys, close_stdin)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _pump(self, fd_in: int, keys: Detector, close_stdin: bool) -> int | None:
        import selectors

        # poll, not epoll: a stdin that is a file or /dev/null is always ready
        selector = selectors.PollSelector()
        selector.register(self.sock, selectors.EVENT_READ)
        if fd_in >= 0:
            selector.register(fd_in, selectors.EVENT_READ)
        outputs = {ord("o"): sys.stdout.buffer, ord("r"): sys.stderr.buffer}
        while True:
            for key, _ in selector.select():
                if key.fileobj is self.sock:
                    message = self.sock.recv(MESSAGE_MAX)
                    if not message:
                        return None
                    if message[0] == ord("x"):
                        return struct.unpack("=i", message[1:5])[0]
                    if message == b"f":
                        raise CnmError(f"too many clients are attached to the container "
                                       f"(at most {MAX_CLIENTS})")
                    out = outputs.get(message[0])
                    if out is not None:
                        with contextlib.suppress(BrokenPipeError):
                            out.write(message[1:])
                            out.flush()
                    continue
                data = os.read(fd_in, 32768)
                if not data:
                    selector.unregister(fd_in)
                    if close_stdin:
                        self.sock.send(b"e")
                    continue
                data, detach = keys.feed(data)
                if data:
                    self.sock.sendall(b"i" + data)
                if detach:
                    return DETACHED
