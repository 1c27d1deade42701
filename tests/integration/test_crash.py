"""Crash injection: every mutating verb killed at every crash point, and at random moments.

CNMCTL_TEST_KILL_AT=N makes cnmctl SIGKILL itself at its Nth crash point (each
store write, each kernel object it records, each step after a commit, the
gate; cnmctl/faults.py). For each verb and each N: set up, run the verb
killed at N, `system check --fix`, run the verb again (it must succeed, or for
a removal find its object gone), reset, and `system check` must find nothing.
Then kills after random delays, concurrent runs filling a /24 with 253
containers, and a final removal of everything after which nothing is left.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import CNMCTL, link_names

from cnmctl.runtime import process

SUBNET = "10.99.0.0/24"
# Names that are not hex: `rm -f c1` after c1 is gone would remove a container whose
# ID starts with "c1" (Docker's lookup: ID, name, then ID prefix), once in 256 runs.
NAME_TAKEN = 'The container name "/w1" is already in use'
RUN_W1 = ["run", "-d", "--name", "w1", "--network", "n1", "sleep", "1000"]
# with a published port: its DNAT rule is written after the commit (a firewall step)
RUN_P = ["run", "-d", "--name", "w1", "--network", "n1", "-p", "18080:80", "sleep", "1000"]
# (verb, set-up, command, reset, the error of doing it again once it happened)
VERBS = [
    ("run", [], RUN_W1, [["rm", "-f", "w1"]], None),
    ("run on two networks", [["network", "create", "n2"]],
     ["run", "-d", "--name", "w1", "--network", "n1", "--network", "n2", "sleep", "1000"],
     [["rm", "-f", "w1"], ["network", "rm", "n2"]], None),
    ("run --rm attached", [], ["run", "--rm", "--name", "w1", "--network", "n1", "true"], [],
     None),
    ("create", [], ["create", "--name", "w1", "--network", "n1", "sleep", "1000"],
     [["rm", "-f", "w1"]], NAME_TAKEN),
    ("start", [["create", "--name", "w1", "--network", "n1", "sleep", "1000"]],
     ["start", "w1"], [["rm", "-f", "w1"]], None),
    ("run -p", [], RUN_P, [["rm", "-f", "w1"]], None),
    ("rm -f with a published port", [RUN_P], ["rm", "-f", "w1"], [], "No such container: w1"),
    ("stop", [RUN_W1], ["stop", "-t", "0", "w1"], [["rm", "-f", "w1"]], None),
    ("rm -f", [RUN_W1], ["rm", "-f", "w1"], [], "No such container: w1"),
    ("rm -f with a joined container", [RUN_W1, ["run", "-d", "--name", "w2", "--network",
                                                "container:w1", "sleep", "1000"]],
     ["rm", "-f", "w1"], [["rm", "-f", "w2"]], "No such container: w1"),
    ("container prune", [["create", "--name", "w1", "--network", "n1", "true"]],
     ["container", "prune", "-f"], [], None),
    ("network create", [], ["network", "create", "n2"], [["network", "rm", "n2"]],
     "network with name n2 already exists"),
    ("network rm", [["network", "create", "n2"]], ["network", "rm", "n2"], [],
     "No such network: n2"),
    ("network prune", [["network", "create", "--label", "crash", "n2"]],
     ["network", "prune", "-f", "--filter", "label=crash"], [], None),
    ("network connect", [RUN_W1, ["network", "create", "n2"]],
     ["network", "connect", "n2", "w1"], [["rm", "-f", "w1"], ["network", "rm", "n2"]],
     "already exists in network n2"),
    ("network disconnect", [RUN_W1, ["network", "create", "n2"],
                            ["network", "connect", "n2", "w1"]],
     ["network", "disconnect", "n2", "w1"], [["rm", "-f", "w1"], ["network", "rm", "n2"]],
     "is not connected to network n2"),
]


def _run(cnm, args: list[str], kill_at: str = "") -> subprocess.CompletedProcess:
    env = dict(cnm.env, CNMCTL_TEST_KILL_AT=kill_at) if kill_at else cnm.env
    return subprocess.run([*CNMCTL, *args], env=env, capture_output=True, text=True,
                          timeout=120)


def _ok(cnm, args: list[str]) -> None:
    result = _run(cnm, args)
    assert result.returncode == 0, (args, result.stderr)


def _clean(cnm, when: str) -> None:
    """`system check` finds nothing."""
    result = _run(cnm, ["system", "check"])
    assert result.returncode == 0 and result.stdout == "", (when, result.stdout, result.stderr)


def _recover_and_redo(cnm, verb: str, command: list[str], done_marker: str | None,
                      when: str) -> str:
    """`system check --fix`, then the command again; what they printed."""
    fixed = _run(cnm, ["system", "check", "--fix"])
    assert fixed.returncode == 0, (when, fixed.stdout, fixed.stderr)
    again = _run(cnm, command)
    if again.returncode != 0:
        # The killed command had committed: its change is there, so doing it again
        # says so (a removal finds nothing to remove).
        assert done_marker and done_marker in again.stderr, (when, again.stderr)
    return f"{when}: fix said {fixed.stdout!r} {fixed.stderr!r}; again {again.stderr!r}"


def _reset(cnm, reset: list[list[str]], story: str) -> None:
    for args in reset:
        result = _run(cnm, args)
        assert result.returncode == 0, (args, result.stderr, story,
                                        _run(cnm, ["ps", "-a"]).stdout)


def _points(cnm, setup, command, reset) -> int:
    for args in setup:
        _ok(cnm, args)
    result = _run(cnm, command, kill_at="count")
    assert result.returncode == 0, result.stderr
    for args in reset:
        _ok(cnm, args)
    # None passed: `stop` only signals; the supervisor's own process records the exit.
    count = [line for line in result.stderr.splitlines() if line.startswith("crash points:")]
    return int(count[0].split(":")[1]) if count else 0


def _leftovers(cnm) -> dict:
    """What a store with only the predefined networks must not have."""
    found: dict = {}
    found["links"] = sorted(link_names() - {"lo", "cnm0"})
    netns = os.path.join(cnm.run_root, "netns")
    found["netns"] = sorted(os.listdir(netns)) if os.path.isdir(netns) else []
    found["supervisors"] = process.supervisors(cnm.root)
    dns = os.path.join(cnm.run_root, "dns")
    found["helpers"] = sorted(n for n in os.listdir(dns) if n.endswith((".sock", ".pid"))) \
        if os.path.isdir(dns) else []
    found["tmp"] = [os.path.join(d, n) for top in (cnm.root, cnm.run_root)
                    for d, _s, names in os.walk(top) for n in names if n.endswith(".tmp")]
    for kind in ("containers", "endpoints", "sandboxes", "container-names", "journal"):
        folder = os.path.join(cnm.root, kind)
        found[kind] = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    for kind in ("intents", "starting", "containers"):
        folder = os.path.join(cnm.run_root, kind)
        found[f"run/{kind}"] = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    listed = subprocess.run(["nft", "-j", "list", "table", "inet", "cnmctl"],
                            capture_output=True, text=True)
    rules = [o["rule"] for o in json.loads(listed.stdout)["nftables"] if "rule" in o] \
        if listed.returncode == 0 else []
    found["firewall"] = [r.get("comment") for r in rules if not r.get("comment", "").startswith(
        ("network bridge:", "published ports:"))]
    return {k: v for k, v in found.items() if v}


def _kill_at_every_point(cnm, verb: str, setup, command, reset, done_marker,
                         check=lambda when, story: None) -> int:
    """Set up, run `command` killed at crash point N, `system check --fix`, do it
    again, `check(when, story)`, reset, and `system check` must be clean (then
    `check` again), for every N; how many points there were."""
    points = _points(cnm, setup, command, reset)
    for n in range(1, points + 1):
        when = f"{verb} killed at crash point {n} of {points}"
        for args in setup:
            _ok(cnm, args)
        result = _run(cnm, command, kill_at=str(n))
        assert result.returncode == -signal.SIGKILL, (when, result.stderr)
        story = _recover_and_redo(cnm, verb, command, done_marker, when)
        check(when, story)
        _reset(cnm, reset, story)
        _clean(cnm, when)
        check(when, story)
    return points


def test_kill_every_verb_at_every_point_then_fill_a_slash_24(cnm, capsys):
    cnm("network", "create", "--subnet", SUBNET, "n1")
    kills = completed = 0
    per_verb = {}
    for verb, setup, command, reset, done_marker in VERBS:
        per_verb[verb] = _kill_at_every_point(cnm, verb, setup, command, reset, done_marker)
        kills += per_verb[verb]
    # Kills after random delays, anywhere (also inside the kernel calls).
    rng = random.Random(int(os.environ.get("CNMCTL_CRASH_SEED", "8")))
    random_kills = tries = 0
    while random_kills < 125:
        verb, setup, command, reset, done_marker = VERBS[tries % len(VERBS)]
        tries += 1
        for args in setup:
            _ok(cnm, args)
        delay = rng.uniform(0.005, 0.15)
        proc = subprocess.Popen([*CNMCTL, *command], env=cnm.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.kill()
        killed = proc.wait() == -signal.SIGKILL
        random_kills += killed
        kills += killed
        completed += not killed
        when = f"{verb} killed after {delay:.3f} s"
        # A `run` killed past its gate has run: doing it again finds the name taken.
        story = _recover_and_redo(cnm, verb, command, done_marker or NAME_TAKEN, when)
        _reset(cnm, reset, story)
        _clean(cnm, when)
    # The /24 holds 253 containers again, started eight at a time.
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(
            lambda i: _run(cnm, ["run", "-d", "--network", "n1", "sleep", "1000"]),
            range(253)))
    assert [r.returncode for r in results] == [0] * 253, [r.stderr for r in results if
                                                          r.returncode][:3]
    full = _run(cnm, ["run", "-d", "--network", "n1", "sleep", "1000"])
    assert full.returncode == 125 and "no available" in full.stderr.lower(), full.stderr
    ips = json.loads(cnm("network", "inspect", "n1"))[0]["Containers"]
    assert len(ips) == 253
    _clean(cnm, "with 253 containers")
    cnm("rm", "-f", *[r.stdout.strip() for r in results])
    cnm("network", "rm", "n1")
    assert _leftovers(cnm) == {}
    with capsys.disabled():
        print(f"\ncrash injection: {kills} kills ({sum(per_verb.values())} at crash points: "
              f"{per_verb}; {random_kills} after random delays, and {completed} commands that "
              "finished before their kill); 253 containers on a /24 after")
    assert kills >= 300


# macvlan: a child of the test's veth `mvA` is born in each sandbox; nothing is on the host.
MV = ["network", "create", "-d", "macvlan", "-o", "parent=mvA", "--subnet", "10.96.0.0/24",
      "mv"]
RUN_MV = ["run", "-d", "--name", "w1", "--network", "mv", "sleep", "1000"]
MACVLAN_VERBS = [
    ("macvlan network create", [], MV, [["network", "rm", "mv"]],
     "network with name mv already exists"),
    ("run on macvlan", [MV], RUN_MV, [["rm", "-f", "w1"], ["network", "rm", "mv"]], None),
    ("rm -f on macvlan", [MV, RUN_MV], ["rm", "-f", "w1"], [["network", "rm", "mv"]],
     "No such container: w1"),
    ("network connect to macvlan", [MV, ["run", "-d", "--name", "w1", "sleep", "1000"]],
     ["network", "connect", "mv", "w1"], [["rm", "-f", "w1"], ["network", "rm", "mv"]],
     "already exists in network mv"),
    ("network disconnect from macvlan", [MV, ["run", "-d", "--name", "w1", "sleep", "1000"],
                                         ["network", "connect", "mv", "w1"]],
     ["network", "disconnect", "mv", "w1"], [["rm", "-f", "w1"], ["network", "rm", "mv"]],
     "is not connected to network mv"),
    ("macvlan network rm", [MV], ["network", "rm", "mv"], [], "No such network: mv"),
]


def test_kill_macvlan_verbs_at_every_point(cnm):
    subprocess.run(["ip", "link", "add", "mvA", "type", "veth", "peer", "name", "mvB"],
                   check=True)
    try:
        subprocess.run(["ip", "link", "set", "mvA", "up"], check=True)
        cnm("network", "rm", cnm("network", "create", "warm").strip())  # the kernel restored
        for verb, setup, command, reset, done_marker in MACVLAN_VERBS:
            assert _kill_at_every_point(cnm, verb, setup, command, reset, done_marker) > 0, verb
        assert _leftovers(cnm) == {"links": ["mvA", "mvB"]}
    finally:
        subprocess.run(["ip", "link", "del", "mvA"], check=True)
