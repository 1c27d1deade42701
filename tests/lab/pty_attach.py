#!/usr/bin/env python3
"""Type into `cnmctl attach CONTAINER` as a student at a terminal would, for `make lab`.

    tests/lab/pty_attach.py CONTAINER LINE...

`make lab` has no terminal to type in, so this runs `cnmctl attach CONTAINER` on a
pseudo-terminal of its own (80x24), waits until attach has put that terminal in raw mode
(it is then relaying), presses Enter and waits for the shell's prompt, types each LINE and
waits for the prompt to come back after its output, then presses Ctrl-P Ctrl-Q. It prints
what the terminal showed (the shell's own echo of each line included, its escape sequences
left out), then one line saying how attach ended, and exits with attach's status: 0 when the
detach keys left the container running, as `docker attach` does.

Every wait polls against a deadline (--timeout, 30 s each); a wait that runs out says what it
was waiting for on stderr and the script detaches (or kills attach) and exits 1.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time

DETACH_KEYS = b"\x10\x11"  # Ctrl-P Ctrl-Q, Docker's default
# CSI sequences (ash asks the cursor position with ESC [ 6 n) and other two-byte escapes.
ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# A shell prompt at the very end of the output: busybox ash's "/ # ", or "$ " for others.
PROMPT = re.compile(rb"(?:^|\n)[^\n]*[#$] $")


class Failed(Exception):
    pass


class Terminal:
    """`cnmctl attach` on the slave side of a pseudo-terminal; we hold the master."""

    def __init__(self, container: str, timeout: float) -> None:
        self.timeout = timeout
        self.shown = b""       # everything the terminal showed, raw
        self.status: int | None = None
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: its stdin, stdout and stderr are the slave
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
            try:
                os.execvp("cnmctl", ["cnmctl", "attach", container])
            except OSError as exc:
                os.write(2, f"Error: cannot run cnmctl: {exc.strerror}\n".encode())
            os._exit(127)

    def _read(self, until, what: str) -> None:
        """Read what the terminal shows until `until()` holds, attach exits, or the deadline."""
        deadline = time.monotonic() + self.timeout
        while not until():
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failed(f"no {what} within {self.timeout:g} s")
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.5))
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:  # EIO: every slave descriptor is closed, attach is gone
                    data = b""
                if data:
                    self.shown += data
                    continue
            if self._reaped():
                if not until():
                    raise Failed(f"cnmctl attach exited ({self.status}) before the {what}")
                return

    def _reaped(self) -> bool:
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == 0:
                return False
            self.status = os.waitstatus_to_exitcode(status)
        return True

    def wait_raw(self) -> None:
        """attach sets raw mode (no ICANON) once it is connected and relaying; typed
        before that, a line would be flushed away by its tcsetattr(TCSAFLUSH)."""
        self._read(lambda: not termios.tcgetattr(self.fd)[3] & termios.ICANON,
                   "raw mode on the terminal (attach relaying)")

    def type_and_wait_prompt(self, data: bytes, what: str) -> None:
        start = len(self.shown)
        os.write(self.fd, data)
        self._read(lambda: bool(PROMPT.search(ESCAPES.sub(b"", self.shown[start:]).replace(
            b"\r", b""))) and b"\n" in self.shown[start:], what)

    def detach(self) -> None:
        os.write(self.fd, DETACH_KEYS)
        self._read(lambda: self.status is not None, "exit of cnmctl attach after Ctrl-P Ctrl-Q")

    def kill(self) -> None:
        if self.status is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)

    def screen(self) -> str:
        text = ESCAPES.sub(b"", self.shown).replace(b"\r\n", b"\n").replace(b"\r", b"")
        return text.decode(errors="replace").lstrip("\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("container")
    parser.add_argument("lines", nargs="+", metavar="LINE")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()

    term = Terminal(args.container, args.timeout)
    problem = None
    try:
        term.wait_raw()
        term.type_and_wait_prompt(b"\r", "shell prompt after Enter")
        for line in args.lines:
            term.type_and_wait_prompt(line.encode() + b"\r", f"prompt after: {line}")
    except Failed as exc:
        problem = str(exc)
    try:
        if term.status is None:
            term.detach()
    except Failed as exc:
        problem = problem or str(exc)
        term.kill()
    screen = term.screen()
    sys.stdout.write(screen if not screen or screen.endswith("\n") else screen + "\n")
    if term.status == 0 and problem is None:
        print("[Ctrl-P Ctrl-Q: detached, cnmctl attach exited 0]")
    sys.stdout.flush()
    if problem is not None:
        print(f"Error: {problem}", file=sys.stderr)
        return 1
    return term.status or 0


if __name__ == "__main__":
    sys.exit(main())
