"""A real terminal for tests: run a command on a pseudo-terminal, type into it,
read what it shows, resize it (tests/integration/test_terminals.py)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import termios
import time


class Terminal:
    """A command running on the slave side of a pty whose master the test holds."""

    def __init__(self, argv: list[str], env: dict[str, str], rows: int = 30,
                 cols: int = 100) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the pty is its controlling terminal and stdio
            try:
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.resize(rows, cols, signal_it=False)
        self.seen = b""

    def resize(self, rows: int, cols: int, signal_it: bool = True) -> None:
        """Change the window size, as a terminal emulator does (SIGWINCH to the
        foreground process group follows from the kernel)."""
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        if signal_it:
            os.kill(self.pid, signal.SIGWINCH)

    def type(self, data: bytes) -> None:
        os.write(self.fd, data)

    def expect(self, wanted: bytes, timeout: float = 20.0) -> bytes:
        """Read until `wanted` has been shown since the last expect (a deadline, not a
        timing claim); what was shown up to and including it."""
        deadline = time.monotonic() + timeout
        while wanted not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{wanted!r} never shown; the terminal showed {self.seen!r}"
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.2))
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:  # EIO: the command closed the terminal
                    data = b""
                assert data, f"{wanted!r} never shown; the terminal closed after {self.seen!r}"
                self.seen += data
        shown, _, self.seen = self.seen.partition(wanted)
        return shown + wanted

    def wait(self, timeout: float = 30.0) -> int:
        """The command's exit status (its output is drained meanwhile)."""
        deadline = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            assert time.monotonic() < deadline, f"still running; it showed {self.seen!r}"
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                with contextlib.suppress(OSError):  # EIO once the command closed it
                    self.seen += os.read(self.fd, 65536)
