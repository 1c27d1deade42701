"""The `container` group, pause/unpause, rename, info and unknown flags, as a user meets
them. The freezer is read here from /proc/self/mountinfo on its own, so these checks
do not lean on cnmctl's discovery."""

from __future__ import annotations

import os
import re

import pytest
from conftest import store_snapshot, wait_until

LOOP = "i=0; while :; do i=$((i+1)); echo $i; sleep 0.02; done"


def freezer_dir() -> str:
    """The v1 freezer hierarchy's mount point, else the cgroup2 one."""
    v1 = v2 = None
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            fstype, options = line.split(" - ")[1].split()[0], line.split(" - ")[1].split()[2]
            if fstype == "cgroup" and "freezer" in options.split(",") and fields[3] == "/":
                v1 = fields[4]
            elif fstype == "cgroup2" and v2 is None:
                v2 = fields[4]
    return v1 or v2


def frozen(cid: str) -> bool:
    folder = os.path.join(freezer_dir(), "cnmctl", cid)
    if os.path.exists(os.path.join(folder, "freezer.state")):
        with open(os.path.join(folder, "freezer.state")) as f:
            return f.read().strip() == "FROZEN"
    with open(os.path.join(folder, "cgroup.events")) as f:
        return "frozen 1" in f.read().splitlines()


def cgroup_exists(cid: str) -> bool:
    return os.path.isdir(os.path.join(freezer_dir(), "cnmctl", cid))


def lines(cnm, name: str) -> int:
    return len(cnm("logs", name).splitlines())


@pytest.fixture
def thaw_after(cnm):
    """Whatever a failing test left frozen is thawed, so the clean-up can kill it."""
    yield cnm
    from cnmctl import cgroups

    folder = os.path.join(cnm.run_root, "cgroups")
    for cid in os.listdir(folder) if os.path.isdir(folder) else ():
        cgroups.find_freezer().remove(cid)


def test_container_group_answers_as_the_top_level(cnm):
    cid = cnm("run", "-d", "--name", "w1", "-p", "8080:80", "sh", "-c",
              "echo hello; sleep 100").strip()
    wait_until(lambda: cnm("logs", "w1") == "hello\n", what="the output")
    pairs = [
        (["ps", "--format", "{{.ID}} {{.Names}} {{.State}} {{.Ports}}"],
         [["container", verb, "--format", "{{.ID}} {{.Names}} {{.State}} {{.Ports}}"]
          for verb in ("ls", "list", "ps")]),
        (["inspect", "w1"], [["container", "inspect", "w1"]]),
        (["inspect", "-f", "{{.State.Pid}}", "w1"], [["container", "inspect", "-f",
                                                      "{{.State.Pid}}", "w1"]]),
        (["logs", "w1"], [["container", "logs", "w1"]]),
        (["port", "w1"], [["container", "port", "w1"]]),
        (["exec", "w1", "echo", "in"], [["container", "exec", "w1", "echo", "in"]]),
    ]
    for top, forms in pairs:
        expected = cnm(*top)
        for form in forms:
            assert cnm(*form) == expected, form
    # the changing verbs: each prints what the top-level one prints (the name given)
    for verb in (["pause"], ["unpause"], ["stop", "-t", "1"], ["start"], ["restart", "-t", "1"],
                 ["kill"]):
        assert cnm("container", *verb, "w1") == "w1\n", verb
    assert cnm("container", "wait", "w1") == "137\n"
    assert cnm("container", "rename", "w1", "w2") == ""
    assert cnm("container", "rm", "w2") == "w2\n"
    assert cnm("container", "create", "--name", "w3", "sleep", "1").strip() != cid
    assert cnm("container", "remove", "w3") == "w3\n"
    assert cnm("container", "run", "--rm", "echo", "hi") == "hi\n"
    assert cnm("container", "prune", "-f") == "Total reclaimed space: 0B\n"
    # `container inspect` is about containers only, as Docker's
    assert cnm.fails("container", "inspect", "bridge") == "Error: No such container: bridge"
    assert cnm("inspect", "-f", "{{.Name}}", "bridge") == "bridge\n"
    sizes = cnm.run("container", "inspect", "-s", "-f", "{{.SizeRootFs}}", "nosuch")
    assert (sizes.code, sizes.err) == (1, "Error: No such container: nosuch\n")


