"""Liveness: a container whose process is gone is exited, whatever its record says.

The supervisor that records a container's exit can be killed too (SIGKILL, a
killed session), so `ps`, `inspect`, `wait`, `logs -f`, `stop` and the DNS look at
the process itself (see cnmctl/engine/liveness.py). Two cases:

- lost: the supervisor and the process both killed. The first command that reads
  the container records it exited (255) and releases its addresses; the DNS
  stops answering its name as soon as the process is gone, with no command at all.
- orphaned: only the supervisor killed. The container keeps running; `wait`,
  `logs -f` and `stop` still return when its process ends.

Every wait here polls with a deadline; nothing asserts how long anything took.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess

import pytest
from conftest import CNMCTL, wait_until

from cnmctl.engine.base import BOOT_MARKER
from cnmctl.runtime import process
from cnmctl.store.jsonstore import JsonStore

# How long a command may take before the test calls it hung: a deadline, not a timing claim.
HUNG = 60


def gone(pid: int) -> bool:
    """True once pid no longer runs (a zombie, which we reap if it is ours, counts)."""
    with contextlib.suppress(ChildProcessError):  # not our child: its parent reaps it
        os.waitpid(pid, os.WNOHANG)
    return process.start_time(pid) == 0


def supervisor_of(pid: int) -> int:
    """The container process's parent, checked to be its monitor (cnmctl-shim)."""
    with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
        parent = int(f.read().rsplit(")", 1)[1].split()[1])
    with open(f"/proc/{parent}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0].endswith(b"cnmctl-shim"), "not the supervisor"
    return parent


def kill(pid: int) -> None:
    """SIGKILL pid and wait until it is gone."""
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: gone(pid), timeout=HUNG, what=f"pid {pid} to die")


def members(cnm, net: str) -> list[str]:
    """The names `network inspect` lists on a network (its endpoints in the store)."""
    [doc] = json.loads(cnm("network", "inspect", net))
    return sorted(c["Name"] for c in doc["Containers"].values())


def resolves(cnm, asker: str, name: str) -> bool:
    """True if `name` resolves inside the container `asker` (getent: the libc resolver)."""
    result = cnm.run("exec", asker, "getent", "hosts", name)
    assert result.code in (0, 2), result
    return result.code == 0


@pytest.fixture
def pair(cnm):
    """cnm-net with c1 (which printed "hello") and c2, both running; c1's pid."""
    cnm("network", "create", "cnm-net")
    cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sh", "-c",
        "echo hello; exec sleep 3600")
    cnm("run", "-d", "--name", "c2", "--network", "cnm-net", "sleep", "3600")
    assert resolves(cnm, "c2", "c1")
    return int(cnm("inspect", "-f", "{{.State.Pid}}", "c1"))


def lose(pid: int) -> None:
    """Kill c1's supervisor, then its process: no one is left to record the exit."""
    kill(supervisor_of(pid))
    kill(pid)


def exited(cnm, ref: str) -> tuple[str, int, bool, int]:
    """The container's state as inspect shows it: status, exit code, running, pid."""
    [doc] = json.loads(cnm("inspect", ref))
    state = doc["State"]
    return state["Status"], state["ExitCode"], state["Running"], state["Pid"]


def test_dns_stops_answering_a_lost_container_by_itself(cnm, pair):
    lose(pair)
    # No command that reads c1 has run: the helper watches the process itself.
    wait_until(lambda: not resolves(cnm, "c2", "c1"), timeout=HUNG,
               what="the embedded DNS to stop answering c1")
    dig = cnm("exec", "c2", "dig", "+short", "+time=2", "+tries=1", "@127.0.0.11", "c1")
    assert dig.strip() == ""
    assert resolves(cnm, "c2", "c2")  # the living still answer


