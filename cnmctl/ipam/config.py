"""``network create``'s IPAM flags (--subnet, --ip-range, --gateway, --aux-address)
validated and turned into Docker's ``IPAM.Config`` shape."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from ipaddress import IPv4Network, IPv6Network

from cnmctl.errors import InvalidArgument
from cnmctl.ipam.allocator import (
    MSG_NEED_SUBNET,
    MSG_OVERLAPPING_SUBNETS,
    IPAddress,
    IPNetwork,
    SubnetAllocator,
    parse_ip,
    parse_range,
    parse_subnet,
)


def parse_ipam_config(
    subnets: Iterable[str],
    ip_ranges: Iterable[str],
    gateways: Iterable[str],
    aux_addresses: Iterable[str],
    enable_ipv6: bool = False,
) -> list[dict]:
    """Validate ``network create``'s IPAM flags and build ``IPAM.Config``.

    Returns one dict per subnet, in flag order, in Docker's inspect shape:
    ``{"Subnet", "IPRange", "Gateway", "AuxiliaryAddresses"}`` with a key
    present only when the user set it (the engine fills the default gateway
    with :func:`default_gateway`).  Values are in canonical text form.

    Raises InvalidArgument for malformed or mismatched flags and Conflict for
    addresses that cannot be reserved (gateway on the network or broadcast
    address, subnet too small, aux address clashing with the gateway).
    The one-IPv4-plus-one-IPv6-subnet rule of bridges is the driver's job.
    """
    subnet_texts = list(subnets or ())
    range_texts = list(ip_ranges or ())
    gateway_texts = list(gateways or ())
    aux_texts = list(aux_addresses or ())

    # Same order of checks as docker/cli's createIPAMConfig, then the daemon's.
    if len(range_texts) > len(subnet_texts) or len(gateway_texts) > len(subnet_texts):
        raise InvalidArgument(MSG_NEED_SUBNET)

    nets: list[IPNetwork] = []
    for text in subnet_texts:
        net = parse_subnet(text)
        if net.version == 6 and not enable_ipv6:
            raise InvalidArgument(f"IPv6 subnet {text} given without --ipv6")
        if any(net.overlaps(other) for other in nets):
            raise InvalidArgument(MSG_OVERLAPPING_SUBNETS)
        nets.append(net)

    # Per subnet: (raw text, value) so messages quote what the user typed.
    ranges = _one_per_subnet(nets, subnet_texts, range_texts, parse_range, "range", "ranges")
    gws = _one_per_subnet(nets, subnet_texts, gateway_texts, _parse_gateway, "gateway",
                          "gateways")
    auxes: list[dict[str, tuple[str, IPAddress]]] = [{} for _ in nets]

    for text in aux_texts:
        name, sep, ip_text = text.partition("=")
        try:
            if not sep or not name:
                raise ValueError(text)
            ip = parse_ip(ip_text)
        except ValueError:
            raise InvalidArgument(f"invalid aux-address: {text} (expected NAME=IP)") from None
        idx = _matching(nets, ip)
        if idx is None:
            raise InvalidArgument(f"no matching subnet for aux-address {ip_text}")
        for other in auxes:  # a repeated name replaces the earlier one, as in Docker
            other.pop(name, None)
        auxes[idx][name] = (ip_text, ip)

    configs: list[dict] = []
    for idx, net in enumerate(nets):
        cfg: dict = {"Subnet": str(net)}
        if ranges[idx] is not None:
            cfg["IPRange"] = str(ranges[idx][1])
        if gws[idx] is not None:
            cfg["Gateway"] = str(gws[idx][1])
        if auxes[idx]:
            cfg["AuxiliaryAddresses"] = {k: str(v[1]) for k, v in auxes[idx].items()}
        # The daemon-side checks (gateway/aux reservable, subnet big enough)
        # live in the allocator; building one runs exactly those checks.
        SubnetAllocator.from_config(cfg)
        configs.append(cfg)
    return configs


def _parse_gateway(text: str) -> IPAddress:
    try:
        return parse_ip(text)
    except ValueError:
        raise InvalidArgument(f"invalid gateway address: {text}") from None


def _one_per_subnet(nets: list[IPNetwork], subnet_texts: list[str], texts: list[str],
                    parse: Callable[[str], IPNetwork | IPAddress], what: str,
                    plural: str) -> list[tuple[str, object] | None]:
    """Place each --ip-range or --gateway value in its subnet, at most one per
    subnet, with docker/cli's messages."""
    placed: list[tuple[str, object] | None] = [None] * len(nets)
    for text in texts:
        value = parse(text)
        idx = _matching(nets, value)
        if idx is None:
            raise InvalidArgument(f"no matching subnet for {what} {text}")
        if placed[idx] is not None:
            raise InvalidArgument(
                f"cannot configure multiple {plural} ({text}, {placed[idx][0]}) "
                f"on the same subnet ({subnet_texts[idx]})"
            )
        placed[idx] = (text, value)
    return placed


def _matching(nets: list[IPNetwork], item: IPNetwork | IPAddress) -> int | None:
    """Index of the subnet holding ``item`` (same family only), or None."""
    for idx, net in enumerate(nets):
        if net.version != item.version:
            continue
        if isinstance(item, IPv4Network | IPv6Network):
            if item.subnet_of(net):
                return idx
        elif item in net:
            return idx
    return None
