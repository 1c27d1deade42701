"""Finding other firewalls that would drop cnmctl's forwarded traffic, from captured rulesets."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from cnmctl.firewall import coexist
from cnmctl.firewall.coexist import advice, forward_blockers, scan

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "nft"


def _ruleset(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def _legacy(name: str) -> str:
    return (FIXTURES / f"{name}.txt").read_text()


def _forward_chain(family: str, table: str, policy: str, *rules: list[dict]) -> dict:
    """A ruleset of one forward base chain, in nft's JSON, with these rules' exprs."""
    items: list[dict] = [
        {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
        {"table": {"family": family, "name": table, "handle": 1}},
        {"chain": {"family": family, "table": table, "name": "forward", "handle": 1,
                   "type": "filter", "hook": "forward", "prio": 0, "policy": policy}},
    ]
    items += [{"rule": {"family": family, "table": table, "chain": "forward",
                        "handle": 2 + i, "expr": expr}} for i, expr in enumerate(rules)]
    return {"nftables": items}


COUNTER = {"counter": {"packets": 0, "bytes": 0}}
MATCH_BR = {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "br-0123456789ab"}}


def test_docker_iptables_nft():
    assert forward_blockers(_ruleset("docker-20.10"), None) == [
        "table ip filter, chain FORWARD: policy drop (iptables; Docker sets this)"]


def test_firewalld_final_reject():
    ruleset = _ruleset("firewalld-1.3.3")
    # The capture's layout, which the finding rests on: policy accept, a final reject.
    chain = next(i["chain"] for i in ruleset["nftables"]
                 if i.get("chain", {}).get("name") == "filter_FORWARD")
    assert (chain["family"], chain["table"], chain["hook"], chain["policy"]) == (
        "inet", "firewalld", "forward", "accept")
    assert forward_blockers(ruleset, None) == [
        "table inet firewalld, chain filter_FORWARD: ends with an unconditional reject"
        " (firewalld)"]


def test_iptables_reject_target():
    assert forward_blockers(_ruleset("iptables-forward-reject"), None) == [
        "table ip filter, chain FORWARD: ends with an unconditional reject (iptables)"]


@pytest.mark.parametrize("name", ["empty", "debian-default"])
def test_no_blocker(name):
    assert forward_blockers(_ruleset(name), None) == []


def test_handmade_table_bridge_family_and_conditional_drop_ignored():
    assert forward_blockers(_ruleset("handmade"), None) == [
        "table inet filter, chain forward: policy drop"]


def test_own_table_ignored_only_as_inet_cnmctl():
    dropping = ("drop", [COUNTER, {"drop": None}])
    assert forward_blockers(_forward_chain("inet", "cnmctl", *dropping), None) == []
    assert forward_blockers(_forward_chain("ip", "cnmctl", *dropping), None) == [
        "table ip cnmctl, chain forward: ends with an unconditional drop"]


@pytest.mark.parametrize(("last", "found"), [
    ([{"drop": None}], "ends with an unconditional drop"),
    ([{"reject": None}], "ends with an unconditional reject"),
    ([COUNTER, {"log": {"prefix": "FINAL_REJECT: "}},
      {"reject": {"type": "icmpx", "expr": "admin-prohibited"}}],
     "ends with an unconditional reject"),
    ([MATCH_BR, {"drop": None}], None),
    ([{"limit": {"rate": 10, "per": "second"}}, {"drop": None}], None),
    ([COUNTER, {"accept": None}], None),
    ([COUNTER, {"jump": {"target": "elsewhere"}}], None),
    ([], None),
])
def test_last_rule(last, found):
    ruleset = _forward_chain("inet", "filter", "accept", [MATCH_BR, {"drop": None}], last)
    expected = [f"table inet filter, chain forward: {found}"] if found else []
    assert forward_blockers(ruleset, None) == expected


def test_last_rule_wins_over_policy_and_only_the_last_counts():
    ruleset = _forward_chain("ip6", "filter", "drop", [{"drop": None}],
                             [MATCH_BR, {"accept": None}])
    assert forward_blockers(ruleset, None) == ["table ip6 filter, chain forward: policy drop"]
    ruleset = _forward_chain("ip6", "filter", "drop", [{"reject": None}])
    assert forward_blockers(ruleset, None) == [
        "table ip6 filter, chain forward: ends with an unconditional reject"]


def test_other_hooks_and_regular_chains_ignored():
    ruleset = _ruleset("debian-default")
    for item in ruleset["nftables"]:
        if item.get("chain", {}).get("name") == "input":
            item["chain"]["policy"] = "drop"
    ruleset["nftables"].append(  # a regular chain (no hook) that drops everything
        {"chain": {"family": "inet", "table": "filter", "name": "blocked", "handle": 9}})
    ruleset["nftables"].append({"rule": {"family": "inet", "table": "filter", "chain": "blocked",
                                         "handle": 10, "expr": [{"drop": None}]}})
    assert forward_blockers(ruleset, None) == []


def test_legacy_forward():
    assert forward_blockers({}, _legacy("docker-20.10-legacy-forward")) == [
        "iptables-legacy FORWARD policy DROP (Docker sets this)"]
    assert forward_blockers({}, _legacy("legacy-clean-forward")) == []
    assert forward_blockers({}, "-P FORWARD DROP\n") == ["iptables-legacy FORWARD policy DROP"]
    rhel = ("-P FORWARD ACCEPT\n"
            "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
            "-A FORWARD -j REJECT --reject-with icmp-host-prohibited\n")
    assert forward_blockers({}, rhel) == [
        "iptables-legacy FORWARD ends with an unconditional REJECT"]
    assert forward_blockers({}, "-P FORWARD ACCEPT\n-A FORWARD -i wg0 -j DROP\n") == []
    assert forward_blockers({}, "") == []


def test_nft_and_legacy_together():
    assert forward_blockers(_ruleset("docker-20.10"), _legacy("docker-20.10-legacy-forward")) == [
        "table ip filter, chain FORWARD: policy drop (iptables; Docker sets this)",
        "iptables-legacy FORWARD policy DROP (Docker sets this)"]


@pytest.mark.parametrize("ruleset", [
    {}, {"nftables": None}, {"nftables": []},
    {"nftables": ["x", None, {"chain": "x"}, {"rule": None}]},
    _forward_chain("inet", "filter", "accept", [None, {"drop": None}]),
    _forward_chain("inet", "filter", "accept", [COUNTER, "drop"]),
])
def test_unexpected_shapes_find_nothing(ruleset):
    assert forward_blockers(ruleset, None) == []


def test_advice_is_one_line_naming_a_documented_section():
    title = "Coexisting with other firewalls"
    assert "\n" not in advice() and f'"{title}"' in advice()
    assert f"## {title}\n" in (REPO / "README.md").read_text()


# scan(): the ruleset through libnftables (faked here), legacy iptables through a
# fake iptables-legacy on PATH.

def _tool(folder: Path, name: str, stdout: str, code: int = 0) -> None:
    """A fake command that logs its argv to folder/calls and prints stdout.

    Python rather than sh: PATH holds only `folder`, so the script may use no other command."""
    script = folder / name
    script.write_text(f"""#!{sys.executable}
