"""Images end to end: a busybox tarball made by tools/mkimage-busybox, imported,
listed, run (each container on its own writable layer), inspected, removed,
checked by `system check`, and imports killed at every crash point."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import signal
import subprocess
import sys

import pytest
from conftest import CNMCTL, wait_until

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MKIMAGE = os.path.join(REPO, "tools", "mkimage-busybox")
SHA = re.compile(r"sha256:[0-9a-f]{64}")


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> str:
    """The busybox image tarball, as a lab makes it."""
    path = tmp_path_factory.mktemp("tarball") / "busybox.tar.gz"
    with open(path, "wb") as out:
        subprocess.run([sys.executable, MKIMAGE], stdout=out, check=True)
    return str(path)


def _import(cnm, tarball: str, *args: str) -> str:
    """`import - ARGS...` with the tarball on stdin; the image ID (sha256:...)."""
    with open(tarball, "rb") as stdin:
        proc = subprocess.run([*CNMCTL, "import", "-", *args], stdin=stdin, env=cnm.env,
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert SHA.fullmatch(proc.stdout.strip()), proc.stdout
    return proc.stdout.strip()


def _tree(folder: str) -> dict[str, tuple]:
    """Every entry of a folder: (mode, link target or content hash)."""
    out = {}
    for top, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(top, name)
            info = os.lstat(path)
            if os.path.islink(path):
                what = os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    what = hashlib.sha256(f.read()).hexdigest()
            else:
                what = "dir"
            out[os.path.relpath(path, folder)] = (info.st_mode, info.st_uid, what)
    return out


def _entries(cnm, *parts: str) -> list[str]:
    folder = os.path.join(cnm.root, *parts)
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_import_and_images(cnm, tarball):
    image_id = _import(cnm, tarball, "alpine")
    assert SHA.fullmatch(cnm("import", tarball).strip())  # a second, untagged, from a FILE
    table = cnm("images").splitlines()
    assert re.fullmatch(r"REPOSITORY +TAG +IMAGE ID +CREATED +SIZE", table[0])
    rows = [line.split() for line in table[1:]]
    # Newest first: the untagged one, then alpine; busybox is about 2 MB.
    assert rows[0][:2] == ["<none>", "<none>"] and rows[1][:3] == ["alpine", "latest",
                                                                   image_id[7:19]]
    size = os.path.getsize("/bin/busybox")
    assert table[2].endswith(f"{size / 1e6:.3g}MB") and "ago" in table[2]
    assert cnm("images", "-q").split()[1] == image_id[7:19]
    assert image_id in cnm("images", "-q", "--no-trunc").split()
    assert cnm("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", "-f",
               "dangling=false") == "alpine:latest\n"
    assert cnm("image", "list", "-q", "-f", "dangling=true") == cnm("images", "-q").split()[0] \
        + "\n"
    assert cnm("images", "-q", "alp*") == cnm("images", "-q", "-f", "reference=alpine") == \
        image_id[7:19] + "\n"
    assert json.loads(cnm("images", "--format", "json", "alpine"))["Tag"] == "latest"
    # The image folder: busybox with its mode, every applet a relative symlink to it.
    folder = os.path.join(cnm.root, "image-roots", image_id[7:])
    assert os.stat(os.path.join(folder, "bin/busybox")).st_mode & 0o7777 == 0o755
    assert os.readlink(os.path.join(folder, "bin/sh")) == "busybox"
    assert os.readlink(os.path.join(folder, "usr/bin/env")) == "../../bin/busybox"
    assert os.stat(os.path.join(folder, "tmp")).st_mode & 0o7777 == 0o1777
    # Re-importing under the same tag moves it: the old image stays, as <none>.
    newer = _import(cnm, tarball, "alpine")
    assert newer != image_id
    tagged = [line.split() for line in cnm("images", "--no-trunc").splitlines()[1:]]
    assert ["alpine", "latest", newer] == tagged[0][:3]
    assert sum(row[:2] == ["<none>", "<none>"] for row in tagged) == 2


def test_run_image(cnm, tarball):
    image_id = _import(cnm, tarball, "alpine", "-c", 'CMD ["sh", "-c", "echo $GREETING '
                       'from $(pwd)"]', "-c", "ENV GREETING=hi", "-c", "WORKDIR /tmp",
                       "-m", "lab image")
    assert cnm("run", "--rm", "--network", "none", "alpine", "echo", "hello") == "hello\n"
    assert cnm("run", "--rm", "--network", "none", "alpine") == "hi from /tmp\n"
    assert cnm("run", "--rm", "--network", "none", "-e", "GREETING=yo", "-w", "/root",
               "alpine") == "yo from /root\n"
    assert cnm("run", "--rm", "--network", "none", image_id[7:19], "cat", "/etc/passwd") \
        .startswith("root:x:0:0")
    cid = cnm("run", "-d", "--name", "alpine1", "alpine", "sleep", "600").strip()
    info = json.loads(cnm("inspect", "alpine1"))[0]
    assert info["Image"] == image_id and info["Config"]["Image"] == "alpine"
    assert info["Config"]["Cmd"] == ["sleep", "600"] and info["Config"]["Entrypoint"] is None
    assert info["Config"]["Env"] == ["GREETING=hi"] and info["Config"]["WorkingDir"] == "/tmp"
    assert info["GraphDriver"]["Name"] == "overlay"
    assert info["GraphDriver"]["Data"]["UpperDir"] == os.path.join(cnm.root, "layers", cid,
                                                                    "diff")
    assert cnm("ps", "--format", "{{.Image}} {{.Command}}") == 'alpine "sleep 600"\n'
    # The root is an overlay in the container's mount namespace only.
    pid = info["State"]["Pid"]
    with open(f"/proc/{pid}/mountinfo") as f:
        assert re.search(r" / / .* - overlay overlay ", f.read())
    with open("/proc/self/mountinfo") as f:
        assert " overlay " not in f.read()
    assert cnm("exec", "alpine1", "readlink", "/bin/sh") == "busybox\n"


def test_run_image_refusals(cnm, tarball):
    _import(cnm, tarball, "alpine")
    assert cnm.fails("run", "--rm", "--network", "none", "alpine", code=125) == \
        "Error: No command specified"
    tree = str(os.path.dirname(MKIMAGE))
    assert "--rootfs" in cnm.fails("run", "--rm", "--rootfs", tree, "alpine", "true", code=125)
    # A first word that is neither an image nor a command: one line with the way out.
    for word in ("alpine2", "lab/app:v1"):
        line = cnm.fails("run", "--rm", "--network", "none", word, code=127)
        assert line.startswith(f'Error: exec: "{word}": ')
        assert f"; no image {word} either: make one with `cnmctl import`" in line
        assert "--rootfs DIR" in line
    # Host commands still run on the host's filesystem when no image has their name.
    assert cnm("run", "--rm", "--network", "none", "cat", "/proc/1/comm") != ""
    assert cnm("ps", "-aq") == "" and _entries(cnm, "layers") == []


def test_containers_of_one_image_are_apart(cnm, tarball):
    image_id = _import(cnm, tarball, "alpine")[7:]
    folder = os.path.join(cnm.root, "image-roots", image_id)
    before = _tree(folder)
    cnm("run", "-d", "--name", "x1", "--network", "none", "alpine", "sleep", "600")
    cnm("run", "-d", "--name", "x2", "--network", "none", "alpine", "sleep", "600")
    cnm("exec", "x1", "sh", "-c",
        "echo one > /only-x1; rm /etc/group; echo x:x:1:1::/:/bin/sh >> /etc/passwd")
    cnm("exec", "x2", "sh", "-c", "echo two > /only-x2")
    assert cnm("exec", "x1", "ls", "/only-x1") == "/only-x1\n"
    assert cnm.run("exec", "x2", "cat", "/only-x1").code == 1
    assert cnm("exec", "x2", "cat", "/etc/group").startswith("root:")
    assert cnm.run("exec", "x1", "cat", "/etc/group").code == 1
    assert _tree(folder) == before  # the image is unchanged
    # What x1 wrote survives a stop and a start, as in Docker.
    cnm("stop", "-t", "0", "x1")
    cnm("start", "x1")
    wait_until(lambda: json.loads(cnm("inspect", "x1"))[0]["State"]["Running"],
               what="x1 to run")
    assert cnm("exec", "x1", "cat", "/only-x1") == "one\n"
    # rm takes the layer away with the container.
    x1 = json.loads(cnm("inspect", "x1"))[0]["Id"]
    cnm("rm", "-f", "x1")
    assert x1 not in _entries(cnm, "layers") and len(_entries(cnm, "layers")) == 1
    assert _tree(folder) == before


def test_image_rm(cnm, tarball):
    image_id = _import(cnm, tarball, "alpine")
    short = image_id[7:19]
    cid = cnm("create", "--name", "w1", "alpine", "true").strip()
    assert cnm.fails("rmi", "alpine") == (
        f'Error: conflict: unable to remove repository reference "alpine" (must force) - '
        f"container {cid[:12]} is using its referenced image {short}")
    assert cnm.fails("image", "rm", short) == (
        f"Error: conflict: unable to delete {short} (must be forced) - image is being used "
        f"by stopped container {cid[:12]}")
    cnm("start", "w1")
    run_id = cnm("run", "-d", "--name", "w2", "alpine", "sleep", "600").strip()
    assert cnm.fails("rmi", "-f", image_id) == (
        f"Error: conflict: unable to delete {short} (cannot be forced) - image is being used "
        f"by running container {run_id[:12]}")
    assert cnm.fails("rmi", "nosuch") == "Error: No such image: nosuch:latest"
    assert cnm.fails("rmi", "Alpine") == ("Error: invalid reference format: repository name "
                                          "must be lowercase")
    cnm("rm", "-f", "w1", "w2")
    assert cnm("image", "remove", "alpine") == f"Untagged: alpine:latest\nDeleted: {image_id}\n"
    assert cnm("images", "-q") == "" and _entries(cnm, "image-roots") == []
    assert _entries(cnm, "layers") == []
    # Forced while a stopped container uses it: untagged and deleted, but its folder
    # stays for the container, until that container goes.
    image_id = _import(cnm, tarball, "alpine")
    cnm("create", "--name", "w3", "--network", "none", "alpine", "true")
    assert cnm("rmi", "-f", "alpine") == f"Untagged: alpine:latest\nDeleted: {image_id}\n"
    assert _entries(cnm, "image-roots") == [image_id[7:]]
    assert cnm.run("system", "check").out == ""
    cnm("start", "w3")  # it still runs: the folder is its lower layer
    assert cnm("wait", "w3") == "0\n"
    cnm("rm", "-f", "w3")
    assert _entries(cnm, "image-roots") == [] and _entries(cnm, "layers") == []
    # Two tags: the first rmi only untags.
    image_id = _import(cnm, tarball, "one")
    _import_tag = _import(cnm, tarball, "two")
    assert cnm("rmi", "one") == "Untagged: one:latest\nDeleted: " + image_id + "\n"
    assert cnm("images", "--format", "{{.Repository}}") == "two\n"
    assert _import_tag


def test_image_inspect(cnm, tarball):
    image_id = _import(cnm, tarball, "lab/alpine:3")
    info = json.loads(cnm("image", "inspect", "lab/alpine:3"))
    assert list(info[0]) == ["Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created",
                             "Container", "ContainerConfig", "DockerVersion", "Author",
                             "Config", "Architecture", "Os", "Size", "VirtualSize",
                             "GraphDriver", "RootFS", "Metadata"]
    doc = info[0]
    assert doc["Id"] == image_id and doc["RepoTags"] == ["lab/alpine:3"]
    assert doc["Comment"] == "Imported from -" and doc["Os"] == "linux"
    with open(tarball, "rb") as f:
        diff_id = "sha256:" + hashlib.sha256(gzip.decompress(f.read())).hexdigest()
    assert doc["RootFS"] == {"Type": "layers", "Layers": [diff_id]}
    assert doc["Config"]["Cmd"] is None and set(doc["Metadata"]) == {"LastTagTime"}
    # The generic inspect finds images too, by name or ID, and --type image.
    assert cnm("inspect", "-f", "{{.Id}}", "lab/alpine:3") == image_id + "\n"
    assert cnm("inspect", "--type", "image", "-f", "{{.Size}}", image_id[7:15]) == \
        f"{doc['Size']}\n"
    assert cnm.fails("image", "inspect", "nosuch") == "Error: No such image: nosuch"
    assert cnm.fails("inspect", "--type", "image", "nosuch") == "Error: No such image: nosuch"


@pytest.mark.parametrize(("args", "message"), [
    (["Alpine"], "Error: invalid reference format: repository name must be lowercase"),
    (["a:b:c"], "Error: invalid reference format"),
    (["alpine@sha256:" + "a" * 64], "Error: cannot import digest reference"),
    (["-c", "RUN make", "alpine"], "Error: run is not a valid change command"),
])
def test_import_refused(cnm, tarball, args, message):
    before = _entries(cnm, "images"), _entries(cnm, "image-roots")
    assert cnm.fails("import", tarball, *args) == message
    assert (_entries(cnm, "images"), _entries(cnm, "image-roots")) == before


def test_hostile_tarball_leaves_nothing(cnm, tmp_path):
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        ok = tarfile.TarInfo("fine")
        tar.addfile(ok, io.BytesIO())
        escape = tarfile.TarInfo("../../escape")
        tar.addfile(escape, io.BytesIO())
    path = tmp_path / "evil.tar"
    path.write_bytes(raw.getvalue())
    line = cnm.fails("import", str(path), "evil")
    assert "outside the image" in line
    assert _entries(cnm, "images") == [] and _entries(cnm, "image-roots") == []
    assert not os.path.exists(os.path.join(cnm.root, "escape"))
    assert cnm.fails("import", str(tmp_path / "missing.tar")).startswith("Error: open ")


def test_system_check_images(cnm, tarball):
    image_id = _import(cnm, tarball, "alpine")[7:]
    stray_image = os.path.join(cnm.root, "image-roots", "ab" * 32)
    stray_layer = os.path.join(cnm.root, "layers", "cd" * 32)
    os.makedirs(os.path.join(stray_image, "bin"))
    os.makedirs(os.path.join(stray_layer, "diff"))
    os.rename(os.path.join(cnm.root, "image-roots", image_id),
              os.path.join(cnm.root, "image-roots", image_id + ".partial"))
    result = cnm.run("system", "check")
    assert result.code == 1
    # (The first use of the store made no bridge yet: import does not need one.)
    lines = [line for line in result.out.splitlines() if line.startswith(("image", "layer"))]
    for start in (f"image folder {stray_image}: no image records it",
                  f"layer {stray_layer}: no container records it",
                  f"image {image_id[:12]}: its folder is gone"):
        assert any(line.startswith(start) for line in lines), (start, lines)
    assert len(lines) == 4, lines  # and the .partial folder
    cnm("system", "check", "--fix")
    assert cnm.run("system", "check").out == ""
    assert _entries(cnm, "image-roots") == [] and _entries(cnm, "layers") == []
    assert _entries(cnm, "images") == []
    assert cnm("images", "-q") == ""


def _killed_import(cnm, tarball: str, kill_at: str) -> subprocess.CompletedProcess:
    env = dict(cnm.env, CNMCTL_TEST_KILL_AT=kill_at)
    with open(tarball, "rb") as stdin:
        return subprocess.run([*CNMCTL, "import", "-", "alpine"], stdin=stdin, env=env,
                              capture_output=True, text=True, timeout=120)


def test_kill_during_import(cnm, tarball):
    cnm("images")  # the store made first: its own writes are not the import's
    counted = _killed_import(cnm, tarball, "count")
    points = int(re.search(r"crash points: (\d+)", counted.stderr).group(1))
    cnm("rmi", "alpine")
    assert points >= 4
    for n in range(1, points + 1):
        result = _killed_import(cnm, tarball, str(n))
        assert result.returncode == -signal.SIGKILL, (n, result.stderr)
        fixed = cnm.run("system", "check", "--fix")
        assert fixed.code == 0, (n, fixed.out, fixed.err)
        assert cnm.run("system", "check").out == "", n
        images = _entries(cnm, "images")
        # Killed before its commit: nothing at all; after: the image, whole.
        if images:
            image_id = images[0][:-5]
            assert _entries(cnm, "image-roots") == [image_id], n
            assert cnm("images", "--format", "{{.Repository}}") == "alpine\n"
            cnm("rmi", "alpine")
        assert _entries(cnm, "image-roots") == [] and _entries(cnm, "images") == [], n
        intents = os.path.join(cnm.run_root, "intents")
        assert not os.path.isdir(intents) or os.listdir(intents) == [], n
    # The next command alone (no system check) undoes a killed import too.
    assert _killed_import(cnm, tarball, "2").returncode == -signal.SIGKILL
    assert _entries(cnm, "image-roots") != []
    _import(cnm, tarball, "alpine")
    assert len(_entries(cnm, "image-roots")) == 1


def _points(cnm, command: list[str]) -> int:
    result = subprocess.run([*CNMCTL, *command], env=dict(cnm.env, CNMCTL_TEST_KILL_AT="count"),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return int(re.search(r"crash points: (\d+)", result.stderr).group(1))


def test_kill_run_and_rm_of_an_image_container(cnm, tarball):
    image_id = _import(cnm, tarball, "alpine")[7:]
    cnm("run", "--rm", "--network", "none", "alpine", "true")  # the kernel's first set-up
    run = ["run", "-d", "--name", "w1", "--network", "none", "alpine", "sleep", "600"]
    for command, setup in ((run, []), (["rm", "-f", "w1"], [run])):
        for args in setup:
            cnm(*args)
        points = _points(cnm, command)
        cnm.run("rm", "-f", "w1")
        for n in range(1, points + 1):
            for args in setup:
                cnm(*args)
            killed = subprocess.run([*CNMCTL, *command],
                                    env=dict(cnm.env, CNMCTL_TEST_KILL_AT=str(n)),
                                    capture_output=True, text=True, timeout=120)
            assert killed.returncode == -signal.SIGKILL, (command, n, killed.stderr)
            fixed = cnm.run("system", "check", "--fix")
            assert fixed.code == 0, (command, n, fixed.out, fixed.err)
            assert cnm.run("system", "check").out == "", (command, n)
            ids = cnm("ps", "-aq", "--no-trunc").split()
            # A container left (committed) has its layer; none left, no layer either.
            assert _entries(cnm, "layers") == ids, (command, n)
            cnm.run("rm", "-f", "w1")
            assert _entries(cnm, "layers") == [], (command, n)
            assert _entries(cnm, "image-roots") == [image_id], (command, n)


def test_exec_it_in_an_image_container(cnm, tarball):
    """exec -it makes its terminal inside the container, whose root has none of the
    host's Python: whatever it needs is loaded before it enters."""
    from terminal import Terminal

    _import(cnm, tarball, "alpine")
    cnm("run", "-d", "--name", "img1", "--network", "none", "alpine", "sleep", "600")
    term = Terminal([*CNMCTL, "exec", "-it", "img1", "sh"], cnm.env)
    term.expect(b"# ")
    term.type(b"tty; echo $((2+3))\r")
    assert b"/dev/pts/0\r\n5\r\n" in term.expect(b"5\r\n")
    term.type(b"exit 2\r")
    assert term.wait() == 2
