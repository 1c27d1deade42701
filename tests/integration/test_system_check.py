"""`system check [--fix]`, `container prune`, `system prune`, and the commands that clear
stale endpoints themselves: each orphan made behind cnmctl's back, found, repaired."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest
from conftest import CNMCTL, link_names, wait_until

from cnmctl.runtime import process


def _findings(cnm) -> list[str]:
    result = cnm.run("system", "check")
    assert "Traceback" not in result.err
    lines = result.out.splitlines()
    assert result.code == (1 if lines else 0), (result.code, result.out, result.err)
    return lines


def _fix(cnm) -> list[str]:
    result = cnm.run("system", "check", "--fix")
    assert result.code == 0, (result.out, result.err)
    assert _findings(cnm) == []
    return result.out.splitlines()


def _ids(cnm, kind: str) -> list[str]:
    folder = os.path.join(cnm.root, kind)
    return sorted(n[:-5] for n in os.listdir(folder) if n.endswith(".json"))


def _drop_doc(cnm, kind: str, doc_id: str) -> None:
    os.unlink(os.path.join(cnm.root, kind, f"{doc_id}.json"))


def test_clean_state_has_no_findings(cnm):
    cnm("network", "create", "cnm-net")
    cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "600")
    assert _findings(cnm) == []


def test_dead_supervisor_and_process_are_recorded_exited(cnm):
    cnm("network", "create", "cnm-net")
    cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "600")
    [doc] = json.loads(cnm("inspect", "c1"))
    pid = doc["State"]["Pid"]
    [(supervisor, _cid)] = process.supervisors(cnm.root)
    os.kill(supervisor, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not process.start_time(pid), what="the container process to die")
    assert "container c1: recorded running, its process and supervisor are gone; --fix will " \
           "record it exited (255) and release its sandbox" in _findings(cnm)
    _fix(cnm)
    [doc] = json.loads(cnm("inspect", "c1"))
    assert (doc["State"]["Status"], doc["State"]["ExitCode"]) == ("exited", 255)
    assert os.listdir(os.path.join(cnm.run_root, "netns")) == []
    assert cnm("start", "c1")  # its address and name are usable again


def test_orphan_network_record_loss_leaves_a_bridge_that_is_deleted(cnm):
    net_id = cnm("network", "create", "cnm-net").strip()
    bridge = f"br-{net_id[:12]}"
    _drop_doc(cnm, "networks", net_id)
    assert bridge in link_names()
    lines = _findings(cnm)
    assert f"bridge {bridge}: its network is gone; --fix will delete it" in lines
    _fix(cnm)
    assert bridge not in link_names()


def test_missing_bridge_is_made_again(cnm):
    net_id = cnm("network", "create", "cnm-net").strip()
    bridge = f"br-{net_id[:12]}"
    subprocess.run(["ip", "link", "del", bridge], check=True)
    assert f"bridge {bridge}: network cnm-net has no bridge; --fix will make it again" in \
        _findings(cnm)
    _fix(cnm)
    assert bridge in link_names()


def test_lost_sandbox_record_leaves_namespace_veth_and_process_that_go(cnm):
    cnm("network", "create", "cnm-net")
    cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "600")
    [doc] = json.loads(cnm("inspect", "c1"))
    key, pid = doc["NetworkSettings"]["SandboxKey"], doc["State"]["Pid"]
    [sandbox] = _ids(cnm, "sandboxes")
    _drop_doc(cnm, "sandboxes", sandbox)
    lines = _findings(cnm)
    assert any(line.startswith("container c1: running without its sandbox") for line in lines)
    assert any(line.startswith("endpoint c1 (") and "no sandbox lists it" in line
               for line in lines)
    assert f"namespace {key}: no sandbox records it; --fix will kill what runs in it and " \
           "delete it" in lines
    _fix(cnm)
    assert not os.path.exists(key)
    wait_until(lambda: not process.start_time(pid), what="the container process to be killed")
    assert _ids(cnm, "endpoints") == []
    assert not [n for n in link_names() if n.startswith("veth")]


def test_leftover_supervisor_helper_and_folder_go(cnm):
    net_id = cnm("network", "create", "cnm-net").strip()
    cid = cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "600").strip()
    # The records vanish (as with a store restored from an old backup).
    for kind, doc_id in (("containers", cid), ("container-names", "c1"),
                         ("networks", net_id)):
        _drop_doc(cnm, kind, doc_id)
    lines = _findings(cnm)
    assert any(line.startswith("supervisor ") and f"({cid[:12]})" in line for line in lines)
    assert f"dns helper {net_id[:12]}: its network is gone; --fix will stop it" in lines
    folder = os.path.join(cnm.run_root, "containers", cid)
    assert f"folder {folder}: no container records it; --fix will remove it" in lines
    _fix(cnm)
    assert process.supervisors(cnm.root) == []
    assert not os.path.exists(folder)
    assert not [n for n in os.listdir(os.path.join(cnm.run_root, "dns")) if n.endswith(".sock")]


def test_stale_endpoint_no_longer_blocks_network_rm(cnm):
    """An endpoint whose container is gone (a store edited by hand, an older cnmctl
    killed half-way) is cleared by `network rm` itself, as Docker users need."""
    cnm("network", "create", "cnm-net")
    cid = cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "600").strip()
    [sandbox] = _ids(cnm, "sandboxes")
    cnm("rm", "-f", "c1")
    # Put the endpoint back, as a crash of an older version left it.
    cnm("run", "-d", "--name", "c2", "--network", "cnm-net", "sleep", "600")
    [ep] = _ids(cnm, "endpoints")
    path = os.path.join(cnm.root, "endpoints", f"{ep}.json")
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    doc.update(id="e" * 64, container_id=cid, name="c1")
    with open(os.path.join(cnm.root, "endpoints", f"{'e' * 64}.json"), "w",
              encoding="utf-8") as f:
        json.dump(doc, f)
    assert sandbox not in _ids(cnm, "sandboxes")
    line = cnm.fails("network", "rm", "cnm-net")
    assert "has active endpoints (c2)" in line  # c1's stale one is gone, c2 is real
    cnm("rm", "-f", "c2")
    assert cnm("network", "rm", "cnm-net") == "cnm-net\n"


def test_disconnect_force_clears_the_endpoint_of_a_container_that_is_gone(cnm):
    cnm("network", "create", "cnm-net")
    cid = cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "600").strip()
    [ep] = _ids(cnm, "endpoints")
    [sandbox] = _ids(cnm, "sandboxes")
    for kind, doc_id in (("containers", cid), ("container-names", "c1"),
                         ("sandboxes", sandbox)):
        _drop_doc(cnm, kind, doc_id)
    assert cnm.fails("network", "disconnect", "cnm-net", "c1") == \
        "Error: No such container: c1"
    cnm("network", "disconnect", "-f", "cnm-net", "c1")
    assert _ids(cnm, "endpoints") == []
    assert json.loads(cnm("network", "inspect", "cnm-net"))[0]["Containers"] == {}


def test_container_prune(cnm):
    cnm("network", "create", "cnm-net")
    stopped = cnm("run", "--name", "done", "--network", "cnm-net", "sh", "-c", "echo hi")
    assert stopped == "hi\n"
    done_id = cnm("inspect", "-f", "{{.Id}}", "done").strip()
    cnm("create", "--name", "fresh", "true")
    fresh_id = cnm("inspect", "-f", "{{.Id}}", "fresh").strip()
    cnm("run", "-d", "--name", "up", "--network", "cnm-net", "sleep", "600")
    asked = cnm.run("container", "prune", input="n\n")
    assert asked.out.startswith("WARNING! This will remove all stopped containers.\n"
                                "Are you sure you want to continue? [y/N]")
    assert sorted(cnm("ps", "-a", "--format", "{{.Names}}").split()) == ["done", "fresh", "up"]
    out = cnm("container", "prune", "-f")
    head, _, total = out.partition("\nTotal reclaimed space: ")
    assert head.splitlines()[0] == "Deleted Containers:"
    assert sorted(head.split()[2:]) == sorted([done_id, fresh_id])
    assert total.endswith("B\n") and total != "0B\n"  # done's log held "hi"
    assert cnm("ps", "-a", "--format", "{{.Names}}") == "up\n"
    assert cnm("container", "prune", "-f") == "Total reclaimed space: 0B\n"


@pytest.mark.parametrize("flags", [["-f"], ["-a", "-f"]])
def test_system_prune(cnm, flags):
    cnm("network", "create", "unused")
    cnm("network", "create", "busy")
    cnm("run", "-d", "--name", "up", "--network", "busy", "sleep", "600")
    cnm("create", "--name", "idle", "true")
    idle = cnm("inspect", "-f", "{{.Id}}", "idle").strip()
    assert cnm("system", "prune", *flags) == (
        f"Deleted Containers:\n{idle}\n\nDeleted Networks:\nunused\n\n"
        "Total reclaimed space: 0B\n")
    assert cnm("network", "ls", "--format", "{{.Name}}").split() == [
        "bridge", "busy", "host", "none"]
    asked = cnm.run("system", "prune", input="\n")
    assert asked.code == 0 and "  - all stopped containers\n" in asked.out


def test_lock_holder_is_named_and_the_wait_gives_up(cnm):
    cnm("network", "ls")
    lock = os.path.join(cnm.root, ".lock")
    holder = subprocess.Popen(["flock", "-o", lock, "sleep", "600"])  # -o: sleep holds no lock
    try:
        wait_until(lambda: _locked(lock), what="flock to hold the store lock")
        env = dict(cnm.env, CNMCTL_LOCK_TIMEOUT="3")
        result = subprocess.run([*CNMCTL, "network", "create", "n1"],
                                env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 1
        waiting, gave_up = result.stderr.splitlines()
        assert waiting.startswith("Waiting for the store lock, held by pid ")
        assert gave_up.startswith("Error: gave up after 3 s waiting for the store lock, held "
                                  "by pid ") and "(set CNMCTL_LOCK_TIMEOUT to wait longer)" \
            in gave_up
        assert f"pid {holder.pid} (flock -o " in gave_up
    finally:
        holder.kill()
        holder.wait()
    assert cnm("network", "create", "n1")


def _locked(path: str) -> bool:
    inode = os.stat(path).st_ino
    with open("/proc/locks", encoding="ascii") as f:
        return any(line.split()[5].endswith(f":{inode}") for line in f
                   if len(line.split()) > 5 and line.split()[1] == "FLOCK")


def test_dead_dns_helper_is_started_again(cnm):
    net_id = cnm("network", "create", "cnm-net").strip()
    cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "600")
    cnm("run", "-d", "--name", "c2", "--network", "cnm-net", "sleep", "600")
    with open(os.path.join(cnm.run_root, "dns", f"{net_id[:12]}.pid"), encoding="utf-8") as f:
        helper = int(f.read())
    os.kill(helper, signal.SIGKILL)
    wait_until(lambda: not process.start_time(helper), what="the helper to die")
    assert f"dns helper {net_id[:12]}: not running, though containers on cnm-net use it; " \
           "--fix will start it" in _findings(cnm)
    _fix(cnm)
    out = cnm("exec", "c1", "getent", "hosts", "c2")
    assert out.split()[1:] == ["c2"]


def test_a_container_joined_to_a_stopped_owner_is_healthy(cnm):
    cnm("network", "create", "cnm-net")
    cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "600")
    cnm("run", "-d", "--name", "c2", "--network", "container:c1", "sleep", "600")
    cnm("stop", "-t", "0", "c1")
    assert cnm("inspect", "-f", "{{.State.Status}}", "c2") == "running\n"
    assert _findings(cnm) == []


def test_host_links_are_never_taken_over_or_deleted(cnm):
    """A bridge name that is already a host interface is refused (not adopted, so a
    failed or killed create cannot delete it), and a recorded step naming a link
    cnmctl did not make refuses to delete it."""
    from cnmctl.engine.tx import run_steps

    subprocess.run(["ip", "link", "add", "hostveth", "type", "veth", "peer", "name",
                    "hostpeer"], check=True)
    try:
        line = cnm.fails("network", "create", "-o", "com.docker.network.bridge.name=hostveth",
                         "n1")
        assert line == "Error: bridge name hostveth is already used by an interface on this host"
        assert "hostveth" in link_names()
        errors = run_steps([{"kind": "link", "name": "hostveth"}], cnm.run_root)
        assert errors == ["link hostveth: refusing to delete hostveth: not a link cnmctl made"]
        assert "hostveth" in link_names()
    finally:
        subprocess.run(["ip", "link", "del", "hostveth"], check=False)


def test_a_recorded_session_step_kills_only_a_supervisor_of_this_run_root(cnm):
    """A pid in an intent (from a killed command, or planted) that now belongs to some
    other process is left alone."""
    from cnmctl.engine.tx import run_steps

    other = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        step = {"kind": "session", "pid": other.pid, "start": process.start_time(other.pid)}
        assert run_steps([step], cnm.run_root) == []
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
