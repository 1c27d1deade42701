"""What the kernel really has, read through netlink (pyroute2), for assertions."""

from __future__ import annotations

import pytest
from pyroute2 import IPRoute


def require_link_kind(kind: str) -> None:
    """Skip, naming what the kernel lacks, unless it makes links of `kind` (tried
    by cnmctl's own probe, in a throwaway namespace): the one skip CI accepts."""
    from cnmctl import features

    why = features.probe((kind,))[kind]
    if why:
        pytest.skip(f"kernel has no {kind} links ({why})")


def link(name: str) -> dict | None:
    """A link's kind, MAC, MTU, state and addresses (CIDR), or None if absent."""
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return None
        msg = ipr.get_links(found[0])[0]
        info = msg.get("IFLA_LINKINFO")
        addrs = [f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}"
                 for a in ipr.get_addr(index=found[0])]
        return {
            "kind": info.get("IFLA_INFO_KIND") if info else None,
            "mac": msg.get("IFLA_ADDRESS"),
            "mtu": msg.get("IFLA_MTU"),
            "up": bool(msg["flags"] & 1),
            "addresses": addrs,
        }
