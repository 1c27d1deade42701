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
    """Copy the child's stdout/stderr to ours at once, and to the container's
    logs line by line with each line's time (as the detached supervisor does)."""
    from cnmctl.runtime.logs import stamp_line

    with contextlib.ExitStack() as logs:
        outputs = {
            popen.stdout.fileno(): (sys.stdout.buffer, logs.enter_context(
                open(os.path.join(folder, "stdout.log"), "ab"))),
            popen.stderr.fileno(): (sys.stderr.buffer, logs.enter_context(
                open(os.path.join(folder, "stderr.log"), "ab"))),
        }
        pending = dict.fromkeys(outputs, b"")  # a line not finished yet, per stream
        selector = selectors.DefaultSelector()
        for fd in outputs:
            selector.register(fd, selectors.EVENT_READ)
        while outputs:
            for key, _ in selector.select():
                data = os.read(key.fd, 65536)
                terminal, log = outputs[key.fd]
                if not data:
                    if pending[key.fd]:
                        log.write(stamp_line(pending[key.fd]))
                    selector.unregister(key.fd)
                    del outputs[key.fd]
                    continue
                *lines, pending[key.fd] = (pending[key.fd] + data).split(b"\n")
                if lines:
                    now = time.time()
                    log.write(b"".join(stamp_line(line, now) for line in lines))
                    log.flush()
                with contextlib.suppress(BrokenPipeError):
                    terminal.write(data)
                    terminal.flush()
