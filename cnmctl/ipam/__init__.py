"""IP address management: the driver interface and cnmctl's default IPAM.

``cnmctl.ipam.api`` describes what an IPAM driver offers (``Ipam``);
``cnmctl.ipam.default`` holds the built-in one: ``network create`` flag
validation, Docker's default pools and the per-subnet address allocator.
Names are re-exported lazily so importing the package stays cheap.
"""

_EXPORTS = {
    "Ipam": "api",
    "PoolRequest": "api",
    "AllocatedPool": "api",
    "DefaultIpam": "default",
    "SubnetAllocator": "default",
    "parse_ipam_config": "default",
    "choose_pool": "default",
    "choose_pool_v6": "default",
    "check_overlap": "default",
    "default_gateway": "default",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    """Import the defining submodule on first use of a re-exported name."""
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
