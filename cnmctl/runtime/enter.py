"""Become a container process: enter the sandbox, set up mounts and hostname, exec.

Run as `python -S -E enter.py SPEC_JSON` with fd STATUS_FD open. It is the
first half of every container process: after execve the PID is the
command's, so `State.Pid` and `nsenter -t PID` see the container itself.
Kept to the standard library and cnmctl.linux (ctypes) so it starts in ~15 ms.

On failure it writes "CODE message" to the status fd and exits with CODE
(126: cannot execute, 127: not found, 125: set-up failed), as Docker does;
on success the status fd closes at exec (it is close-on-exec) with nothing
written.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import sys

if __package__ in (None, ""):  # run by path with -S: find the cnmctl package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from cnmctl import linux  # noqa: E402

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _bind_file(source: str, root: str, target: str) -> None:
    """Bind-mount `source` over `target` inside `root`, creating an empty target if needed."""
    path = os.path.join(root, target.lstrip("/"))
    if not os.path.lexists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass
    linux.mount(source, path, None, linux.MS_BIND)


def _mount_filesystems(root: str, own_netns: bool) -> None:
    """/proc, /sys and /dev for a --rootfs tree; a fresh /sys elsewhere so that
    /sys/class/net shows the sandbox's interfaces, not the host's."""
    if root == "/":
        if own_netns:
            linux.mount("sysfs", "/sys", "sysfs", 0)
        return
    for name, fstype in (("proc", "proc"), ("sys", "sysfs")):
        path = os.path.join(root, name)
        if os.path.isdir(path):
            linux.mount(name, path, fstype, 0)
    dev = os.path.join(root, "dev")
    if os.path.isdir(dev):
        linux.mount("/dev", dev, None, linux.MS_BIND | linux.MS_REC)


def container_env(hostname: str, items: list[str]) -> dict[str, str]:
    """A container process's environment: Docker's PATH, HOSTNAME and HOME, then the
    KEY=VALUE items in order (later ones win)."""
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname, "HOME": "/root"}
    for item in items:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def enter(spec: dict) -> None:
    """Apply the spec to this process, then exec the command (never returns)."""
    netns = spec.get("netns")
    if netns:
        fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        linux.setns(fd, linux.CLONE_NEWNET)
        os.close(fd)
    linux.unshare(linux.CLONE_NEWNS | linux.CLONE_NEWUTS)
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    root = spec.get("rootfs") or "/"
    _mount_filesystems(root, bool(netns))
    for source, target in spec.get("binds", []):
        _bind_file(source, root, target)
    if spec.get("hostname"):
        linux.sethostname(spec["hostname"])
    if root != "/":
        os.chroot(root)
        os.chdir("/")
    if spec.get("workdir"):
        os.makedirs(spec["workdir"], exist_ok=True)
        os.chdir(spec["workdir"])
    env = container_env(spec.get("hostname", ""), spec.get("env", []))
    argv = spec["argv"]
    try:
        os.execve(find_executable(argv[0], env), argv, env)
    except OSError as exc:
        raise CannotExec(*exec_failure(argv[0], exc)) from exc


class CannotExec(Exception):
    """The set-up worked but the command could not be executed: (code, message)."""


def find_executable(name: str, env: dict[str, str]) -> str:
    """The command's path as runc finds it (Go's exec.LookPath): a name with a
    slash as is, else the first regular file with an execute bit on $PATH.

    Not os.execvpe: it imports `warnings` lazily, which a `-S` interpreter
    cannot find once chrooted into a --rootfs tree, and its error names the
    last directory tried rather than the command.
    """
    if "/" in name:
        return name
    for folder in env.get("PATH", DEFAULT_PATH).split(":"):
        path = os.path.join(folder or ".", name)
        try:
            info = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and info.st_mode & 0o111:
            return path
    raise NotOnPath(errno.ENOENT, "executable file not found in $PATH", name)


class NotOnPath(FileNotFoundError):
    """No executable of that name on $PATH."""


def main() -> None:
    """Entry point: `enter.py SPEC_JSON STATUS_FD GATE_FD`.

    It waits at the gate (a pipe) until cnmctl has built the sandbox; a gate
    closed without a go-ahead means the start was abandoned.
    """
    spec = json.loads(sys.argv[1])
    status_fd, gate_fd = int(sys.argv[2]), int(sys.argv[3])
    os.set_inheritable(status_fd, False)
    go = os.read(gate_fd, 1)
    os.close(gate_fd)
    if go != b"1":
        os._exit(125)
    if spec.get("marker"):
        # Past the gate: the start happened (see engine/lifecycle.py, _mark_starting).
        with contextlib.suppress(FileNotFoundError):
            os.unlink(spec["marker"])
    try:
        enter(spec)
    except CannotExec as exc:
        code, message = exc.args
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        code, message = 125, f"container set-up failed: {exc.strerror or exc}{where}"
    os.write(status_fd, f"{code} {message}".encode())
    os._exit(code)


def exec_failure(command: str, exc: OSError) -> tuple[int, str]:
    """Docker's exit code and message for a command that could not be executed:
    127 when it is not found, 126 when it cannot be run."""
    if isinstance(exc, NotOnPath):
        return 127, f'exec: "{command}": {exc.strerror}'
    if isinstance(exc, FileNotFoundError):
        return 127, f'exec: "{command}": stat {command}: no such file or directory'
    return 126, f'exec: "{command}": {(exc.strerror or str(exc)).lower()}'


if __name__ == "__main__":
    main()
