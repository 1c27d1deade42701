"""Images without root: Docker's reference grammar, `import -c` changes, and
unpacking hostile tarballs (built here) into a folder."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import stat
import tarfile
from pathlib import Path

import pytest

from cnmctl.errors import InvalidArgument
from cnmctl.images.changes import apply_changes
from cnmctl.images.reference import id_prefix, image_id_of, parse_normalized
from cnmctl.images.unpack import relative_name, unpack

ME = os.getuid(), os.getgid()


# -- reference grammar ---------------------------------------------------------------

@pytest.mark.parametrize(("text", "familiar", "tagged"), [
    ("alpine", "alpine", "alpine:latest"),
    ("alpine:3.19", "alpine", "alpine:3.19"),
    ("library/alpine", "alpine", "alpine:latest"),
    ("docker.io/library/alpine:edge", "alpine", "alpine:edge"),
    ("index.docker.io/user/app", "user/app", "user/app:latest"),
    ("user/app_x.y-z:v1.0-rc_1", "user/app_x.y-z", "user/app_x.y-z:v1.0-rc_1"),
    ("localhost:5000/lab/app", "localhost:5000/lab/app", "localhost:5000/lab/app:latest"),
    ("Registry.Example/app", "Registry.Example/app", "Registry.Example/app:latest"),
    ("a__b/c---d", "a__b/c---d", "a__b/c---d:latest"),
])
def test_reference_accepted(text, familiar, tagged):
    ref = parse_normalized(text)
    assert (ref.familiar_name, ref.tagged) == (familiar, tagged)


@pytest.mark.parametrize(("text", "message"), [
    ("Alpine", "invalid reference format: repository name must be lowercase"),
    ("alpine:Latest", None),  # tags may hold capitals
    ("user/App", "invalid reference format: repository name must be lowercase"),
    ("", "invalid reference format"),
    ("alpine:", "invalid reference format"),
    (":latest", "invalid reference format"),
    ("al pine", "invalid reference format"),
    ("alpine/", "invalid reference format"),
    ("-alpine", "invalid reference format"),
    ("alpine..x", "invalid reference format"),
    ("a/../b", "invalid reference format"),
    ("alpine\n", "invalid reference format"),
    ("alpine:" + "t" * 129, "invalid reference format"),
    ("a" * 256, "repository name must not be more than 255 characters"),
    ("f" * 64, "invalid repository name (" + "f" * 64 + "), cannot specify 64-byte "
               "hexadecimal strings"),
])
def test_reference_refused(text, message):
    if message is None:
        parse_normalized(text)
        return
    with pytest.raises(InvalidArgument) as caught:
        parse_normalized(text)
    assert str(caught.value) == message


def test_ids_and_prefixes():
    full = "ab" * 32
    assert image_id_of(full) == image_id_of("sha256:" + full) == full
    assert image_id_of("sha256:abc") is None and image_id_of("alpine") is None
    assert id_prefix("sha256:9c6f") == id_prefix("9c6f") == "9c6f"
    assert id_prefix("alpine") is None and id_prefix("sha256:") is None


# -- import -c ---------------------------------------------------------------------------

def test_changes():
    config = apply_changes(['CMD ["ash", "-l"]', "ENTRYPOINT /bin/echo hi", "ENV A=1 B=\"x y\"",
                            "env A 2 3", "WORKDIR /srv", "WORKDIR app", "LABEL k=v"])
    assert config["Cmd"] == ["ash", "-l"]
    assert config["Entrypoint"] == ["/bin/sh", "-c", "/bin/echo hi"]
    assert config["Env"] == ["A=2 3", "B=x y"]
    assert config["WorkingDir"] == "/srv/app"
    assert config["Labels"] == {"k": "v"}
    assert apply_changes([])["Cmd"] is None


@pytest.mark.parametrize(("change", "message"), [
    ("RUN make", "run is not a valid change command"),
    ("USER nobody", "USER is not supported by cnmctl import -c"),
    ("ENV", "ENV requires at least one argument"),
    ("ENV =x", "ENV names can not be blank"),
])
def test_changes_refused(change, message):
    with pytest.raises(InvalidArgument, match=message):
        apply_changes([change])


# -- unpacking -----------------------------------------------------------------------------

def _tar(*members: tuple, compress=None) -> bytes:
    """A tarball of (name, type, extra) members: extra is the content of a file,
    the target of a link, or the (major, minor) of a device."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, extra, *mode in members:
            info = tarfile.TarInfo(name)
            info.type, info.uid, info.gid = kind, *ME
            info.mode = mode[0] if mode else 0o644
            data = None
            if kind == tarfile.REGTYPE:
                data = extra.encode()
                info.size = len(data)
            elif kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = extra
            elif kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                info.devmajor, info.devminor = extra
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    plain = raw.getvalue()
    return compress(plain) if compress else plain


def _unpack(tmp_path, data: bytes):
    image = tmp_path / "image"
    image.mkdir()
    return image, unpack(io.BytesIO(data), str(image))


def _tree(folder) -> dict[str, str]:
    """What a folder holds, by relative path: file contents, `-> target`, `dir`."""
    out = {}
    for top, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(top, name)
            rel = os.path.relpath(path, folder)
            if os.path.islink(path):
                out[rel] = "-> " + os.readlink(path)
            elif os.path.isdir(path):
                out[rel] = "dir"
            else:
                out[rel] = Path(path).read_text()
    return out


