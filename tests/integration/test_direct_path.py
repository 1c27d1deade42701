"""Container verbs answer alike on the click-free path and through click."""

from __future__ import annotations

import subprocess
import sys

from conftest import CNMCTL

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
