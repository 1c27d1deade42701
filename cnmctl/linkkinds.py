"""Links of the kinds macvlan and ipvlan networks use, over netlink.py's socket:
the children (macvlan, ipvlan) born in a sandbox on a host link, and the
parents cnmctl makes for them (dummy, 802.1Q VLAN). netlink.py keeps the
socket, the veths, bridges, addresses and routes; this module adds the
message layouts of these kinds, on the same pyroute2 bases, and the calls the
drivers (drivers/parentlink.py), the sandbox layer and features.py make.

A kernel without a kind answers EOPNOTSUPP (`ip link add` prints "Unknown
device type"): that becomes Unsupported, naming what the kernel lacks.
"""

from __future__ import annotations

import errno
import os

from cnmctl.errors import KernelError, NotFound
from cnmctl.netlink import (
    _IFINFOMSG,
    IFF_UP,
    NLM_F_CREATE,
    NLM_F_EXCL,
    RTM_NEWLINK,
    NetlinkFailure,
    Rtnl,
    _remove_half_made,
    _require,
    _rtnl,
    _translate,
    ifinfmsg,
    nla,
    nlmsg,
)


def _with_info_data(data_map: tuple) -> type:
    """An ifinfomsg for creating a link whose kind's IFLA_INFO_DATA holds `data_map`
    (the attribute numbers overlap between kinds, so each kind has its own class)."""

    class kindmsg(nlmsg):  # noqa: N801 - pyroute2's naming for message classes
        prefix = "IFLA_"
        fields = _IFINFOMSG
        nla_map = ((1, "IFLA_ADDRESS", "l2addr"), (3, "IFLA_IFNAME", "asciiz"),
                   (5, "IFLA_LINK", "uint32"), (18, "IFLA_LINKINFO", "linkinfo"),
                   (28, "IFLA_NET_NS_FD", "uint32"))

        class linkinfo(nla):  # noqa: N801
            prefix = "IFLA_INFO_"
            nla_map = ((1, "IFLA_INFO_KIND", "asciiz"), (2, "IFLA_INFO_DATA", "kind_data"))

            class kind_data(nla):  # noqa: N801 - `data` is taken: nla's own buffer
                nla_map = data_map

    return kindmsg


# Each kind's settings (linux/if_link.h); a dummy link has none.
_KIND_MSG = {
    "macvlan": _with_info_data(((1, "IFLA_MACVLAN_MODE", "uint32"),)),
    "ipvlan": _with_info_data(((1, "IFLA_IPVLAN_MODE", "uint16"),
                               (2, "IFLA_IPVLAN_FLAGS", "uint16"))),
    "vlan": _with_info_data(((1, "IFLA_VLAN_ID", "uint16"),)),
    "vxlan": _with_info_data(((1, "IFLA_VXLAN_ID", "uint32"),)),
    "dummy": _with_info_data(()),
}
MACVLAN_MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8}
IPVLAN_MODES = {"l2": 0, "l3": 1, "l3s": 2}
IPVLAN_FLAGS = {"bridge": 0, "private": 1, "vepa": 2}
#: what each kind is called in a message
KIND_NAMES = {"dummy": "dummy links", "vlan": "802.1Q VLAN links (8021q)",
              "macvlan": "macvlan links", "ipvlan": "ipvlan links", "vxlan": "VXLAN links"}


