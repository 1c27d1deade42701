"""Finds other firewalls that would drop the traffic cnmctl's bridges forward.

In nftables every base chain at a hook sees each packet, and a drop in any of
them is final: `inet cnmctl` accepting a container's packet does not stop
iptables-nft's `ip filter`, firewalld's `inet firewalld` or a hand-made table
from dropping it; legacy iptables hooks the same path. This module only names
such chains; what to do about each is in the README ("Coexisting with other
firewalls").

It reads rules, it does not evaluate them. A chain is reported when it is a
base chain at the forward hook of an ip, ip6 or inet table (a bridge table's
forward hook is layer 2 and does not see routed traffic) and either its last
rule drops or rejects unconditionally (how firewalld ends its chains) or its
policy is drop. Such a chain drops every packet that no earlier rule of it
accepts; whether earlier rules accept cnmctl's bridges is not judged, so a
chain stays reported after the user has added accept rules for them.
"""

from __future__ import annotations

import shutil
import subprocess

from cnmctl.firewall.ruleset import FAMILY, TABLE

OWN_TABLE = (FAMILY, TABLE)  # cnmctl's own table: never reported

_L3_FAMILIES = frozenset({"ip", "ip6", "inet"})
# Statements that neither match nor decide: a rule of these and a final drop or
# reject drops everything that reaches it (iptables-nft puts a counter in every
# rule; so does firewalld with NftablesCounters=yes).
_NEUTRAL = frozenset({"counter", "log"})
# The legacy iptables tables loaded in this network namespace, one name a line.
_LEGACY_TABLES = "/proc/net/ip_tables_names"
_TIMEOUT = 10  # seconds: a listing takes milliseconds; a hung one must not hang cnmctl


def forward_blockers(ruleset: dict, legacy_forward: str | None) -> list[str]:
    """One line per chain that would drop cnmctl's forwarded traffic.

    `ruleset` is the parsed output of `nft -j list ruleset`; `legacy_forward`
    the output of `iptables-legacy -S FORWARD`, or None when there is none.
    The table `inet cnmctl` itself is never reported.
    """
    listed = ruleset.get("nftables")
    items = [item for item in listed if isinstance(item, dict)] if isinstance(listed, list) else []
    chains: list[tuple[str, str, str, str | None]] = []
    names: dict[tuple[str, str], set[str]] = {}
    last_rule: dict[tuple[str, str, str], dict] = {}
    for item in items:
        if isinstance(chain := item.get("chain"), dict):
            table = (chain.get("family", ""), chain.get("table", ""))
            names.setdefault(table, set()).add(chain.get("name", ""))
            if (chain.get("hook") == "forward" and table[0] in _L3_FAMILIES
                    and table != OWN_TABLE):
                chains.append((*table, chain.get("name", ""), chain.get("policy")))
        elif isinstance(rule := item.get("rule"), dict):
            # nft lists a chain's rules in order: the last one seen is the chain's last.
            last_rule[(rule.get("family", ""), rule.get("table", ""), rule.get("chain", ""))] = rule

    found = []
    for family, table, name, policy in chains:
        verdict = _unconditional_verdict(last_rule.get((family, table, name), {}))
        if verdict:
            what = f"ends with an unconditional {verdict}"
        elif policy == "drop":
            what = "policy drop"
        else:
            continue
        origin = _origin(family, table, name, names.get((family, table), set()))
        found.append(f"table {family} {table}, chain {name}: {what}{origin}")
    if legacy_forward is not None:
        found.extend(_legacy_blockers(legacy_forward))
    return found


def scan() -> list[str]:
    """`forward_blockers()` of this host's nftables ruleset and legacy iptables.

    Returns [] when libnftables is not installed (the caller reports that) or
    cannot list the ruleset; legacy iptables is read only when its filter table
    exists.
    """
    from cnmctl.firewall.apply import FirewallError, ruleset_json

    try:
        ruleset = ruleset_json()
    except (FirewallError, ValueError):
        ruleset = {}
    return forward_blockers(ruleset if isinstance(ruleset, dict) else {}, _legacy_forward())


def advice() -> str:
    """What to do about what `scan()` found, in one line."""
    return ("cnmctl's networks need forwarded traffic accepted: "
            'see "Coexisting with other firewalls" in the README')


def _unconditional_verdict(rule: dict) -> str | None:
    """'drop' or 'reject' when the rule does that to every packet, else None."""
    exprs = rule.get("expr") or []
    if not exprs or not all(isinstance(e, dict) and e.keys() <= _NEUTRAL for e in exprs[:-1]):
        return None
    last = exprs[-1]
    if not isinstance(last, dict):
        return None
    if "drop" in last:
        return "drop"
    if "reject" in last:
        return "reject"
    # iptables-nft has no native form for -j REJECT: it lists it as an xt target.
    target = last.get("xt")
    if (isinstance(target, dict) and target.get("type") == "target"
            and target.get("name") == "REJECT"):
        return "reject"
    return None


def _origin(family: str, table: str, chain: str, chains: set[str]) -> str:
    """Who made the chain, when its names tell: firewalld, or iptables(-nft) and Docker."""
    if (family, table) == ("inet", "firewalld"):
        return " (firewalld)"
    if family in ("ip", "ip6") and table == "filter" and chain == "FORWARD":
        return " (iptables; Docker sets this)" if "DOCKER-USER" in chains else " (iptables)"
    return ""


def _legacy_blockers(text: str) -> list[str]:
    """The same finding for legacy iptables, from `iptables-legacy -S FORWARD`."""
    lines = text.splitlines()
    docker = " (Docker sets this)" if "-A FORWARD -j DOCKER-USER" in lines else ""
    appended = [line.split() for line in lines if line.startswith("-A FORWARD ")]
    if appended and appended[-1][2:3] == ["-j"] and appended[-1][3:4] in (["DROP"], ["REJECT"]):
        return [f"iptables-legacy FORWARD ends with an unconditional {appended[-1][3]}"]
    if "-P FORWARD DROP" in lines:
        return [f"iptables-legacy FORWARD policy DROP{docker}"]
    return []


def _legacy_forward() -> str | None:
    """`iptables-legacy -S FORWARD`, or None when there is nothing to read."""
    legacy = shutil.which("iptables-legacy")
    if legacy is None:
        return None
    # Listing a legacy table creates it (and loads its kernel module) where there
    # was none; a namespace without one has nothing to report anyway.
    try:
        with open(_LEGACY_TABLES, encoding="ascii") as f:
            if "filter" not in f.read().split():
                return None
    except OSError:  # no legacy iptables module loaded at all
        return None
    return _output([legacy, "-S", "FORWARD"])


def _output(argv: list[str]) -> str | None:
    """The command's standard output, or None when it could not run or failed."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                              timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None
