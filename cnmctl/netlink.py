"""The only module that talks netlink (through pyroute2).

Imported lazily by the commands that change the kernel: `import pyroute2`
costs about 0.17 s, more than a whole `cnmctl network ls`. NetlinkError
codes are translated into cnmctl errors here, in one place.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
from collections.abc import Iterator

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from cnmctl.errors import Conflict, KernelError, NotFound
from cnmctl.linux import in_netns

RT_SCOPE_LINK = 253
RT_TABLE_MAIN = 254
IFA_F_NODAD = 0x02  # no duplicate address detection: IPv6 usable at once


@contextlib.contextmanager
def _route(step: str, netns: str | None = None) -> Iterator[IPRoute]:
    """An rtnetlink socket (in `netns` if given); errors name the failed step."""
    try:
        ipr = IPRoute(netns=netns) if netns else IPRoute()
    except (OSError, NetlinkError) as exc:
        raise KernelError(f"{step}: cannot open netlink socket: {exc}") from exc
    try:
        yield ipr
    except NetlinkError as exc:
        raise _translate(step, exc) from exc
    finally:
        ipr.close()


def _translate(step: str, exc: NetlinkError) -> Exception:
    message = f"{step}: {exc.args[1] if len(exc.args) > 1 else exc}"
    if exc.code == errno.EEXIST:
        return Conflict(message)
    if exc.code == errno.ENODEV:
        return NotFound(message)
    return KernelError(message)


def _index(ipr: IPRoute, ifname: str) -> int | None:
    found = ipr.link_lookup(ifname=ifname)
    return found[0] if found else None


def create_bridge(name: str, mac: str, mtu: int, addresses: list[str]) -> None:
    """Create a bridge with a fixed MAC and MTU, add `addresses` (CIDR), set it up.

    The MAC is set at creation so the bridge never adopts a port's MAC (which
    would change whenever a container leaves and break neighbours' ARP caches).
    On failure the half-made bridge is removed.
    """
    with _route(f"create bridge {name}") as ipr:
        ipr.link("add", ifname=name, kind="bridge", address=mac, mtu=mtu)
        try:
            index = _index(ipr, name)
            for cidr in addresses:
                iface = ipaddress.ip_interface(cidr)
                extra = {}
                if iface.version == 4:
                    extra["broadcast"] = str(iface.network.broadcast_address)
                ipr.addr("add", index=index, address=str(iface.ip),
                         prefixlen=iface.network.prefixlen, **extra)
            ipr.link("set", index=index, state="up")
        except BaseException:
            with contextlib.suppress(NetlinkError):
                ipr.link("del", ifname=name)
            raise


def delete_link(name: str) -> None:
    """Delete a link by name; a link that is already gone is not an error."""
    with _route(f"delete link {name}") as ipr:
        index = _index(ipr, name)
        if index is None:
            return
        try:
            ipr.link("del", index=index)
        except NetlinkError as exc:
            if exc.code != errno.ENODEV:
                raise


def link_exists(name: str) -> bool:
    """True if a link of that name exists in this namespace."""
    with _route(f"look up link {name}") as ipr:
        return _index(ipr, name) is not None


def host_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Subnets the host already uses: its interface addresses and on-link routes.

    Default pools overlapping these are skipped, as Docker does
    (InferReservedNetworks), so a new network never shadows a host route.
    """
    found: list = []
    with _route("read host addresses and routes") as ipr:
        for msg in ipr.get_addr():
            address = msg.get("IFA_ADDRESS")
            if address:
                found.append(ipaddress.ip_interface(f"{address}/{msg['prefixlen']}").network)
        for msg in ipr.get_routes(table=RT_TABLE_MAIN):
            dst = msg.get("RTA_DST")
            if dst and msg["dst_len"] > 0:
                found.append(ipaddress.ip_network(f"{dst}/{msg['dst_len']}", strict=False))
    return [n for n in found if not n.is_loopback and not n.is_link_local]


