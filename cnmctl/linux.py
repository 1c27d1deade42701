"""Thin wrappers over the Linux namespace and mount system calls.

Python 3.11 has no os.unshare/os.setns and no mount(2); pyroute2.netns covers
only network namespaces and forks a helper process per call, which costs more
than the whole sandbox set-up. So these few calls go through ctypes, here.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from collections.abc import Iterator

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_STRICTATIME = 0x1000000
MNT_DETACH = 0x2

# prctl(2) options for capabilities.
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
# pivot_root(2) has no glibc wrapper; its number per architecture.
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203,
                   "s390x": 217, "i686": 217, "armv7l": 218}

# openat2(2): the same number on every architecture (added after the tables merged).
SYS_OPENAT2 = 437
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    """unshare(2) for the calling thread."""
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    """setns(2): move the calling thread into the namespace behind `fd`."""
    _check(_libc.setns(fd, nstype), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int,
          data: str | None = None) -> None:
    """mount(2)."""
    def enc(text: str | None) -> bytes | None:
        return text.encode() if text is not None else None

    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {target}")


def umount(target: str, flags: int = MNT_DETACH) -> None:
    """umount2(2), lazily by default; an unmounted target is not an error."""
    if _libc.umount2(target.encode(), flags) != 0:
        err = ctypes.get_errno()
        if err not in (22, 2):  # EINVAL: not a mount point; ENOENT: gone
            raise OSError(err, f"umount {target}: {os.strerror(err)}")


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2): make `new_root` the calling process's mount namespace root."""
    number = _SYS_PIVOT_ROOT[os.uname().machine]
    _check(_libc.syscall(ctypes.c_long(number), new_root.encode(), put_old.encode()),
           "pivot_root")


def last_cap() -> int:
    """The highest capability number this kernel knows."""
    with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
        return int(f.read())


def permitted_caps() -> int:
    """The calling process's permitted capabilities as a mask (bit N =
    capability N): all it can hand on to a container."""
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"CapPrm:"):
                return int(line.split()[1], 16)
    return 0


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def drop_bounding(keep: int) -> None:
    """Drop every capability outside the mask `keep` (bit N = capability N) from
    the bounding set, for good, and empty the ambient set. No maintained
    pure-Python library wraps these (python-prctl is a C extension), hence ctypes."""
    for cap in range(last_cap() + 1):
        if not keep >> cap & 1 and _libc.prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1:
            _check(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "prctl(PR_CAPBSET_DROP)")
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0),
           "prctl(PR_CAP_AMBIENT)")


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """capset(2) of the calling thread's three sets, as masks."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)(*[_CapData((effective >> s) & 0xFFFFFFFF, (permitted >> s) & 0xFFFFFFFF,
                                     (inheritable >> s) & 0xFFFFFFFF) for s in (0, 32)])
    _check(_libc.capset(ctypes.byref(header), data), "capset")


def sethostname(name: str) -> None:
    """sethostname(2) in the calling process's UTS namespace."""
    data = name.encode()
    _check(_libc.sethostname(data, len(data)), "sethostname")


def connect_unix(sock, path: str) -> None:
    """Connect `sock` to the unix socket at `path`, however long: through
    /proc/self/fd/N/NAME, N a descriptor of its folder (an address holds 108 bytes)."""
    folder = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        sock.connect(f"/proc/self/fd/{folder}/{os.path.basename(path)}")
    finally:
        os.close(folder)


def read_all(fd: int) -> bytes:
    """Everything readable from `fd` until end of file; closes it."""
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd` (a pipe may take it in several writes)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


def open_in_root(root_fd: int, path: str, flags: int, mode: int = 0) -> int:
    """openat2(2) of `path` with RESOLVE_IN_ROOT: resolved as if the folder
    `root_fd` were `/`, so no symlink (absolute or relative) and no `..` can
    lead out of it; magic links (/proc/PID/root) are refused. A new fd."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    fd = _libc.syscall(ctypes.c_long(SYS_OPENAT2), ctypes.c_long(root_fd),
                       ctypes.c_char_p(os.fsencode(path)), ctypes.byref(how),
                       ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        if err == errno.ENOSYS and os.path.samestat(os.fstat(root_fd), os.stat("/")):
            # A kernel before 5.6 has no openat2; in / itself, openat is the same.
            return os.open(path, flags | os.O_CLOEXEC, mode, dir_fd=root_fd)
        raise OSError(err, os.strerror(err), path)
    return fd


@contextlib.contextmanager
def in_netns(path: str) -> Iterator[None]:
    """Run the block with this thread in the network namespace at `path`.

    Sockets opened inside stay in that namespace after the block ends, which
    is how netlink sockets for a sandbox are made without forking.
    """
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(target, CLONE_NEWNET)
        finally:
            os.close(target)
        try:
            yield
        finally:
            setns(home, CLONE_NEWNET)
    finally:
        os.close(home)


def create_netns(path: str) -> None:
    """Create a network namespace kept alive by a bind mount at `path`.

    The thread unshares into the new namespace, binds it to `path`, then
    returns to where it was; no process is forked.
    """
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o400)
    os.close(fd)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        unshare(CLONE_NEWNET)
        try:
            mount("/proc/thread-self/ns/net", path, None, MS_BIND)
        finally:
            setns(home, CLONE_NEWNET)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    finally:
        os.close(home)


def delete_netns(path: str) -> None:
    """Unmount and remove a namespace's bind mount; its interfaces go with it
    once no process is left inside. A missing path is not an error; anything
    but the empty file a mount point leaves is refused (a sandbox key comes
    from a store document: it must not delete whatever file it names)."""
    import stat

    umount(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode) or info.st_size:
        from cnmctl.errors import KernelError

        raise KernelError(f"refusing to remove {path}: not a network namespace mount point")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
