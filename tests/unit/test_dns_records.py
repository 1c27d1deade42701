"""The names each sandbox may resolve, by Docker's rules."""

from __future__ import annotations

from cnmctl.dns.records import dns_enabled, sandbox_view
from cnmctl.model import Endpoint, Network


def net(nid: str, name: str, **kw) -> Network:
    return Network(id=nid, name=name, driver=kw.pop("driver", "bridge"), created="x", **kw)


def ep(eid: str, nid: str, cid: str, name: str, ipv4: str, aliases=(), ipv6: str = "") -> Endpoint:
    return Endpoint(id=eid, network_id=nid, container_id=cid, name=name, ipv4=ipv4, ipv6=ipv6,
                    aliases=list(aliases))


NETWORKS = {
    "n1": net("n1", "cnm-net"),
    "n2": net("n2", "other-net"),
    "nb": net("nb", "bridge", options={"com.docker.network.bridge.default_bridge": "true"}),
}
C1 = ep("e1", "n1", "c1id", "c1", "172.18.0.2/16", ["078782e4a209"])
C2 = ep("e2", "n1", "c2id", "c2", "172.18.0.3/16", ["web", "ec3d32db0dcb", "myhost"])
C4A = ep("e4a", "n1", "c4id", "c4", "172.18.0.5/16", ["4761b15bebcd"])
C4B = ep("e4b", "n2", "c4id", "c4", "172.19.0.2/16", ["4761b15bebcd"])
O1 = ep("e5", "n2", "o1id", "o1", "172.19.0.3/16", ["web"], ipv6="fd00::3/64")
D1 = ep("e6", "nb", "d1id", "d1", "172.17.0.2/16")
EVERYONE = [C1, C2, C4A, C4B, O1, D1]


def test_names_short_ids_aliases_hostnames_and_name_dot_network():
    records, _ = sandbox_view([C1], EVERYONE, NETWORKS)
    assert records["c2"] == ["172.18.0.3"]
    assert records["web"] == ["172.18.0.3"]
    assert records["ec3d32db0dcb"] == ["172.18.0.3"]
    assert records["myhost"] == ["172.18.0.3"]
    assert records["c2.cnm-net"] == ["172.18.0.3"]
    assert records["web.cnm-net"] == ["172.18.0.3"]
    assert records["c1"] == ["172.18.0.2"]  # a sandbox resolves itself too


def test_nothing_leaks_across_networks():
    records, ptr = sandbox_view([C1], EVERYONE, NETWORKS)
    assert "o1" not in records and "o1.other-net" not in records
    assert records["c4"] == ["172.18.0.5"]  # c4 only through the network they share
    assert "172.19.0.3" not in ptr and "d1" not in records


def test_a_sandbox_on_two_networks_sees_both_and_aliases_gather_addresses():
    records, ptr = sandbox_view([C4A, C4B], EVERYONE, NETWORKS)
    assert records["o1"] == ["172.19.0.3", "fd00::3"]
    assert records["c1"] == ["172.18.0.2"]
    assert records["web"] == ["172.18.0.3", "172.19.0.3", "fd00::3"]  # two containers
    assert records["c4"] == ["172.18.0.5", "172.19.0.2"]
    assert ptr["172.19.0.3"] == "o1.other-net" and ptr["fd00::3"] == "o1.other-net"
    assert ptr["172.18.0.3"] == "c2.cnm-net"


def test_case_is_folded_and_the_default_bridge_has_no_dns():
    upper = ep("e7", "n1", "c9id", "C1x", "172.18.0.9/16")
    records, _ = sandbox_view([C1], [*EVERYONE, upper], NETWORKS)
    assert records["c1x"] == ["172.18.0.9"] and records["c1x.cnm-net"] == ["172.18.0.9"]
    assert sandbox_view([D1], EVERYONE, NETWORKS) == ({}, {})
    assert not dns_enabled(NETWORKS["nb"]) and dns_enabled(NETWORKS["n1"])
    assert not dns_enabled(net("h", "host", driver="host"))
