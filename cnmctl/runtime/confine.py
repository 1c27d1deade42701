"""What confines a container's process: its mounts (a plan as pure data, then
applied inside the root), its user and its capabilities.

The standard library and cnmctl.linux only: enter.py, started with `python -S -E`
for every container, and execute.py (`exec`) load it.
"""

from __future__ import annotations

import errno
import os
import stat

from cnmctl import linux
from cnmctl.runtime.security import MASKED_PATHS, READONLY_PATHS

MAX_SYMLINKS = 40  # the kernel's limit on symlinks in one path lookup
# A container's own /dev: runc's default nodes (all 0666) and links.
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
           ("urandom", 1, 9), ("tty", 5, 0))
DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"))
# Also what a read-only remount keeps: statvfs's ST_NOSUID, ST_NODEV, ST_NOEXEC have these values.
_SEALED = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC


def mount_plan(spec: dict) -> list[tuple]:
    """The mounts that make a container's view, in order, as data:

    ("mount", target, source, fstype, flags, data, directory): mount(2) onto
    target (made inside the root if missing); ("devices", "/dev"): the nodes and
    links of a container's own /dev; ("mask", path): /dev/null over a file, an
    empty read-only tmpfs over a folder; ("readonly", path): a read-only bind of
    the path onto itself. Paths are inside the root; the last two skip a missing path.

    An image or --rootfs container gets /proc, /sys, /dev; one on the host's
    filesystem gets a fresh /proc in its own PID namespace, a fresh /sys in its
    own network namespace, its own /dev (the host's disks are not its to write),
    and the store and run root (`hide`) covered, after its /etc files (bound from
    the run root) are in place: a bind stays valid after its source is covered.
    """
    own_root = bool(spec.get("rootfs"))
    privileged = bool(spec.get("privileged"))
    plan: list[tuple] = []
    if own_root or spec.get("pid_ns"):
        plan.append(("mount", "/proc", "proc", "proc", _SEALED, None, True))
    if privileged:
        plan.append(("mount", "/dev", "/dev", None, linux.MS_BIND | linux.MS_REC, None, True))
    else:
        plan += [
            ("mount", "/dev", "tmpfs", "tmpfs", linux.MS_NOSUID | linux.MS_STRICTATIME,
             "mode=755,size=65536k", True),
            ("devices", "/dev"),
            ("mount", "/dev/pts", "devpts", "devpts", linux.MS_NOSUID | linux.MS_NOEXEC,
             "newinstance,ptmxmode=0666,mode=0620,gid=5", True),
            ("mount", "/dev/shm", "shm", "tmpfs", _SEALED, "mode=1777,size=65536k", True),
        ]
        if spec.get("console"):  # its terminal as /dev/console, as runc binds it
            plan.append(("mount", "/dev/console", spec["console"], None, linux.MS_BIND, None,
                         False))
    if own_root or spec.get("netns"):  # so /sys/class/net shows the sandbox's interfaces
        plan.append(("mount", "/sys", "sysfs", "sysfs",
                     _SEALED | (0 if privileged else linux.MS_RDONLY), None, True))
    elif not privileged:
        plan.append(("readonly", "/sys"))
    plan += [("mount", target, source, None, linux.MS_BIND, None, False)
             for source, target in spec.get("binds", [])]
    if not privileged:
        plan += [("mask", path) for path in MASKED_PATHS]
        plan += [("readonly", path) for path in READONLY_PATHS]
    if not own_root:
        plan += [("mask", path) for path in spec.get("hide", [])]
    return plan


