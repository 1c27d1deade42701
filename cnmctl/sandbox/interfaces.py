"""The sandbox layer's interfaces: it alone applies a driver's JoinInfo to a sandbox.

Drivers say what to plug (drivers/api.py, JoinInfo); this module plugs it,
through netlink.py (linkkinds.py for macvlan and ipvlan children), and takes
it away again. The engine calls these and the
namespace functions in netns.py, never netlink itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnmctl.errors import InvalidArgument

if TYPE_CHECKING:
    from cnmctl.drivers.api import JoinInfo


def plug(sandbox_key: str, ifname: str, join: JoinInfo, default_route: bool) -> None:
    """Plug the interface `join` describes into the sandbox as `ifname`, with its
    addresses, its static routes, and the default routes via its gateways when
    `default_route` (and the driver did not disable the gateway service). Raises
    NotFound when the driver's master link (a bridge) or parent link is missing."""
    from cnmctl import netlink

    if join.kind == "veth":
        netlink.plug_veth(join.host_ifname, join.master, sandbox_key, ifname, join.mac,
                          join.mtu, isolated=join.isolated)
    elif join.kind in ("macvlan", "ipvlan"):
        from cnmctl import linkkinds

        linkkinds.plug_child(join.kind, join.parent, sandbox_key, ifname, join.mac, join.mode,
                           join.flag)
    else:
        raise InvalidArgument(f"the sandbox layer cannot plug a {join.kind!r} interface")
    # A sandbox has one default route per family, of the endpoint the engine chose
    # (`default_route`): a driver's static default routes (ipvlan l3) follow it.
    routes = [(dst, hop) for dst, hop in join.static_routes
              if default_route or dst not in ("0.0.0.0/0", "::/0")]
    if default_route and not join.disable_gateway_service:
        if join.gateway:
            routes.append(("0.0.0.0/0", join.gateway))
        if join.gateway6:
            routes.append(("::/0", join.gateway6))
    netlink.configure_interface(sandbox_key, ifname, join.addresses, routes)


def unplug(sandbox_key: str, ifname: str) -> None:
    """Remove an interface from the sandbox (a veth's host side goes with it);
    one already gone is not an error."""
    from cnmctl import netlink

    netlink.remove_interface(sandbox_key, ifname)


def default_routes(sandbox_key: str) -> list[tuple[str, str]]:
    """The sandbox's default routes as (interface name, gateway)."""
    from cnmctl import netlink

    return netlink.default_routes(sandbox_key)


def route_default_via(sandbox_key: str, ifname: str, gateway: str) -> None:
    """A default route via `gateway` on `ifname`, unless the sandbox has one."""
    from cnmctl import netlink

    if not netlink.default_routes(sandbox_key):
        netlink.add_default_route(sandbox_key, ifname, gateway)


def host_links() -> list[tuple[str, str, str, str]]:
    """(name, kind, master, alias) of every link on the host (for repair)."""
    from cnmctl import netlink

    return netlink.host_links()


def delete_host_link(name: str) -> None:
    """Delete a link on the host (a leftover veth or bridge); gone is not an error."""
    from cnmctl import netlink

    netlink.delete_link(name)


def host_networks() -> list:
    """Subnets the host's own interfaces and routes use (IPAM keeps its pools off them)."""
    from cnmctl import netlink

    return netlink.host_networks()
