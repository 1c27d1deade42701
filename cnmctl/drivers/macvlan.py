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

from cnmctl.drivers.parentlink import ParentLinkDriver


class MacvlanDriver(ParentLinkDriver):
    """macvlan networks."""

    name = "macvlan"
    mode_option = "macvlan_mode"
    modes = ("bridge", "vepa", "private", "passthru")
    mode_default_text = "'bridge' mode is the macvlan driver default"


DRIVER = MacvlanDriver()
