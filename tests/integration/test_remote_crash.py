"""Commands on a plugin network killed at every crash point (cnmctl/faults.py).

After each kill, `system check --fix` and the command again must work, and once
reset, `system check` finds nothing and the plugin holds exactly what the store
says: every create it accepted had its delete, whichever instruction the kill hit
(before a call was sent, while the plugin acted on it, before cnmctl noted that
it had been accepted).
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from conftest import CNMCTL
from refnet import links


def _run(cnm, args: list[str], kill_at: str = "") -> subprocess.CompletedProcess:
    env = dict(cnm.env, CNMCTL_TEST_KILL_AT=kill_at) if kill_at else cnm.env
    return subprocess.run([*CNMCTL, *args], env=env, capture_output=True, text=True,
                          timeout=120)


def _ok(cnm, args: list[str], n: int = 0) -> None:
    result = _run(cnm, args)
    assert result.returncode == 0, (n, args, result.stderr)


RUN_W1 = ["run", "-d", "--name", "w1", "--network", "rn", "sleep", "1000"]


@pytest.mark.parametrize("setup, command, reset, done", [
    ([], ["network", "create", "-d", "refnet", "n2"], [["network", "rm", "n2"]],
     "network with name n2 already exists"),
    ([], RUN_W1, [["rm", "-f", "w1"]], None),
    ([RUN_W1], ["rm", "-f", "w1"], [], "No such container: w1"),
    ([["network", "create", "n3"], ["run", "-d", "--name", "w1", "--network", "n3", "sleep",
                                    "1000"]],
     ["network", "connect", "rn", "w1"], [["rm", "-f", "w1"], ["network", "rm", "n3"]],
     "already exists in network rn"),
    ([["network", "create", "-d", "refnet", "n2"]], ["network", "rm", "n2"], [],
     "No such network: n2"),
    ([["network", "create", "n3"], ["run", "-d", "--name", "w1", "--network", "n3", "sleep",
                                    "1000"], ["network", "connect", "rn", "w1"]],
     ["network", "disconnect", "rn", "w1"], [["rm", "-f", "w1"], ["network", "rm", "n3"]],
     "is not connected to network rn"),
], ids=["network create", "run", "rm -f", "network connect", "network rm",
        "network disconnect"])
def test_kill_at_every_point(cnm, refnet, setup, command, reset, done):
    rn = cnm("network", "create", "-d", "refnet", "--subnet", "10.55.0.0/24", "rn").strip()
    links_before = links()
    for args in setup:
        _ok(cnm, args)
    counted = _run(cnm, command, kill_at="count")
    assert counted.returncode == 0, counted.stderr
    [line] = [x for x in counted.stderr.splitlines() if x.startswith("crash points:")]
    points = int(line.split(":")[1])
    assert points > 5
    for args in reset:
        _ok(cnm, args)
    for n in range(1, points + 1):
        for args in setup:
            _ok(cnm, args, n)
        killed = _run(cnm, command, kill_at=str(n))
        assert killed.returncode == -9, (n, killed.stderr)
        fixed = _run(cnm, ["system", "check", "--fix"])
        assert fixed.returncode == 0, (n, fixed.stdout, fixed.stderr)
        assert "plugin" not in fixed.stderr, (n, fixed.stderr)  # every clean-up reached it
        again = _run(cnm, command)
        assert again.returncode == 0 or (done and done in again.stderr), (n, again.stderr)
        for args in reset:
            _ok(cnm, args, n)
        check = _run(cnm, ["system", "check"])
        assert check.returncode == 0 and check.stdout == "", (n, check.stdout, check.stderr)
        assert refnet.state() == {"networks": [rn], "endpoints": [], "joined": []}, n
        assert links() == links_before, n


def test_a_plugin_gone_when_the_killed_command_is_undone(cnm, refnet):
    """`run` killed while the plugin acts on its Join, then the plugin dies too: the
    repair cannot tell it (the error says so, naming plugin and call), cnmctl's own
    state is clean all the same, and the plugin, started anew, holds nothing."""
    import signal
    import time

    from conftest import wait_until

    cnm("network", "create", "-d", "refnet", "rn")
    refnet.fault(Join="hang")
    cnm.env["CNMCTL_PLUGIN_TIMEOUT"] = "30"
    run = subprocess.Popen([*CNMCTL, "run", "-d", "--name", "w1", "--network", "rn",
                            "sleep", "1000"], env=cnm.env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    wait_until(lambda: "Join" in refnet.methods(), timeout=20, what="the Join")
    run.send_signal(signal.SIGKILL)
    run.wait()
    # and its container's session (a shim whose exit hook would finish the run at once,
    # the plugin still up): `system check --fix` is the one to find the intent
    [intent] = os.listdir(os.path.join(cnm.run_root, "intents"))
    with open(os.path.join(cnm.run_root, "intents", intent), encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    [session] = [r["undo"]["pid"] for r in records if r.get("undo", {}).get("kind") == "session"]
    os.killpg(session, signal.SIGKILL)
    refnet.stop()
    cnm.env["CNMCTL_PLUGIN_TIMEOUT"] = "1"
    time.sleep(0.2)
    fixed = _run(cnm, ["system", "check", "--fix"])
    assert fixed.returncode == 0, fixed.stderr
    warnings = fixed.stderr.strip().splitlines()
    assert warnings and all(w.startswith("Warning: repairing an interrupted command: ")
                            and 'plugin "refnet": NetworkDriver.' in w for w in warnings), \
        warnings
    assert _run(cnm, ["system", "check"]).stdout == ""
    assert cnm("ps", "-aq") == ""
    refnet.fault()
    refnet.start()
    assert refnet.state() == {"networks": [], "endpoints": [], "joined": []}
