"""The firewall as a pure function: networks and published ports -> cnmctl's table.

The table is written in libnftables' JSON schema (libnftables-json(5)), in the very
form `nft -j list table inet cnmctl` gives back (less the handles), so that the
table in the kernel can be compared with the one the store implies
(firewall/apply.py). No root, no kernel: the golden-file tests feed it stores.

One `inet` table: its forward chain filters IPv4 and IPv6 alike; NAT is IPv4 only
(as Docker 20.10 does it without ip6tables).

| chain       | hook                  | what                                         |
|-------------|-----------------------|----------------------------------------------|
| forward     | filter forward        | per network: replies and published ports in; |
|             |                       | nothing else in (isolation); --internal:     |
|             |                       | nothing in or out                            |
| input       | filter input          | nothing from a bridge to 127.0.0.0/8 (its    |
|             |                       | route_localnet is on for published ports)    |
| prerouting  | nat prerouting        | traffic to a host address -> `published`     |
| output      | nat output            | the host's own connections -> `published`    |
| published   | (jumped to)           | one DNAT a published port                    |
| postrouting | nat postrouting       | per network: masquerade going out; hairpin   |
|             |                       | and 127.0.0.1 connections to its ports       |

enable_icc=false is not a rule here: the bridge driver sets its ports isolated
(IFLA_BRPORT_ISOLATED), since traffic between two ports of one bridge never
reaches the inet hooks (only with br_netfilter, which cnmctl does not load).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cnmctl.model import Container, Network

FAMILY = "inet"
TABLE = "cnmctl"

# name -> (type, hook, priority) of the base chains; `published` is a regular chain
_BASE_CHAINS = (
    ("forward", "filter", "forward", 0),
    ("input", "filter", "input", 0),
    ("prerouting", "nat", "prerouting", -100),
    ("output", "nat", "output", -100),
    ("postrouting", "nat", "postrouting", 100),
)
_PUBLISHED = "published"


def table() -> dict:
    """The table object itself."""
    return {"table": {"family": FAMILY, "name": TABLE}}


def _chain(name: str, kind: str = "", hook: str = "", prio: int = 0) -> dict:
    chain = {"family": FAMILY, "table": TABLE, "name": name}
    if kind:
        chain.update(type=kind, hook=hook, prio=prio, policy="accept")
    return {"chain": chain}


def _rule(chain: str, comment: str, *expr: dict) -> dict:
    return {"rule": {"family": FAMILY, "table": TABLE, "chain": chain,
                     "comment": comment, "expr": list(expr)}}


# -- expressions, in the form nft lists them --------------------------------------
def _is(key: str, value, op: str = "==") -> dict:
    """meta iifname/oifname/nfproto == value."""
    return {"match": {"op": op, "left": {"meta": {"key": key}}, "right": value}}


def _ct(key: str, value) -> dict:
    return {"match": {"op": "in", "left": {"ct": {"key": key}}, "right": value}}


def _ip(field: str, addr: str) -> dict:
    """ip saddr/daddr == an address, or a prefix if it has one."""
    net = ipaddress.ip_network(addr, strict=False)
    right = (str(net.network_address) if net.prefixlen == 32 else
             {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}})
    return {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": field}},
                      "right": right}}


def _dport(proto: str, port: int) -> dict:
    return {"match": {"op": "==", "left": {"payload": {"protocol": proto, "field": "dport"}},
                      "right": port}}


_LOCAL = {"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}},
                    "right": "local"}}
_ACCEPT, _DROP, _MASQUERADE = {"accept": None}, {"drop": None}, {"masquerade": None}


# -- the ruleset ---------------------------------------------------------------------
def bridge_networks(networks: list[Network]) -> list[Network]:
    """The networks the firewall serves: bridge networks, by name."""
    return sorted((n for n in networks if n.driver == "bridge"), key=lambda n: n.name)


def ruleset(networks: list[Network], containers: list[Container]) -> list[dict]:
    """cnmctl's table for these networks and containers: the table, its chains, then
    its rules chain by chain; [] when no bridge network exists (no table at all).

    A container's published ports are its `ports` (the bindings in effect while it
    runs, each naming the address it is published at)."""
    bridges = bridge_networks(networks)
    if not bridges:
        return []
    rules: dict[str, list[dict]] = {name: [] for name, *_ in _BASE_CHAINS}
    rules[_PUBLISHED] = []
    for net in bridges:
        _network_rules(net, rules)
    published = _published_rules(containers, rules[_PUBLISHED])
    for chain in ("prerouting", "output"):
        rules[chain].append(_rule(chain, "published ports: connections to a host address",
                                  _LOCAL, _is("nfproto", "ipv4"),
                                  {"jump": {"target": _PUBLISHED}}))
    for net in bridges:
        if net.id in published and not net.internal:
            _hairpin_rules(net, rules["postrouting"])
    objects = [table()]
    objects += [_chain(*spec) for spec in _BASE_CHAINS]
    objects.append(_chain(_PUBLISHED))
    for name in [*rules]:
        objects += rules[name]
    return objects


def _network_rules(net: Network, rules: dict[str, list[dict]]) -> None:
    """Forwarding, loopback protection and masquerade for one bridge network."""
    bridge = net.driver_data["bridge"]
    tag = f"network {net.name}"
    forward = rules["forward"]
    # Traffic between its own containers is bridged, and reaches this hook only on
    # hosts with br_netfilter loaded (Docker loads it); let it pass there.
    forward.append(_rule("forward", f"{tag}: its containers talk to each other",
                         _is("iifname", bridge), _is("oifname", bridge), _ACCEPT))
    if net.internal:
        forward.append(_rule("forward", f"{tag} (internal): nothing leaves",
                             _is("iifname", bridge), _DROP))
        forward.append(_rule("forward", f"{tag} (internal): nothing comes in",
                             _is("oifname", bridge), _DROP))
    else:
        forward.append(_rule("forward", f"{tag}: replies come in",
                             _is("oifname", bridge), _ct("state", ["established", "related"]),
                             _ACCEPT))
        forward.append(_rule("forward", f"{tag}: published ports come in",
                             _is("oifname", bridge), _ct("status", "dnat"), _ACCEPT))
        forward.append(_rule("forward", f"{tag}: nothing else comes in",
                             _is("oifname", bridge), _DROP))
    rules["input"].append(_rule(
        "input", f"{tag}: no new connection to the host's 127.0.0.0/8",
        _is("iifname", bridge), _ip("daddr", "127.0.0.0/8"), _ct("state", "new"), _DROP))
    if not net.internal and net.driver_data.get("enable_ip_masquerade", True):
        for subnet in _ipv4_subnets(net):
            rules["postrouting"].append(_rule(
                "postrouting", f"{tag}: outgoing connections leave with the host's address",
                _ip("saddr", subnet), _is("oifname", bridge, "!="), _MASQUERADE))


def _hairpin_rules(net: Network, postrouting: list[dict]) -> None:
    """A network with published ports: connections to them from its own containers
    (through a host address) and from the host's 127.0.0.1 come from its gateway,
    so that the replies come back through the host."""
    bridge = net.driver_data["bridge"]
    for subnet in _ipv4_subnets(net):
        postrouting.append(_rule(
            "postrouting", f"network {net.name}: its containers reaching its published ports",
            _is("oifname", bridge), _ct("status", "dnat"), _ip("saddr", subnet),
            _MASQUERADE))
    postrouting.append(_rule(
        "postrouting", f"network {net.name}: 127.0.0.1 reaching its published ports",
        _is("oifname", bridge), _ip("saddr", "127.0.0.0/8"), _MASQUERADE))


def _published_rules(containers: list[Container], published: list[dict]) -> set[str]:
    """One DNAT rule per published port, containers by name, ports in order; the IDs
    of the networks ports are published on."""
    networks = set()
    for ctr in sorted(containers, key=lambda c: c.name):
        if ctr.status != "running":
            continue
        for binding in ctr.ports:
            port, proto = binding["port"].split("/")
            host_ip, host_port = binding["host_ip"], binding["host_port"]
            match = [] if host_ip == "0.0.0.0" else [_ip("daddr", host_ip)]
            target = {"dnat": {"family": "ip", "addr": binding["ip"], "port": int(port)}}
            published.append(_rule(
                _PUBLISHED, f"container {ctr.name}: {host_ip}:{host_port}->{port}/{proto}",
                *match, _dport(proto, host_port), target))
            networks.add(binding["network"])
    return networks


def _ipv4_subnets(net: Network) -> list[str]:
    return [c["Subnet"] for c in net.ipam_config if ":" not in c["Subnet"]]


def needs_forwarding(networks: list[Network]) -> tuple[bool, bool]:
    """(IPv4, IPv6) forwarding the host needs: on as soon as a bridge network may
    reach beyond the host (one not --internal), for each IP version it has."""
    outside = [n for n in bridge_networks(networks) if not n.internal]
    return bool(outside), any(n.enable_ipv6 for n in outside)
