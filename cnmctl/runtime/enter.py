"""Become a container process: enter the sandbox, set up mounts and hostname, exec.

Run as `python -S -E enter.py STATUS_FD GATE_FD`; the spec (JSON) comes
through the gate pipe. It is the first half of every container process:
after execve the PID is the command's, so `State.Pid` and `nsenter -t PID`
see the container itself.
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

MAX_SYMLINKS = 40  # the kernel's limit on symlinks in one path lookup
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _open_in_root(root_fd: int, target: str, directory: bool, create: bool = True,
                  depth: int = 0) -> int:
    """An O_PATH fd of `target`, a path inside the root, made if missing (an
    empty file or a folder, and the folders above it) when `create`. Every
    step resolves inside the root (openat2 RESOLVE_IN_ROOT; new entries with
    mkdirat or O_EXCL, which follow no symlink; a dangling symlink's target is
    made inside the root, as runc does), so a --rootfs tree whose `etc` is a
    symlink to a host folder gets nothing written there."""
    rel = os.path.normpath("/" + target).lstrip("/") or "."
    kind = os.O_PATH | (os.O_DIRECTORY if directory else 0)
    try:
        return linux.open_in_root(root_fd, rel, kind)
    except FileNotFoundError:
        if not create:
            raise
    parent, _, name = rel.rpartition("/")
    parent_fd = _open_in_root(root_fd, parent, True, depth=depth) if parent else os.dup(root_fd)
    try:
        if directory:
            os.mkdir(name, 0o755, dir_fd=parent_fd)
        else:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                             | os.O_CLOEXEC, 0o644, dir_fd=parent_fd))
    except FileExistsError:  # a symlink to nothing yet: make its target, in the root
        if depth >= MAX_SYMLINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), target) from None
        link = os.readlink(name, dir_fd=parent_fd)
        os.close(_open_in_root(root_fd, os.path.join("/" + parent, link), directory,
                               depth=depth + 1))
    finally:
        os.close(parent_fd)
    return linux.open_in_root(root_fd, rel, kind)


def _mount_at(root_fd: int, target: str, source: str | None, fstype: str | None, flags: int,
              directory: bool, create: bool = True) -> None:
    """mount(2) onto `target` inside the root, through the fd _open_in_root gives
    (mounting on /proc/self/fd/N reaches exactly the object that fd holds)."""
    fd = _open_in_root(root_fd, target, directory, create)
    try:
        linux.mount(source, f"/proc/self/fd/{fd}", fstype, flags)
    finally:
        os.close(fd)


def _mount_filesystems(root_fd: int, chrooted: bool, own_netns: bool) -> None:
    """/proc, /sys and /dev for a --rootfs tree (where it has those folders); a
    fresh /sys elsewhere so that /sys/class/net shows the sandbox's interfaces,
    not the host's."""
    if not chrooted:
        if own_netns:
            _mount_at(root_fd, "/sys", "sysfs", "sysfs", 0, directory=True, create=False)
        return
    for name, fstype, flags in (("proc", "proc", 0), ("sys", "sysfs", 0),
                                ("dev", None, linux.MS_BIND | linux.MS_REC)):
        try:
            _mount_at(root_fd, name, "/dev" if name == "dev" else name, fstype, flags,
                      directory=True, create=False)
        except (FileNotFoundError, NotADirectoryError):
            continue  # the tree has no such folder: nothing to mount


def _mount_overlay(layer: dict) -> str:
    """Mount a container's root: its image read-only under its own writable layer
    (overlayfs), in this mount namespace only, so the mount dies with the
    container. The paths are relative to the store (`base`), so no comma or colon
    in the store's own path can reach the mount options. The root's path."""
    os.chdir(layer["base"])
    linux.mount("overlay", layer["target"], "overlay", 0,
                f"lowerdir={layer['lower']},upperdir={layer['upper']},workdir={layer['work']}")
    return os.path.join(layer["base"], layer["target"])


def container_env(hostname: str, items: list[str]) -> dict[str, str]:
    """A container process's environment: Docker's PATH, HOSTNAME and HOME, then the
    KEY=VALUE items in order (later ones win)."""
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname, "HOME": "/root"}
    for item in items:
        key, _, value = item.partition("=")
        env[key] = value
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
    """Apply the spec to this process, then exec the command (never returns)."""
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
    root = _mount_overlay(overlay) if overlay else spec.get("rootfs") or "/"
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    _mount_filesystems(root_fd, root != "/", bool(netns))
    for source, target in spec.get("binds", []):
        _mount_at(root_fd, target, source, None, linux.MS_BIND, directory=False)
    # -w: made if missing, inside the root like the mount points.
    work_fd = _open_in_root(root_fd, spec.get("workdir") or "/", directory=True)
    if spec.get("hostname"):
        linux.sethostname(spec["hostname"])
    if root != "/":
        os.fchdir(root_fd)  # the very folder the mounts were made in
        os.chroot(".")
    os.fchdir(work_fd)
    os.close(work_fd)
    os.close(root_fd)
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
