"""The only module that talks netlink (through pyroute2).

Imported lazily by the commands that change the kernel: `import pyroute2`
costs about 0.17 s, more than a whole `cnmctl network ls`. NetlinkError
codes are translated into cnmctl errors here, in one place.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
from collections.abc import Iterator

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from cnmctl.errors import Conflict, KernelError, NotFound

RT_SCOPE_LINK = 253
RT_TABLE_MAIN = 254


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