def _add_addresses(ipr: IPRoute, index: int, addresses: list[str]) -> None:
    for cidr in addresses:
        iface = ipaddress.ip_interface(cidr)
        extra: dict = {}
        if iface.version == 4:
            extra["broadcast"] = str(iface.network.broadcast_address)
        else:
            extra["flags"] = IFA_F_NODAD
        ipr.addr("add", index=index, address=str(iface.ip),
                 prefixlen=iface.network.prefixlen, **extra)


def plug_veth(host_ifname: str, bridge: str, sandbox_key: str, ifname: str, mac: str,
              mtu: int) -> None:
    """Create a veth pair whose peer is born inside the sandbox as `ifname`.

    Making the peer directly in the namespace (IFLA_NET_NS_FD) costs about
    1 ms; creating it on the host and moving it costs about 22 ms. The host
    side is enslaved to `bridge` and brought up.
    """
    with _route(f"create veth {host_ifname} for {ifname}") as ipr:
        master = _index(ipr, bridge)
        if master is None:
            raise NotFound(f"create veth {host_ifname}: bridge {bridge} does not exist")
        ns_fd = os.open(sandbox_key, os.O_RDONLY | os.O_CLOEXEC)
        try:
            ipr.link("add", ifname=host_ifname, kind="veth", mtu=mtu,
                     peer={"ifname": ifname, "net_ns_fd": ns_fd, "address": mac, "mtu": mtu})
        finally:
            os.close(ns_fd)
        try:
            ipr.link("set", index=_index(ipr, host_ifname), master=master, state="up")
        except BaseException:
            with contextlib.suppress(NetlinkError):
                ipr.link("del", ifname=host_ifname)
            raise


def configure_interface(sandbox_key: str, ifname: str, addresses: list[str],
                        routes: list[tuple[str, str]]) -> None:
    """Inside the sandbox: give `ifname` its addresses, bring it up and add
    `routes` as (destination CIDR, gateway) pairs."""
    with in_netns(sandbox_key), _route(f"configure {ifname} in {sandbox_key}") as ipr:
        index = _index(ipr, ifname)
        if index is None:
            raise NotFound(f"configure {ifname}: no such interface in the sandbox")
        _add_addresses(ipr, index, addresses)
        ipr.link("set", index=index, state="up")
        for dst, gateway in routes:
            ipr.route("add", dst=dst, gateway=gateway, oif=index)


def loopback_up(sandbox_key: str) -> None:
    """Bring up `lo` in a new sandbox."""
    with in_netns(sandbox_key), _route(f"bring up lo in {sandbox_key}") as ipr:
        ipr.link("set", index=_index(ipr, "lo"), state="up")


def add_default_route(sandbox_key: str, ifname: str, gateway: str) -> None:
    """Route the sandbox's default traffic via `gateway` on `ifname`."""
    dst = "::/0" if ":" in gateway else "0.0.0.0/0"
    with in_netns(sandbox_key), _route(f"add default route in {sandbox_key}") as ipr:
        ipr.route("add", dst=dst, gateway=gateway, oif=_index(ipr, ifname))


def remove_interface(sandbox_key: str, ifname: str) -> None:
    """Delete an interface inside the sandbox (a veth's peer goes with it)."""
    with in_netns(sandbox_key), _route(f"delete {ifname} in {sandbox_key}") as ipr:
        index = _index(ipr, ifname)
        if index is not None:
            ipr.link("del", index=index)


def default_routes(sandbox_key: str) -> list[tuple[str, str]]:
    """The sandbox's default routes as (interface name, gateway)."""
    with in_netns(sandbox_key), _route(f"read routes in {sandbox_key}") as ipr:
        names = {msg["index"]: msg.get("IFLA_IFNAME") for msg in ipr.get_links()}
        found = []
        for family in (socket.AF_INET, socket.AF_INET6):
            for msg in ipr.get_routes(family=family, table=RT_TABLE_MAIN):
                if msg["dst_len"] == 0 and msg.get("RTA_GATEWAY"):
                    found.append((names.get(msg.get("RTA_OIF")), msg.get("RTA_GATEWAY")))
        return found
