"""The bridge driver: one Linux bridge per network, veth endpoints on it.

Setup is a pipeline of named steps (validate options -> create bridge with a
fixed MAC and MTU -> gateway addresses -> up), so an error names its step.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from cnmctl.drivers.api import Capabilities, Driver, JoinInfo
from cnmctl.errors import Conflict, InvalidArgument

if TYPE_CHECKING:
    from cnmctl.model import Endpoint, Network

# Option keys, as Docker spells them (libnetwork drivers/bridge/labels.go).
BRIDGE_NAME = "com.docker.network.bridge.name"
ENABLE_IP_MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade"
ENABLE_ICC = "com.docker.network.bridge.enable_icc"
HOST_BINDING_IPV4 = "com.docker.network.bridge.host_binding_ipv4"
DEFAULT_BRIDGE = "com.docker.network.bridge.default_bridge"
INHIBIT_IPV4 = "com.docker.network.bridge.inhibit_ipv4"
MTU = "com.docker.network.driver.mtu"
IFACE_PREFIX = "com.docker.network.container_iface_prefix"

KNOWN_OPTIONS = (
    BRIDGE_NAME, ENABLE_IP_MASQUERADE, ENABLE_ICC, HOST_BINDING_IPV4,
    DEFAULT_BRIDGE, INHIBIT_IPV4, MTU, IFACE_PREFIX,
)

#: IFLA_IFALIAS of the bridges cnmctl makes, followed by the network ID
OWNER_ALIAS = "cnmctl network "


def owner_of(alias: str) -> str:
    """The network ID a bridge's alias names as its owner; "" if cnmctl did not make it."""
    return alias[len(OWNER_ALIAS):] if alias.startswith(OWNER_ALIAS) else ""
