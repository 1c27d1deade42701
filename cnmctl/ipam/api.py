"""The IPAM driver interface, after libnetwork's ``ipamapi.Ipam``.

An IPAM driver owns address pools (one per configured subnet of a network)
and hands out addresses from them.  The built-in driver is
:class:`cnmctl.ipam.default.DefaultIpam`; a remote IPAM plugin (Docker's
``/IpamDriver.*`` JSON-RPC calls) can implement the same four methods later,
so the engine never needs to know which one it talks to.

Kept free of heavy imports: only ``typing`` and ``collections.abc`` at run
time; ``ipaddress`` types appear in annotations only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ipaddress import (
        IPv4Address,
        IPv4Interface,
        IPv4Network,
        IPv6Address,
        IPv6Interface,
        IPv6Network,
    )

    IPNetwork = IPv4Network | IPv6Network
    IPAddress = IPv4Address | IPv6Address
    IPInterface = IPv4Interface | IPv6Interface

#: libnetwork's default local address space name; pool IDs start with it.
LOCAL_ADDRESS_SPACE = "LocalDefault"
#: Key of the gateway (CIDR form, e.g. ``"172.18.0.1/16"``) in a pool's data,
#: as libnetwork's ``netlabel.Gateway``: a remote plugin may return it too.
GATEWAY_KEY = "com.docker.network.gateway"


class PoolRequest(NamedTuple):
    """What the engine asks of ``request_pool`` (libnetwork's ``PoolRequest``).

    ``pool``/``sub_pool`` are the user's ``--subnet``/``--ip-range`` text
    (empty: let the driver choose).  ``gateway`` and ``aux_addresses`` are
    reserved with the pool; libnetwork requests them as addresses afterwards,
    but reserving them up front keeps the default driver's state in one place.
    ``exclude`` lists prefixes a driver-chosen pool must not overlap (host
    routes, resolvers); it does not restrict an explicit ``pool``.
    """

    pool: str = ""
    sub_pool: str = ""
    gateway: str = ""
    aux_addresses: Mapping[str, str] | None = None
    options: Mapping[str, str] | None = None
    exclude: Sequence[IPNetwork] = ()
    v6: bool = False


class AllocatedPool(NamedTuple):
    """The answer of ``request_pool``: the ID to quote later, the subnet, and
    driver data (``GATEWAY_KEY`` holds the gateway in CIDR form)."""

    pool_id: str
    pool: IPNetwork
    data: dict[str, str]


@runtime_checkable
class Ipam(Protocol):
    """What an IPAM driver offers (request/release pools and addresses)."""

    def request_pool(self, req: PoolRequest) -> AllocatedPool:
        """Reserve a subnet (the requested one, or one the driver picks).

        Raises Conflict when it overlaps an existing pool or none is free,
        InvalidArgument when the request is malformed.
        """
        ...

    def release_pool(self, pool_id: str) -> None:
        """Forget a pool and every address in it; unknown IDs are ignored."""
        ...

    def request_address(
        self,
        pool_id: str,
        preferred: str | IPAddress | None = None,
        options: Mapping[str, str] | None = None,
    ) -> IPInterface:
        """Hand out ``preferred`` (static) or the next free address (dynamic),
        with the pool's prefix length.  Raises NotFound for an unknown pool,
        InvalidArgument for an address outside the pool, Conflict when the
        address is taken or the pool is exhausted."""
        ...

    def release_address(self, pool_id: str, address: str | IPAddress) -> None:
        """Give an address back; releasing a free address is a no-op."""
        ...
