"""Unit tests for cnmctl's default IPAM (pure Python: no root, no timing)."""

from __future__ import annotations

import hashlib
import json
import sys
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address, ip_network

import pytest

from cnmctl.errors import CnmError, Conflict, InvalidArgument, NotFound
from cnmctl.ipam import allocator as ipam_allocator
from cnmctl.ipam.allocator import SubnetAllocator, default_gateway
from cnmctl.ipam.api import GATEWAY_KEY, AllocatedPool, Ipam, PoolRequest
from cnmctl.ipam.config import parse_ipam_config
from cnmctl.ipam.default import DefaultIpam
from cnmctl.ipam.pools import (
    check_overlap,
    choose_pool,
    choose_pool_v6,
    default_pool_candidates,
    ula_base,
)

N = ip_network
A = ip_address


def parse(subnets=(), ranges=(), gateways=(), aux=(), ipv6=False):
    return parse_ipam_config(list(subnets), list(ranges), list(gateways), list(aux), ipv6)


def raises(exc_type, message):
    """pytest.raises matching the whole message exactly."""
    import re

    return pytest.raises(exc_type, match="^" + re.escape(message) + "$")


# ---------------------------------------------------------------------------
# parse_ipam_config
# ---------------------------------------------------------------------------


class TestParseIpamConfig:
    def test_nothing_given(self):
        assert parse() == []
        assert parse(ipv6=True) == []

    def test_subnet_only(self):
        assert parse(["10.1.2.0/24"]) == [{"Subnet": "10.1.2.0/24"}]

    def test_all_keys_in_docker_order(self):
        cfg = parse(["10.1.0.0/16"], ["10.1.2.0/24"], ["10.1.0.254"], ["host1=10.1.0.5"])
        assert cfg == [
            {
                "Subnet": "10.1.0.0/16",
                "IPRange": "10.1.2.0/24",
                "Gateway": "10.1.0.254",
                "AuxiliaryAddresses": {"host1": "10.1.0.5"},
            }
        ]
        assert list(cfg[0]) == ["Subnet", "IPRange", "Gateway", "AuxiliaryAddresses"]
        json.dumps(cfg)  # plain data

    def test_keys_only_when_set(self):
        cfg = parse(["10.1.0.0/16"], gateways=["10.1.0.9"])
        assert list(cfg[0]) == ["Subnet", "Gateway"]
        cfg = parse(["10.1.0.0/16"], ranges=["10.1.4.0/24"])
        assert list(cfg[0]) == ["Subnet", "IPRange"]

    def test_dual_stack_items_go_to_their_family(self):
        cfg = parse(
            ["10.1.0.0/16", "fd00:1::/64"],
            ["fd00:1::/80", "10.1.2.0/24"],
            ["fd00:1::ffff", "10.1.0.254"],
            ["v6=fd00:1::9", "v4=10.1.0.9"],
            ipv6=True,
        )
        assert cfg == [
            {
                "Subnet": "10.1.0.0/16",
                "IPRange": "10.1.2.0/24",
                "Gateway": "10.1.0.254",
                "AuxiliaryAddresses": {"v4": "10.1.0.9"},
            },
            {
                "Subnet": "fd00:1::/64",
                "IPRange": "fd00:1::/80",
                "Gateway": "fd00:1::ffff",
                "AuxiliaryAddresses": {"v6": "fd00:1::9"},
            },
        ]

    def test_subnet_order_kept(self):
        cfg = parse(["10.2.0.0/16", "10.1.0.0/16"])
        assert [c["Subnet"] for c in cfg] == ["10.2.0.0/16", "10.1.0.0/16"]

    def test_ipv6_text_is_canonicalised(self):
        cfg = parse(["FD00:0:0:1:0:0:0:0/64"], gateways=["FD00:0:0:1::1"], ipv6=True)
        assert cfg == [{"Subnet": "fd00:0:0:1::/64", "Gateway": "fd00:0:0:1::1"}]

    # -- invalid subnets ----------------------------------------------------

    @pytest.mark.parametrize(
        "text",
        [
            "foo",
            "10.1.2.0/33",
            "10.1.2.300/24",
            "10.1.2.0",  # a bare address is not CIDR notation
            "10.1.2.0/",
            "10.1.2.0/255.255.255.0",
            "10.1.2.0/-1",
            "10.1.2.0/024",
            "fd00::/129",
            "fe80::%eth0/64",
            "",
            " 10.1.2.0/24",
        ],
    )
    def test_invalid_subnet_text(self, text):
        with raises(InvalidArgument, f"Invalid subnet {text} : invalid CIDR address: {text}"):
            parse([text], ipv6=True)

    def test_invalid_subnet_docker_texts(self):
        with raises(InvalidArgument, "Invalid subnet foo : invalid CIDR address: foo"):
            parse(["foo"])
        with raises(
            InvalidArgument, "Invalid subnet 10.1.2.0/33 : invalid CIDR address: 10.1.2.0/33"
        ):
            parse(["10.1.2.0/33"])
        with raises(
            InvalidArgument,
            "Invalid subnet 10.1.2.300/24 : invalid CIDR address: 10.1.2.300/24",
        ):
            parse(["10.1.2.300/24"])

    def test_host_bits_rejected(self):
        with raises(
            InvalidArgument,
            "invalid subnet 10.1.2.3/24: it has host bits set (did you mean 10.1.2.0/24?)",
        ):
            parse(["10.1.2.3/24"])

    def test_host_bits_rejected_ipv6(self):
        with raises(
            InvalidArgument,
            "invalid subnet fd00::1/64: it has host bits set (did you mean fd00::/64?)",
        ):
            parse(["fd00::1/64"], ipv6=True)

    def test_ipv6_subnet_needs_ipv6(self):
        with raises(InvalidArgument, "IPv6 subnet fd00:1::/64 given without --ipv6"):
            parse(["10.1.0.0/16", "fd00:1::/64"])

    @pytest.mark.parametrize(
        "subnets",
        [
            ["10.1.0.0/16", "10.1.0.0/16"],
            ["10.1.0.0/16", "10.1.5.0/24"],
            ["10.1.5.0/24", "10.1.0.0/16"],
            ["10.0.0.0/8", "192.168.0.0/24", "10.200.0.0/16"],
        ],
    )
    def test_overlapping_subnets(self, subnets):
        with raises(InvalidArgument, "multiple overlapping subnet configuration is not supported"):
            parse(subnets)

    def test_two_subnets_of_one_family_allowed_here(self):
        # The one-subnet-per-family rule of bridges belongs to the driver.
        assert len(parse(["10.1.0.0/24", "10.2.0.0/24"])) == 2

    # -- counts ---------------------------------------------------------------

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"gateways": ["10.60.0.1"]},
            {"ranges": ["10.1.2.0/24"]},
            {"subnets": ["10.1.0.0/16"], "gateways": ["10.1.0.1", "10.1.0.2"]},
            {"subnets": ["10.1.0.0/16"], "ranges": ["10.1.1.0/24", "10.1.2.0/24"]},
        ],
    )
    def test_every_range_or_gateway_needs_a_subnet(self, kwargs):
        with raises(InvalidArgument, "every ip-range or gateway must have a corresponding subnet"):
            parse(**kwargs)

    def test_counts_checked_before_subnet_text(self):
        with raises(InvalidArgument, "every ip-range or gateway must have a corresponding subnet"):
            parse(["foo"], gateways=["1.2.3.4", "1.2.3.5"])

    # -- ip ranges ------------------------------------------------------------

    def test_range_outside_subnet(self):
        with raises(InvalidArgument, "no matching subnet for range 10.1.3.0/24"):
            parse(["10.1.2.0/24"], ["10.1.3.0/24"])

    def test_range_larger_than_subnet(self):
        with raises(InvalidArgument, "no matching subnet for range 10.1.0.0/16"):
            parse(["10.1.2.0/24"], ["10.1.0.0/16"])

    def test_range_other_family(self):
        with raises(InvalidArgument, "no matching subnet for range fd00::/64"):
            parse(["10.1.2.0/24"], ["fd00::/64"])

    def test_range_equal_to_subnet(self):
        assert parse(["10.1.2.0/24"], ["10.1.2.0/24"])[0]["IPRange"] == "10.1.2.0/24"

    def test_two_ranges_same_subnet(self):
        with raises(
            InvalidArgument,
            "cannot configure multiple ranges (10.1.2.128/25, 10.1.2.0/25) "
            "on the same subnet (10.1.0.0/16)",
        ):
            parse(["10.1.0.0/16", "10.2.0.0/16"], ["10.1.2.0/25", "10.1.2.128/25"])

    @pytest.mark.parametrize("text", ["bar", "10.1.2.0", "10.1.2.0/40", "10.1.2.999/25"])
    def test_bad_range_text(self, text):
        with raises(InvalidArgument, f"invalid CIDR address: {text}"):
            parse(["10.1.2.0/24"], [text])

    def test_range_host_bits(self):
        with raises(
            InvalidArgument,
            "invalid ip-range 10.1.2.130/25: it has host bits set (did you mean 10.1.2.128/25?)",
        ):
            parse(["10.1.2.0/24"], ["10.1.2.130/25"])

    # -- gateways ---------------------------------------------------------------

    def test_gateway_outside_subnet(self):
        with raises(InvalidArgument, "no matching subnet for gateway 10.60.0.1"):
            parse(["10.50.0.0/24"], gateways=["10.60.0.1"])

    def test_gateway_other_family(self):
        with raises(InvalidArgument, "no matching subnet for gateway fd00::1"):
            parse(["10.50.0.0/24"], gateways=["fd00::1"])
        with raises(InvalidArgument, "no matching subnet for gateway 10.50.0.1"):
            parse(["fd00::/64"], gateways=["10.50.0.1"], ipv6=True)

    def test_ipv6_gateway_with_only_ipv4_subnets(self):
        with raises(InvalidArgument, "no matching subnet for gateway fd00::1"):
            parse(["10.50.0.0/24", "10.51.0.0/24"], gateways=["10.50.0.1", "fd00::1"])

    def test_two_gateways_same_subnet(self):
        with raises(
            InvalidArgument,
            "cannot configure multiple gateways (10.1.0.2, 10.1.0.1) on the same subnet "
            "(10.1.0.0/16)",
        ):
            parse(["10.1.0.0/16", "10.2.0.0/16"], gateways=["10.1.0.1", "10.1.0.2"])

    @pytest.mark.parametrize("gw", ["10.50.0.0", "10.50.0.255"])
    def test_gateway_on_network_or_broadcast_address(self, gw):
        with raises(Conflict, f"failed to allocate gateway ({gw}): Address already in use"):
            parse(["10.50.0.0/24"], gateways=[gw])

    def test_gateway_on_ipv6_network_address(self):
        with raises(Conflict, "failed to allocate gateway (fd00::): Address already in use"):
            parse(["fd00::/64"], gateways=["fd00::"], ipv6=True)

    def test_ipv6_last_address_is_a_valid_gateway(self):
        cfg = parse(["fd00::/64"], gateways=["fd00::ffff:ffff:ffff:ffff"], ipv6=True)
        assert cfg[0]["Gateway"] == "fd00::ffff:ffff:ffff:ffff"

    @pytest.mark.parametrize("gw", ["nope", "10.50.0.300", "10.50.0.1/24", "", "fe80::1%eth0"])
    def test_malformed_gateway(self, gw):
        with raises(InvalidArgument, f"invalid gateway address: {gw}"):
            parse(["10.50.0.0/24"], gateways=[gw])

    def test_gateway_outside_ip_range_is_fine(self):
        cfg = parse(["10.1.0.0/16"], ["10.1.2.0/24"], ["10.1.0.1"])
        assert cfg[0]["Gateway"] == "10.1.0.1"

    # -- aux addresses ----------------------------------------------------------

    @pytest.mark.parametrize(
        "text", ["host1", "=10.1.0.5", "host1=", "host1=nope", "a=10.1.0.5/32"]
    )
    def test_malformed_aux(self, text):
        with raises(InvalidArgument, f"invalid aux-address: {text} (expected NAME=IP)"):
            parse(["10.1.0.0/16"], aux=[text])

    def test_aux_outside_subnets(self):
        with raises(InvalidArgument, "no matching subnet for aux-address 10.9.0.5"):
            parse(["10.1.0.0/16"], aux=["h=10.9.0.5"])

    def test_aux_without_subnet(self):
        with raises(InvalidArgument, "no matching subnet for aux-address 10.9.0.5"):
            parse(aux=["h=10.9.0.5"])

    def test_aux_other_family(self):
        with raises(InvalidArgument, "no matching subnet for aux-address fd00::5"):
            parse(["10.1.0.0/16"], aux=["h=fd00::5"])

    def test_aux_value_may_contain_equals_in_name_split_once(self):
        cfg = parse(["10.1.0.0/16"], aux=["a=10.1.0.5", "b=10.1.0.6"])
        assert cfg[0]["AuxiliaryAddresses"] == {"a": "10.1.0.5", "b": "10.1.0.6"}

    def test_aux_repeated_name_last_wins(self):
        cfg = parse(["10.1.0.0/16", "10.2.0.0/16"], aux=["a=10.1.0.5", "a=10.2.0.6"])
        assert "AuxiliaryAddresses" not in cfg[0]
        assert cfg[1]["AuxiliaryAddresses"] == {"a": "10.2.0.6"}

    @pytest.mark.parametrize(
        "gateways, aux",
        [
            ([], ["a=10.1.0.1"]),  # the default gateway
            (["10.1.0.9"], ["a=10.1.0.9"]),
            ([], ["a=10.1.0.0"]),
            ([], ["a=10.1.255.255"]),
            ([], ["b=10.1.0.7", "a=10.1.0.7"]),
        ],
    )
    def test_aux_clashes(self, gateways, aux):
        ip = aux[-1].split("=")[1]
        with raises(
            Conflict, f"failed to allocate secondary ip address (a:{ip}): Address already in use"
        ):
            parse(["10.1.0.0/16"], gateways=gateways, aux=aux)

    def test_aux_on_default_gateway_is_fine_when_gateway_moved(self):
        cfg = parse(["10.1.0.0/16"], gateways=["10.1.0.254"], aux=["a=10.1.0.1"])
        assert cfg[0]["AuxiliaryAddresses"] == {"a": "10.1.0.1"}

    # -- sizes ----------------------------------------------------------------

    @pytest.mark.parametrize("subnet", ["10.1.2.0/31", "10.1.2.0/32", "fd00::/127", "fd00::/128"])
    def test_subnet_too_small(self, subnet):
        with raises(Conflict, "failed to allocate gateway (): No available addresses on this pool"):
            parse([subnet], ipv6=True)

    def test_slash_30_is_big_enough(self):
        assert parse(["10.1.2.0/30"]) == [{"Subnet": "10.1.2.0/30"}]
        assert parse(["fd00::/126"], ipv6=True) == [{"Subnet": "fd00::/126"}]

    def test_slash_31_with_gateway_on_broadcast(self):
        with raises(Conflict, "failed to allocate gateway (10.1.2.1): Address already in use"):
            parse(["10.1.2.0/31"], gateways=["10.1.2.1"])

    def test_inputs_may_be_none_or_tuples(self):
        assert parse_ipam_config(("10.1.0.0/16",), None, None, None) == [{"Subnet": "10.1.0.0/16"}]


