"""Links someone else made on the host (a remote network plugin's SrcName), over
netlink.py's socket: what the sandbox layer checks before taking one, moving it
into a sandbox under the engine's name, and giving it back to the host under its
own when the endpoint leaves (as Docker's sandbox layer does with a plugin's link).
"""

from __future__ import annotations

import os
import socket

from cnmctl.netlink import RT_SCOPE_UNIVERSE, RT_TABLE_MAIN, _require, _rtnl


def link_facts(name: str) -> dict | None:
    """What the sandbox layer checks before moving a host link it did not make:
    {"index", "kind", "master" (name), "alias", "addresses" (universe scope, CIDR),
    "routes" (main-table destinations through it)}; None if there is no such link."""
    with _rtnl(f"look up link {name}") as rtnl:
        links = rtnl.links()
        names = {msg["index"]: msg.get_attr("IFLA_IFNAME") for msg in links}
        found = [msg for msg in links if msg.get_attr("IFLA_IFNAME") == name]
        if not found:
            return None
        link = found[0]
        index = link["index"]
        info = link.get_attr("IFLA_LINKINFO")
        addresses = [f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}"
                     for msg in rtnl.addresses()
                     if msg["index"] == index and msg["scope"] == RT_SCOPE_UNIVERSE]
        routes = []
        for family in (socket.AF_INET, socket.AF_INET6):
            for msg in rtnl.routes(family):
                if msg.get_attr("RTA_OIF") == index and msg["table"] == RT_TABLE_MAIN:
                    routes.append(f"{msg.get_attr('RTA_DST') or 'default'}/{msg['dst_len']}")
    return {"index": index, "kind": (info.get_attr("IFLA_INFO_KIND") if info else None) or "",
            "master": names.get(link.get_attr("IFLA_MASTER"), ""),
            "alias": link.get_attr("IFLA_IFALIAS") or "", "addresses": addresses,
            "routes": routes}


def move_link_in(host_name: str, sandbox_key: str, ifname: str) -> None:
    """Move the host link `host_name` into the sandbox, renamed `ifname` on arrival
    (one message: it never shows up in the sandbox under another name)."""
    step = f"move {host_name} into {sandbox_key} as {ifname}"
    with _rtnl(step) as rtnl:
        index = _require(rtnl, host_name, step)
        ns_fd = os.open(sandbox_key, os.O_RDONLY | os.O_CLOEXEC)
        try:
            rtnl.link_set(index, netns_fd=ns_fd, ifname=ifname)
        finally:
            os.close(ns_fd)


def move_link_out(sandbox_key: str, ifname: str, host_name: str) -> None:
    """Move `ifname` out of the sandbox to this namespace, down and renamed
    `host_name` (as Docker gives a plugin's link back); gone is not an error."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with _rtnl(f"move {ifname} out of {sandbox_key} as {host_name}", sandbox_key) as rtnl:
            index = rtnl.index(ifname)
            if index is not None:
                rtnl.link_set(index, up=False)
                rtnl.link_set(index, netns_fd=home, ifname=host_name)
    finally:
        os.close(home)
