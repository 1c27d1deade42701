"""The sandbox layer's interfaces: it alone applies a driver's JoinInfo to a sandbox.

Drivers say what to plug (drivers/api.py, JoinInfo); this module plugs it,
through netlink.py (linkkinds.py for macvlan and ipvlan children, foreignlinks.py
for a plugin's link), and takes it away again. The engine calls these and the
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
    elif join.kind == "move":
        from cnmctl import foreignlinks

        check_movable(join.host_ifname)
        foreignlinks.move_link_in(join.host_ifname, sandbox_key, ifname)
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
    netlink.configure_interface(sandbox_key, ifname, join.addresses, routes,
                                mac=join.mac if join.kind == "move" else "")


def check_movable(name: str) -> None:
    """Refuse to move host link `name` into a sandbox (a remote plugin names it, so
    it is hostile input) unless it is a spare link: there, not loopback, not made
    by cnmctl (its bridges and their ports), no port of a bridge, and carrying no
    address or route of the host (which would cut the host off: its main interface)."""
    from cnmctl import foreignlinks, netlink
    from cnmctl.drivers.bridge import check_ifname, owner_of

    check_ifname(name, "interface name")
    facts = foreignlinks.link_facts(name)
    why = ""
    if facts is None:
        why = "there is no such link on the host"
    elif facts["index"] == netlink.LOOPBACK_INDEX or facts["kind"] == "lo":
        why = "it is the host's loopback"
    elif owner_of(facts["alias"]) or facts["alias"].startswith("cnmctl"):
        why = "cnmctl made it"
    elif facts["master"]:
        why = f"it is a port of {facts['master']}"
    elif facts["addresses"]:
        why = f"the host uses it (address {facts['addresses'][0]})"
    elif any(not r.startswith("fe80:") for r in facts["routes"]):
        why = f"the host uses it (route {facts['routes'][0]})"
    if why:
        raise InvalidArgument(f"refusing to move link {name} into a container: {why}")


def unplug(sandbox_key: str, ifname: str, restore: str = "") -> None:
    """Remove an interface from the sandbox (a veth's host side goes with it), or,
    with `restore`, give it back to the host under that name (a remote plugin's
    link: the plugin deletes it); one already gone is not an error."""
    from cnmctl import netlink

    if restore:
        from cnmctl import foreignlinks

        foreignlinks.move_link_out(sandbox_key, ifname, restore)
    else:
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