# ---------------------------------------------------------------------------
# default pools, overlap, gateway
# ---------------------------------------------------------------------------

EXPECTED_POOLS = (
    ["172.17.0.0/16", "172.18.0.0/16", "172.19.0.0/16"]
    + [f"172.{i}.0.0/16" for i in range(20, 32)]
    + [f"192.168.{i * 16}.0/20" for i in range(16)]
)


class TestChoosePool:
    def test_candidates_in_docker_order(self):
        assert [str(n) for n in default_pool_candidates()] == EXPECTED_POOLS
        assert len(EXPECTED_POOLS) == 31

    def test_first_free(self):
        assert choose_pool([], []) == N("172.17.0.0/16")

    def test_default_bridge_taken(self):
        assert choose_pool([N("172.17.0.0/16")], []) == N("172.18.0.0/16")
        assert choose_pool([N("172.17.0.0/16"), N("172.18.0.0/16")], []) == N("172.19.0.0/16")

    def test_walks_all_31_then_exhausted(self):
        in_use: list = []
        for want in EXPECTED_POOLS:
            got = choose_pool(in_use, [])
            assert str(got) == want
            in_use.append(got)
        with raises(Conflict, "all predefined address pools have been fully subnetted"):
            choose_pool(in_use, [])

    def test_lowest_freed_pool_is_reused(self):
        in_use = [N(p) for p in EXPECTED_POOLS[:5]]
        del in_use[2]
        assert choose_pool(in_use, []) == N(EXPECTED_POOLS[2])

    def test_partial_overlap_skips(self):
        # A user network 172.18.5.0/24 makes all of 172.18.0.0/16 unusable.
        assert choose_pool([N("172.17.0.0/16"), N("172.18.5.0/24")]) == N("172.19.0.0/16")

    def test_reserved_routes_and_addresses(self):
        reserved = [N("172.17.0.0/16"), A("172.18.0.53"), N("172.19.0.0/24")]
        assert choose_pool([], reserved) == N("172.20.0.0/16")

    def test_reserved_as_text(self):
        assert choose_pool([], ["172.17.0.0/16"]) == N("172.18.0.0/16")

    def test_big_route_covering_all_172(self):
        assert choose_pool([], [N("172.16.0.0/12")]) == N("192.168.0.0/20")

    def test_ipv6_entries_ignored(self):
        assert choose_pool([N("::/0")], [N("fd00::/8")]) == N("172.17.0.0/16")

    def test_exhausted_by_reserved(self):
        with raises(Conflict, "all predefined address pools have been fully subnetted"):
            choose_pool([N("172.16.0.0/12")], [N("192.168.0.0/16")])