class Unsupported(KernelError):
    """The kernel makes no links of a kind (the driver is neither built in nor a
    module)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"the kernel has no {KIND_NAMES.get(kind, kind + ' links')}")


def link_add(rtnl: Rtnl, ifname: str, kind: str, parent: int = 0, data: list = (), *,
             mac: str = "", ns_fd: int = -1) -> None:
    """RTM_NEWLINK: a link of `kind` on link `parent` (its index; 0: none) with the
    kind's settings `data` ((attribute, value) pairs), born in the namespace open
    at `ns_fd` if given (its parent stays in the socket's). NetlinkFailure as the
    kernel answered."""
    msg = _KIND_MSG[kind]()
    attrs = [("IFLA_IFNAME", ifname)]
    if mac:
        attrs.append(("IFLA_ADDRESS", mac))
    if parent:
        attrs.append(("IFLA_LINK", parent))
    if ns_fd >= 0:
        attrs.append(("IFLA_NET_NS_FD", ns_fd))
    linkinfo = [("IFLA_INFO_KIND", kind)]
    if data:
        linkinfo.append(("IFLA_INFO_DATA", {"attrs": list(data)}))
    attrs.append(("IFLA_LINKINFO", {"attrs": linkinfo}))
    msg["attrs"] = attrs
    rtnl.request(msg, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)


def _add(rtnl: Rtnl, step: str, ifname: str, kind: str, parent: int, data: list, *,
         mac: str = "", ns_fd: int = -1) -> None:
    """link_add, a kernel without the kind raising Unsupported, any other refusal
    translated as netlink.py translates them. EOPNOTSUPP is also what a kernel
    with the kind says of a parent that takes no such link (an 802.1Q VLAN on
    `lo`): the kind is then tried on its own, as features.py tries it."""
    try:
        link_add(rtnl, ifname, kind, parent, data, mac=mac, ns_fd=ns_fd)
    except NetlinkFailure as exc:
        if exc.code == errno.EOPNOTSUPP:
            from cnmctl import features

            if features.probe((kind,))[kind]:
                raise Unsupported(kind) from None
        raise _translate(step, exc) from exc


def create_parent_link(name: str, kind: str, base: str = "", vlan_id: int = 0,
                       alias: str = "", temp: str = "") -> None:
    """Create a parent link for macvlan/ipvlan children: a dummy link, or (kind
    "vlan") the 802.1Q sub-interface `name` of `base` with `vlan_id`, marked
    with `alias` (IFLA_IFALIAS, which the kernel takes only once the link
    exists) and up. With `temp`, the link is made under that name and takes
    `name`, its mark and the up state in one message (the kernel renames a
    link only while it is down, then sets the flags): a kill leaves either the
    unmarked `temp` or the finished link, and a link called `name` without the
    mark is never one cnmctl made. On failure the half-made link is removed; a
    `name` taken meanwhile is Conflict."""
    step = f"create {kind} link {name}"
    with _rtnl(step) as rtnl:
        parent = _require(rtnl, base, step) if base else 0
        data = [("IFLA_VLAN_ID", vlan_id)] if kind == "vlan" else []
        made = temp or name
        _add(rtnl, step, made, kind, parent, data)
        index = None
        try:
            index = _require(rtnl, made, step)
            _finish(rtnl, index, name, alias)
        except BaseException as exc:
            _remove_half_made(rtnl, index, exc)
            raise


def _finish(rtnl: Rtnl, index: int, name: str, alias: str) -> None:
    """RTM_NEWLINK on a new (down) link: its name (a rename if it has another), its
    alias, and up; the kernel applies them in that order."""
    msg = ifinfmsg()
    msg["index"] = index
    msg["change"] = msg["flags"] = IFF_UP
    msg["attrs"] = [("IFLA_IFNAME", name)] + ([("IFLA_IFALIAS", alias)] if alias else [])
    rtnl.request(msg, RTM_NEWLINK)


def plug_child(kind: str, parent: str, sandbox_key: str, ifname: str, mac: str = "",
               mode: str = "", flag: str = "") -> None:
    """Create a macvlan or ipvlan child of the host's link `parent`, born inside
    the sandbox as `ifname` (IFLA_NET_NS_FD: never on the host, so it dies with
    the namespace), with `mac` (macvlan) and its `mode` (and ipvlan's `flag`).
    NotFound, in Docker's words, when the parent is missing."""
    step = f"create {kind} {ifname} on {parent}"
    if kind == "macvlan":
        data = [("IFLA_MACVLAN_MODE", MACVLAN_MODES[mode or "bridge"])]
    else:
        data = [("IFLA_IPVLAN_MODE", IPVLAN_MODES[mode or "l2"]),
                ("IFLA_IPVLAN_FLAGS", IPVLAN_FLAGS[flag or "bridge"])]
    with _rtnl(step) as rtnl:
        index = rtnl.index(parent)
        if index is None:
            raise NotFound(
                f"the requested parent interface {parent} was not found on the Docker host")
        ns_fd = os.open(sandbox_key, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _add(rtnl, step, ifname, kind, index, data, mac=mac, ns_fd=ns_fd)
        finally:
            os.close(ns_fd)
