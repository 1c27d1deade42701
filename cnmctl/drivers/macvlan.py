"""The macvlan driver: each container a macvlan child of a parent link, with its
own MAC on the parent's LAN (libnetwork's drivers/macvlan). What it shares
with ipvlan (the parent, its checks, the links made for it) is in
parentlink.py.

Options: `-o parent=IFACE` (or IFACE.VLAN), `-o macvlan_mode=bridge|vepa|
private|passthru` (bridge by default). A child cannot reach its own parent's
addresses on the host (the kernel hands the parent's frames from a child
straight to the LAN): a container reaches other machines and other children.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnmctl.drivers.parentlink import ParentLinkDriver
from cnmctl.errors import InvalidArgument

if TYPE_CHECKING:
    from cnmctl.model import Endpoint, Network


class MacvlanDriver(ParentLinkDriver):
    """macvlan networks."""

    name = "macvlan"
    mode_option = "macvlan_mode"
    modes = ("bridge", "vepa", "private", "passthru")
    mode_default_text = "'bridge' mode is the macvlan driver default"

    def create_endpoint(self, net: Network, ep: Endpoint, mac: str = "") -> None:
        """As parentlink's, but in passthru mode the one child takes its parent's MAC
        (the kernel ignores another), so none is recorded and none can be asked."""
        if net.driver_data["mode"] != "passthru":
            super().create_endpoint(net, ep, mac)
            return
        if mac:
            raise InvalidArgument("a macvlan network in passthru mode gives its container "
                                  "the parent's MAC address: --mac-address cannot be used")
        super().create_endpoint(net, ep)
        ep.mac = ""


DRIVER = MacvlanDriver()