class TestCheckOverlap:
    @pytest.mark.parametrize(
        "subnet", ["172.18.0.0/16", "172.18.5.0/24", "172.16.0.0/12", "172.17.0.0/16"]
    )
    def test_any_overlap(self, subnet):
        in_use = [N("172.17.0.0/16"), N("172.18.0.0/16"), N("172.19.0.0/16")]
        with raises(Conflict, "Pool overlaps with other one on this address space"):
            check_overlap(N(subnet), in_use)

    def test_no_overlap(self):
        check_overlap(N("10.200.0.0/24"), [N("172.17.0.0/16"), N("10.200.1.0/24")])
        check_overlap("10.200.0.0/24", [])

    def test_other_family_never_overlaps(self):
        check_overlap(N("fd00::/64"), [N("0.0.0.0/0")])

    def test_ipv6_overlap(self):
        with raises(Conflict, "Pool overlaps with other one on this address space"):
            check_overlap(N("fd00::/64"), [N("fd00::/48")])


class TestDefaultGateway:
    def test_first_host(self):
        assert default_gateway(N("172.18.0.0/16")) == A("172.18.0.1")
        assert default_gateway("10.1.2.0/30") == A("10.1.2.1")
        assert default_gateway(N("fd00:1::/64")) == A("fd00:1::1")

    @pytest.mark.parametrize("subnet", ["10.1.2.0/31", "10.1.2.0/32", "fd00::/127", "fd00::/128"])
    def test_too_small(self, subnet):
        with raises(Conflict, "failed to allocate gateway (): No available addresses on this pool"):
            default_gateway(N(subnet))