def test_pause_freezes_and_unpause_thaws(thaw_after):
    cnm = thaw_after
    cid = cnm("run", "-d", "--name", "w1", "sh", "-c", LOOP).strip()
    pid = int(cnm("inspect", "-f", "{{.State.Pid}}", "w1"))
    wait_until(lambda: lines(cnm, "w1") > 2, what="the counter")
    assert cnm("pause", "w1") == "w1\n"
    assert frozen(cid)
    with open(os.path.join(freezer_dir(), "cnmctl", cid, "cgroup.procs")) as f:
        assert str(pid) in f.read().split()
    # a counter written every 20 ms stands still while frozen (over several reads,
    # each one a whole cnmctl command)
    before = lines(cnm, "w1")
    assert [lines(cnm, "w1") for _ in range(3)] == [before] * 3
    assert cnm("inspect", "-f", "{{.State.Status}} {{.State.Paused}} {{.State.Running}}",
               "w1") == "paused true true\n"
    assert re.fullmatch(r"Up .* \(Paused\)\n", cnm("ps", "--format", "{{.Status}}"))
    assert cnm("ps", "-f", "status=paused", "--format", "{{.Names}}") == "w1\n"
    assert cnm("ps", "-f", "status=running", "--format", "{{.Names}}") == ""
    assert cnm.fails("pause", "w1") == f"Error: Container {cid} is already paused"
    assert cnm.fails("exec", "w1", "true") == \
        f"Error: Container {cid} is paused, unpause the container before exec"
    assert cnm.fails("rm", "w1") == (
        f"Error: You cannot remove a paused container {cid}. Unpause and then stop the "
        "container before attempting removal or force remove")
    assert cnm("unpause", "w1") == "w1\n"
    assert not frozen(cid)
    wait_until(lambda: lines(cnm, "w1") > before + 2, what="the counter to go on")
    assert cnm.fails("unpause", "w1") == f"Error: Container {cid} is not paused"
    cnm("stop", "-t", "1", "w1")
    assert cnm.fails("pause", "w1") == f"Error: Container {cid} is not running"
    wait_until(lambda: not cgroup_exists(cid), what="the cgroup to go")
    assert cnm.run("system", "check").out == ""