@pytest.mark.parametrize("reader", ["ps", "inspect", "wait", "logs -f"])
def test_a_lost_container_is_exited_for_each_reader(cnm, pair, reader):
    """Whichever command reads it first records the exit: the record is not trusted."""
    lose(pair)
    if reader == "ps":
        assert cnm("ps", "--format", "{{.Names}}").split() == ["c2"]
        rows = cnm("ps", "-a", "--format", "{{.Names}} {{.Status}}").splitlines()
        assert any(row.startswith("c1 Exited (255) ") for row in rows), rows
    elif reader == "inspect":
        assert exited(cnm, "c1") == ("exited", 255, False, 0)
    elif reader == "wait":
        assert cnm("wait", "c1") == "255\n"
    else:
        assert cnm("logs", "-f", "c1") == "hello\n"
    # Recorded, with the endpoint and its address released.
    assert exited(cnm, "c1") == ("exited", 255, False, 0)
    assert members(cnm, "cnm-net") == ["c2"]
    cnm("run", "-d", "--name", "c3", "--network", "cnm-net", "sleep", "3600")
    assert cnm("inspect", "-f", '{{(index .NetworkSettings.Networks "cnm-net").IPAddress}}',
               "c3") == "172.18.0.2\n"  # c1's
    assert not resolves(cnm, "c2", "c1")


def test_a_lost_container_starts_again_on_fresh_addresses(cnm, pair):
    lose(pair)
    cnm("start", "c1")  # its old sandbox is released first, not leaked
    assert exited(cnm, "c1")[0] == "running"
    assert members(cnm, "cnm-net") == ["c1", "c2"]
    assert cnm("inspect", "-f", '{{(index .NetworkSettings.Networks "cnm-net").IPAddress}}',
               "c1") == "172.18.0.2\n"
    assert resolves(cnm, "c2", "c1")


def test_stop_of_a_lost_container_records_it_lost(cnm, pair):
    lose(pair)
    assert cnm("stop", "c1") == "c1\n"
    assert exited(cnm, "c1") == ("exited", 255, False, 0)
    assert members(cnm, "cnm-net") == ["c2"]


def test_an_orphan_runs_on_and_its_exit_is_seen(cnm, pair):
    """The supervisor alone killed: the container still runs, and wait and logs -f,
    started before its process ends, return when it does."""
    kill(supervisor_of(pair))
    assert cnm("ps", "--format", "{{.Names}} {{.State}}").splitlines() == [
        "c2 running", "c1 running"]
    assert exited(cnm, "c1") == ("running", 0, True, pair)
    assert resolves(cnm, "c2", "c1")
    waiter = subprocess.Popen([*CNMCTL, "wait", "c1"], env=cnm.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    follower = subprocess.Popen([*CNMCTL, "logs", "-f", "c1"], env=cnm.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Both are blocked on a running container; then its process ends.
        assert waiter.poll() is None and follower.poll() is None
        kill(pair)
        out, err = waiter.communicate(timeout=HUNG)
        assert (waiter.returncode, out, err) == (0, "255\n", "")
        out, err = follower.communicate(timeout=HUNG)
        assert (follower.returncode, out, err) == (0, "hello\n", "")
    finally:
        for proc in (waiter, follower):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert exited(cnm, "c1") == ("exited", 255, False, 0)
    assert members(cnm, "cnm-net") == ["c2"]
    assert not resolves(cnm, "c2", "c1")


def test_stop_of_an_orphan_kills_it(cnm, pair):
    kill(supervisor_of(pair))
    assert cnm("stop", "-t", "1", "c1") == "c1\n"
    assert gone(pair)
    assert exited(cnm, "c1")[:3] == ("exited", 137, False)
    assert members(cnm, "cnm-net") == ["c2"]


def test_after_a_reboot_no_pid_passes_for_a_supervisor(cnm, pair):
    """Start times count from the boot: after a reboot another process may hold the
    supervisor's recorded pid and look older than the container. With the run root's
    boot marker gone, a dead container is lost whoever has that pid."""
    lose(pair)
    store = JsonStore(cnm.root)
    [doc] = [d for d in store.list("containers") if d["name"] == "c1"]
    doc["supervisor_pid"] = os.getpid()  # the suite: alive, and started before c1
    with store.lock():
        store.put("containers", doc["id"], doc)
    assert exited(cnm, "c1")[0] == "running"  # a live supervisor is left to record it
    os.unlink(os.path.join(cnm.run_root, BOOT_MARKER))
    assert exited(cnm, "c1") == ("exited", 255, False, 0)
    assert members(cnm, "cnm-net") == ["c2"]
