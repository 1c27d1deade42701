"""Remote IPAM under crash injection: every verb that requests or releases with a
plugin, killed at each of its crash points (see test_crash.py). After
`system check --fix` and the verb done again (or found done), `system check` is
clean and the plugin holds exactly what the store says it gave: each accepted
request released, or owned by a recorded network or endpoint."""

from __future__ import annotations

import os
import random
import subprocess
import time

import pytest
from conftest import CNMCTL
from ipam_plugin import NAME, RefIpam, held_by_store, plugin_holds
from test_crash import NAME_TAKEN, _clean, _kill_at_every_point, _ok, _reset, _run

RUN_W1 = ["run", "-d", "--name", "w1", "--network", "n1", "sleep", "1000"]
ON_BRIDGE = ["run", "-d", "--name", "w1", "sleep", "1000"]
CREATE_N2 = ["network", "create", "--ipam-driver", NAME, "--ipam-opt", "k=v",
             "--aux-address", "a=10.55.0.9", "--subnet", "10.55.0.0/24", "n2"]
# (verb, set-up, command, reset, the error of doing it again once it happened)
VERBS = [
    ("network create", [], CREATE_N2, [["network", "rm", "n2"]],
     "network with name n2 already exists"),
    ("run", [], RUN_W1, [["rm", "-f", "w1"]], None),
    ("run --ip", [], [*RUN_W1[:2], "--ip", "10.77.0.50", *RUN_W1[2:]], [["rm", "-f", "w1"]],
     None),
    ("network connect", [ON_BRIDGE], ["network", "connect", "n1", "w1"], [["rm", "-f", "w1"]],
     "already exists in network n1"),
    ("network disconnect", [ON_BRIDGE, ["network", "connect", "n1", "w1"]],
     ["network", "disconnect", "n1", "w1"], [["rm", "-f", "w1"]],
     "is not connected to network n1"),
    ("rm -f", [RUN_W1], ["rm", "-f", "w1"], [], "No such container: w1"),
    ("network rm", [CREATE_N2], ["network", "rm", "n2"], [], "No such network: n2"),
]


@pytest.mark.parametrize(("verb", "setup", "command", "reset", "done_marker"), VERBS,
                         ids=[v[0] for v in VERBS])
def test_kill_at_every_point_leaves_nothing_held(cnm, tmp_path, verb, setup, command, reset,
                                                  done_marker):
    plugin = RefIpam(str(tmp_path))
    cnm.env = plugin.env(cnm.env)
    try:
        _ok(cnm, ["network", "create", "--ipam-driver", NAME, "n1"])

        def same(when: str, story: str) -> None:
            assert held_by_store(cnm.root) == plugin_holds(plugin), (when, story)

        assert _kill_at_every_point(cnm, verb, setup, command, reset, done_marker, same) > 0
        _ok(cnm, ["network", "rm", "n1"])
        assert plugin.state() == {}
    finally:
        plugin.stop()


def test_random_kills_leave_nothing_held_but_what_is_reported(cnm, tmp_path):
    """Kills at random moments, inside the plugin calls too: the one window the
    protocol leaves (a kill while the plugin answers a request naming no address)
    may leave something with the plugin, and then the repair says so."""
    plugin = RefIpam(str(tmp_path))
    cnm.env = plugin.env(cnm.env)
    rng = random.Random(int(os.environ.get("CNMCTL_CRASH_SEED", "8")))
    try:
        _ok(cnm, ["network", "create", "--ipam-driver", NAME, "n1"])
        for tries in range(40):
            verb, setup, command, reset, done_marker = VERBS[tries % len(VERBS)]
            for args in setup:
                _ok(cnm, args)
            proc = subprocess.Popen([*CNMCTL, *command], env=cnm.env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.005, 0.3))
            proc.kill()
            proc.wait()
            when = f"{verb}, try {tries}"
            fixed = _run(cnm, ["system", "check", "--fix"])
            assert fixed.returncode == 0, (when, fixed.stderr)
            # Said by this repair, or by an exit hook's (kept in the reports it shows).
            lost = "never recorded the answer" in fixed.stderr + fixed.stdout
            again = _run(cnm, command)
            assert again.returncode == 0 or (done_marker or NAME_TAKEN) in again.stderr, \
                (when, again.stderr)
            _reset(cnm, reset, when)
            _clean(cnm, when)
            store, held = held_by_store(cnm.root), plugin_holds(plugin)
            if lost:  # what it gave stays with it: held beyond the store, never less
                assert all(set(v) <= set(held.get(k, ())) for k, v in store.items()), when
                plugin.start()  # a fresh plugin: the store holds nothing of n1 but its gateway
                _ok(cnm, ["network", "rm", "n1"])
                _ok(cnm, ["network", "create", "--ipam-driver", NAME, "n1"])
            else:
                assert store == held, (when, fixed.stderr)
    finally:
        plugin.stop()
