"""IP address management: the driver interface, its drivers, and the registry.

``cnmctl.ipam.api`` describes what an IPAM driver offers (``Ipam``);
``get_ipam`` returns the driver a network names: the built-in ``default``
(``cnmctl.ipam.default``, on ``allocator``, ``pools`` and ``config``), or a
Docker IPAM plugin (``cnmctl.ipam.remote``). Names are re-exported lazily so
importing the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnmctl.errors import InvalidArgument

if TYPE_CHECKING:
    from cnmctl.ipam.api import Ipam

_EXPORTS = {
    "Ipam": "api",
    "PoolRequest": "api",
    "AllocatedPool": "api",
    "DefaultIpam": "default",
    "RemoteIpam": "remote",
    "SubnetAllocator": "allocator",
    "default_gateway": "allocator",
    "parse_ipam_config": "config",
    "choose_pool": "pools",
    "choose_pool_v6": "pools",
    "check_overlap": "pools",
}

__all__ = sorted([*_EXPORTS, "get_ipam"])


def get_ipam(name: str) -> Ipam:
    """The IPAM driver `name`: a fresh built-in ``default`` (the engine gives it
    the pools it works on), else the plugin of that name, found and activated
    (NotFound: Docker's `plugin "NAME" not found`). Docker's ``null`` driver
    hands out no addresses, which every cnmctl driver that uses IPAM needs, so
    it is refused rather than half-supported."""
    if name == "default":
        from cnmctl.ipam.default import DefaultIpam

        return DefaultIpam()
    if name == "null":
        raise InvalidArgument('ipam driver "null" is not supported: it gives no addresses, '
                              "and every network driver that uses IPAM needs them")
    from cnmctl.ipam.remote import RemoteIpam
    from cnmctl.plugins import client

    ipam = RemoteIpam(client.get(name, "IpamDriver"))
    ipam.capabilities()  # asked at activation, as Docker registers a driver
    return ipam


def __getattr__(name: str) -> object:
    """Import the defining submodule on first use of a re-exported name."""
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
