"""What the macvlan and ipvlan drivers share: a parent link on the host, each
endpoint a child of it born in its sandbox.

Docker's rules (libnetwork's drivers/macvlan and drivers/ipvlan):
- `-o parent=IFACE` names the host's link the children hang off. Without it,
  a dummy link `dm-<12 of the network ID>` is made as the parent and the
  network is internal (its containers reach only each other), where the
  kernel has dummy links.
- A parent `IFACE.VLAN` that does not exist is made as the 802.1Q
  sub-interface of IFACE with VLAN ID VLAN; like the dummy, it is deleted with
  the network. A parent that exists is used as it is and never deleted.
- Two networks of one driver cannot share a parent (Docker 20.10; a different
  VLAN sub-interface of one link is a different parent).
- No NAT and no published ports: the containers sit on the parent's LAN, with
  the network's gateway (a router on that LAN) as their default route.

The links cnmctl makes carry its bridges' alias (OWNER_ALIAS + network ID), so
a repair deletes leftovers and never a link it did not make. A parent is made
under a name only cnmctl uses (`mk-<12 of the network ID>`) and takes its own
with the mark: an unmarked link of the parent's name is never cnmctl's to
delete. A child lives only in its sandbox: nothing of an endpoint is on the
host.
"""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING

from cnmctl.drivers.api import Capabilities, Driver, JoinInfo
from cnmctl.drivers.bridge import OWNER_ALIAS, check_ifname, mac_from_ip, owner_of, random_mac
from cnmctl.errors import Conflict, InvalidArgument, KernelError, NotFound

if TYPE_CHECKING:
    from cnmctl.model import Endpoint, Network

PARENT = "parent"
DUMMY_PREFIX = "dm-"  # Docker's name for a dummy parent: dm- + 12 of the network ID
MAKING_PREFIX = "mk-"  # a parent cnmctl is making, until renamed and marked (linkkinds.py)
_VLAN_ID = re.compile(r"[+-]?[0-9]+")  # what Go's strconv.Atoi takes


def dummy_name(network_id: str) -> str:
    """The dummy parent link of a network made without -o parent."""
    return DUMMY_PREFIX + network_id[:12]


def making_name(network_id: str) -> str:
    """The name a network's parent is made under, before it is marked as cnmctl's and
    takes its own: only cnmctl makes links of that name."""
    return MAKING_PREFIX + network_id[:12]


def parse_vlan(name: str) -> tuple[str, int]:
    """(link, VLAN ID) of a sub-interface name `IFACE.VLAN` that is to be made, with
    Docker's messages (drivers/macvlan/macvlan_setup.go) for what is wrong."""
    from cnmctl import netlink

    if "." not in name:
        # Docker's words for a parent that does not exist and is no IFACE.VLAN.
        raise NotFound(f"invalid subinterface vlan name {name}, example formatting is eth0.10")
    parts = name.split(".")
    if len(parts) != 2:
        raise InvalidArgument("required interface name format is: name.vlan_id, ex. eth0.10 "
                              f"for vlan 10, instead received {name}")
    base, vid_text = parts
    if not _VLAN_ID.fullmatch(vid_text):
        raise InvalidArgument(
            f"unable to parse a valid vlan id from: {vid_text} (ex. eth0.10 for vlan 10)")
    if not base or not netlink.link_exists(base):
        raise NotFound(f"-o parent interface was not found on the host: {base}")
    vid = int(vid_text)
    if not 1 <= vid <= 4094:
        raise InvalidArgument(f"vlan id must be between 1-4094, received: {vid}")
    return base, vid


