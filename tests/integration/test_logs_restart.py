"""Logs in the order written (one container.log) and restart policies (issue 10):
the exit hook's restarts and back-off, stop/kill/rm during it, a killed waiter,
and `system boot` after a simulated reboot."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess

import pytest
from conftest import CNMCTL, store_snapshot, wait_until
from leftovers import kill_leftovers, leftover_processes, unmount_sandboxes

from cnmctl.runtime import process


def state(cnm, ref: str) -> dict:
    [doc] = json.loads(cnm("inspect", ref))
    return doc


def record(cnm, ref: str) -> dict:
    """The container's store document (the waiter's pid is in no Docker field)."""
    cid = cnm("inspect", "-f", "{{.Id}}", ref).strip()
    with open(os.path.join(cnm.root, "containers", f"{cid}.json"), encoding="utf-8") as f:
        return json.load(f)


def quiet(cnm) -> None:
    """Wait until no process of this store runs (supervisors, hooks, waiters)."""
    wait_until(lambda: not leftover_processes(cnm.root, cnm.run_root), timeout=70,
               what="the store's processes to end")


# -- logs ---------------------------------------------------------------------------
def test_logs_keep_the_order_of_both_streams(cnm, tmp_path):
    go1, go2 = tmp_path / "go1", tmp_path / "go2"
    script = (f"echo out1; while [ ! -e {go1} ]; do sleep 0.05; done; echo err1 >&2; "
              f"while [ ! -e {go2} ]; do sleep 0.05; done; echo out2; sleep 600")
    cnm("run", "-d", "--name", "w1", "--network", "none", "sh", "-c", script)
    wait_until(lambda: cnm("logs", "w1") == "out1\n", what="out1 in the log")
    cnm("exec", "w1", "touch", str(go1))
    wait_until(lambda: cnm.run("logs", "w1").err == "err1\n", what="err1 in the log")
    cnm("exec", "w1", "touch", str(go2))
    wait_until(lambda: cnm("logs", "w1") == "out1\nout2\n", what="out2 in the log")
    # Both streams into one pipe: the order they were written in
    merged = subprocess.run([*CNMCTL, "logs", "w1"], env=cnm.env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, check=True).stdout
    assert merged == "out1\nerr1\nout2\n"
    result = cnm.run("logs", "--tail", "1", "w1")
    assert (result.out, result.err) == ("out2\n", "")
    result = cnm.run("logs", "-n", "2", "w1")
    assert (result.out, result.err) == ("out2\n", "err1\n")
    # -t: Docker's fixed nine-digit form; --since/--until take those stamps back
    stamped = subprocess.run([*CNMCTL, "logs", "-t", "w1"], env=cnm.env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             check=True).stdout.splitlines()
    stamps = [line.split(" ", 1)[0] for line in stamped]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", s) for s in stamps)
    assert [line.split(" ", 1)[1] for line in stamped] == ["out1", "err1", "out2"]
    result = cnm.run("logs", "--since", stamps[2], "w1")
    assert (result.out, result.err) == ("out2\n", "")
    result = cnm.run("logs", "--until", stamps[1], "w1")
    assert (result.out, result.err) == ("out1\n", "err1\n")
    result = cnm.run("logs", "--since", "1h", "--details", "w1")
    assert (result.out, result.err) == (" out1\n out2\n", " err1\n")
    assert cnm.fails("logs", "--since", "yesterday", "w1") == (
        'Error: failed to parse value as time or duration: "yesterday"')


def test_a_last_line_without_newline_and_a_long_line(cnm):
    long = "x" * 40000  # one write: one datagram, wider than the shim's read buffer
    cnm("run", "-d", "--name", "w2", "--network", "none", "sh", "-c",
        f"echo {long}; printf end")
    wait_until(lambda: state(cnm, "w2")["State"]["Status"] == "exited", what="w2 to exit")
    assert cnm("logs", "w2") == long + "\nend"
    assert cnm("logs", "--tail", "2", "w2") == long + "\nend"
    with open(os.path.join(cnm.run_root, "containers", record(cnm, "w2")["id"],
                           "container.log"), "rb") as f:
        flags = [line.split(b" ")[2] for line in f]
    assert flags == [b"P", b"P", b"F", b"P"]  # 40000 bytes in pieces of 16 KiB


# -- restart policies ---------------------------------------------------------------------
def test_on_failure_restarts_up_to_its_maximum(cnm):
    cnm("run", "-d", "--restart", "on-failure:2", "--name", "w3", "--network", "none",
        "sh", "-c", "echo ran; exit 3")
    wait_until(lambda: state(cnm, "w3")["State"]["Status"] == "exited", timeout=15,
               what="w3 to stay exited")
    doc = state(cnm, "w3")
    assert (doc["RestartCount"], doc["State"]["ExitCode"]) == (2, 3)
    quiet(cnm)
    doc = state(cnm, "w3")
    assert (doc["State"]["Status"], doc["RestartCount"]) == ("exited", 2)
    assert cnm("logs", "w3") == "ran\nran\nran\n"  # the log goes on across restarts
    # a start by hand starts the count anew
    cnm("start", "w3")
    wait_until(lambda: state(cnm, "w3")["RestartCount"] == 2
               and state(cnm, "w3")["State"]["Status"] == "exited", timeout=15,
               what="w3's second round")


def test_always_restarts_after_exit_zero_and_stop_keeps_it_stopped(cnm):
    cnm("run", "-d", "--restart", "always", "--name", "w4", "--network", "none",
        "sh", "-c", "exit 0")
    wait_until(lambda: state(cnm, "w4")["RestartCount"] >= 3, timeout=15,
               what="w4 to restart")
    assert cnm("stop", "w4") == "w4\n"  # running or in its back-off: either way, stopped
    assert state(cnm, "w4")["State"]["Status"] == "exited"
    count = state(cnm, "w4")["RestartCount"]
    quiet(cnm)  # no hook and no waiter left that could start it
    doc = state(cnm, "w4")
    assert (doc["State"]["Status"], doc["RestartCount"]) == ("exited", count)
    # a long-running one: stop, and its hook restarts nothing
    cnm("run", "-d", "--restart", "always", "--name", "w5", "--network", "none",
        "sleep", "600")
    cnm("stop", "-t", "1", "w5")
    quiet(cnm)
    assert state(cnm, "w5")["State"]["Status"] == "exited"
    assert cnm("ps", "-q") == ""


def test_back_off_shows_in_ps_and_inspect_and_a_killed_waiter_leaves_it_exited(cnm):
    cnm("run", "-d", "--restart", "always", "--name", "w6", "--network", "none",
        "sh", "-c", "exit 1")
    # The back-off doubles from 100 ms: from the 5th restart on, 1.6 s or more.
    wait_until(lambda: record(cnm, "w6")["restart_count"] >= 5
               and record(cnm, "w6")["status"] == "restarting", timeout=30,
               what="a long back-off")
    assert re.fullmatch(r"w6 Restarting \(1\) .* ago\n",
                        cnm("ps", "--format", "{{.Names}} {{.Status}}"))
    st = state(cnm, "w6")["State"]
    assert (st["Status"], st["Running"], st["Restarting"], st["Pid"], st["ExitCode"]) == (
        "restarting", True, True, 0, 1)
    assert cnm("ps", "-q", "--filter", "status=restarting") != ""
    waiter = record(cnm, "w6")
    os.kill(waiter["waiter_pid"], signal.SIGKILL)
    wait_until(lambda: not process.alive(waiter["waiter_pid"], waiter["waiter_start"]),
               what="the waiter to die")
    result = cnm.run("system", "check")
    assert (result.code, result.out) == (1, "container w6: restarting, the process waiting to "
                                            "restart it is gone; --fix will record it exited\n")
    assert re.fullmatch(r"w6 Exited \(1\) .* ago\n",
                        cnm("ps", "-a", "--format", "{{.Names}} {{.Status}}"))
    result = cnm.run("system", "check")
    assert (result.code, result.out, result.err) == (0, "", "")
    quiet(cnm)
    assert state(cnm, "w6")["State"]["Status"] == "exited"


@pytest.mark.parametrize("verb", [["rm", "-f"], ["kill"], ["start"]])
def test_a_back_off_is_ended_by_rm_kill_and_start(cnm, verb):
    cnm("run", "-d", "--restart", "always", "--name", "w7", "--network", "none",
        "sh", "-c", "exit 1")
    wait_until(lambda: record(cnm, "w7")["restart_count"] >= 4
               and record(cnm, "w7")["status"] == "restarting", timeout=30,
               what="a back-off")
    if verb == ["rm", "-f"]:
        assert cnm.fails("rm", "w7") == (
            f"Error: You cannot remove a restarting container {record(cnm, 'w7')['id']}. "
            "Stop the container before attempting removal or force remove")
    assert cnm(*verb, "w7") == "w7\n"
    if verb == ["start"]:
        assert state(cnm, "w7")["RestartCount"] == 0  # as by hand: counted anew
        cnm("stop", "w7")
    quiet(cnm)
    if verb == ["rm", "-f"]:
        assert cnm.run("inspect", "w7").code == 1
    else:
        assert state(cnm, "w7")["State"]["Status"] == "exited"
    assert cnm.run("system", "check").code == 0


def test_system_boot_after_a_reboot(cnm):
    for name, policy, cmd in (("a1", "always", "sleep 600"), ("a2", "always", "sleep 600"),
                              ("u1", "unless-stopped", "sleep 600"),
                              ("u2", "unless-stopped", "sleep 600"),
                              ("f1", "on-failure", "exit 0"), ("n1", "no", "sleep 600")):
        cnm("run", "-d", "--restart", policy, "--name", name, "--network", "none",
            "sh", "-c", cmd)
    cnm("stop", "-t", "1", "a2", "u1")
    wait_until(lambda: state(cnm, "f1")["State"]["Status"] == "exited", what="f1 to exit")
    # A reboot: every process, namespace and link gone with the tmpfs run root.
    assert kill_leftovers(cnm.root, cnm.run_root) == []
    assert unmount_sandboxes(cnm.run_root) == []
    subprocess.run(["ip", "link", "del", "cnm0"], check=False)
    shutil.rmtree(cnm.run_root)
    result = cnm.run("system", "boot")
    assert result.code == 0, result.err
    # always (stopped by hand too) and unless-stopped not stopped by hand, as dockerd
    assert sorted(result.out.split()) == ["a1", "a2", "u2"]
    running = cnm("ps", "--format", "{{.Names}}").split()
    assert sorted(running) == ["a1", "a2", "u2"]
    assert state(cnm, "n1")["State"]["ExitCode"] == 255
    assert state(cnm, "a1")["RestartCount"] == 0
    assert cnm("system", "boot") == ""  # again: nothing more to start
    assert cnm.run("system", "check").code == 0


def test_inspect_shapes(cnm):
    cnm("create", "--restart", "on-failure:5", "--name", "i1", "true")
    cnm("create", "--name", "i2", "true")
    one, two = state(cnm, "i1"), state(cnm, "i2")
    assert one["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 5}
    assert two["HostConfig"]["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    for doc in (one, two):
        assert (doc["RestartCount"], doc["State"]["Restarting"]) == (0, False)
    assert one["LogPath"].endswith("/container.log")


@pytest.mark.parametrize(("args", "run_code", "create_code", "message"), [
    (["--restart", "always:2:3"], 125, 125, "invalid restart policy format"),
    (["--restart", "on-failure:x"], 125, 125, "maximum retry count must be an integer"),
    (["--restart", "on-failure:٣"], 125, 125, "maximum retry count must be an integer"),
    (["--restart", "always", "--rm"], 125, 125, "Conflicting options: --restart and --rm"),
    (["--restart", "sometimes"], 125, 1, "invalid restart policy 'sometimes'"),
    (["--restart", "always:3"], 125, 1,
     "maximum retry count cannot be used with restart policy 'always'"),
    (["--restart", "on-failure:-1"], 125, 1, "maximum retry count cannot be negative"),
])
def test_bad_restart_values_change_nothing(cnm, args, run_code, create_code, message):
    cnm("network", "ls")  # the store exists
    before = store_snapshot(cnm.root)
    run_root = sorted(os.listdir(cnm.run_root))
    assert cnm.fails("run", "-d", *args, "--name", "bad", "true", code=run_code) == (
        f"Error: {message}")
    assert cnm.fails("create", *args, "--name", "bad", "true", code=create_code) == (
        f"Error: {message}")
    assert store_snapshot(cnm.root) == before
    assert sorted(os.listdir(cnm.run_root)) == run_root