def test_stop_and_rm_f_of_a_paused_container(thaw_after):
    cnm = thaw_after
    cid = cnm("run", "-d", "--name", "w1", "sh", "-c",
              "trap 'exit 143' TERM; sleep 100 & wait").strip()
    cnm("pause", "w1")
    # as Docker 20.10: SIGTERM sent, the container thawed, so it dies of it at once
    assert cnm("stop", "-t", "30", "w1") == "w1\n"
    assert cnm("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "w1") == \
        "exited 143\n"
    wait_until(lambda: not cgroup_exists(cid), what="the cgroup to go")
    cnm("start", "w1")
    cnm("pause", "w1")
    assert cnm("rm", "-f", "w1") == "w1\n"
    assert not cgroup_exists(cid)
    assert not os.listdir(os.path.join(cnm.run_root, "cgroups"))
    assert cnm.run("system", "check").out == ""


def test_a_kill_during_pause_leaves_nothing(thaw_after):
    import subprocess
    import sys

    cnm = thaw_after
    cid = cnm("run", "-d", "--name", "w1", "sleep", "1000").strip()

    def pause(kill_at: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cnmctl", "pause", "w1"],
                              env=dict(cnm.env, CNMCTL_TEST_KILL_AT=kill_at),
                              capture_output=True, text=True, timeout=60)

    counted = pause("count")
    points = int(counted.stderr.split("crash points:")[1])
    cnm("unpause", "w1")
    assert points >= 3
    for kill_at in range(1, points + 1):
        assert pause(str(kill_at)).returncode == -9
        cnm.run("system", "check", "--fix")
        assert cnm.run("system", "check").out == "", kill_at
        paused = cnm("inspect", "-f", "{{.State.Paused}}", "w1") == "true\n"
        # never frozen unless recorded paused
        assert paused or not cgroup_exists(cid) or not frozen(cid), kill_at
        cnm("unpause" if paused else "pause", "w1")
        if not paused:
            cnm("unpause", "w1")
    cnm("rm", "-f", "w1")
    assert not cgroup_exists(cid)


def test_rename_moves_the_dns_name(cnm):
    cnm("network", "create", "dnet")
    cid = cnm("run", "-d", "--name", "alpha", "--network", "dnet", "sleep", "100").strip()
    cnm("run", "-d", "--name", "beta", "--network", "dnet", "sleep", "100")
    address = cnm("inspect", "-f", '{{(index .NetworkSettings.Networks "dnet").IPAddress}}',
                  "alpha").strip()

    def short(name: str) -> str:
        return cnm.run("exec", "beta", "dig", "+time=3", "+tries=1", "+short",
                       "@127.0.0.11", name).out.strip()

    assert short("alpha") == address
    assert cnm("rename", "alpha", "gamma") == ""
    assert short("gamma") == address
    assert short("alpha") == ""
    assert cnm("inspect", "-f", "{{.Name}}", cid) == "/gamma\n"
    names = cnm("network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}",
                "dnet").split()
    assert sorted(names) == ["beta", "gamma"]
    assert cnm.fails("inspect", "alpha") == "Error: No such object: alpha"
    # Docker leaves the container's /etc/hosts as it is: it names the host name
    assert cid[:12] in cnm("exec", "gamma", "cat", "/etc/hosts")
    before = store_snapshot(cnm.root)
    assert cnm.fails("rename", "gamma", "gamma") == \
        "Error: Renaming a container with the same name as its current name"
    beta = cnm("inspect", "-f", "{{.Id}}", "beta").strip()
    assert cnm.fails("rename", "gamma", "beta") == (
        'Error: Error when allocating new name: Conflict. The container name "/beta" is '
        f'already in use by container "{beta}". You have to remove (or rename) that '
        "container to be able to reuse that name.")
    assert cnm.fails("rename", "gamma", "bad name") == (
        "Error: Error when allocating new name: Invalid container name (bad name), only "
        "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    assert cnm.fails("rename", "nosuch", "x1") == "Error: No such container: nosuch"
    assert store_snapshot(cnm.root) == before
    # the old name is free again, the new one taken
    cnm("run", "-d", "--name", "alpha", "--network", "dnet", "sleep", "100")
    assert cnm.run("system", "check").out == ""


def test_info_names_the_store_run_root_and_kernel_features(cnm):
    cnm("run", "-d", "--name", "w1", "sleep", "100")
    out = cnm("info")
    assert f" Store Dir: {cnm.root}\n" in out
    assert f" Run Root: {cnm.run_root}\n" in out
    assert " Containers: 1\n  Running: 1\n  Paused: 0\n  Stopped: 0\n" in out
    assert "  nftables: found\n" in out
    assert "  ipvlan: not found (the kernel refused a link of type ipvlan: " in out
    assert cnm("info", "--format", "{{.Containers}} {{.Networks}}") == "1 3\n"
    assert cnm("system", "info", "-f", "{{.KernelFeatures.nftables.Found}}") == "true\n"
    assert cnm("version", "--format", "{{.Client.Version}}") == \
        cnm("version", "-f", "{{.Server.Version}}")


def test_unknown_flags_are_one_line_and_change_nothing(cnm):
    cnm("network", "ls")  # the store exists
    before = store_snapshot(cnm.root)
    assert cnm.fails("run", "--memory", "5m", "sleep", "1", code=125) == (
        "Error: unknown flag: --memory (Docker's run has it; cnmctl does not support it)")
    assert cnm.fails("container", "run", "--init", "sleep", "1", code=125) == (
        "Error: unknown flag: --init (Docker's run has it; cnmctl does not support it)")
    assert cnm.fails("run", "--foo", "sleep", "1", code=125) == \
        "Error: unknown flag: --foo (see 'cnmctl run --help')"
    assert cnm.fails("ps", "-z", code=125) == \
        "Error: unknown shorthand flag: 'z' in -z (see 'cnmctl ps --help')"
    assert store_snapshot(cnm.root) == before
    assert cnm("ps", "-a", "-q") == ""
