"""Container processes: spawn under a monitor, check liveness, signal and wait.

Supervision design: every container's process is the child of its own small
monitor, `cnmctl-shim` (runtime/shim.c, built by `make`), started in a session of
its own. The shim clones the process as PID 1 of a new PID namespace, holds its
terminal (-t), keeps its stdin open (-i), serves `attach` on a socket in the
container's folder and writes its output, stdout and stderr in the order
written, to the container's log (runtime/logs.py). When the process exits, the
shim execs `cnmctl internal exited ID CODE PID`, which records the exit code,
releases the endpoints and honours --rm and the restart policy. Idle, a shim
costs a few hundred KB of PSS (bench/ measures it); there is no daemon.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from typing import TYPE_CHECKING

from cnmctl.errors import CnmError
from cnmctl.sandbox.files import hostname_of

if TYPE_CHECKING:
    import subprocess

    from cnmctl.model import Container

HERE = os.path.dirname(os.path.abspath(__file__))
ENTER = os.path.join(HERE, "enter.py")
SHIM = os.path.join(HERE, "cnmctl-shim")
SHIM_NAME = b"cnmctl-shim"  # its argv[0] ends so; `ps` shows it
LOG_SOCKET = "log.sock"  # in the container's folder: where enter.py sends stdout and stderr
ATTACH_SOCKET = "attach.sock"


class ExecFailed(CnmError):
    """The container's command could not be started (126/127) or set up (125)."""


def start_time(pid: int) -> int:
    """The process's start time in clock ticks since boot (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return 0
    fields = stat[stat.rindex(b")") + 2:].split()
    if fields[0] == b"Z":  # a zombie has exited already
        return 0
    return int(fields[19])


def alive(pid: int, started: int) -> bool:
    """True while the process with this pid and start time runs (pid reuse safe)."""
    return pid > 0 and start_time(pid) == started != 0


def supervised(ctr: Container) -> bool:
    """True while the container's supervisor runs (so it will record the exit).

    The supervisor started the container's process, so it started no later: a
    process started after it under the same pid is another one (pid reuse)."""
    if ctr.supervisor_pid <= 0:
        return False
    started = start_time(ctr.supervisor_pid)
    return started != 0 and (not ctr.pid_start_time or started <= ctr.pid_start_time)


def wait_exit(pid: int, started: int, timeout: float) -> bool:
    """Wait until the process exits (at most `timeout` s); True if it did.

    A pidfd wakes us the moment it exits, where polling would add its interval
    to every `stop` and `rm -f`.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if not alive(pid, started):  # gone already, or the pid was reused
            return True
        return wait_pidfd(fd, timeout) or not alive(pid, started)
    finally:
        os.close(fd)


def wait_pidfd(fd: int, timeout: float) -> bool:
    """Wait until the process behind the pidfd `fd` has exited (at most `timeout`
    s; a zombie counts as exited); True if it has."""
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(max(0, int(timeout * 1000))))


def signal_and_wait(pid: int, started: int, sig: int, timeout: float) -> None:
    """Send `sig` (0: none), wait up to `timeout` s for the exit, then SIGKILL."""
    if sig and alive(pid, started):
        os.kill(pid, sig)
    if not wait_exit(pid, started, timeout) and alive(pid, started):
        os.kill(pid, signal.SIGKILL)
        wait_exit(pid, started, 5.0)


def _supervised_id(pid: int, env_entry: bytes) -> str:
    """The container ID the shim at `pid` supervises, if its environment holds
    `env_entry` (its store or run root); else ""."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        if len(argv) < 3 or not argv[0].endswith(SHIM_NAME):
            return ""
        with open(f"/proc/{pid}/environ", "rb") as f:
            if env_entry not in f.read().split(b"\0"):
                return ""
    except OSError:
        return ""
    return argv[1].decode(errors="replace")


def supervisors(root: str) -> list[tuple[int, str]]:
    """(pid, container ID) of each running supervisor of the store at `root` (the
    session leaders started by `launch`, told apart by their CNMCTL_ROOT)."""
    wanted = f"CNMCTL_ROOT={root}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            cid = _supervised_id(int(entry), wanted)
            if cid:
                found.append((int(entry), cid))
    return found


def is_supervisor(pid: int, run_root: str) -> bool:
    """True if `pid` is a supervisor that cnmctl started for this run root (so a
    recorded pid that the kernel gave to another process since is never killed)."""
    return bool(_supervised_id(pid, f"CNMCTL_RUN_ROOT={run_root}".encode()))


def all_stats():
    """(pid, the /proc/PID/stat fields after the command name) of every process
    (one that exits meanwhile is left out): field 0 is its state, 1 its parent,
    3 its session, 19 its start time."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        yield int(entry), stat[stat.rindex(b")") + 2:].split()