@pytest.mark.parametrize("compress", [None, gzip.compress, bz2.compress, lzma.compress])
def test_plain_and_compressed(tmp_path, compress):
    plain = _tar(("./", tarfile.DIRTYPE, None, 0o755), ("bin", tarfile.DIRTYPE, None, 0o755),
                 ("bin/busybox", tarfile.REGTYPE, "elf", 0o4755),
                 ("bin/sh", tarfile.SYMTYPE, "/bin/busybox"),
                 ("bin/ash", tarfile.LNKTYPE, "bin/busybox"))
    image, found = _unpack(tmp_path, compress(plain) if compress else plain)
    assert _tree(image) == {"bin": "dir", "bin/busybox": "elf", "bin/sh": "-> /bin/busybox",
                            "bin/ash": "elf"}
    # The DiffID is the sha256 of the uncompressed tar, end-of-archive blocks included.
    assert found.diff_id == "sha256:" + hashlib.sha256(plain).hexdigest()
    assert found.size == 3 and found.skipped_devices == 0
    info = os.stat(image / "bin/busybox")
    assert stat.S_IMODE(info.st_mode) == 0o4755 and (info.st_uid, info.st_gid) == ME
    assert os.path.samefile(image / "bin/ash", image / "bin/busybox")


def test_names_land_inside(tmp_path):
    data = _tar(("/etc/passwd", tarfile.REGTYPE, "abs"), ("./a/../b", tarfile.REGTYPE, "b"),
                ("deep/er/file", tarfile.REGTYPE, "parents made"))
    image, _found = _unpack(tmp_path, data)
    assert _tree(image) == {"etc": "dir", "etc/passwd": "abs", "b": "b", "deep": "dir",
                            "deep/er": "dir", "deep/er/file": "parents made"}


@pytest.mark.parametrize("name", ["../escape", "a/../../escape", "/../escape", "./.."])
def test_dotdot_refused(tmp_path, name):
    with pytest.raises(InvalidArgument, match="outside the image"):
        _unpack(tmp_path, _tar((name, tarfile.REGTYPE, "x")))
    assert not (tmp_path / "escape").exists()


def test_write_through_symlink_stays_inside(tmp_path):
    outside = tmp_path / "host-etc"
    outside.mkdir()
    data = _tar(("etc", tarfile.SYMTYPE, str(outside)),  # absolute, to the "host"
                ("up", tarfile.SYMTYPE, "../../.."),
                ("etc/passwd", tarfile.REGTYPE, "owned"),
                ("up/host-etc/shadow", tarfile.REGTYPE, "owned"))
    with pytest.raises(InvalidArgument):  # etc resolves inside the image: no such folder
        _unpack(tmp_path, data)
    assert list(outside.iterdir()) == []


def test_symlink_resolved_in_the_image(tmp_path):
    data = _tar(("usr/lib", tarfile.DIRTYPE, None, 0o755), ("lib", tarfile.SYMTYPE, "/usr/lib"),
                ("up", tarfile.SYMTYPE, "../../../.."), ("lib/libc.so", tarfile.REGTYPE, "c"),
                ("up/usr/lib/more", tarfile.REGTYPE, "m"))
    image, _found = _unpack(tmp_path, data)
    assert (image / "usr/lib/libc.so").read_text() == "c"  # /usr/lib of the image
    assert (image / "usr/lib/more").read_text() == "m"  # .. stops at the image's root


def test_replaced_symlink_is_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("host file")
    data = _tar(("x", tarfile.SYMTYPE, str(victim)), ("x", tarfile.REGTYPE, "new"))
    image, _found = _unpack(tmp_path, data)
    assert victim.read_text() == "host file" and (image / "x").read_text() == "new"


@pytest.mark.parametrize("target", ["../victim", "/../victim", "a/../../victim"])
def test_hardlink_escape_refused(tmp_path, target):
    (tmp_path / "victim").write_text("host file")
    with pytest.raises(InvalidArgument, match="outside the image"):
        _unpack(tmp_path, _tar(("h", tarfile.LNKTYPE, target)))


def test_hardlink_through_symlink_stays_inside(tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "shadow").write_text("secret")
    data = _tar(("evil", tarfile.SYMTYPE, str(host)), ("h", tarfile.LNKTYPE, "evil/shadow"))
    with pytest.raises(InvalidArgument):  # evil/shadow is looked up in the image: missing
        _unpack(tmp_path, data)
    assert os.stat(host / "shadow").st_nlink == 1


def test_devices_skipped_fifo_kept(tmp_path):
    data = _tar(("dev", tarfile.DIRTYPE, None, 0o755), ("dev/sda", tarfile.BLKTYPE, (8, 0)),
                ("dev/null", tarfile.CHRTYPE, (1, 3)), ("run.fifo", tarfile.FIFOTYPE, None))
    image, found = _unpack(tmp_path, data)
    assert found.skipped_devices == 2
    assert os.listdir(image / "dev") == []
    assert stat.S_ISFIFO(os.lstat(image / "run.fifo").st_mode)


NOISE = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(200))


@pytest.mark.parametrize("data", [b"not a tarball at all" * 40, gzip.compress(b"x" * 600),
                                  gzip.compress(_tar(("a", tarfile.REGTYPE, NOISE)))[:3000],
                                  _tar(("a", tarfile.REGTYPE, NOISE))[:3000], b""])
def test_garbage_refused(tmp_path, data):
    with pytest.raises(InvalidArgument, match="not a tar archive"):
        _unpack(tmp_path, data)


def test_relative_name():
    assert relative_name("./") == "" and relative_name("/a//b/./c") == "a/b/c"
    with pytest.raises(InvalidArgument):
        relative_name("a/../..")
