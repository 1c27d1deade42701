"""Starting, talking to and stopping the per-network embedded DNS helper.

One helper process (`python -m cnmctl.dns.server`) serves one network. Its files live
under RUN/dns/, named after the first 12 hex digits of the network ID:

    ID12.sock   control socket (unix stream, 0600): one request line, one reply line
    ID12.pid    the helper's pid; the helper holds an exclusive flock on it while alive
    ID12.log    the helper's stderr (appended; kept after stop for post-mortems)
    ID12.lock   flock'ed by ensure_helper/stop_helper so two callers never race

Control protocol (each request one line, each reply one line, `ok` or `error MESSAGE`):

    attach KEY   serve 127.0.0.11:53 (UDP and TCP) in the sandbox namespace at path KEY
    detach KEY   stop serving it (and close its sockets, so the namespace can go)
    reload       forget every attached sandbox's names: each is rebuilt from the store
                 at its next query (attach and detach imply it)
    ping         liveness check
    stop         reply, then exit
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import sys
import time
from collections.abc import Iterable, Iterator

from cnmctl.errors import KernelError

__all__ = ["HelperUnreachable", "alive", "ensure_helper", "helper_paths", "request",
           "running_helpers", "stop_helper"]


class HelperUnreachable(KernelError):
    """No helper answered on the control socket (not running, or not replying)."""

_START_TIMEOUT = 5.0
_STOP_TIMEOUT = 5.0
_POLL = 0.02


def helper_paths(network_id: str, run_root: str) -> dict[str, str]:
    """The helper's files for a network: sock, pid, log, lock."""
    from cnmctl.validate import check_short_id

    base = os.path.join(run_root, "dns", check_short_id(network_id))
    return {kind: f"{base}.{kind}" for kind in ("sock", "pid", "log", "lock")}


def _send(sock_path: str, line: str, timeout: float) -> str:
    """One request/reply exchange; OSError on any failure, "" if closed without reply."""
    # The C socket type directly: importing the `socket` module (its enums) costs
    # 2-4 ms, which every run and rm would pay for one round trip.
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(sock_path)
        sock.sendall(line.encode() + b"\n")
        data = b""
        while b"\n" not in data and len(data) < 65536:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    return data.split(b"\n", 1)[0].decode("utf-8", "replace").strip() if b"\n" in data else ""


def request(network_id: str, run_root: str, line: str, timeout: float = 5.0) -> str:
    """Send one control line to the network's helper and return its reply (`ok`).

    Raises HelperUnreachable when the helper cannot be reached or does not reply,
    KernelError when it replies `error ...`."""
    what = f"DNS helper for network {network_id[:12]}"
    verb = line.split(" ", 1)[0] if line.strip() else "(empty)"
    if "\n" in line or "\r" in line or not line.strip():
        raise KernelError(f"{what}: invalid control request {line!r}")
    path = helper_paths(network_id, run_root)["sock"]
    try:
        reply = _send(path, line, timeout)
    except TimeoutError:
        raise HelperUnreachable(f"{what}: no reply to {verb} within {timeout:g}s") from None
    except OSError as exc:
        raise HelperUnreachable(f"{what}: {verb}: {exc.strerror or exc}") from None
    if not reply:
        raise HelperUnreachable(f"{what}: {verb}: connection closed without a reply")
    if reply.startswith("error"):
        # The helper's message starts with the request itself ("attach KEY: ...").
        raise KernelError(f"{what}: {reply[5:].strip() or verb + ' failed'}")
    return reply


def _ping(sock_path: str, timeout: float = 1.0) -> bool:
    try:
        return _send(sock_path, "ping", timeout) == "ok"
    except OSError:
        return False


def alive(network_id: str, run_root: str) -> bool:
    """True if the network's helper answers `ping`."""
    return _ping(helper_paths(network_id, run_root)["sock"])


def running_helpers(run_root: str) -> list[str]:
    """The short network IDs of the helpers with a control socket (maybe stale)."""
    try:
        names = os.listdir(os.path.join(run_root, "dns"))
    except FileNotFoundError:
        return []
    return sorted(name[:-5] for name in names if name.endswith(".sock"))


