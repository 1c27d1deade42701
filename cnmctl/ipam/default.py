"""cnmctl's built-in IPAM driver behind the Ipam protocol (libnetwork's "default").

Its state is plain data the engine keeps in the store, inside each command's
transaction (derived data: rebuildable from the networks and their endpoints).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from cnmctl.errors import InvalidArgument, NotFound
from cnmctl.ipam.allocator import (
    MSG_NEED_SUBNET,
    IPAddress,
    SubnetAllocator,
    parse_subnet,
)
from cnmctl.ipam.api import (
    GATEWAY_KEY,
    LOCAL_ADDRESS_SPACE,
    REQUEST_ADDRESS_TYPE,
    AllocatedPool,
    Capabilities,
    PoolRequest,
)
from cnmctl.ipam.pools import check_overlap, choose_pool, choose_pool_v6


class DefaultIpam:
    """The built-in IPAM driver (implements :class:`cnmctl.ipam.api.Ipam`).

    Holds the pools it was given or made, keyed by pool ID
    (``LocalDefault/<subnet>[/<ip-range>]`` as libnetwork writes them); an
    explicit subnet is checked against them. The gateway and aux addresses of a
    request are reserved with its pool, and handed out once to the
    ``request_address`` calls that follow (the engine makes them in Docker's
    order, whichever driver it talks to); afterwards they stay reserved.
    """

    name = "default"
    external = False  # the engine keeps the state in its store (to_doc/from_doc)

    def __init__(
        self, pools: Mapping[str, SubnetAllocator] | None = None, *, host_id: str = ""
    ) -> None:
        """``pools``: existing allocators by pool ID; ``host_id`` seeds the
        per-host IPv6 ULA prefix."""
        self.pools: dict[str, SubnetAllocator] = dict(pools or {})
        self.host_id = host_id
        self._claimable: dict[str, set[IPAddress]] = {}

    def capabilities(self) -> Capabilities:
        """Docker's default IPAM asks for replay (its state is rebuilt from the
        store); cnmctl's is derived from the store the same way."""
        return Capabilities(requires_mac=False, requires_replay=True)

    def default_address_spaces(self) -> tuple[str, str]:
        """libnetwork's names."""
        return LOCAL_ADDRESS_SPACE, "GlobalDefault"

    def request_pool(self, req: PoolRequest) -> AllocatedPool:
        """Reserve the requested subnet (or pick a default one) with its
        range, gateway and aux addresses; see :class:`PoolRequest`."""
        version = 6 if req.v6 else 4
        same_family = [a.subnet for a in self.pools.values() if a.subnet.version == version]
        if req.pool:
            net = parse_subnet(req.pool)
            if net.version != version:
                raise InvalidArgument(
                    f"invalid pool request: {req.pool} is not an IPv{version} subnet"
                )
            check_overlap(net, same_family)
        elif req.sub_pool:
            raise InvalidArgument(MSG_NEED_SUBNET)
        elif req.v6:
            net = choose_pool_v6([*same_family, *req.exclude], self.host_id)
        else:
            net = choose_pool(same_family, req.exclude)
        alloc = SubnetAllocator(
            net,
            gateway=req.gateway or None,
            ip_range=req.sub_pool or None,
            aux_addresses=req.aux_addresses,
        )
        pool_id = default_pool_id(net, alloc.ip_range)
        self.pools[pool_id] = alloc
        self._claimable[pool_id] = {*alloc.aux_addresses.values()}
        if req.gateway:
            self._claimable[pool_id].add(alloc.gateway)
        return AllocatedPool(pool_id, net, {GATEWAY_KEY: f"{alloc.gateway}/{net.prefixlen}"})

    def release_pool(self, pool_id: str) -> None:
        """Forget a pool; unknown IDs are ignored."""
        self.pools.pop(pool_id, None)
        self._claimable.pop(pool_id, None)

    def request_address(
        self,
        pool_id: str,
        preferred: str | IPAddress | None = None,
        options: Mapping[str, str] | None = None,
    ) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
        """Allocate from a pool; returns the address with the pool's prefix."""
        alloc = self._pool(pool_id)
        claimable = self._claimable.get(pool_id, set())
        wanted = _as_address(preferred)
        if wanted is not None and wanted in claimable:
            claimable.discard(wanted)  # reserved with the pool: this is its request
            addr = wanted
        elif not preferred and options and options.get(REQUEST_ADDRESS_TYPE) == GATEWAY_KEY:
            addr = alloc.gateway  # reserved with the pool (the first host, or --gateway)
        else:
            addr = alloc.allocate(preferred)
        return ipaddress.ip_interface((addr, alloc.subnet.prefixlen))

    def release_address(self, pool_id: str, address: str | IPAddress) -> None:
        """Free an address; unknown pools and free addresses are ignored."""
        alloc = self.pools.get(pool_id)
        if alloc is not None:
            alloc.release(address)

    def to_doc(self) -> dict:
        """JSON-serialisable state: ``{pool_id: SubnetAllocator doc}``."""
        return {pid: alloc.to_doc() for pid, alloc in self.pools.items()}

    @classmethod
    def from_doc(cls, doc: Mapping, *, host_id: str = "") -> DefaultIpam:
        """Rebuild the driver from :meth:`to_doc`'s output."""
        pools = {pid: SubnetAllocator.from_doc(d) for pid, d in doc.items()}
        return cls(pools, host_id=host_id)

    def _pool(self, pool_id: str) -> SubnetAllocator:
        try:
            return self.pools[pool_id]
        except KeyError:
            raise NotFound(f"pool {pool_id} not found") from None


def default_pool_id(subnet: object, ip_range: object = None) -> str:
    """The ID the default driver gives a pool (libnetwork's form):
    ``LocalDefault/<subnet>[/<ip-range>]``."""
    return f"{LOCAL_ADDRESS_SPACE}/{subnet}" + (f"/{ip_range}" if ip_range else "")


def _as_address(value: str | IPAddress | None) -> IPAddress | None:
    """An address argument as an object; None when empty or not an address (the
    allocator then reports the malformed text with Docker's message)."""
    if not value:
        return None
    if not isinstance(value, str):
        return value
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None
