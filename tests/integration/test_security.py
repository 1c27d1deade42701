"""One test per hostile-input hole of issue 8: each would fail with its guard removed.

Newlines in values that reach /etc/hosts or resolv.conf, -e values on command
lines, 64-character "IDs" that are paths, --rootfs symlinks out of the tree,
unsafe store and run roots, relative -w, exec -w into a missing folder,
non-root users, `exec -e =x` and a store root that is a file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

import pytest
from conftest import CNMCTL, Cli, Result, link_names, wait_until
from hostile import NETWORK, RUNNING, assert_refused, hostile_store, state

busy = pytest.fixture(scope="module")(hostile_store)  # one store for the module

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOBODY = 65534


# -- control characters ----------------------------------------------------------
INJECTION = "nameserver 6.6.6.6"


@pytest.mark.parametrize(("flag", "value"), [
    ("--hostname", f"h\n{INJECTION}"),
    ("--dns-search", f"example.test\n{INJECTION}"),
    ("--dns-option", f"ndots:1\n{INJECTION}"),
    ("--add-host", "db\n6.6.6.6 evil:10.1.2.3"),
    ("--add-host", f"db:fe80::1%x\n{INJECTION}"),  # Python's ipaddress takes any zone text
], ids=["hostname", "dns-search", "dns-option", "add-host-name", "add-host-address"])
@pytest.mark.parametrize("verb", ["run", "create"])
def test_newline_never_reaches_hosts_or_resolv_conf(busy, verb, flag, value):
    before = state(busy)
    args = [verb, *(["-d"] if verb == "run" else []), "--network", NETWORK, flag, value,
            "sleep", "60"]
    line = assert_refused(busy.run(*args), 125 if verb == "run" else 1)
    assert "\\n" in line  # the value, escaped: still one line
    assert state(busy) == before


# -- -e values ---------------------------------------------------------------------
def _cmdlines() -> dict[str, bytes]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    found[entry] = f.read()
            except OSError:
                continue  # exited meanwhile
    return found


def test_env_values_are_on_no_command_line(busy):
    links = link_names()
    secret = "hunter2-" + os.urandom(4).hex()
    cid = busy("run", "-d", "--network", NETWORK, "-e", f"SECRET={secret}", "sleep",
              "60").strip()
    pid = busy("inspect", "-f", "{{.State.Pid}}", cid).strip()
    with open(f"/proc/{pid}/environ", "rb") as f:  # the container has it ...
        assert f"SECRET={secret}".encode() in f.read().split(b"\0")
    # ... and no process shows it: not the supervisor, not the container.
    leaks = {pid: line for pid, line in _cmdlines().items() if secret.encode() in line}
    busy("rm", "-f", cid)
    assert leaks == {}
    # The kernel frees a deleted namespace's veth a little later: let it go before
    # the next test takes its snapshot.
    wait_until(lambda: link_names() == links, what="the container's veth to go")


# -- IDs and names as paths --------------------------------------------------------
def _planted(busy) -> tuple[str, str, str]:
    """A 64-character "ID" that walks out of the store to a container document
    planted beside it, and the file and folder a removal would delete."""
    base = os.path.dirname(busy.root)
    ref = "../.." + "/" * 52 + "/evil/x"  # <root>/containers/<ref>.json = <base>/evil/x.json
    assert len(ref) == 64
    os.makedirs(os.path.join(base, "evil", "x"), exist_ok=True)  # <run>/containers/<ref>
    doc = os.path.join(base, "evil", "x.json")
    with open(doc, "w", encoding="utf-8") as f:
        json.dump({"id": ref, "name": "evil", "created": "2024-01-01T00:00:00Z",
                   "path": "true", "status": "running", "pid": 1, "auto_remove": True}, f)
    keep = os.path.join(base, "evil", "x", "keep")
    with open(keep, "w", encoding="utf-8") as f:
        f.write("not cnmctl's\n")
    return ref, doc, keep


@pytest.mark.parametrize("args", [["rm"], ["rm", "-f"], ["internal", "exited"], ["logs"],
                                  ["network", "connect", NETWORK]],
                         ids=["rm", "rm-f", "internal-exited", "logs", "connect"])
def test_path_like_id_touches_nothing_outside(busy, args):
    ref, doc, keep = _planted(busy)
    before = state(busy)
    extra = ["0", "1"] if args[0] == "internal" else []
    assert_refused(busy.run(*args, ref, *extra), 1)
    assert os.path.exists(doc) and os.path.exists(keep)
    assert state(busy) == before


# -- --rootfs --------------------------------------------------------------------
def test_rootfs_symlinks_out_of_the_tree_write_nothing_outside(busy, tmp_path):
    links = link_names()
    tree, outside, outside_work = tmp_path / "tree", tmp_path / "host-etc", tmp_path / "host-w"
    for folder in (tree / "bin", outside, outside_work):
        folder.mkdir(parents=True)
    shutil.copy("/bin/busybox", tree / "bin" / "busybox")
    (tree / "etc").symlink_to(outside)  # absolute, to a host folder
    (tree / "work").symlink_to("../../../../../../../.." + str(outside_work))  # relative
    out = busy("run", "--rm", "--rootfs", str(tree), "--network", NETWORK, "-h", "boxed",
              "-w", "/work/sub", "/bin/busybox", "sh", "-c",
              "/bin/busybox cat /etc/hostname; /bin/busybox pwd")
    assert out.splitlines()[0] == "boxed"
    assert os.listdir(outside) == [] and os.listdir(outside_work) == []
    # What the symlinks name, taken inside the tree (as runc resolves them).
    inside = tree / str(outside).lstrip("/")
    assert sorted(os.listdir(inside)) == ["hostname", "hosts", "resolv.conf"]
    assert (tree / str(outside_work).lstrip("/") / "sub").is_dir()
    wait_until(lambda: link_names() == links, what="the container's veth to go")


# -- store and run roots -----------------------------------------------------------
def _unsafe(path: str, how: str, target: str) -> None:
    if how == "symlink":
        os.symlink(target, path)
        return
    if how == "file":
        with open(path, "w", encoding="utf-8") as f:
            f.write("x\n")
        return
    os.mkdir(path, 0o700)
    if how == "world-writable":
        os.chmod(path, 0o777)
    elif how == "group-writable":
        os.chmod(path, 0o770)
    elif how == "other-owner":
        os.chown(path, NOBODY, NOBODY)


@pytest.mark.parametrize("how", ["symlink", "world-writable", "group-writable", "other-owner",
                                 "file"])
@pytest.mark.parametrize("which", ["--root", "--run-root"])
def test_unsafe_store_or_run_root_is_refused(tmp_path, which, how):
    target = tmp_path / "planted"
    target.mkdir()
    bad = str(tmp_path / "bad")
    _unsafe(bad, how, str(target))
    good = str(tmp_path / "good")
    cli = Cli(bad, good) if which == "--root" else Cli(good, bad)
    for args in (["network", "ls"], ["run", "-d", "--network", "none", "sleep", "1"]):
        line = assert_refused(cli.run(*args))
        what = "store root" if which == "--root" else "run root"
        assert line.startswith(f"Error: refusing the {what} {bad}: "), line
    assert os.listdir(target) == []
    if how not in ("symlink", "file"):
        assert os.listdir(bad) == []


def test_roots_are_made_private(tmp_path):
    cli = Cli(str(tmp_path / "a" / "lib"), str(tmp_path / "b" / "run"))
    cli("network", "ls")
    for path in (cli.root, cli.run_root):
        info = os.lstat(path)
        assert (info.st_mode & 0o777, info.st_uid) == (0o700, 0)


def test_store_root_that_is_a_file(busy):
    before = os.stat("/etc/passwd")
    for flag in ("--root", "--run-root"):
        line = assert_refused(busy.run(flag, "/etc/passwd", "network", "ls"), 1)
        assert line.endswith("/etc/passwd: it is not a directory"), line
    after = os.stat("/etc/passwd")
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


# -- -w --------------------------------------------------------------------------
@pytest.mark.parametrize(("verb", "code"), [("run", 125), ("create", 1)])
def test_relative_workdir_is_refused(busy, tmp_path, verb, code):
    before = state(busy)
    top = f"relative-{os.urandom(4).hex()}"  # made under the cwd, or under /, if not refused
    proc = subprocess.run([*CNMCTL, verb, "--network", NETWORK, "-w", f"{top}/dir", "true"],
                          env=busy.env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    line = assert_refused(_result(proc), code)
    assert line == (f"Error: the working directory '{top}/dir' is invalid, it needs to be an "
                    "absolute path")
    assert not (tmp_path / top).exists() and not os.path.exists(f"/{top}")
    assert state(busy) == before


def test_exec_into_a_missing_workdir_fails_as_docker(busy, tmp_path):
    marker = tmp_path / "ran"
    line = assert_refused(busy.run("exec", "-w", "/nonexistent", RUNNING, "touch", str(marker)),
                          126)
    assert line == ('Error: chdir to cwd ("/nonexistent") set in config.json failed: no such '
                    "file or directory")
    assert not marker.exists()


def test_exec_env_without_a_name(busy):
    line = assert_refused(busy.run("exec", "-e", "=x", RUNNING, "true"), 125)
    assert line == "Error: invalid environment variable: =x"


# -- non-root --------------------------------------------------------------------
def _result(proc: subprocess.CompletedProcess) -> Result:
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.parametrize(("args", "code"), [
    (["run", "-d", "--name", "x", "--network", "none", "sleep", "1"], 125),
    (["create", "--name", "x", "sleep", "1"], 1),
    (["network", "create", "n1"], 1),
    (["network", "prune", "-f"], 1),
    (["rm", "-f", "x"], 1),
    (["exec", "x", "true"], 1),
], ids=["run", "create", "network-create", "network-prune", "rm", "exec"])
def test_non_root_gets_one_line_and_nothing_is_touched(args, code):
    """As `nobody` (setpriv), on a store it owns, so that only the capability check
    stands between it and a half-made container. The system python: the venv's
    lives under /root, which nobody cannot enter."""
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else CNMCTL[0]
    base = tempfile.mkdtemp(prefix="cnmctl-nobody-", dir="/tmp")
    try:
        os.chmod(base, 0o711)
        roots = [os.path.join(base, name) for name in ("lib", "run")]
        for path in roots:
            os.mkdir(path, 0o700)
            os.chown(path, NOBODY, NOBODY)
        env = dict(os.environ, CNMCTL_ROOT=roots[0], CNMCTL_RUN_ROOT=roots[1], PYTHONPATH=REPO)
        proc = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                               "--clear-groups", python, "-m", "cnmctl", *args],
                              env=env, cwd="/", capture_output=True, text=True, timeout=60)
        line = assert_refused(_result(proc), code)
        assert line == ("Error: cnmctl needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to change "
                        "containers and networks")
        assert [os.listdir(path) for path in roots] == [[], []]
    finally:
        shutil.rmtree(base)
