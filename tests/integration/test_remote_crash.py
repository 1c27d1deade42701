"""Commands on a plugin network killed at every crash point (cnmctl/faults.py).

After each kill, `system check --fix` and the command again must work, and once
reset, `system check` finds nothing and the plugin holds exactly what the store
says: every create it accepted had its delete, whichever instruction the kill hit
(before a call was sent, while the plugin acted on it, before cnmctl noted that
it had been accepted).
"""

from __future__ import annotations

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
], ids=["network create", "run", "rm -f", "network connect"])
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
