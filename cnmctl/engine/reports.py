"""What cnmctl's background hooks had to say, kept for `system check`.

A container's exit hook (`cnmctl internal exited`, run by its shim) inherits
the stderr of the command that started the container: a pipe nobody reads once
that command is gone, where a warning (a clean-up a plugin refused, a
killed command's undo that could not finish) would be lost, or fail with
EPIPE. The hook writes its stderr to the run root's reports file instead;
`system check` shows each line and `--fix` clears them.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys

REPORTS = "reports.log"
MAX_SHOWN = 64 << 10  # bytes of the file's end shown: a flood must not flood the check


class _ReportWriter(io.TextIOBase):
    """A hook's sys.stderr: appended to the reports file, made at the first write
    (a hook with nothing to say leaves no file). Takes bytes too: click writes them."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def write(self, text: str | bytes) -> int:
        data = text if isinstance(text, bytes) else text.encode("utf-8", errors="replace")
        if data:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT
                                   | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            os.write(self._fd, data)
        return len(text)

    def writable(self) -> bool:
        return True


def divert_stderr(run_root: str) -> None:
    """Send this process's stderr to the run root's reports file (sys.stderr), and fd
    2 (what children inherit) to /dev/null rather than a pipe nobody reads."""
    from cnmctl.store import jsonstore

    null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    os.dup2(null, 2)
    os.close(null)
    sys.stderr = _ReportWriter(os.path.join(run_root, REPORTS))
    jsonstore.LOCK_NOTICES = False  # a wait for the lock is no report: nobody waits here


def read_reports(run_root: str) -> list[str]:
    """The reported lines, oldest first (the last MAX_SHOWN bytes of them), as
    printable text."""
    try:
        fd = os.open(os.path.join(run_root, REPORTS), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return []
    except OSError as exc:  # a symlink planted there (O_NOFOLLOW): shown, never followed
        return [f"{REPORTS} cannot be read: {exc.strerror}"]
    with os.fdopen(fd, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(size - MAX_SHOWN, 0))
        text = f.read().decode("utf-8", errors="replace")
    lines = text.splitlines()[1 if size > MAX_SHOWN else 0:]  # the first may be cut
    return ["".join(c if c.isprintable() else "?" for c in line) for line in lines
            if line.strip()]


def clear_reports(run_root: str) -> None:
    """Forget the reported lines (once `system check --fix` has shown them). A hook
    writing at this very instant may lose its line: the window is the rename."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(run_root, REPORTS))
