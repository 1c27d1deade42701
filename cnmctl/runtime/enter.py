"""Become a container process: enter the sandbox, set up mounts and hostname, take
the user and capabilities (runtime/confine.py), exec.

Run as `python -S -E enter.py STATUS_FD GATE_FD`; the spec (JSON) comes
through the gate pipe. It is the first half of every container process:
after execve the PID is the command's, so `State.Pid` and `nsenter -t PID`
see the container itself.
Kept to the standard library, cnmctl.linux (ctypes) and cnmctl.runtime.confine
(standard library too) so it starts in ~15 ms.

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
from cnmctl.runtime import confine  # noqa: E402

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _mount_overlay(layer: dict) -> str:
    """Mount a container's root: its image read-only under its own writable layer
    (overlayfs), in this mount namespace only, so the mount dies with the
    container. The paths are relative to the store (`base`), so no comma or colon
    in the store's own path can reach the mount options. The root's path."""
    os.chdir(layer["base"])
    linux.mount("overlay", layer["target"], "overlay", 0,
                f"lowerdir={layer['lower']},upperdir={layer['upper']},workdir={layer['work']}")
    return os.path.join(layer["base"], layer["target"])


def container_env(hostname: str, items: list[str], home: str) -> dict[str, str]:
    """A container process's environment: Docker's PATH and HOSTNAME, the KEY=VALUE
    items in order (later ones win), then HOME (the user's, from passwd) unless
    one was given, as runc adds it."""
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname}
    for item in items:
        key, _, value = item.partition("=")
        env[key] = value
    env.setdefault("HOME", home)
    return env


def _connect_log(path: str) -> None:
    """Make stdout and stderr two datagram sockets sending to the shim's log socket
    at `path` (see runtime/shim.c): one queue keeps them in the order written. The
    stderr one is bound (autobind) so the shim tells them apart. Made here, inside
    the sandbox's network namespace: a socket made by the shim would belong to the
    host's, whose abstract socket names the container could then reach."""
    import _socket

    for fd in (1, 2):
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
        # One write is one datagram: room for what programs write at once (cat: 128 KiB).
        sock.setsockopt(_socket.SOL_SOCKET, SO_SNDBUFFORCE, LOG_SEND_BUFFER)
        if fd == 2:
            sock.bind("")
        linux.connect_unix(sock, path)
        os.dup2(sock.fileno(), fd)
        sock.close()


SO_SNDBUFFORCE = 32  # not exported by _socket
LOG_SEND_BUFFER = 4 << 20


def enter(spec: dict) -> None:
    """Apply the spec to this process, then exec the command (never returns).

    Mounts are made inside the root (see confine.mount_plan); an image or
    --rootfs root then becomes the namespace's root by pivot_root, read-only
    with --read-only. The user and the capabilities are taken last."""
    netns = spec.get("netns")
    if netns:
        fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        linux.setns(fd, linux.CLONE_NEWNET)
        os.close(fd)
    if spec.get("log_socket"):
        _connect_log(spec["log_socket"])
    linux.unshare(linux.CLONE_NEWNS | linux.CLONE_NEWUTS)
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    overlay = spec.get("overlay")
    if overlay:  # a container of an image: its root is the overlay, as --rootfs would be
        spec["rootfs"] = _mount_overlay(overlay)
    rootfs = spec.get("rootfs") or ""
    if rootfs:  # pivot_root needs the new root to be a mount point
        linux.mount(rootfs, rootfs, None, linux.MS_BIND | linux.MS_REC)
    root_fd = os.open(rootfs or "/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    if spec.get("tty") and os.isatty(0):
        # Its terminal, opened again by path in this mount namespace: a bind mount's
        # source must be a mount of the namespace it is made in (fd 0 is the shim's).
        console = os.open(os.readlink("/proc/self/fd/0"), os.O_PATH | os.O_CLOEXEC)
        spec["console"] = f"/proc/self/fd/{console}"
    confine.apply_mounts(root_fd, confine.mount_plan(spec))
    # -w: made if missing, inside the root like the mount points.
    work_fd = confine.open_in_root(root_fd, spec.get("workdir") or "/", directory=True)
    if spec.get("hostname"):
        linux.sethostname(spec["hostname"])
    if rootfs:
        confine.pivot_into(root_fd)
        if spec.get("read_only"):
            confine.remount_read_only("/")
    os.fchdir(work_fd)
    os.close(work_fd)
    os.close(root_fd)
    uid, gid, groups, home = confine.lookup_user(spec.get("user", ""))
    env = container_env(spec.get("hostname", ""), spec.get("env", []), home)
    argv = spec["argv"]
    try:
        path = find_executable(argv[0], env)
    except OSError as exc:
        raise CannotExec(*exec_failure(argv[0], exc)) from exc
    confine.become(uid, gid, groups, spec.get("caps", 0))
    try:
        os.execve(path, argv, env)
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
    """Entry point: `enter.py STATUS_FD GATE_FD`.

    It waits at the gate (a pipe) until cnmctl has built the sandbox and writes
    the spec (JSON) into it: the -e values never sit on a command line. A
    gate closed empty means the start was abandoned.
    """
    status_fd, gate_fd = int(sys.argv[1]), int(sys.argv[2])
    os.set_inheritable(status_fd, False)
    data = linux.read_all(gate_fd)
    if not data:
        os._exit(125)
    try:
        spec = json.loads(data)
    except ValueError:  # cnmctl was killed while writing it: the start was abandoned
        os._exit(125)
    if spec.get("marker"):
        # Past the gate: the start happened (see engine/lifecycle.py, _mark_starting).
        with contextlib.suppress(FileNotFoundError):
            os.unlink(spec["marker"])
    try:
        enter(spec)
    except CannotExec as exc:
        code, message = exc.args
    except confine.UserError as exc:
        code, message = 125, str(exc)
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