def kill_session(sid: int) -> None:
    """SIGKILL every process of the session `sid` (a shim started with its own
    session and the container's process) and the children of those (the process
    of a container with a terminal leads a session of its own), and wait for them.
    The rest of a container dies with its PID namespace's first process."""
    stats = {pid: (int(fields[1]), int(fields[3]), int(fields[19]))  # ppid, sid, start
             for pid, fields in all_stats()}
    members = {pid for pid, (_ppid, session, _start) in stats.items() if session == sid}
    victims = [(pid, start) for pid, (ppid, session, start) in stats.items()
               if pid in members or ppid in members]
    for pid, started in victims:
        if alive(pid, started):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for pid, started in victims:
        wait_exit(pid, started, 5.0)


def namespace_of(path: str) -> tuple[int, int] | None:
    """The (device, inode) identifying the namespace at `path` (a bind mount or
    /proc/PID/ns/KIND), or None if it is gone."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def evict(netns_path: str, keep_mnt: set[tuple[int, int]]) -> bool:
    """SIGKILL every process left in the network namespace at `netns_path`,
    except those whose mount namespace is in `keep_mnt`; wait for them to die.

    Whatever shares the network namespace without being in the container's PID
    namespace (a process another tool put there) outlives the container; left
    alive they would keep the namespace, and with it the veths and their
    addresses (already back in IPAM), in the kernel. Returns True if kept
    processes remain inside.
    """
    target = namespace_of(netns_path)
    if target is None:
        return False
    victims, kept = [], False
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or namespace_of(f"/proc/{entry}/ns/net") != target:
            continue
        if namespace_of(f"/proc/{entry}/ns/mnt") in keep_mnt:
            kept = True
            continue
        victims.append((int(entry), start_time(int(entry))))
    for pid, started in victims:
        if alive(pid, started):
            with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
                os.kill(pid, signal.SIGKILL)
    for pid, started in victims:
        wait_exit(pid, started, 5.0)
    return kept


def enter_spec(ctr: Container, netns: str, files: dict[str, str],
               extra_env: list[str] = (), marker: str = "", log_socket: str = "",
               overlay: dict | None = None, hide: list[str] = ()) -> dict:
    """What runtime/enter.py needs to become this container's process; `extra_env`
    comes before the container's own -e, which wins (legacy link variables);
    `overlay`, for a container of an image, the root it mounts (engine/images.py);
    `hide`: cnmctl's own folders (store, run root), covered in a container on
    the host's filesystem."""
    from cnmctl.linux import permitted_caps
    from cnmctl.runtime.security import mask

    return {
        "netns": netns,
        "hostname": "" if ctr.network_mode == "host" else hostname_of(ctr),
        "binds": sorted((host, inside) for inside, host in files.items()
                        if not (ctr.network_mode == "host" and inside == "/etc/hostname")),
        "rootfs": ctr.rootfs,
        "workdir": ctr.workdir,
        "env": [*extra_env, *ctr.env],
        "argv": [ctr.path, *ctr.args],
        "user": ctr.user,
        "caps": mask(ctr.cap_add, ctr.cap_drop, ctr.privileged, permitted_caps()),
        "privileged": ctr.privileged,
        "read_only": ctr.read_only,
        "hide": list(hide),
        "marker": marker,  # removed as the process passes its gate
        "pid_ns": True,  # the shim cloned it as PID 1 of a new PID namespace
        "tty": ctr.tty,  # its stdin is the terminal the shim holds
        "log_socket": log_socket,  # where stdout and stderr go, without a terminal
        "overlay": overlay,
    }


def _check_exec(status_r: int) -> None:
    from cnmctl.linux import read_all

    report = read_all(status_r).decode(errors="replace")
    if report:
        code, _, message = report.partition(" ")
        err = ExecFailed(message)
        err.exit_code = int(code)
        raise err