def _helper_running(pid_path: str) -> bool:
    """True while some process holds the helper's flock on the pid file."""
    try:
        fd = os.open(pid_path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops our shared lock, if we got it
    return False


def _read_pid(pid_path: str) -> int:
    try:
        with open(pid_path, encoding="utf-8") as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def _reap(pid: int) -> bool:
    """Reap `pid` if it is our exited child; True if it is gone (or not ours to wait for)."""
    if pid <= 0:
        return True
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid


@contextlib.contextmanager
def _spawn_lock(lock_path: str) -> Iterator[None]:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _log_tail(log_path: str, lines: int = 3) -> str:
    try:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            tail = [line.strip() for line in f.read()[-4000:].splitlines() if line.strip()]
    except OSError:
        return ""
    return " | ".join(tail[-lines:])


def _spawn(network_id: str, root: str, run_root: str, upstreams: Iterable[str],
           log_path: str) -> int:
    argv = [sys.executable, "-m", "cnmctl.dns.server", "--network", network_id,
            "--root", root, "--run-root", run_root]
    for upstream in upstreams:
        argv += ["--upstream", str(upstream)]
    env = dict(os.environ)
    # The helper must import this very cnmctl, wherever the caller's cwd is.
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        return os.posix_spawn(
            sys.executable, argv, env,
            file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                          (os.POSIX_SPAWN_DUP2, log_fd, 1),
                          (os.POSIX_SPAWN_DUP2, log_fd, 2)],
            setsid=True,
            setsigmask=(),
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM),
        )
    finally:
        os.close(log_fd)


def ensure_helper(network_id: str, root: str, run_root: str,
                  upstreams: Iterable[str] = ()) -> bool:
    """Make sure the network's DNS helper runs and answers `ping`; start it if not.

    True if this call started it: the new helper serves no sandbox yet."""
    paths = helper_paths(network_id, run_root)
    os.makedirs(os.path.dirname(paths["sock"]), mode=0o700, exist_ok=True)
    what = f"DNS helper for network {network_id[:12]}"
    with _spawn_lock(paths["lock"]):
        if _ping(paths["sock"]):
            return False
        if _helper_running(paths["pid"]):
            # Alive but not answering: maybe still starting; else wedged, so replace it.
            deadline = time.monotonic() + _START_TIMEOUT
            while time.monotonic() < deadline:
                if _ping(paths["sock"]):
                    return False
                if not _helper_running(paths["pid"]):
                    break
                time.sleep(_POLL)
            _stop_locked(paths)
        try:
            pid = _spawn(network_id, root, run_root, upstreams, paths["log"])
        except OSError as exc:
            raise KernelError(f"{what}: cannot start: {exc.strerror or exc}") from None
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            if _ping(paths["sock"], timeout=0.5):
                return True
            if _reap(pid) and not _helper_running(paths["pid"]):
                tail = _log_tail(paths["log"])
                raise KernelError(f"{what}: exited at start" + (f": {tail}" if tail else ""))
            if time.monotonic() > deadline:
                raise KernelError(f"{what}: did not answer within {_START_TIMEOUT:g}s "
                                  f"(see {paths['log']})")
            time.sleep(_POLL)


def _helper_pidfd(pid_path: str) -> tuple[int, int] | None:
    """The running helper's pid and a pidfd on it; None if no helper holds the pid file.

    The lock on the pid file says that a helper lives, not when it is gone: an
    exiting helper removes the file and drops the lock before its interpreter
    has finished shutting down. So stopping waits on the process itself, through
    this pidfd. It is taken while the lock is held and the file names the same
    pid before and after, so it is the helper's even if pids are reused. A helper
    still starting holds the lock before it has written its pid: wait for it."""
    deadline = time.monotonic() + _START_TIMEOUT
    while _helper_running(pid_path):
        pid = _read_pid(pid_path)
        fd = -1
        if pid > 0:
            with contextlib.suppress(ProcessLookupError):
                fd = os.pidfd_open(pid)
        if fd >= 0:
            if _helper_running(pid_path) and _read_pid(pid_path) == pid:
                return pid, fd
            os.close(fd)
        if time.monotonic() > deadline:
            return None
        time.sleep(_POLL)
    return None


def _stop_locked(paths: dict[str, str]) -> None:
    """Ask the helper to stop, escalate to SIGTERM then SIGKILL, and return only
    once its process has exited; then remove its socket and pid file."""
    from cnmctl.runtime.process import wait_pidfd

    helper = _helper_pidfd(paths["pid"])
    with contextlib.suppress(OSError):
        _send(paths["sock"], "stop", 2.0)
    if helper is not None:
        pid, fd = helper
        try:
            for sig, wait in ((0, _STOP_TIMEOUT), (signal.SIGTERM, 2.0),
                              (signal.SIGKILL, _STOP_TIMEOUT)):
                if sig:
                    with contextlib.suppress(ProcessLookupError):
                        signal.pidfd_send_signal(fd, sig)
                if wait_pidfd(fd, wait):
                    break
        finally:
            os.close(fd)
        _reap(pid)
    if not _helper_running(paths["pid"]):
        for kind in ("sock", "pid"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(paths[kind])


def stop_helper(network_id: str, run_root: str) -> None:
    """Stop the network's DNS helper if it runs, and remove its socket and pid file."""
    paths = helper_paths(network_id, run_root)
    if not os.path.isdir(os.path.dirname(paths["sock"])):
        return
    with _spawn_lock(paths["lock"]):
        _stop_locked(paths)