import sys
with open({str(folder / "calls")!r}, "a") as log:
    log.write(" ".join([{name!r}, *sys.argv[1:]]) + "\\n")
sys.stdout.write({stdout!r})
sys.exit({code})
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def fake_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    tables = tmp_path / "ip_tables_names"
    monkeypatch.setattr(coexist, "_LEGACY_TABLES", str(tables))
    return tmp_path


def _libnftables_answers(monkeypatch, result) -> list[int]:
    """libnftables' `list ruleset` answers `result` (or raises it); the calls made."""
    from cnmctl.firewall import apply

    calls = []

    def fake():
        calls.append(1)
        if isinstance(result, Exception):
            raise result
        return result
    monkeypatch.setattr(apply, "ruleset_json", fake)
    return calls


def _calls(folder: Path) -> list[str]:
    calls = folder / "calls"
    return calls.read_text().splitlines() if calls.exists() else []


def test_scan_without_libnftables(fake_path, monkeypatch):
    from cnmctl.firewall.apply import NFT_MISSING, FirewallError

    _libnftables_answers(monkeypatch, FirewallError(NFT_MISSING))
    _tool(fake_path, "iptables-legacy", "-P FORWARD\n")
    assert scan() == []


def test_scan_reads_the_ruleset_once(fake_path, monkeypatch):
    docker = json.loads((FIXTURES / "docker-20.10.json").read_text())
    calls = _libnftables_answers(monkeypatch, docker)
    assert scan() == ["table ip filter, chain FORWARD: policy drop (iptables; Docker sets this)"]
    assert calls == [1]


@pytest.mark.parametrize("answer", [ValueError("not json"), [], {}])
def test_scan_when_the_ruleset_cannot_be_read(fake_path, monkeypatch, answer):
    _libnftables_answers(monkeypatch, answer)
    assert scan() == []


def test_scan_reads_legacy_only_when_its_filter_table_exists(fake_path, monkeypatch):
    _libnftables_answers(monkeypatch, json.loads((FIXTURES / "empty.json").read_text()))
    _tool(fake_path, "iptables-legacy", _legacy("docker-20.10-legacy-forward"))
    assert scan() == []  # no legacy module loaded: no /proc file
    (fake_path / "ip_tables_names").write_text("nat\n")
    assert scan() == []
    assert "iptables-legacy -S FORWARD" not in _calls(fake_path)
    (fake_path / "ip_tables_names").write_text("nat\nfilter\n")
    assert scan() == ["iptables-legacy FORWARD policy DROP (Docker sets this)"]
    assert _calls(fake_path)[-1] == "iptables-legacy -S FORWARD"


def test_scan_ignores_a_failing_legacy_listing(fake_path, monkeypatch):
    _libnftables_answers(monkeypatch, json.loads((FIXTURES / "empty.json").read_text()))
    _tool(fake_path, "iptables-legacy", "-P FORWARD DROP\n", code=3)
    (fake_path / "ip_tables_names").write_text("filter\n")
    assert scan() == []


def test_fixtures_are_what_the_readme_lists():
    readme = (FIXTURES / "README.md").read_text()
    for name in sorted(os.listdir(FIXTURES)):
        if name.endswith((".json", ".txt")):
            assert f"`{name}`" in readme, name
