"""Unpack a root filesystem tarball into a folder, as hostile input.

Plain, gzip, bzip2 or xz tar (Python's tarfile, read as a stream). Every
member lands inside the folder, whatever it says:

- names are taken relative to the folder (a leading `/` dropped, as GNU tar
  and Docker do); a `..` that would climb out of it refuses the whole import;
- each member's parent folder is opened with openat2(RESOLVE_IN_ROOT), so a
  symlink extracted earlier (`etc -> /etc`) resolves inside the folder, as it
  will inside the container, and nothing is ever written through it to the
  host; the member itself is made with *at calls that follow no symlink;
- a hard link's target is resolved the same way: it can only name a file of
  the image;
- symlinks are stored verbatim (`bin/sh -> /bin/busybox` is normal and means
  the image's /bin/busybox once the container runs);
- permissions (setuid and setgid included), owners and modification times
  are kept: cnmctl runs as root;
- character and block device nodes are skipped. Docker keeps them and its
  device cgroup denies their use; cnmctl has no device cgroup, so a node such
  as `8, 0` in an image would hand the container the host's disk. Containers
  get their /dev from the host or a minimal one mounted over it anyway.

The layer's DiffID is the sha256 of the uncompressed tar stream, as Docker
computes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tarfile
from typing import BinaryIO

from cnmctl import linux
from cnmctl.errors import InvalidArgument

_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"))
_CHUNK = 1 << 20


class Unpacked:
    """What an unpack found: the layer's DiffID, the bytes of its regular files, and
    how many device nodes it skipped."""

    def __init__(self, diff_id: str, size: int, skipped_devices: int) -> None:
        self.diff_id, self.size, self.skipped_devices = diff_id, size, skipped_devices


class _Joined:
    """`head` then the rest of `rest`: the bytes read to tell the compression."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self.head, self.rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return self.rest.read(size)
        if size is None or size < 0:
            data, self.head = self.head + self.rest.read(), b""
            return data
        data, self.head = self.head[:size], self.head[size:]
        return data


class _Hashed:
    """A reader that hashes what passes through it (the uncompressed tar)."""

    def __init__(self, raw) -> None:
        self.raw, self.hash = raw, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.hash.update(data)
        return data


def _decompressed(source: BinaryIO):
    """The uncompressed stream of `source`, told apart by its first bytes."""
    head = b""
    while len(head) < 6:
        more = source.read(6 - len(head))
        if not more:
            break
        head += more
    joined = _Joined(head, source)
    kind = next((name for magic, name in _MAGIC if head.startswith(magic)), None)
    if kind == "gzip":
        import gzip

        return gzip.GzipFile(fileobj=joined, mode="rb")
    if kind == "bz2":
        import bz2

        return bz2.BZ2File(joined)
    if kind == "xz":
        import lzma

        return lzma.LZMAFile(joined)
    return joined


def relative_name(name: str) -> str:
    """A member's path inside the image ("" for the image's root): leading `/` and
    `.` components dropped, `..` resolved by name; InvalidArgument if it would
    climb out."""
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise InvalidArgument(f"refusing the tarball: member {name!r} would land "
                                      "outside the image")
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def _folder(root_fd: int, rel: str) -> int:
    """An O_PATH fd of the folder `rel` inside the root (resolved in it), made with
    its missing parents (0755) as tar does for members listed before their folder."""
    if not rel:
        return os.dup(root_fd)
    kind = os.O_PATH | os.O_DIRECTORY
    try:
        return linux.open_in_root(root_fd, rel, kind)
    except FileNotFoundError:
        pass
    up, _, name = rel.rpartition("/")
    parent = _folder(root_fd, up)
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o755, dir_fd=parent)
    finally:
        os.close(parent)
    return linux.open_in_root(root_fd, rel, kind)


def _clear(parent: int, name: str, keep_dir: bool) -> None:
    """Remove what `name` is now (never following it), unless it is a folder and
    `keep_dir`: a later member replaces an earlier one, as with tar."""
    import shutil

    try:
        info = os.lstat(name, dir_fd=parent)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        if not keep_dir:
            shutil.rmtree(name, dir_fd=parent)
    else:
        os.unlink(name, dir_fd=parent)


