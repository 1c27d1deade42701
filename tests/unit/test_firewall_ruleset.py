"""Golden-file tests of the firewall as a pure function: store -> cnmctl's table.

Each case is a set of networks and containers; its table is compared with
tests/fixtures/firewall/CASE.json (nft's JSON schema, the form `nft -j list
table inet cnmctl` gives back). After a deliberate change to the rules, write
the files anew with `CNMCTL_UPDATE_GOLDEN=1 make unit` and read the diff.
"""

from __future__ import annotations

import json
import os
import random

import pytest

from cnmctl.firewall.ruleset import needs_forwarding, ruleset
from cnmctl.model import Container, Network

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "fixtures", "firewall")


def bridge(name: str, subnet: str, *, internal: bool = False, masquerade: bool = True,
           ipv6: str = "", bridge_name: str = "") -> Network:
    config = [{"Subnet": subnet}] + ([{"Subnet": ipv6}] if ipv6 else [])
    return Network(id=f"{name}-id", name=name, driver="bridge", created="2026-01-01T00:00:00Z",
                   internal=internal, enable_ipv6=bool(ipv6), ipam_config=config,
                   driver_data={"bridge": bridge_name or f"br-{name}",
                                "enable_ip_masquerade": masquerade, "enable_icc": True})


def container(name: str, ports: list[tuple], status: str = "running") -> Container:
    """ports: (container port, host ip, host port, container ip, network name)."""
    return Container(id=f"{name}-id", name=name, created="2026-01-01T00:00:00Z", path="sh",
                     status=status,
                     ports=[{"port": p, "host_ip": hip, "host_port": hport, "ip": ip,
                             "network": f"{net}-id"} for p, hip, hport, ip, net in ports])


DEFAULT = bridge("bridge", "172.17.0.0/16", bridge_name="cnm0")
HOST = Network(id="host-id", name="host", driver="host", created="2026-01-01T00:00:00Z")
NONE = Network(id="none-id", name="none", driver="null", created="2026-01-01T00:00:00Z")

CASES = {
    # what a fresh store implies: the default bridge alone
    "fresh": ([DEFAULT, HOST, NONE], []),
    # a user network, an internal one, one without masquerade, one with IPv6
    "networks": ([DEFAULT, HOST, NONE, bridge("cnm-net", "172.18.0.0/16"),
                  bridge("int-net", "172.19.0.0/16", internal=True),
                  bridge("nonat", "172.20.0.0/16", masquerade=False),
                  bridge("v6net", "172.21.0.0/16", ipv6="fd00:1::/64")], []),
    # published ports: all addresses, one address, UDP, a range; a stopped container
    # (no rules) and one on the internal network only (no ports to publish)
    "published": ([DEFAULT, HOST, NONE, bridge("cnm-net", "172.18.0.0/16")], [
        container("web", [("80/tcp", "0.0.0.0", 8080, "172.17.0.2", "bridge"),
                          ("53/udp", "127.0.0.1", 5353, "172.17.0.2", "bridge")]),
        container("api", [("8000/tcp", "0.0.0.0", 49153, "172.18.0.2", "cnm-net"),
                          ("8001/tcp", "0.0.0.0", 49154, "172.18.0.2", "cnm-net")]),
        container("old", [("80/tcp", "0.0.0.0", 9090, "172.17.0.3", "bridge")],
                  status="exited"),
    ]),
    # no bridge network at all: no table
    "empty": ([HOST, NONE], []),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ruleset_matches_its_golden_file(case):
    networks, containers = CASES[case]
    got = ruleset(networks, containers)
    path = os.path.join(GOLDEN, f"{case}.json")
    if os.environ.get("CNMCTL_UPDATE_GOLDEN") == "1":
        with open(path, "w", encoding="utf-8") as f:
            json.dump(got, f, indent=1)
            f.write("\n")
    with open(path, encoding="utf-8") as f:
        assert got == json.load(f)


@pytest.mark.parametrize("case", sorted(CASES))
def test_ruleset_does_not_depend_on_the_order_of_the_store(case):
    networks, containers = CASES[case]
    shuffled_nets, shuffled_ctrs = list(networks), list(containers)
    random.Random(7).shuffle(shuffled_nets)
    random.Random(7).shuffle(shuffled_ctrs)
    assert ruleset(shuffled_nets, shuffled_ctrs) == ruleset(networks, containers)


def test_every_rule_says_whom_it_serves():
    networks, containers = CASES["published"]
    rules = [o["rule"] for o in ruleset(networks, containers) if "rule" in o]
    assert rules
    for rule in rules:
        assert rule["comment"].startswith(("network ", "container ", "published ports"))
        assert len(rule["comment"].encode()) <= 128  # nft's limit for a comment


def test_a_stopped_container_publishes_nothing():
    networks, containers = CASES["published"]
    comments = [o["rule"]["comment"] for o in ruleset(networks, containers) if "rule" in o]
    assert not [c for c in comments if c.startswith("container old")]
    assert "container web: 127.0.0.1:5353->53/udp" in comments


def test_an_internal_network_gets_no_masquerade_and_drops_both_ways():
    networks, _ = CASES["networks"]
    rules = [o["rule"] for o in ruleset(networks, []) if "rule" in o]
    internal = [r for r in rules if "int-net" in r["comment"]]
    assert [r["chain"] for r in internal] == ["forward", "forward", "forward", "input"]
    assert internal[0]["expr"][-1] == {"accept": None}  # bridged, with br_netfilter
    assert all(r["expr"][-1] == {"drop": None} for r in internal[1:])


def test_forwarding_is_needed_for_networks_that_reach_beyond_the_host():
    assert needs_forwarding(CASES["fresh"][0]) == (True, False)
    assert needs_forwarding(CASES["networks"][0]) == (True, True)
    assert needs_forwarding([bridge("int", "10.0.0.0/24", internal=True)]) == (False, False)
    assert needs_forwarding(CASES["empty"][0]) == (False, False)
