"""The IPAM driver interface, after libnetwork's ``ipamapi.Ipam``: the engine's
only way to pools and addresses, whichever driver a network names.

Two implementations: :class:`cnmctl.ipam.default.DefaultIpam` (built in, its
state in cnmctl's store) and :class:`cnmctl.ipam.remote.RemoteIpam` (a Docker
IPAM plugin, its state in the plugin). The engine calls them in Docker's order:
``network create`` = ``default_address_spaces`` -> ``request_pool`` per subnet ->
``request_address`` for the gateway (``GATEWAY_OPTIONS``, unless the pool's data
names one and the user gave none) -> ``request_address`` per aux address; an
endpoint = ``request_address`` per family (``endpoint_options``); teardown
releases in reverse.

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

#: libnetwork's default local address space name; the default driver's pool IDs
#: start with it.
LOCAL_ADDRESS_SPACE = "LocalDefault"
#: Key of the gateway (CIDR form, e.g. ``"172.18.0.1/16"``) in a pool's data,
#: as libnetwork's ``netlabel.Gateway``: a remote plugin may return it too.
GATEWAY_KEY = "com.docker.network.gateway"
#: ipamapi.RequestAddressType: what an address request is for.
REQUEST_ADDRESS_TYPE = "RequestAddressType"
#: The options of the gateway's address request (libnetwork's gatewayOpts).
GATEWAY_OPTIONS = {REQUEST_ADDRESS_TYPE: GATEWAY_KEY}
#: netlabel.EndpointName and netlabel.MacAddress: an endpoint's request options.
ENDPOINT_NAME_KEY = "com.docker.network.endpoint.name"
MAC_ADDRESS_KEY = "com.docker.network.endpoint.macaddress"


def endpoint_options(name: str, mac: str = "") -> dict[str, str]:
    """An endpoint's ``request_address`` options, as Docker sends them: its name,
    and its MAC when the driver's capabilities say it requires one."""
    options = {ENDPOINT_NAME_KEY: name}
    if mac:
        options[MAC_ADDRESS_KEY] = mac
    return options


class Capabilities(NamedTuple):
    """ipamapi.Capability: ``requires_mac``: the endpoint's MAC is chosen before
    its address and passed in the request's options (RequiresMACAddress)."""

    requires_mac: bool = False
    requires_replay: bool = False


class PoolRequest(NamedTuple):
    """What the engine asks of ``request_pool`` (libnetwork's ``PoolRequest``).

    ``pool``/``sub_pool`` are the user's ``--subnet``/``--ip-range`` text
    (empty: let the driver choose); ``options`` the ``--ipam-opt`` pairs.
    ``gateway`` and ``aux_addresses`` (the user's, if any) are requested as
    addresses afterwards, as libnetwork does; the default driver also reserves
    them with the pool, which keeps its state in one place. ``exclude`` lists
    prefixes a driver-chosen pool must not overlap (host routes, resolvers,
    other networks); it does not restrict an explicit ``pool``.
    """

    pool: str = ""
    sub_pool: str = ""
    gateway: str = ""
    aux_addresses: Mapping[str, str] | None = None
    options: Mapping[str, str] | None = None
    exclude: Sequence[IPNetwork] = ()
    v6: bool = False
    address_space: str = LOCAL_ADDRESS_SPACE


class AllocatedPool(NamedTuple):
    """The answer of ``request_pool``: the ID to quote later, the subnet, and
    driver data (``GATEWAY_KEY`` holds the gateway in CIDR form)."""

    pool_id: str
    pool: IPNetwork
    data: dict[str, str]


@runtime_checkable
class Ipam(Protocol):
    """What an IPAM driver offers (request/release pools and addresses).

    ``external`` says where its state lives: False for the default driver (in
    cnmctl's store, inside the command's transaction), True for a plugin (every
    request it accepted must be undone by a recorded step if the command fails).
    """

    name: str
    external: bool

    def capabilities(self) -> Capabilities:
        """What the driver needs of the engine; asked once per command."""
        ...

    def default_address_spaces(self) -> tuple[str, str]:
        """(local, global) address space names; ``network create`` asks first."""
        ...

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
