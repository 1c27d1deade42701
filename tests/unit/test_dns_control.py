"""Stopping a DNS helper (cnmctl.dns.control) against a stand-in helper (no root).

A real helper drops its pid-file lock and removes its files before its
interpreter has finished shutting down; `stop_helper` must wait for the process
itself. The stand-in makes that window long on purpose.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

from cnmctl.dns import control
from cnmctl.runtime import process

NETWORK_ID = "ab" * 32

# The helper's side of the protocol, as cnmctl.dns.server does it: lock the pid file
# and write the pid, serve the control socket; on `stop`, remove the files and drop
# the lock, reply, then take a while to exit (a slow interpreter shutdown). Dropping
# the lock before the reply makes the window certain rather than likely.
STAND_IN = textwrap.dedent("""
    import fcntl, os, socket, sys, time
    pid_path, sock_path = sys.argv[1], sys.argv[2]
    fd = os.open(pid_path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, f"{os.getpid()}\\n".encode())
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(8)
    while True:
        conn, _ = server.accept()
        line = conn.makefile().readline().strip()
        if line == "stop":
            os.unlink(sock_path)
            os.unlink(pid_path)
            os.close(fd)
        conn.sendall(b"ok\\n")
        conn.close()
        if line == "stop":
            break
    time.sleep(1.0)
""")


def test_stop_returns_only_once_the_helper_process_is_gone(tmp_path):
    run_root = str(tmp_path / "run")
    paths = control.helper_paths(NETWORK_ID, run_root)
    (tmp_path / "run" / "dns").mkdir(parents=True)
    stand_in = subprocess.Popen([sys.executable, "-c", STAND_IN, paths["pid"], paths["sock"]])
    try:
        while not control.alive(NETWORK_ID, run_root):  # up and answering `ping`
            assert stand_in.poll() is None, "the stand-in helper died at start"
            time.sleep(0.01)
        control.stop_helper(NETWORK_ID, run_root)
        assert process.start_time(stand_in.pid) == 0, "stop_helper returned, the helper lives"
    finally:
        stand_in.kill()
        stand_in.wait()
    assert not os.path.exists(paths["pid"]) and not os.path.exists(paths["sock"])


def test_stop_without_a_helper_is_quiet(tmp_path):
    run_root = str(tmp_path / "run")
    control.stop_helper(NETWORK_ID, run_root)  # no dns folder at all
    (tmp_path / "run" / "dns").mkdir(parents=True)
    control.stop_helper(NETWORK_ID, run_root)  # nothing running
