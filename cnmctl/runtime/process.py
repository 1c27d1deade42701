"""Container processes: spawn (detached under a shell supervisor, or attached),
check liveness, signal and wait.

Supervision design: a detached container's process is the child of a shell
(`bash -c SUPERVISOR`) that waits for it and then runs
`cnmctl internal exited ID CODE PID`, which records the exit code, releases
the endpoints and honours --rm. Two forked copies of that shell read the
command's stdout and stderr and write each line to the log with its time.
Idle, the three cost well under a megabyte of PSS together (measured by
bench/), where one Python supervisor would cost 3.8 MB; there is no daemon.
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

ENTER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "enter.py")
# $1 = container ID, $2 = pid-report fd, $3 = status fd, $4 = python, $5 = log folder;
# then the command. bash rather than dash for $EPOCHREALTIME: each line of output
# is stored as "SECONDS.MICROSECONDS LINE", the timestamps `logs -t` shows.
SUPERVISOR = r"""
id=$1 report=$2 status=$3 py=$4 logs=$5; shift 5
stamp() {
    local line
    while IFS= read -r line || [[ -n $line ]]; do
        printf '%s %s\n' "$EPOCHREALTIME" "$line"
    done
}
exec {out}> >(exec {report}>&- {status}>&-; stamp >>"$logs/stdout.log")
exec {err}> >(exec {report}>&- {status}>&-; stamp >>"$logs/stderr.log")
"$@" >&$out 2>&$err {out}>&- {err}>&- {report}>&- &
pid=$!
echo "$pid" >&$report
exec {report}>&- {status}>&- {out}>&- {err}>&-
wait "$pid"
code=$?
exec "$py" -m cnmctl internal exited "$id" "$code" "$pid"
"""


SUPERVISOR_NAME = "cnmctl-supervisor"  # the supervisor's $0, which `ps` shows


class ExecFailed(CnmError):
    """The container's command could not be started (126/127) or set up (125)."""


class Started:
    """A started container process (a plain class: dataclasses would import
    `inspect`, 12 ms on every `run`)."""

    def __init__(self, pid: int, start_time: int, supervisor_pid: int,
                 popen: subprocess.Popen | None = None) -> None:
        self.pid = pid
        self.start_time = start_time
        self.supervisor_pid = supervisor_pid
        self.popen = popen


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
    """The container ID a supervisor session leader at `pid` supervises, if its
    environment holds `env_entry` (its store or run root); else ""."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        if len(argv) < 5 or argv[3] != SUPERVISOR_NAME.encode():
            return ""
        with open(f"/proc/{pid}/environ", "rb") as f:
            if env_entry not in f.read().split(b"\0"):
                return ""
        if os.getsid(pid) != pid:
            return ""  # a subshell of a supervisor (its log writers)
    except OSError:
        return ""
    return argv[4].decode(errors="replace")


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


def kill_session(sid: int) -> None:
    """SIGKILL every process of the session `sid` (a supervisor started with its own
    session, the shells it forked and the container's process) and wait for them."""
    victims = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        if int(fields[3]) == sid:
            victims.append((int(entry), int(fields[19])))
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

    Containers have no PID namespace, so whatever the command started (or
    `exec` ran) outlives it; Docker kills those with the container. Left
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
               extra_env: list[str] = (), marker: str = "", hide: list[str] = ()) -> dict:
    """What runtime/enter.py needs to become this container's process; `extra_env`
    comes before the container's own -e, which wins (legacy link variables);
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
    """A container process started but held at a gate until its sandbox is ready.

    The gate is a pipe enter.py reads before entering the namespace: `go`
    writes the spec (JSON) into it and closes it, then waits for the command to
    be running (or to fail to exec); `cancel` closes it empty, and the held
    process exits without doing anything. The spec (with the -e values) goes
    through the pipe, never on a command line: `ps` shows any command line to
    every local user.
    """

    def __init__(self, gate_w: int, status_r: int, report_r: int | None,
                 popen: subprocess.Popen, foreground: bool, spec: bytes) -> None:
        self.gate_w, self.status_r, self.report_r = gate_w, status_r, report_r
        self.popen, self.foreground, self.spec = popen, foreground, spec
        self._pid: int | None = None

    def pid(self) -> int:
        """The container process's pid, known before the gate opens: the process
        held at the gate is the one that becomes the command."""
        from cnmctl.linux import read_all

        if self._pid is None:
            if self.foreground:
                self._pid = self.popen.pid
            else:
                self._pid = int(read_all(self.report_r) or b"0")
                self.report_r = None
        return self._pid

    def go(self) -> Started:
        """Open the gate; the started process, or ExecFailed."""
        from cnmctl.linux import write_all

        pid = self.pid()
        try:
            write_all(self.gate_w, self.spec)
        except BrokenPipeError:  # it died before the gate opened; its status says why
            pass
        finally:
            os.close(self.gate_w)
        if self.foreground:
            _check_exec(self.status_r)
            return Started(pid, start_time(pid), os.getpid(), self.popen)
        _check_exec(self.status_r)
        # The supervisor is reaped by init once we exit; Popen must not wait for it.
        self.popen.returncode = 0
        return Started(pid, start_time(pid), self.popen.pid)

    def cancel(self) -> None:
        """Keep the gate shut: the held process exits (its supervisor's exit
        report finds no running container and changes nothing)."""
        with contextlib.suppress(OSError):
            os.close(self.gate_w)
        for fd in (self.status_r, self.report_r):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if self.foreground:
            self.popen.wait()
        else:
            self.popen.returncode = 0


def launch(ctr: Container, netns: str, files: dict[str, str], *, root: str, run_root: str,
           logs: str, foreground: bool, stdio=None, extra_env: list[str] = (),
           marker: str = "") -> Launch:
    """Start the container's process, held at the gate (see Launch). The supervisor
    writes the logs in `logs` and reports the exit to the store at `root`."""
    spec = json.dumps(enter_spec(ctr, netns, files, extra_env, marker,
                                 hide=[root, run_root])).encode()
    status_r, status_w = os.pipe2(os.O_CLOEXEC)
    gate_r, gate_w = os.pipe2(os.O_CLOEXEC)
    enter_cmd = [sys.executable, "-S", "-E", ENTER, str(status_w), str(gate_r)]
    import subprocess  # only for starting: stop, kill and rm do without it
    if foreground:
        stdin, stdout, stderr = stdio
        try:
            popen = subprocess.Popen(enter_cmd, pass_fds=(status_w, gate_r), stdin=stdin,
                                     stdout=stdout, stderr=stderr)
        finally:
            os.close(status_w)
            os.close(gate_r)
        return Launch(gate_w, status_r, None, popen, foreground=True, spec=spec)
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    # CNMCTL_LOCK_TIMEOUT=inf: recording the exit waits for the store lock as long as
    # it takes (a long `system check --fix`), rather than lose the exit code.
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
           "CNMCTL_ROOT": root, "CNMCTL_RUN_ROOT": run_root, "LC_ALL": "C",
           "CNMCTL_LOCK_TIMEOUT": "inf"}
    try:
        supervisor = subprocess.Popen(
            ["/bin/bash", "-c", SUPERVISOR, SUPERVISOR_NAME, ctr.id, str(report_w),
             str(status_w), sys.executable, logs, *enter_cmd],
            pass_fds=(report_w, status_w, gate_r), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
            start_new_session=True, cwd="/",
        )
    finally:
        for fd in (report_w, status_w, gate_r):
            os.close(fd)
    return Launch(gate_w, status_r, report_r, supervisor, foreground=False, spec=spec)