def _refuse_own_link(parent: str, link: str, networks: list[Network]) -> None:
    """Refuse a parent (or the link of a VLAN parent to make) that cnmctl made: a
    bridge, a container's veth on one, another network's dummy or VLAN parent (it
    goes with its network or container, and the children with it); or any bridge's
    port (the kernel makes no child of it)."""
    from cnmctl import netlink

    links = {name: (master, alias) for name, _kind, master, alias in netlink.host_links()}
    if link not in links:
        return
    master, alias = links[link]
    owner, made = owner_of(alias), "a link"
    if not owner:  # a port of a bridge cnmctl made: a container's veth, say
        owner, made = owner_of(links.get(master, ("", ""))[1]), f"a port of {master}, a bridge"
    what = "it" if link == parent else link
    if not owner and master:  # the kernel would refuse each child (EBUSY) at run
        raise InvalidArgument(f"invalid parent interface {parent}: {what} is a port of "
                              f"{master}, and a bridge's port cannot be a parent")
    if not owner:
        return
    names = {net.id: net.name for net in networks}
    raise InvalidArgument(f"invalid parent interface {parent}: {what} is {made} cnmctl made "
                          f"for network {names.get(owner, owner[:12])}, not a host interface")


class ParentLinkDriver(Driver):
    """A driver whose endpoints are children (macvlan, ipvlan) of a parent link.

    Subclasses name their mode option and modes; `driver_data` holds `parent`,
    `make` ("dummy" or "vlan" when cnmctl makes the parent, else ""), `base` and
    `vlan_id` of a VLAN parent, `internal` (no default route), `mode`, `flag`.
    """

    unplug_first = True  # a lingering child holds its MAC on the parent
    #: -o key of the mode, and the modes (the first is the default)
    mode_option = ""
    modes: tuple[str, ...] = ()
    #: Docker's words after "requested <kind> mode 'X' is not valid, "
    mode_default_text = ""

    def capabilities(self) -> Capabilities:
        """Local scope, addresses from IPAM, no external connectivity: no NAT, no
        published ports (Docker logs a warning for -p and publishes nothing)."""
        return Capabilities(scope="local", needs_ipam=True, external_connectivity=False)

    def known_options(self) -> tuple[str, ...]:
        """The -o keys this driver takes."""
        return (PARENT, self.mode_option)

    def validate(self, net: Network, existing: list[Network] = ()) -> None:
        """Options, then the parent (hostile input: a name the kernel would take, an
        existing link or an IFACE.VLAN to make, not another network's), then the
        kernel: it must make links of this driver's kind (tried in a throwaway
        namespace). Docker's messages, in Docker's order."""
        from cnmctl import features, netlink

        opts = net.options
        unknown = sorted(k for k in opts if k not in self.known_options())
        if unknown:
            raise InvalidArgument(f"unknown {self.name} driver option {unknown[0]!r}")
        data = {"mode": self._choice(opts, self.mode_option, self.modes,
                                     self.mode_default_text)}
        data.update(self.more_data(opts))
        parent = opts.get(PARENT, "")
        if parent == "lo":
            raise InvalidArgument(f"loopback interface is not a valid {self.name} parent link")
        if parent:
            check_ifname(parent, "parent interface")
        data["parent"] = parent or dummy_name(net.id)
        for other in existing:
            if other.driver == self.name and other.driver_data.get("parent") == data["parent"]:
                raise Conflict(f"network {dummy_name(other.id)} is already using parent "
                               f"interface {data['parent']}")
        data["internal"] = net.internal or not parent
        data["make"], data["base"], data["vlan_id"] = "", "", 0
        if not parent:
            data["make"] = "dummy"
        elif not netlink.link_exists(parent):
            data["make"] = "vlan"
            data["base"], data["vlan_id"] = parse_vlan(parent)
        if parent:
            _refuse_own_link(parent, data["base"] or parent, existing)
        lacking = features.lacks(self.name)
        if lacking:
            raise KernelError(f"cannot create {self.name} network {net.name}: {lacking}")
        net.driver_data = data

    def more_data(self, opts: dict[str, str]) -> dict:
        """Driver data from options beyond parent and mode (ipvlan's flag)."""
        return {}

    def _choice(self, opts: dict[str, str], key: str, allowed: tuple[str, ...],
                default_text: str, what: str = "mode") -> str:
        value = opts.get(key, "") or allowed[0]
        if value not in allowed:
            raise InvalidArgument(f"requested {self.name} {what} '{value}' is not valid, "
                                  f"{default_text}")
        return value

    def create_network(self, net: Network) -> None:
        """Make the parent when it is cnmctl's to make (a dummy link, a VLAN
        sub-interface), under its making name, then renamed and marked as this
        network's; else nothing. A making link a kill left (of a restore) goes first."""
        from cnmctl import linkkinds

        data = net.driver_data
        if not data["make"]:
            return
        self._delete_made(net, making_only=True)
        try:
            linkkinds.create_parent_link(data["parent"], data["make"], data["base"],
                                         data["vlan_id"], alias=OWNER_ALIAS + net.id,
                                         temp=making_name(net.id))
        except linkkinds.Unsupported as exc:
            if data["make"] == "dummy":
                raise KernelError(f"a {self.name} network without -o parent needs a dummy "
                                  f"link as its parent: {exc}") from None
            raise KernelError(f"cannot create the VLAN sub-interface {data['parent']} "
                              f"(-o parent): {exc}") from None

    def restore_network(self, net: Network) -> None:
        """Re-make a missing parent that cnmctl made (after a reboot); a parent it
        cannot make (the VLAN's link is gone, the kernel lacks the kind) is left
        missing, and a container's start then says so in Docker's words."""
        from cnmctl import netlink

        if net.driver_data["make"] and not netlink.link_exists(net.driver_data["parent"]):
            # See above: the start that needs it reports it.
            with contextlib.suppress(NotFound, KernelError):
                self.create_network(net)

    def delete_network(self, net: Network) -> None:
        """Delete the parent if cnmctl made it for this network: a link of that name
        and kind marked as this network's, or one under its making name (killed
        before the mark or the rename). An unmarked link of the parent's name is
        someone else's (a VLAN sub-interface the host's own configuration made
        again after a reboot): never touched, nor is a parent the user gave."""
        if net.driver_data.get("make"):
            self._delete_made(net)

    @staticmethod
    def _delete_made(net: Network, making_only: bool = False) -> None:
        from cnmctl import netlink

        data, ours = net.driver_data, OWNER_ALIAS + net.id
        for link, kind, _master, alias in netlink.host_links():
            if kind != data["make"]:
                continue
            if (link == making_name(net.id) and alias in ("", ours)) or (
                    not making_only and link == data["parent"] and alias == ours):
                netlink.delete_link(link)

    def create_endpoint(self, net: Network, ep: Endpoint, mac: str = "") -> None:
        """No host-side link. The MAC: the one asked for, else Docker's 02:42 + the
        IPv4 address, else a random local one. No gateway on an internal network:
        nothing routes through it (Docker sets none, so inspect shows "")."""
        ep.host_ifname = ""
        ep.mac = mac or (mac_from_ip(ep.ipv4.split("/")[0]) if ep.ipv4 else random_mac())
        if net.driver_data["internal"]:
            ep.gateway = ep.ipv6_gateway = ""

    def join(self, net: Network, ep: Endpoint, sandbox_key: str) -> JoinInfo:
        """A child of the parent, born in the sandbox, with the default routes via
        the network's gateways (none on an internal network)."""
        data = net.driver_data
        return JoinInfo(self.name, parent=data["parent"], mode=data["mode"],
                        flag=data.get("flag", ""), mac=ep.mac,
                        addresses=[a for a in (ep.ipv4, ep.ipv6) if a],
                        gateway=ep.gateway, gateway6=ep.ipv6_gateway,
                        static_routes=self.routes(net, ep),
                        disable_gateway_service=data["internal"])

    def routes(self, net: Network, ep: Endpoint) -> list[tuple[str, str]]:
        """Static routes of the endpoint's interface (ipvlan l3's default routes)."""
        return []
