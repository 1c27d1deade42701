"""The kernel features `info` reports, each found by a real attempt.

The attempts run in a throwaway network namespace: this thread unshares into
a new one, opens its netlink socket (and a libnftables context) there, and
returns to its own namespace at once; the new namespace, with whatever was
made in it, is freed when that socket closes. Nothing is mounted and nothing
touches the host's links or ruleset, so a kill at any instruction leaves
nothing behind.

- nftables: a table added and deleted through libnftables;
- macvlan, ipvlan, vlan (802.1Q, the 8021q module): a link of that type on a
  veth made for it;
- vxlan: a VXLAN link (VNI 42, no remote); dummy: a dummy link.
"""

from __future__ import annotations

import os

LINK_KINDS = ("macvlan", "ipvlan", "vxlan", "dummy", "vlan")
FEATURES = ("nftables", *LINK_KINDS)
# Each kind's settings for the probe link (linkkinds.py's attribute names).
_SETTINGS = {"macvlan": [("IFLA_MACVLAN_MODE", 4)],  # bridge
             "ipvlan": [("IFLA_IPVLAN_MODE", 0)],  # l2
             "vxlan": [("IFLA_VXLAN_ID", 42)],
             "vlan": [("IFLA_VLAN_ID", 42)],
             "dummy": []}


def probe(kinds: tuple[str, ...] = FEATURES) -> dict[str, str]:
    """Each of `kinds` (FEATURES by default) -> "" if this kernel (and libnftables)
    has it, else why not."""
    from cnmctl import linux, netlink

    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        linux.unshare(linux.CLONE_NEWNET)
        try:
            found = {"nftables": _nftables()} if "nftables" in kinds else {}
            rtnl = netlink.Rtnl()  # in the throwaway namespace, which it keeps alive
        finally:
            linux.setns(home, linux.CLONE_NEWNET)
    finally:
        os.close(home)
    try:
        found.update(_links(rtnl, [kind for kind in kinds if kind in LINK_KINDS]))
    finally:
        rtnl.close()
    return found


def lacks(kind: str) -> str:
    """"" if the kernel makes links of `kind`, else a line naming what it lacks."""
    from cnmctl.linkkinds import Unsupported

    return str(Unsupported(kind)) if probe((kind,))[kind] else ""


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


def _links(rtnl, kinds: list[str]) -> dict[str, str]:
    """Each of `kinds` -> "" if the kernel made such a link, else its refusal. The
    links are left to die with the throwaway namespace."""
    from cnmctl.linkkinds import link_add
    from cnmctl.netlink import NetlinkFailure

    if not kinds:
        return {}
    rtnl.link_add("probe0", "veth",
                  info_data=[("VETH_INFO_PEER", {"attrs": [("IFLA_IFNAME", "probe1")]})])
    parent = rtnl.index("probe0")
    found = {}
    for kind in kinds:
        on = 0 if kind in ("vxlan", "dummy") else parent
        try:
            link_add(rtnl, f"probe-{kind}", kind, on, _SETTINGS[kind])
        except NetlinkFailure as exc:
            found[kind] = f"the kernel refused a link of type {kind}: {os.strerror(exc.code)}"
            continue
        found[kind] = ""
    return found