class TestChoosePoolV6:
    def expected_base(self, host_id: str) -> IPv6Network:
        gid = int.from_bytes(hashlib.sha256(host_id.encode()).digest()[:8], "big")
        gid &= (1 << 40) - 1
        return IPv6Network(((0xFD << 120) | (gid << 80), 48))

    def test_ula_base_derivation(self):
        base = ula_base("host-1")
        assert base == self.expected_base("host-1")
        assert base.prefixlen == 48
        assert str(base).startswith("fd")
        assert base.subnet_of(N("fd00::/8"))

    def test_ula_base_per_host(self):
        assert ula_base("host-1") != ula_base("host-2")
        assert ula_base("host-1") == ula_base("host-1")

    def test_first_slash_64(self):
        got = choose_pool_v6([], "host-1")
        assert got == next(self.expected_base("host-1").subnets(new_prefix=64))
        assert got.prefixlen == 64

    def test_skips_in_use(self):
        base = ula_base("h")
        subs = base.subnets(new_prefix=64)
        first, second, third = next(subs), next(subs), next(subs)
        assert choose_pool_v6([first], "h") == second
        assert choose_pool_v6([second, first], "h") == third
        assert choose_pool_v6([second], "h") == first

    def test_skips_bigger_block(self):
        base = ula_base("h")
        block = next(base.subnets(new_prefix=56))  # /64 indices 0..255
        got = choose_pool_v6([block, N("10.0.0.0/8"), N("2001:db8::/32")], "h")
        assert int(got.network_address) - int(base.network_address) == 256 << 64

    def test_small_in_use_prefix_inside_a_slash_64(self):
        base = ula_base("h")
        inner = IPv6Network((int(base.network_address) + 5, 128))
        got = choose_pool_v6([inner], "h")
        assert int(got.network_address) - int(base.network_address) == 1 << 64

    def test_exhausted(self):
        base = ula_base("h")
        with raises(Conflict, "all predefined address pools have been fully subnetted"):
            choose_pool_v6([base], "h")
        with raises(Conflict, "all predefined address pools have been fully subnetted"):
            choose_pool_v6([N("fd00::/8")], "h")
        halves = list(base.subnets(new_prefix=49))
        with raises(Conflict, "all predefined address pools have been fully subnetted"):
            choose_pool_v6(halves, "h")


