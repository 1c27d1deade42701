"""`coexist.scan()` against the kernel: another firewall's forward chain that drops is named,
cnmctl's own table and a clean namespace are not.

The foreign table of the first test is made in the suite's namespace and removed again;
the others load their firewall into a fresh network namespace of their own
(`unshare --net`), where scan() runs in a child Python, so nothing they load, legacy
iptables tables included, outlives them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cnmctl.firewall.coexist import scan

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "nft"

# Runs each argv of argv[1] (a JSON list), then prints scan() as JSON.
_CHILD = """
import json, subprocess, sys
for argv in json.loads(sys.argv[1]):
    subprocess.run(argv, check=True, capture_output=True)
from cnmctl.firewall.coexist import scan
print(json.dumps(scan()))
"""


def _nft(*args: str) -> str:
    return subprocess.run(["nft", *args], check=True, capture_output=True, text=True).stdout


def _scan_in_fresh_netns(*setup: list[str]) -> list[str]:
    """scan() in a new, empty network namespace after running `setup` there."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    proc = subprocess.run(["unshare", "--net", sys.executable, "-c", _CHILD, json.dumps(setup)],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=path))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_foreign_forward_drop_is_named_until_removed():
    assert "table ip filter" not in _nft("list", "tables")  # delete only what this test made
    _nft("add", "table", "ip", "filter")
    try:
        _nft("add", "chain", "ip", "filter", "FORWARD",
             "{ type filter hook forward priority 0; policy drop; }")
        assert scan() == ["table ip filter, chain FORWARD: policy drop (iptables)"]
    finally:
        _nft("delete", "table", "ip", "filter")
    assert scan() == []


def test_fresh_namespace_names_nothing():
    assert _scan_in_fresh_netns() == []


def test_own_table_is_not_named():
    chain = "forward { type filter hook forward priority 0; policy drop; }"
    setup = [["nft", f"add table {table}; add chain {table} {chain}"]
             for table in ("inet cnmctl", "inet other")]
    assert _scan_in_fresh_netns(*setup) == ["table inet other, chain forward: policy drop"]


@pytest.mark.parametrize(("setup", "expected"), [
    (["nft", "-j", "-f", str(FIXTURES / "firewalld-1.3.3.json")],
     "table inet firewalld, chain filter_FORWARD: ends with an unconditional reject (firewalld)"),
    (["iptables-nft-restore", str(FIXTURES / "docker-20.10.rules")],
     "table ip filter, chain FORWARD: policy drop (iptables; Docker sets this)"),
    (["iptables-legacy-restore", str(FIXTURES / "docker-20.10.rules")],
     "iptables-legacy FORWARD policy DROP (Docker sets this)"),
    (["iptables-legacy", "-A", "FORWARD", "-j", "REJECT"],
     "iptables-legacy FORWARD ends with an unconditional REJECT"),
])
def test_captured_firewalls_are_named(setup, expected):
    assert shutil.which(setup[0]), f"{setup[0]} is missing: `make deps` installs it"
    assert _scan_in_fresh_netns(setup) == [expected]


def test_legacy_table_with_accept_policy_is_not_named():
    assert _scan_in_fresh_netns(["iptables-legacy", "-P", "FORWARD", "ACCEPT"]) == []