class Launch:
    """A container process started under its shim but held at a gate until its
    sandbox is ready.

    The gate is a pipe enter.py reads before entering the namespace: `go`
    writes the spec (JSON) into it and closes it, then waits for the command to
    be running (or to fail to exec); `cancel` closes it empty, and the held
    process exits without doing anything. The spec (with the -e values) goes
    through the pipe, never on a command line: `ps` shows any command line to
    every local user.
    """

    def __init__(self, gate_w: int, status_r: int, report_r: int | None,
                 popen: subprocess.Popen, spec: bytes) -> None:
        self.gate_w, self.status_r, self.report_r = gate_w, status_r, report_r
        self.popen, self.spec = popen, spec
        self._pid: int | None = None

    def pid(self) -> int:
        """The container process's pid, known before the gate opens: the process
        held at the gate is the one that becomes the command."""
        from cnmctl.linux import read_all

        if self._pid is None:
            report = read_all(self.report_r)
            self.report_r = None
            if not report:
                why = self.popen.stderr.read().decode(errors="replace").strip()
                raise CnmError(f"the container's monitor failed to start: {why or 'no reason'}")
            self.popen.stderr.close()
            self._pid = int(report)
        return self._pid

    def go(self) -> None:
        """Open the gate; ExecFailed if the command could not be run."""
        from cnmctl.linux import write_all

        self.pid()  # known (and the report pipe read) before the gate opens
        try:
            write_all(self.gate_w, self.spec)
        except BrokenPipeError:  # it died before the gate opened; its status says why
            pass
        finally:
            os.close(self.gate_w)
        _check_exec(self.status_r)
        # The shim is reaped by init once we exit; Popen must not wait for it.
        self.popen.returncode = 0

    def cancel(self) -> None:
        """Keep the gate shut: the held process exits (its shim's exit report
        finds no running container and changes nothing)."""
        with contextlib.suppress(OSError):
            os.close(self.gate_w)
        for fd in (self.status_r, self.report_r):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.popen.stderr.close()
        self.popen.returncode = 0


PLUGIN_SETTINGS = ("CNMCTL_PLUGIN_SOCK_DIR", "CNMCTL_PLUGIN_SPEC_DIRS", "CNMCTL_PLUGIN_TIMEOUT")


def launch(ctr: Container, netns: str, files: dict[str, str], *, root: str, run_root: str,
           folder: str, extra_env: list[str] = (), marker: str = "",
           overlay: dict | None = None) -> Launch:
    """Start the container's process under its shim, held at the gate (see Launch).
    The shim writes the logs in `folder` (the container's) and reports the exit to
    the store at `root`."""
    if not os.access(SHIM, os.X_OK):
        raise CnmError(f"{SHIM} is missing: run `make` in cnmctl's source folder to build it")
    log_socket = "" if ctr.tty else os.path.join(folder, LOG_SOCKET)
    spec = json.dumps(enter_spec(ctr, netns, files, extra_env, marker, log_socket,
                                 overlay, hide=[root, run_root])).encode()
    status_r, status_w = os.pipe2(os.O_CLOEXEC)
    gate_r, gate_w = os.pipe2(os.O_CLOEXEC)
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    enter_cmd = [sys.executable, "-S", "-E", ENTER, str(status_w), str(gate_r)]
    flags = ("t" if ctr.tty else "") + ("i" if ctr.interactive else "") or "-"
    # CNMCTL_LOCK_TIMEOUT=inf: recording the exit waits for the store lock as long as
    # it takes (a long `system check --fix`), rather than lose the exit code.
    # PYTHONPATH: the exit hook runs this very cnmctl, not another one installed.
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
           "CNMCTL_ROOT": root, "CNMCTL_RUN_ROOT": run_root, "LC_ALL": "C",
           "CNMCTL_LOCK_TIMEOUT": "inf", "PYTHONPATH": os.path.dirname(os.path.dirname(HERE))}
    # The exit hook may talk to plugins (releasing addresses, endpoints): the same ones.
    env.update({k: v for k, v in os.environ.items() if k in PLUGIN_SETTINGS})
    import subprocess  # only for starting: stop, kill and rm do without it
    try:
        shim = subprocess.Popen(
            [SHIM, ctr.id, flags, str(report_w), folder, sys.executable, "--", *enter_cmd],
            pass_fds=(report_w, status_w, gate_r), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
            start_new_session=True, cwd="/",
        )
    finally:
        for fd in (report_w, status_w, gate_r):
            os.close(fd)
    return Launch(gate_w, status_r, report_r, shim, spec=spec)