# ---------------------------------------------------------------------------
# SubnetAllocator
# ---------------------------------------------------------------------------


def take(alloc: SubnetAllocator, n: int) -> list[str]:
    return [str(alloc.allocate()) for _ in range(n)]


def roundtrip(alloc: SubnetAllocator) -> SubnetAllocator:
    return SubnetAllocator.from_doc(json.loads(json.dumps(alloc.to_doc())))


class TestSubnetAllocator:
    def test_lowest_first(self):
        a = SubnetAllocator("10.88.0.0/24")
        assert a.gateway == A("10.88.0.1")
        assert take(a, 3) == ["10.88.0.2", "10.88.0.3", "10.88.0.4"]
        assert isinstance(a.allocate(), IPv4Address)

    def test_freed_address_reused_at_once(self):
        a = SubnetAllocator("10.88.0.0/24")
        take(a, 5)  # .2 .. .6
        assert a.release("10.88.0.3") is True
        assert a.release(A("10.88.0.5")) is True
        assert take(a, 3) == ["10.88.0.3", "10.88.0.5", "10.88.0.7"]

    def test_release_idempotent(self):
        a = SubnetAllocator("10.88.0.0/24")
        a.allocate()
        assert a.release("10.88.0.2") is True
        assert a.release("10.88.0.2") is False
        assert a.release("10.88.0.77") is False  # never allocated
        assert a.release("10.88.0.1") is False  # gateway stays reserved
        assert a.release("10.88.0.0") is False
        assert a.release("10.88.0.255") is False
        assert a.release("10.99.0.5") is False  # foreign
        assert a.release("fd00::5") is False
        assert a.release("garbage") is False
        assert a.in_use_count() == 0
        assert take(a, 2) == ["10.88.0.2", "10.88.0.3"]

    def test_gateway_excluded(self):
        a = SubnetAllocator("10.88.0.0/29", gateway="10.88.0.3")
        assert take(a, 5) == ["10.88.0.1", "10.88.0.2", "10.88.0.4", "10.88.0.5", "10.88.0.6"]
        with raises(Conflict, "No available addresses on this pool"):
            a.allocate()

    def test_aux_excluded(self):
        a = SubnetAllocator("10.88.0.0/24", aux_addresses={"r1": "10.88.0.3", "r2": A("10.88.0.4")})
        assert take(a, 3) == ["10.88.0.2", "10.88.0.5", "10.88.0.6"]
        assert a.aux_addresses == {"r1": A("10.88.0.3"), "r2": A("10.88.0.4")}

    def test_broadcast_excluded_slash_29(self):
        a = SubnetAllocator("10.88.0.0/29")
        assert take(a, 5) == [f"10.88.0.{i}" for i in range(2, 7)]
        with raises(Conflict, "No available addresses on this pool"):
            a.allocate()
        assert a.in_use_count() == 5

    def test_slash_30(self):
        a = SubnetAllocator("10.88.0.0/30")
        assert take(a, 1) == ["10.88.0.2"]
        with raises(Conflict, "No available addresses on this pool"):
            a.allocate()
        a.release("10.88.0.2")
        assert take(a, 1) == ["10.88.0.2"]

    @pytest.mark.parametrize("subnet", ["10.88.0.0/31", "10.88.0.0/32", "fd00::/127"])
    def test_too_small(self, subnet):
        with raises(Conflict, "failed to allocate gateway (): No available addresses on this pool"):
            SubnetAllocator(subnet)

    def test_ip_range_honoured(self):
        a = SubnetAllocator("10.1.2.0/24", ip_range="10.1.2.128/25")
        assert a.gateway == A("10.1.2.1")
        got = take(a, 127)  # .128 .. .254, broadcast .255 excluded
        assert got[0] == "10.1.2.128" and got[-1] == "10.1.2.254"
        with raises(Conflict, "No available addresses on this pool"):
            a.allocate()
        # Static requests may still use the rest of the subnet.
        assert a.allocate("10.1.2.5") == A("10.1.2.5")
        with raises(Conflict, "Address already in use"):
            a.allocate("10.1.2.5")
        assert a.in_use_count() == 128
        assert a.release("10.1.2.5") and a.release("10.1.2.200")
        assert take(a, 1) == ["10.1.2.200"]

    def test_ip_range_at_subnet_start_skips_network_and_gateway(self):
        a = SubnetAllocator("10.1.2.0/24", ip_range="10.1.2.0/29")
        assert take(a, 6) == [f"10.1.2.{i}" for i in range(2, 8)]
        with raises(Conflict, "No available addresses on this pool"):
            a.allocate()

    def test_ip_range_holding_gateway_and_aux(self):
        a = SubnetAllocator(
            "10.1.0.0/16",
            gateway="10.1.5.1",
            ip_range="10.1.5.0/24",
            aux_addresses={"x": "10.1.5.2"},
        )
        assert take(a, 2) == ["10.1.5.0", "10.1.5.3"]

    def test_static_then_dynamic(self):
        a = SubnetAllocator("10.88.0.0/24")
        assert a.allocate("10.88.0.2") == A("10.88.0.2")
        assert a.allocate(A("10.88.0.4")) == A("10.88.0.4")
        assert take(a, 2) == ["10.88.0.3", "10.88.0.5"]
        assert a.is_allocated("10.88.0.4") and not a.is_allocated("10.88.0.6")
        assert not a.is_allocated("10.88.0.1")  # gateway: reserved, not allocated

    @pytest.mark.parametrize(
        "addr", ["10.88.0.10", "10.88.0.1", "10.88.0.0", "10.88.0.255", "10.88.0.20"]
    )
    def test_static_conflicts(self, addr):
        a = SubnetAllocator("10.88.0.0/24", aux_addresses={"r": "10.88.0.20"})
        a.allocate("10.88.0.10")
        with raises(Conflict, "Address already in use"):
            a.allocate(addr)

    @pytest.mark.parametrize("addr", ["10.99.0.5", "fd00::5"])
    def test_static_outside(self, addr):
        a = SubnetAllocator("10.88.0.0/24")
        with raises(
            InvalidArgument,
            f"Invalid address {addr}: It does not belong to any of this network's subnets",
        ):
            a.allocate(addr)

    def test_static_malformed(self):
        a = SubnetAllocator("10.88.0.0/24")
        with raises(InvalidArgument, "invalid IPv4 address: 10.88.0.300"):
            a.allocate("10.88.0.300")
        with raises(InvalidArgument, "invalid IPv6 address: fd00::zz"):
            a.allocate("fd00::zz")

    def test_empty_string_means_dynamic(self):
        assert SubnetAllocator("10.88.0.0/24").allocate("") == A("10.88.0.2")

    def test_constructor_validation(self):
        with raises(InvalidArgument, "no matching subnet for gateway 10.9.0.1"):
            SubnetAllocator("10.88.0.0/24", gateway="10.9.0.1")
        with raises(Conflict, "failed to allocate gateway (10.88.0.255): Address already in use"):
            SubnetAllocator("10.88.0.0/24", gateway="10.88.0.255")
        with raises(InvalidArgument, "invalid gateway address: x"):
            SubnetAllocator("10.88.0.0/24", gateway="x")
        with raises(InvalidArgument, "no matching subnet for range 10.9.0.0/24"):
            SubnetAllocator("10.88.0.0/24", ip_range="10.9.0.0/24")
        with raises(InvalidArgument, "no matching subnet for aux-address 10.9.0.1"):
            SubnetAllocator("10.88.0.0/24", aux_addresses={"a": "10.9.0.1"})
        with raises(InvalidArgument, "invalid aux-address: a=x (expected NAME=IP)"):
            SubnetAllocator("10.88.0.0/24", aux_addresses={"a": "x"})
        with raises(InvalidArgument, "Invalid subnet x : invalid CIDR address: x"):
            SubnetAllocator("x")

    def test_config_roundtrip(self):
        cfg = parse(["10.1.0.0/16"], ["10.1.2.0/24"], [], ["a=10.1.0.5"])[0]
        a = SubnetAllocator.from_config(cfg)
        assert a.to_config() == {
            "Subnet": "10.1.0.0/16",
            "IPRange": "10.1.2.0/24",
            "Gateway": "10.1.0.1",
            "AuxiliaryAddresses": {"a": "10.1.0.5"},
        }
        assert SubnetAllocator.from_config({"Subnet": "10.3.0.0/24"}).to_config() == {
            "Subnet": "10.3.0.0/24",
            "Gateway": "10.3.0.1",
        }

    # -- persistence --------------------------------------------------------

    def test_doc_roundtrip(self):
        a = SubnetAllocator(
            "10.1.0.0/16",
            gateway="10.1.0.254",
            ip_range="10.1.2.0/24",
            aux_addresses={"a": "10.1.2.9"},
        )
        # In a /16, the range's .0 is an ordinary host address; .9 is aux.
        assert take(a, 10) == [f"10.1.2.{i}" for i in (0, 1, 2, 3, 4, 5, 6, 7, 8, 10)]
        a.allocate("10.1.200.7")  # static, outside the range
        a.release("10.1.2.4")
        b = roundtrip(a)
        assert b.to_doc() == a.to_doc()
        assert b.subnet == a.subnet and b.gateway == a.gateway and b.ip_range == a.ip_range
        assert b.aux_addresses == a.aux_addresses
        assert b.in_use_count() == a.in_use_count() == 10
        assert b.is_allocated("10.1.200.7")
        assert take(b, 3) == take(a, 3) == ["10.1.2.4", "10.1.2.11", "10.1.2.12"]

    def test_doc_of_empty_allocator(self):
        a = SubnetAllocator("10.1.0.0/24")
        doc = a.to_doc()
        assert doc == {"subnet": "10.1.0.0/24", "gateway": "10.1.0.1", "bitmap": ""}
        assert take(roundtrip(a), 1) == ["10.1.0.2"]

    def test_doc_stores_a_bitmap_not_addresses(self):
        a = SubnetAllocator("10.1.0.0/16")
        take(a, 1000)
        doc = a.to_doc()
        text = json.dumps(doc)
        assert isinstance(doc["bitmap"], str)
        assert "10.1.0.2" not in text and "sparse" not in doc
        assert len(text) < 400  # 1000 bits ~ 126 bytes ~ 168 base64 chars

    def test_from_doc_rejects_damage(self):
        a = SubnetAllocator("10.1.0.0/24")
        take(a, 3)
        good = a.to_doc()
        for bad in (
            {**good, "bitmap": "!!not base64!!"},
            {**good, "bitmap": "AQ=="},  # bit 0 = network address (reserved)
            {**good, "bitmap": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"},  # past /24
            {**good, "sparse": ["10.9.0.1"]},
            {**good, "sparse": ["10.1.0.7"]},  # in-window addresses belong in the bitmap
            {k: v for k, v in good.items() if k != "subnet"},
        ):
            with pytest.raises(CnmError):
                SubnetAllocator.from_doc(bad)

    # -- scale and complexity -------------------------------------------------

    def test_fill_slash_16_with_60000(self):
        a = SubnetAllocator("10.0.0.0/16")
        last = None
        for _ in range(60000):
            last = a.allocate()
        assert last == A("10.0.234.97")  # offsets 2 .. 60001
        assert a.in_use_count() == 60000
        nxt = a.allocate()
        assert nxt == A("10.0.234.98")
        assert a.release(nxt) is True
        a.release("10.0.100.100")
        b = roundtrip(a)
        assert b.in_use_count() == 59999
        assert b.allocate() == A("10.0.100.100")
        assert b.allocate() == A("10.0.234.98")
        assert len(json.dumps(b.to_doc())) < 12000  # ~7.5 KB bitmap in base64

    def test_fill_whole_slash_16_then_exhausted(self):
        a = SubnetAllocator("10.0.0.0/16")
        for _ in range(65536 - 3):
            a.allocate()
        with raises(Conflict, "No available addresses on this pool"):
            a.allocate()
        a.release("10.0.128.0")
        assert a.allocate() == A("10.0.128.0")

    def test_allocate_does_not_iterate_over_used_addresses(self):
        """Count Python line events inside allocate(): the same at 1 and at
        60,000 addresses in use, i.e. no Python-level loop over the used set."""

        def traced_lines(alloc: SubnetAllocator, requested=None) -> int:
            count = 0
            target = ipam_allocator.__file__

            def tracer(frame, event, arg):
                nonlocal count
                if frame.f_code.co_filename != target:
                    return None
                if event == "line":
                    count += 1
                return tracer

            old = sys.gettrace()
            sys.settrace(tracer)
            try:
                alloc.allocate(requested)
            finally:
                sys.settrace(old)
            return count

        small = SubnetAllocator("10.0.0.0/16")
        small.allocate()
        big = SubnetAllocator("10.0.0.0/16")
        for _ in range(60000):
            big.allocate()
        # Free a hole deep inside so the search has to "skip" used addresses.
        big.release("10.0.200.10")
        small_dyn, big_dyn = traced_lines(small), traced_lines(big)
        assert small_dyn == big_dyn
        assert big_dyn < 30
        assert big.is_allocated("10.0.200.10")
        assert traced_lines(small, "10.0.255.1") == traced_lines(big, "10.0.255.1")

    # -- IPv6 ---------------------------------------------------------------

    def test_ipv6_slash_64(self):
        a = SubnetAllocator("fd00:1::/64")
        assert a.gateway == A("fd00:1::1")
        assert take(a, 3) == ["fd00:1::2", "fd00:1::3", "fd00:1::4"]
        assert isinstance(a.allocate(), IPv6Address)

    def test_ipv6_no_broadcast_exclusion(self):
        a = SubnetAllocator("fd00::/126")
        assert take(a, 2) == ["fd00::2", "fd00::3"]
        with raises(Conflict, "No available addresses on this pool"):
            a.allocate()

    def test_ipv6_static_far_away(self):
        a = SubnetAllocator("fd00:1::/64")
        far = "fd00:1::ffff:ffff:ffff:ffff"
        assert a.allocate(far) == A(far)
        assert a.allocate("fd00:1::dead:beef") == A("fd00:1::dead:beef")
        with raises(Conflict, "Address already in use"):
            a.allocate(far)
        assert a.in_use_count() == 2
        assert take(a, 1) == ["fd00:1::2"]
        b = roundtrip(a)
        assert b.to_doc()["sparse"] == ["fd00:1::dead:beef", far]
        assert b.in_use_count() == 3
        with raises(Conflict, "Address already in use"):
            b.allocate(far)
        assert b.release(far) is True and b.release(far) is False
        assert b.allocate(far) == A(far)
        assert len(json.dumps(b.to_doc())) < 200

    def test_ipv6_gateway_outside_window_is_reserved(self):
        gw = "fd00:1::ffff:0:0:1"
        a = SubnetAllocator("fd00:1::/64", gateway=gw)
        with raises(Conflict, "Address already in use"):
            a.allocate(gw)
        with raises(Conflict, "Address already in use"):
            a.allocate("fd00:1::")
        assert take(a, 2) == ["fd00:1::1", "fd00:1::2"]

    def test_ipv6_range_far_from_subnet_start(self):
        a = SubnetAllocator("fd00:1::/64", ip_range="fd00:1::abcd:0:0/96")
        assert take(a, 2) == ["fd00:1::abcd:0:0", "fd00:1::abcd:0:1"]
        assert roundtrip(a).allocate() == A("fd00:1::abcd:0:2")

    def test_dynamic_window_limit(self, monkeypatch):
        monkeypatch.setattr(ipam_allocator, "WINDOW_BITS", 16)
        a = SubnetAllocator("fd00:1::/64")
        got = take(a, 14)  # 16 window bits minus network address and gateway
        assert got[0] == "fd00:1::2" and got[-1] == "fd00:1::f"
        with raises(
            Conflict,
            "No available addresses on this pool "
            "(cnmctl hands out at most 16 dynamic addresses per subnet)",
        ):
            a.allocate()
        assert a.allocate("fd00:1::10") == A("fd00:1::10")  # static past the window
        assert roundtrip(a).in_use_count() == 15


# ---------------------------------------------------------------------------
# DefaultIpam (the Ipam protocol)
# ---------------------------------------------------------------------------


class TestDefaultIpam:
    def test_implements_protocol(self):
        assert isinstance(DefaultIpam(), Ipam)

    def test_default_pools_in_order(self):
        d = DefaultIpam()
        first = d.request_pool(PoolRequest())
        assert isinstance(first, AllocatedPool)
        assert first == AllocatedPool(
            "LocalDefault/172.17.0.0/16", N("172.17.0.0/16"), {GATEWAY_KEY: "172.17.0.1/16"}
        )
        second = d.request_pool(PoolRequest(exclude=[N("172.18.0.0/24")]))
        assert second.pool == N("172.19.0.0/16")

    def test_explicit_pool_overlap(self):
        d = DefaultIpam()
        d.request_pool(PoolRequest())
        with raises(Conflict, "Pool overlaps with other one on this address space"):
            d.request_pool(PoolRequest(pool="172.16.0.0/12"))
        # exclude does not restrict an explicit subnet
        got = d.request_pool(PoolRequest(pool="10.5.0.0/24", exclude=[N("10.0.0.0/8")]))
        assert got.pool == N("10.5.0.0/24")

    def test_explicit_pool_with_range_gateway_aux(self):
        d = DefaultIpam()
        got = d.request_pool(
            PoolRequest(
                pool="10.5.0.0/16",
                sub_pool="10.5.1.0/24",
                gateway="10.5.0.254",
                aux_addresses={"a": "10.5.1.0"},
            )
        )
        assert got.pool_id == "LocalDefault/10.5.0.0/16/10.5.1.0/24"
        assert got.data == {GATEWAY_KEY: "10.5.0.254/16"}
        assert str(d.request_address(got.pool_id)) == "10.5.1.1/16"
        assert str(d.request_address(got.pool_id, "10.5.9.9")) == "10.5.9.9/16"

    def test_bad_requests(self):
        d = DefaultIpam()
        with raises(InvalidArgument, "every ip-range or gateway must have a corresponding subnet"):
            d.request_pool(PoolRequest(sub_pool="10.5.1.0/24"))
        with raises(InvalidArgument, "invalid pool request: fd00::/64 is not an IPv4 subnet"):
            d.request_pool(PoolRequest(pool="fd00::/64"))
        with raises(InvalidArgument, "Invalid subnet foo : invalid CIDR address: foo"):
            d.request_pool(PoolRequest(pool="foo"))

    def test_v6_pools(self):
        d = DefaultIpam(host_id="my-host")
        first = d.request_pool(PoolRequest(v6=True))
        assert first.pool == choose_pool_v6([], "my-host")
        second = d.request_pool(PoolRequest(v6=True))
        assert second.pool == choose_pool_v6([first.pool], "my-host")
        assert str(d.request_address(first.pool_id)).endswith("::2/64")
        # IPv4 pools are unaffected by IPv6 ones
        assert d.request_pool(PoolRequest()).pool == N("172.17.0.0/16")

    def test_addresses_and_state(self):
        d = DefaultIpam()
        pid = d.request_pool(PoolRequest(pool="10.9.0.0/24")).pool_id
        assert [str(d.request_address(pid)) for _ in range(2)] == ["10.9.0.2/24", "10.9.0.3/24"]
        d.release_address(pid, "10.9.0.2")
        d.release_address(pid, "10.9.0.2")
        d.release_address("LocalDefault/nope", "10.9.0.2")
        e = DefaultIpam.from_doc(json.loads(json.dumps(d.to_doc())))
        assert str(e.request_address(pid)) == "10.9.0.2/24"
        assert str(e.request_address(pid)) == "10.9.0.4/24"
        with raises(NotFound, "pool LocalDefault/nope not found"):
            e.request_address("LocalDefault/nope")
        e.release_pool(pid)
        e.release_pool(pid)
        assert e.request_pool(PoolRequest(pool="10.9.0.0/24")).pool_id == pid


def test_package_reexports_lazily():
    import cnmctl.ipam as pkg

    assert pkg.SubnetAllocator is SubnetAllocator
    assert pkg.parse_ipam_config is parse_ipam_config
    assert pkg.Ipam is Ipam
    with pytest.raises(AttributeError):
        pkg.no_such_name  # noqa: B018
