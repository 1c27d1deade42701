"""`run` in the foreground: the command's output goes to the terminal and the
container's log, signals are passed on, and cnmctl exits with its status."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import time

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def attach(folder: str, popen: subprocess.Popen) -> int:
    """Pass signals on to the started foreground process, copy its output to the
    terminal and the logs in `folder`, and return its status as a shell reports it."""
    for sig in FORWARDED:
        signal.signal(sig, lambda number, _frame: popen.send_signal(number))
    _tee(folder, popen)
    code = popen.wait()
    return 128 - code if code < 0 else code  # killed by a signal: 128 + its number


def _tee(folder: str, popen: subprocess.Popen) -> None:
    """Copy the child's stdout/stderr to ours at once, and to the container's log
    line by line with each line's time and stream (runtime/logs.py's format)."""
    from cnmctl.runtime.logs import LOG_FILE, cut_lines, record

    log = os.open(os.path.join(folder, LOG_FILE), os.O_WRONLY | os.O_APPEND | os.O_CREAT
                  | os.O_CLOEXEC, 0o600)
    try:
        outputs = {popen.stdout.fileno(): (sys.stdout.buffer, "stdout"),
                   popen.stderr.fileno(): (sys.stderr.buffer, "stderr")}
        pending = dict.fromkeys(outputs, b"")  # a line not finished yet, per stream
        selector = selectors.DefaultSelector()
        for fd in outputs:
            selector.register(fd, selectors.EVENT_READ)
        while outputs:
            for key, _ in selector.select():
                data = os.read(key.fd, 65536)
                terminal, stream = outputs[key.fd]
                if not data:
                    if pending[key.fd]:
                        os.write(log, record(stream, pending[key.fd], partial=True))
                    selector.unregister(key.fd)
                    del outputs[key.fd]
                    continue
                pieces, pending[key.fd] = cut_lines(pending[key.fd] + data)
                if pieces:
                    now = time.time()  # one write: records never interleave
                    os.write(log, b"".join(record(stream, piece, partial, now)
                                           for piece, partial in pieces))
                with contextlib.suppress(BrokenPipeError):
                    terminal.write(data)
                    terminal.flush()
    finally:
        os.close(log)
