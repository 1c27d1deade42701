"""Docker's default address pools: the subnet a network gets without --subnet
(IPv4: the 31 predefined ones; IPv6: the host's ULA /48), and the overlap rule."""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network

from cnmctl.errors import Conflict
from cnmctl.ipam.allocator import MSG_POOL_OVERLAP, MSG_POOLS_EXHAUSTED, IPNetwork, as_network

# Docker's local default pools (ipamutils.localScopeDefaultNetworks), in order:
# (base, size of each network cut from it).
_LOCAL_POOLS = (
    ("172.17.0.0/16", 16),
    ("172.18.0.0/16", 16),
    ("172.19.0.0/16", 16),
    ("172.20.0.0/14", 16),
    ("172.24.0.0/14", 16),
    ("172.28.0.0/14", 16),
    ("192.168.0.0/16", 20),
)


def default_pool_candidates() -> list[IPv4Network]:
    """The 31 predefined IPv4 subnets, in the order Docker tries them."""
    out: list[IPv4Network] = []
    for base, size in _LOCAL_POOLS:
        out.extend(IPv4Network(base).subnets(new_prefix=size))
    return out


def choose_pool(in_use: Iterable[IPNetwork], reserved: Iterable[IPNetwork] = ()) -> IPv4Network:
    """Pick the subnet for a network created without ``--subnet``.

    ``in_use``: subnets of existing networks (172.17.0.0/16 included when the
    default bridge exists); ``reserved``: on-link host routes, host addresses
    and resolver addresses (addresses are taken as host prefixes).  Entries
    of the other family are ignored.  Returns the first of Docker's 31
    candidates overlapping none of them; raises Conflict when all are taken.
    """
    taken = [n for n in map(as_network, [*in_use, *reserved]) if n.version == 4]
    for cand in default_pool_candidates():
        if not any(cand.overlaps(n) for n in taken):
            return cand
    raise Conflict(MSG_POOLS_EXHAUSTED)


def ula_base(host_id: str) -> IPv6Network:
    """The per-host ULA /48 Docker derives from the host (engine) ID.

    ``fd`` + the low 40 bits of the first 8 bytes of SHA-256(host_id), as in
    moby's ``deriveULABaseNetwork``, so the prefix is stable for a host.
    """
    import hashlib  # lazily: only IPv6 networks without --subnet need it

    digest = hashlib.sha256(host_id.encode()).digest()
    global_id = int.from_bytes(digest[:8], "big") & ((1 << 40) - 1)
    return IPv6Network(((0xFD << 120) | (global_id << 80), 48))


def choose_pool_v6(in_use: Iterable[IPNetwork], host_id: str) -> IPv6Network:
    """Pick an IPv6 subnet for ``--ipv6`` without an IPv6 ``--subnet``.

    Returns the first /64 of the host's ULA /48 (:func:`ula_base`) that
    overlaps nothing in ``in_use`` (IPv4 entries are ignored); raises
    Conflict when all 65,536 are taken.
    """
    base = ula_base(host_id)
    start = int(base.network_address)
    # Work on intervals of /64 indices rather than probing 65,536 candidates.
    blocked: list[tuple[int, int]] = []
    for net in map(as_network, in_use):
        if net.version != 6 or not net.overlaps(base):
            continue
        if net.prefixlen <= base.prefixlen:
            raise Conflict(MSG_POOLS_EXHAUSTED)
        lo = (int(net.network_address) - start) >> 64
        hi = (int(net.broadcast_address) - start) >> 64
        blocked.append((lo, hi))
    cand = 0
    for lo, hi in sorted(blocked):
        if lo > cand:
            break
        cand = max(cand, hi + 1)
    if cand >= 1 << 16:
        raise Conflict(MSG_POOLS_EXHAUSTED)
    return IPv6Network((start + (cand << 64), 64))


def check_overlap(subnet: IPNetwork | str, in_use: Iterable[IPNetwork]) -> None:
    """Refuse an explicit ``--subnet`` overlapping an existing network's.

    Any overlap counts, in either direction (a /24 inside an existing /16 and
    a /12 around it alike).  Raises Conflict with Docker's text.
    """
    net = as_network(subnet)
    for other in map(as_network, in_use):
        if net.overlaps(other):
            raise Conflict(MSG_POOL_OVERLAP)