def _own(fd: int, member: tarfile.TarInfo) -> None:
    """Owner, then mode (chown clears setuid), of an open file or folder."""
    os.fchown(fd, member.uid, member.gid)
    os.fchmod(fd, member.mode & 0o7777)


def _write_file(tar: tarfile.TarFile, member: tarfile.TarInfo, parent: int, name: str) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600, dir_fd=parent)
    try:
        data = tar.extractfile(member)
        while chunk := data.read(_CHUNK):
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
        _own(fd, member)
        os.utime(fd, (member.mtime, member.mtime))
    finally:
        os.close(fd)


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, root_fd: int, rel: str,
             folders: list[tuple[str, int]]) -> bool:
    """Make one member inside the root; False if it was skipped (a device node)."""
    if not rel:  # the image's root folder itself ("./")
        _own(root_fd, member)
        folders.append(("", member.mtime))
        return True
    if member.ischr() or member.isblk():
        return False
    up, _, name = rel.rpartition("/")
    parent = _folder(root_fd, up)
    try:
        _clear(parent, name, keep_dir=member.isdir())
        if member.isdir():
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o700, dir_fd=parent)
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=parent)
            try:
                _own(fd, member)
            finally:
                os.close(fd)
            folders.append((rel, member.mtime))
        elif member.issym():
            os.symlink(member.linkname, name, dir_fd=parent)
            os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
            os.utime(name, (member.mtime, member.mtime), dir_fd=parent, follow_symlinks=False)
        elif member.islnk():
            target = relative_name(member.linkname)
            t_up, _, t_name = target.rpartition("/")
            t_parent = linux.open_in_root(root_fd, t_up or ".", os.O_PATH | os.O_DIRECTORY)
            try:
                os.link(t_name, name, src_dir_fd=t_parent, dst_dir_fd=parent,
                        follow_symlinks=False)
            finally:
                os.close(t_parent)
        elif member.isfifo():
            os.mkfifo(name, 0o600, dir_fd=parent)
            os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
            os.chmod(name, member.mode & 0o7777, dir_fd=parent)  # just made: a fifo
        else:  # a regular file (sparse and contiguous ones read as such)
            _write_file(tar, member, parent, name)
    finally:
        os.close(parent)
    return True


def unpack(source: BinaryIO, folder: str) -> Unpacked:
    """Unpack the tarball read from `source` into `folder` (an empty folder);
    InvalidArgument, with the member's name, if it is not a tarball or a member
    would land outside."""
    import lzma
    import zlib

    root_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    os.fchmod(root_fd, 0o755)
    size = skipped = 0
    folders: list[tuple[str, int]] = []
    member_name = ""
    try:
        stream = _Hashed(_decompressed(source))
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                member_name = member.name
                rel = relative_name(member.name)
                if not _extract(tar, member, root_fd, rel, folders):
                    skipped += 1
                elif member.isreg():
                    size += member.size
        while stream.read(_CHUNK):  # the end-of-archive blocks count in the DiffID too
            pass
        for rel, mtime in reversed(folders):  # after their contents changed them
            fd = linux.open_in_root(root_fd, rel or ".", os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.utime(fd, (mtime, mtime))
            finally:
                os.close(fd)
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as exc:
        where = f" at member {member_name!r}" if member_name else ""
        raise InvalidArgument(f"not a tar archive (plain, gzip, bzip2 or xz){where}: "
                              f"{exc or 'unexpected EOF'}") from None
    except OSError as exc:
        if exc.errno in (None, 0):  # bz2's and gzip's "invalid data stream"
            raise InvalidArgument(f"not a tar archive (plain, gzip, bzip2 or xz): {exc}") \
                from None
        raise InvalidArgument(f"cannot unpack {member_name!r}: {exc.strerror}") from None
    finally:
        os.close(root_fd)
    return Unpacked("sha256:" + stream.hash.hexdigest(), size, skipped)
