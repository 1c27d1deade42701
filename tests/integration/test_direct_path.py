"""Container verbs answer alike on the click-free path and through click."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import CNMCTL

ID = re.compile("[0-9a-f]{64}")
CLICK_PATH = [sys.executable, "-c", "import sys; from cnmctl.cli.app import main; main()"]


def run(prefix: list[str], env: dict, *args: str) -> tuple[int, str, str]:
    proc = subprocess.run([*prefix, *args], env=env, capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


def test_container_verbs_both_ways(cnm):
    cnm("network", "create", "cnm-net")
    outcomes = []
    for prefix in (CNMCTL, CLICK_PATH):
        cnm("create", "--name", "v1", "--network", "cnm-net", "sh", "-c", "trap 'exit 7' TERM; "
            "while :; do sleep 0.1; done")
        steps = [
            ("start", "v1"), ("stop", "-t", "5", "v1"), ("wait", "v1"), ("restart", "v1"),
            ("kill", "-s", "NOSUCHSIG", "v1"), ("kill", "--signal=TERM", "v1"), ("wait", "v1"),
            ("rm", "v1", "nosuch"), ("start", "nosuch"), ("stop", "-t", "x", "v1"),
        ]
        outcomes.append([run(prefix, cnm.env, *step) for step in steps])
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][2] == (0, "7\n", "")  # stop sent TERM; the trap exited 7
    assert outcomes[0][4][0] == 1 and "invalid signal" in outcomes[0][4][2]
    assert outcomes[0][7] == (1, "v1\n", "Error: No such container: nosuch\n")
    assert outcomes[0][9][0] == 125  # a non-numeric -t is click's usage error on both paths


def test_run_and_create_both_ways(cnm):
    cnm("network", "create", "--subnet", "10.88.0.0/24", "fixnet")
    cases = [
        ("run", "--rm", "--network", "fixnet", "--ip", "10.88.0.9", "-e", "A=1", "-h", "hh",
         "sh", "-c", 'echo "$A $(hostname) $(ip -4 -o addr show eth0 | cut -d" " -f7)"; exit 4'),
        ("run", "--rm", "--network", "fixnet", "--", "sh", "-c", "echo -x; echo err >&2"),
        ("run", "--network", "missing-net", "true"),
        ("run", "--network", "fixnet", "--ip", "10.99.0.5", "true"),
        ("run", "--network", "fixnet", "--ip", "10.88.0.300", "true"),
        ("run", "--dns", "notanip", "true"),
        ("run", "--rm", "nosuchcommand"),
        ("run", "-d", "--name", "dup", "--network", "fixnet", "sleep", "60"),
        ("run", "-d", "--name", "dup", "sleep", "60"),
        ("create", "--name", "dup", "true"),
        ("rm", "-f", "dup"),
    ]
    outcomes = []
    for prefix in (CNMCTL, CLICK_PATH):
        results = [run(prefix, cnm.env, *case) for case in cases]
        # The container IDs differ between the two rounds; compare the rest exactly.
        outcomes.append([(code, ID.sub("ID", out), ID.sub("ID", err))
                         for code, out, err in results])
    assert outcomes[0] == outcomes[1]
    first = outcomes[0]
    assert first[0] == (4, "1 hh 10.88.0.9/24\n", "")
    assert first[1] == (0, "-x\n", "err\n")
    assert [r[0] for r in first[2:7]] == [125, 125, 125, 125, 127]
    assert first[7][0] == 0 and first[8][0] == 125 and first[9][0] == 1