IFNAMSIZ = 15  # the kernel's interface name limit, without the NUL
_IFNAME = re.compile(r"[A-Za-z0-9_.-]+")
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def parse_bool(key: str, value: str) -> bool:
    """Go's strconv.ParseBool, as Docker parses boolean driver options."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidArgument(f'invalid value "{value}" for option {key}: expected true or false')


def check_ifname(name: str, what: str) -> None:
    """Refuse names the kernel would reject as interface names."""
    if len(name) > IFNAMSIZ:
        raise InvalidArgument(
            f"{what} {name!r} is too long: interface names have at most {IFNAMSIZ} characters"
        )
    if not _IFNAME.fullmatch(name):
        raise InvalidArgument(
            f"invalid {what} {name!r}: only letters, digits, '_', '.' and '-' are allowed"
        )


def random_bridge_mac() -> str:
    """A fixed locally administered MAC for a new bridge (02:42 + 4 random bytes)."""
    return "02:42:" + ":".join(f"{b:02x}" for b in os.urandom(4))


class BridgeDriver(Driver):
    """Linux bridge networks (the default driver)."""

    name = "bridge"

    def capabilities(self) -> Capabilities:
        """Local scope, addresses from IPAM; external connectivity (NAT, published
        ports) through cnmctl's firewall (firewall/)."""
        return Capabilities(scope="local", needs_ipam=True, external_connectivity=True)

    def validate(self, net: Network, existing: list[Network] = ()) -> None:
        """Parse `-o` options into typed driver data; check subnets and bridge name."""
        opts = net.options
        unknown = sorted(k for k in opts if k not in KNOWN_OPTIONS)
        if unknown:
            raise InvalidArgument(f"unknown bridge driver option {unknown[0]!r}")
        if DEFAULT_BRIDGE in opts and not net.is_default_bridge:
            raise InvalidArgument(f"option {DEFAULT_BRIDGE} is reserved for the default network")
        data = {key.rsplit(".", 1)[1]: parse_bool(key, opts.get(key, default))
                for key, default in ((ENABLE_IP_MASQUERADE, "true"), (ENABLE_ICC, "true"),
                                     (INHIBIT_IPV4, "false"))}
        bridge = opts.get(BRIDGE_NAME) or f"br-{net.id[:12]}"
        check_ifname(bridge, "bridge name")
        for other in existing:
            if other.driver == "bridge" and other.driver_data.get("bridge") == bridge:
                raise Conflict(f"bridge name {bridge} is already used by network {other.name}")
        data["bridge"] = bridge
        data["mtu"] = self._mtu(opts.get(MTU, "1500"))
        data["host_binding_ipv4"] = self._host_binding(opts.get(HOST_BINDING_IPV4, "0.0.0.0"))
        prefix = opts.get(IFACE_PREFIX, "eth")
        check_ifname(prefix + "0", "container interface prefix")
        data["iface_prefix"] = prefix
        self._check_subnets(net)
        data["mac"] = net.driver_data.get("mac") or random_bridge_mac()
        net.driver_data = data

    @staticmethod
    def _mtu(text: str) -> int:
        try:
            mtu = int(text)
        except ValueError:
            mtu = -1
        if not 68 <= mtu <= 65535:
            raise InvalidArgument(f"invalid MTU {text!r}: expected a number from 68 to 65535")
        return mtu

    @staticmethod
    def _host_binding(text: str) -> str:
        import ipaddress

        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            raise InvalidArgument(
                f"invalid {HOST_BINDING_IPV4} {text!r}: not an IPv4 address") from None

    @staticmethod
    def _check_subnets(net: Network) -> None:
        import ipaddress

        versions = [ipaddress.ip_network(c["Subnet"], strict=False).version
                    for c in net.ipam_config]
        if versions.count(4) > 1 or versions.count(6) > 1:
            raise InvalidArgument(
                "bridge networks support one IPv4 and one IPv6 subnet at most"
            )

    def _addresses(self, net: Network) -> list[str]:
        if net.driver_data.get("inhibit_ipv4"):
            return [gw for gw in net.gateway_interfaces() if ":" in gw]
        return net.gateway_interfaces()

    def create_network(self, net: Network) -> None:
        """Create the bridge, with the gateway addresses, and bring it up. A link of
        that name already there (the host's eth0, Docker's docker0) is refused, never
        taken over: cnmctl deletes only the bridges it made."""
        from cnmctl import netlink

        data = net.driver_data
        if netlink.link_exists(data["bridge"]):
            raise Conflict(f"bridge name {data['bridge']} is already used by an interface "
                           "on this host")
        netlink.create_bridge(data["bridge"], data["mac"], data["mtu"], self._addresses(net),
                              alias=OWNER_ALIAS + net.id)

    def restore_network(self, net: Network) -> None:
        """Re-create the bridge if it is missing (after a reboot)."""
        from cnmctl import netlink

        if not netlink.link_exists(net.driver_data["bridge"]):
            self.create_network(net)

    def delete_network(self, net: Network) -> None:
        """Delete the bridge (its ports go with it), if it is this network's: a bridge
        marked with this network's alias, or an unmarked one (made before the alias,
        or killed before it was set). Any other link of that name is left alone."""
        from cnmctl import netlink

        name = net.driver_data["bridge"]
        for link, kind, _master, alias in netlink.host_links():
            if link == name and kind == "bridge" and alias in ("", OWNER_ALIAS + net.id):
                netlink.delete_link(name)

    def create_endpoint(self, net: Network, ep: Endpoint, mac: str = "") -> None:
        """A veth's host-side name, and the MAC: the one asked for, else Docker's
        02:42 followed by the IPv4 address, else a random local one."""
        ep.host_ifname = "veth" + os.urandom(4).hex()[:7]
        ep.mac = mac or (mac_from_ip(ep.ipv4.split("/")[0]) if ep.ipv4 else random_mac())

    def join(self, net: Network, ep: Endpoint, sandbox_key: str) -> JoinInfo:
        """A veth pair: `vethXXXXXXX` on the bridge, its peer born in the sandbox. An
        --internal network keeps its default route, as Docker's does: the firewall
        stops what would leave the host. With enable_icc=false the port is isolated:
        it reaches the gateway, never another container's port."""
        data = net.driver_data
        return JoinInfo("veth", host_ifname=ep.host_ifname, master=data["bridge"],
                        mtu=data["mtu"], mac=ep.mac,
                        addresses=[a for a in (ep.ipv4, ep.ipv6) if a],
                        gateway=ep.gateway, gateway6=ep.ipv6_gateway,
                        isolated=not data.get("enable_icc", True))


def mac_from_ip(ipv4: str) -> str:
    """Docker's legacy MAC scheme: 02:42 followed by the four IPv4 bytes."""
    return "02:42:" + ":".join(f"{int(b):02x}" for b in ipv4.split("."))


def random_mac() -> str:
    """A random locally administered unicast MAC (for endpoints without IPv4)."""
    raw = bytearray(os.urandom(6))
    raw[0] = (raw[0] & 0xFE) | 0x02
    return ":".join(f"{b:02x}" for b in raw)


DRIVER = BridgeDriver()
