"""The kernel features `info` reports, each found by a real attempt.

The attempts run in a throwaway network namespace: this thread unshares into
a new one, opens its netlink socket (and a libnftables context) there, and
returns to its own namespace at once; the new namespace, with whatever was
made in it, is freed when that socket closes. Nothing is mounted and nothing
touches the host's links or ruleset, so a kill at any instruction leaves
nothing behind.

- nftables: a table added and deleted through libnftables;
- macvlan, ipvlan: a link of that type on a veth made for it;
- vxlan: a VXLAN link (VNI 42, no remote).
"""

from __future__ import annotations

import contextlib
import os

LINK_KINDS = ("macvlan", "ipvlan", "vxlan")
FEATURES = ("nftables", *LINK_KINDS)


def probe() -> dict[str, str]:
    """Each of FEATURES -> "" if this kernel (and libnftables) has it, else why not."""
    from cnmctl import linux, netlink

    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        linux.unshare(linux.CLONE_NEWNET)
        try:
            found = {"nftables": _nftables()}
            rtnl = netlink.Rtnl()  # in the throwaway namespace, which it keeps alive
        finally:
            linux.setns(home, linux.CLONE_NEWNET)
    finally:
        os.close(home)
    try:
        found.update(_links(rtnl))
    finally:
        rtnl.close()
    return found


def _nftables() -> str:
    """"" if libnftables loads and the kernel takes a table (added, then deleted)."""
    import ctypes

    from cnmctl.firewall.apply import LIBRARY, NFT_MISSING

    try:
        ctypes.CDLL(LIBRARY)
    except OSError:
        return NFT_MISSING
    import nftables

    nft = nftables.Nftables(LIBRARY)
    for command in ("add table inet cnmctl_probe", "delete table inet cnmctl_probe"):
        code, _out, error = nft.cmd(command)
        if code != 0:
            return f"nftables: {(error.strip().splitlines() or ['failed'])[0]}"
    return ""


def _links(rtnl) -> dict[str, str]:
    """Each of LINK_KINDS -> "" if the kernel made such a link, else its refusal."""
    import pyroute2  # noqa: F401 - the whole package first: its ifinfmsg imports it back
    from pyroute2.netlink import NLM_F_CREATE, NLM_F_EXCL
    from pyroute2.netlink.rtnl import RTM_NEWLINK
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    from cnmctl.netlink import NetlinkFailure

    rtnl.link_add("probe0", "veth",
                  info_data=[("VETH_INFO_PEER", {"attrs": [("IFLA_IFNAME", "probe1")]})])
    parent = rtnl.index("probe0")
    settings = {"macvlan": [("IFLA_MACVLAN_MODE", 4)],  # bridge
                "ipvlan": [("IFLA_IPVLAN_MODE", 0)],  # l2
                "vxlan": [("IFLA_VXLAN_ID", 42)]}
    found = {}
    for kind in LINK_KINDS:
        msg = ifinfmsg()
        attrs = [("IFLA_IFNAME", f"probe-{kind}")]
        if kind != "vxlan":
            attrs.append(("IFLA_LINK", parent))
        attrs.append(("IFLA_LINKINFO", {"attrs": [
            ("IFLA_INFO_KIND", kind), ("IFLA_INFO_DATA", {"attrs": settings[kind]})]}))
        msg["attrs"] = attrs
        try:
            rtnl.request(msg, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)
        except NetlinkFailure as exc:
            found[kind] = f"the kernel refused a link of type {kind}: {os.strerror(exc.code)}"
            continue
        found[kind] = ""
        index = rtnl.index(f"probe-{kind}")
        if index is not None:  # deleted, as it would be with the namespace anyway
            with contextlib.suppress(NetlinkFailure):
                rtnl.link_del(index)
    with contextlib.suppress(NetlinkFailure):
        rtnl.link_del(parent)
    return found
