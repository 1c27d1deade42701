"""The ipvlan driver: each container an ipvlan child of a parent link, sharing
the parent's MAC (libnetwork's drivers/ipvlan). What it shares with macvlan
(the parent, its checks, the links made for it) is in parentlink.py.

Options: `-o parent=IFACE` (or IFACE.VLAN), `-o ipvlan_mode=l2|l3|l3s` (l2 by
default), `-o ipvlan_flag=bridge|private|vepa` (bridge by default). In l2 mode
the containers' default route is via the network's gateway; in l3 and l3s the
parent routes, so the default route goes straight out of the interface (no
gateway), as Docker's ipvlan joins do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnmctl.drivers.parentlink import ParentLinkDriver
from cnmctl.errors import InvalidArgument

if TYPE_CHECKING:
    from cnmctl.model import Endpoint, Network

FLAG_OPTION = "ipvlan_flag"
FLAGS = ("bridge", "private", "vepa")


class IpvlanDriver(ParentLinkDriver):
    """ipvlan networks."""

    name = "ipvlan"
    mode_option = "ipvlan_mode"
    modes = ("l2", "l3", "l3s")
    mode_default_text = "'l2' mode is the ipvlan driver default"

    def known_options(self) -> tuple[str, ...]:
        """parent, ipvlan_mode and ipvlan_flag."""
        return (*super().known_options(), FLAG_OPTION)

    def more_data(self, opts: dict[str, str]) -> dict:
        """The flag, checked with Docker's message."""
        return {"flag": self._choice(opts, FLAG_OPTION, FLAGS,
                                     "'bridge' is the ipvlan driver default", "flag")}

    def create_endpoint(self, net: Network, ep: Endpoint, mac: str = "") -> None:
        """Children share the parent's MAC: a MAC asked for is Docker's error. In l3
        and l3s no gateway: the default route is the interface itself."""
        if mac:
            raise InvalidArgument("ipvlan interfaces do not support custom mac address "
                                  "assignment")
        super().create_endpoint(net, ep)
        ep.mac = ""
        if net.driver_data["mode"] != "l2":
            ep.gateway = ep.ipv6_gateway = ""

    def routes(self, net: Network, ep: Endpoint) -> list[tuple[str, str]]:
        """l3/l3s, not internal: default routes straight out of the interface, for
        each address family the endpoint has (Docker's ifaceGateway)."""
        if net.driver_data["mode"] == "l2" or net.driver_data["internal"]:
            return []
        return [(dst, "") for dst, cidr in (("0.0.0.0/0", ep.ipv4), ("::/0", ep.ipv6))
                if cidr]

DRIVER = IpvlanDriver()