def open_in_root(root_fd: int, target: str, directory: bool, create: bool = True,
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
    parent_fd = open_in_root(root_fd, parent, True, depth=depth) if parent else os.dup(root_fd)
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
        os.close(open_in_root(root_fd, os.path.join("/" + parent, link), directory,
                              depth=depth + 1))
    finally:
        os.close(parent_fd)
    return linux.open_in_root(root_fd, rel, kind)


def _fd_path(fd: int) -> str:
    # mounting on /proc/self/fd/N reaches exactly the object that fd holds
    return f"/proc/self/fd/{fd}"


def _mount_at(root_fd: int, target: str, source: str | None, fstype: str | None, flags: int,
              data: str | None, directory: bool, create: bool = True) -> None:
    """mount(2) onto `target` inside the root, through the fd open_in_root gives."""
    fd = open_in_root(root_fd, target, directory, create)
    try:
        linux.mount(source, _fd_path(fd), fstype, flags, data)
    finally:
        os.close(fd)


def remount_read_only(path: str) -> None:
    """Make the mount at `path` read-only, keeping its nosuid/nodev/noexec."""
    kept = os.statvfs(path).f_flag & _SEALED
    linux.mount(None, path, None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | kept)


def _make_devices(root_fd: int, target: str) -> None:
    """The nodes and links of a container's /dev, in the tmpfs just mounted there."""
    fd = open_in_root(root_fd, target, directory=True, create=False)
    old_umask = os.umask(0)
    try:
        for name, major, minor in DEVICES:
            os.mknod(name, stat.S_IFCHR | 0o666, os.makedev(major, minor), dir_fd=fd)
        for name, link in DEV_LINKS:
            os.symlink(link, name, dir_fd=fd)
    finally:
        os.umask(old_umask)
        os.close(fd)


def _mask(root_fd: int, path: str) -> None:
    fd = open_in_root(root_fd, path, directory=False, create=False)
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            linux.mount("tmpfs", _fd_path(fd), "tmpfs", linux.MS_RDONLY | _SEALED, "size=0")
        else:
            linux.mount("/dev/null", _fd_path(fd), None, linux.MS_BIND)
    finally:
        os.close(fd)


def _read_only(root_fd: int, path: str) -> None:
    fd = open_in_root(root_fd, path, directory=False, create=False)
    try:
        linux.mount(_fd_path(fd), _fd_path(fd), None, linux.MS_BIND | linux.MS_REC)
    finally:
        os.close(fd)
    fd = open_in_root(root_fd, path, directory=False, create=False)  # the new bind now
    try:
        remount_read_only(_fd_path(fd))
    finally:
        os.close(fd)


def apply_mounts(root_fd: int, plan: list[tuple]) -> None:
    """Carry out a mount_plan() inside the root `root_fd` (in this process's own
    mount namespace)."""
    for op, target, *args in plan:
        try:
            if op == "mount":
                source, fstype, flags, data, directory = args
                _mount_at(root_fd, target, source, fstype, flags, data, directory)
            elif op == "devices":
                _make_devices(root_fd, target)
            elif op == "mask":
                _mask(root_fd, target)
            else:
                _read_only(root_fd, target)
        except FileNotFoundError:
            if op == "mount":
                raise
            # a path to mask or make read-only that this kernel or root lacks


def pivot_into(root_fd: int) -> None:
    """Make the root `root_fd` (a mount point) this mount namespace's root and
    detach the old one, as runc does: unlike chroot, no CAP_SYS_CHROOT trick
    leads back to the host's files (the store and the run root among them)."""
    os.fchdir(root_fd)
    linux.pivot_root(".", ".")
    # the old root is now stacked on "." (the new one): detach it from under us
    linux.umount(".", linux.MNT_DETACH)
    os.chdir("/")


class UserError(Exception):
    """--user names a user or group the container's files do not have."""


ID_MAX = 2147483647  # runc's range for a numeric uid or gid


def _entries(text: str | None, fields: int) -> list[list[str]]:
    """The colon-separated lines of a passwd or group file, padded to `fields`."""
    rows = []
    for line in (text or "").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            cells = line.split(":")
            rows.append(cells + [""] * (fields - len(cells)))
    return rows


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def resolve_user(spec: str, passwd: str | None,
                 group: str | None) -> tuple[int, int, list[int], str]:
    """(uid, gid, supplementary gids, home) of a --user value `NAME|UID[:GROUP|GID]`,
    as runc's GetExecUser finds them in the root's /etc/passwd and /etc/group
    text (None: no such file). "" is root. A user found by name or uid takes
    its gid and home from passwd and, unless a group is given, the groups
    that list its name as supplementary ones; a number not in passwd is taken
    as is, with gid 0 and home /."""
    user, _, group_arg = spec.partition(":")
    user = user or "0"
    uid, gid, home, name = _number(user), 0, "/", ""
    for row in _entries(passwd, 7):
        if (row[0] == user) if uid is None else (_number(row[2]) == uid):
            name, uid, gid, home = row[0], _number(row[2]) or 0, _number(row[3]) or 0, row[5]
            break
    else:
        if uid is None:
            raise UserError(f"unable to find user {user}: no matching entries in passwd file")
    groups: list[int] = []
    if group_arg:
        wanted = _number(group_arg)
        for row in _entries(group, 4):
            if (row[0] == group_arg) if wanted is None else (_number(row[2]) == wanted):
                gid = _number(row[2]) or 0
                break
        else:
            if wanted is None:
                raise UserError(f"unable to find group {group_arg}: no matching entries "
                                "in group file")
            gid = wanted
    elif name:
        groups = [_number(row[2]) or 0 for row in _entries(group, 4)
                  if name in row[3].split(",")]
    if uid > ID_MAX or gid > ID_MAX:
        raise UserError("uids and gids must be in range 0-2147483647")
    return uid, gid, groups, home


def read_in_root(root_fd: int, path: str) -> str | None:
    """A small regular file inside the root (None if missing or not a regular
    file: a FIFO planted as /etc/passwd must not hang the start), resolved inside
    the root with no magic links, so /etc/passwd -> /proc/1/root/... reads nothing
    of the host's."""
    try:
        fd = linux.open_in_root(root_fd, path.lstrip("/"), os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return f.read(1 << 20).decode(errors="replace")


def lookup_user(spec: str) -> tuple[int, int, list[int], str]:
    """resolve_user() against this process's root's /etc/passwd and /etc/group."""
    root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return resolve_user(spec, read_in_root(root_fd, "etc/passwd"),
                            read_in_root(root_fd, "etc/group"))
    finally:
        os.close(root_fd)


def become(uid: int, gid: int, groups: list[int], caps: int) -> None:
    """Take the user's identity with only the capabilities in the mask `caps`,
    as Docker sets them: the bounding set is `caps` for everyone; root keeps
    them effective and permitted, any other user none (what execve would
    leave it); inheritable and ambient are empty (moby since CVE-2022-24769)."""
    linux.drop_bounding(caps)
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)  # from root to another uid, clears the permitted and effective sets
    kept = caps if uid == 0 else 0
    linux.capset(kept, kept, 0)
