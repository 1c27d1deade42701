"""The remote driver: Driver v2's hooks as Docker's network plugin protocol.

A network made with `-d NAME`, NAME no built-in driver, is driven by the plugin
of that name (plugins/discovery.py finds it, plugins/client.py calls it). Each
hook is one `/NetworkDriver.*` call with Docker's wire shapes
(libnetwork's drivers/remote/driver.go and api/api.go), so a plugin written for
Docker works unmodified. The plugin is activated lazily, at the first call a
command makes, and asked its capabilities then, as Docker registers it: `network
ls`, `inspect` and the restore after a reboot never contact it.

What the plugin answers is hostile input: every name, address and route in it
is checked here before the sandbox layer sees it, and a refusal names the
plugin and the call.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from typing import TYPE_CHECKING

from cnmctl.drivers.api import Capabilities, Driver, JoinInfo
from cnmctl.errors import CnmError, InvalidArgument

if TYPE_CHECKING:
    from cnmctl.model import Endpoint, Network
    from cnmctl.plugins.client import Plugin

# Option keys of CreateNetwork (libnetwork's netlabel/labels.go).
GENERIC = "com.docker.network.generic"
ENABLE_IPV4 = "com.docker.network.enable_ipv4"
ENABLE_IPV6 = "com.docker.network.enable_ipv6"
INTERNAL = "com.docker.network.internal"
PORT_MAP = "com.docker.network.portmap"
EXPOSED_PORTS = "com.docker.network.endpoint.exposedports"
#: IPAMData.AddressSpace of cnmctl's built-in IPAM (Docker's default IPAM's local space)
ADDRESS_SPACE = "LocalDefault"
#: DiscoverNew's node discovery type (libnetwork's discoverapi.NodeDiscovery)
NODE_DISCOVERY = 1
# StaticRoutes' RouteType (libnetwork's types.NEXTHOP, types.CONNECTED)
NEXTHOP, CONNECTED = 0, 1


class RemoteDriver(Driver):
    """A network driver served by a plugin (Docker's remote driver)."""

    def __init__(self, name: str, tolerant: bool = False) -> None:
        self.name = name
        self._plugin: Plugin | None = None
        self._caps: Capabilities | None = None
        self._tolerant = tolerant

    # -- the wire ---------------------------------------------------------------------
    def _call(self, method: str, payload: dict | None = None, *, optional: bool = False,
              forgiving: bool = False) -> dict:
        """Call NetworkDriver.METHOD (activating and registering the plugin first: a
        failure there names METHOD and the call that failed).
        `optional`: a 404 means {} (Docker tolerates it for that call). `forgiving`
        (a clean-up, in tolerant mode): the plugin's refusal means {} too."""
        from cnmctl.plugins.client import CallNotFound, PluginError, PluginRefused

        try:
            self.capabilities()
            plugin = self._activate()
        except PluginError as exc:  # say which call it was for, too
            prefix = f'plugin "{self.name}": '
            raise type(exc)(f"{prefix}NetworkDriver.{method}: "
                            f"{str(exc).removeprefix(prefix)}") from None
        try:
            return plugin.call(f"NetworkDriver.{method}", payload)
        except CallNotFound:
            if optional or (forgiving and self._tolerant):
                return {}
            raise
        except PluginRefused:
            if forgiving and self._tolerant:
                return {}
            raise

    def _activate(self) -> Plugin:
        if self._plugin is None:
            from cnmctl.plugins import client

            self._plugin = client.get(self.name, "NetworkDriver")
        return self._plugin

    def _bad_answer(self, method: str, message: str) -> CnmError:
        from cnmctl.plugins.client import PluginError

        return PluginError(f'plugin "{self.name}": NetworkDriver.{method}: {message}')

    # -- registration -------------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        """GetCapabilities, asked once per process right after activation (Docker's
        registration). A global connectivity scope is told this host with one
        DiscoverNew, as Docker tells such drivers each node of its cluster."""
        if self._caps is None:
            answer = self._activate().call("NetworkDriver.GetCapabilities")
            scope = answer.get("Scope")
            connectivity = answer.get("ConnectivityScope") or scope
            for value in (scope, connectivity):
                if value not in ("local", "global"):
                    raise self._bad_answer("GetCapabilities", "invalid capability: expecting "
                                           f"'local' or 'global', got {str(value)[:40]!r}")
            # No cnmctl firewall rules for it: external access is the plugin's business.
            self._caps = Capabilities(scope=scope, needs_ipam=True, external_connectivity=False,
                                      connectivity_scope=connectivity)
            if connectivity == "global":
                self._discover_self()
        return self._caps

    def _discover_self(self) -> None:
        """DiscoverNew of this host (the whole cluster a single host knows). Docker
        only logs a failure there, so does this (one warning line)."""
        from cnmctl.plugins.client import PluginError

        data = {"Address": _host_address(), "BindAddress": "", "Self": True}
        try:
            self._activate().call("NetworkDriver.DiscoverNew",
                                  {"DiscoveryType": NODE_DISCOVERY, "DiscoveryData": data})
        except PluginError as exc:
            print(f"Warning: {exc}", file=sys.stderr)

    def tolerant(self) -> RemoteDriver:
        """A driver for clean-ups of calls the plugin may never have received (the same
        plugin, activated and registered once)."""
        driver = RemoteDriver(self.name, tolerant=True)
        driver._plugin, driver._caps = self._plugin, self._caps
        return driver

    # -- networks -------------------------------------------------------------------------
    def validate(self, net: Network, existing: list[Network] = ()) -> None:
        """Any `-o` pair goes to the plugin (as Docker's generic options); a global
        scope is accepted with a warning: this host is its only node."""
        if self.capabilities().scope == "global":
            print(f'Warning: plugin "{self.name}" has global scope; cnmctl has no cluster '
                  f"store, so network {net.name} exists on this host only", file=sys.stderr)

    def create_network(self, net: Network) -> None:
        """AllocateNetwork (global scope only: Docker's cluster allocator; a 404 is
        tolerated), then CreateNetwork with Docker's Options and IPAMData."""
        v4, v6 = _ipam_data(net)
        if net.scope == "global":
            answer = self._call("AllocateNetwork",
                                {"NetworkID": net.id, "Options": dict(net.options),
                                 "IPv4Data": v4, "IPv6Data": v6}, optional=True)
            allocated = answer.get("Options") or {}
            if not isinstance(allocated, dict):
                raise self._bad_answer("AllocateNetwork", "Options is not an object")
            # Docker keeps them as the network's driver options, sent to every node.
            net.options.update({str(k): str(v) for k, v in allocated.items()})
        options = {GENERIC: dict(net.options), ENABLE_IPV4: True,
                   ENABLE_IPV6: net.enable_ipv6}
        if net.internal:
            options[INTERNAL] = True
        self._call("CreateNetwork", {"NetworkID": net.id, "Options": options,
                                     "IPv4Data": v4, "IPv6Data": v6})

    def delete_network(self, net: Network) -> None:
        """DeleteNetwork, then FreeNetwork for a global-scope network."""
        self._call("DeleteNetwork", {"NetworkID": net.id}, forgiving=True)
        if net.scope == "global":
            self._call("FreeNetwork", {"NetworkID": net.id}, optional=True, forgiving=True)

    # -- endpoints ------------------------------------------------------------------------
    def create_endpoint(self, net: Network, ep: Endpoint, mac: str = "") -> None:
        """CreateEndpoint with the addresses IPAM chose. The plugin may fill what the
        engine left empty (an address, the MAC) but not change what it gave."""
        ep.mac = mac
        answer = self._call("CreateEndpoint", {
            "NetworkID": net.id, "EndpointID": ep.id, "Options": {},
            "Interface": {"Address": ep.ipv4, "AddressIPv6": ep.ipv6, "MacAddress": mac}})
        given = answer.get("Interface") or {}
        if not isinstance(given, dict):
            raise self._bad_answer("CreateEndpoint", "Interface is not an object")
        for key, attr, check in (("Address", "ipv4", _cidr(4)), ("AddressIPv6", "ipv6", _cidr(6)),
                                 ("MacAddress", "mac", _mac)):
            value = given.get(key)
            if not value:
                continue
            try:
                value = check(value)
            except ValueError as exc:
                raise self._bad_answer("CreateEndpoint", f"invalid {key}: {exc}") from None
            mine = getattr(ep, attr)
            if mine and mine != value:
                raise self._bad_answer("CreateEndpoint", f"the driver modified the interface's "
                                       f"{key} ({mine} became {value})")
            setattr(ep, attr, value)

    def join(self, net: Network, ep: Endpoint, sandbox_key: str) -> JoinInfo:
        """Join with cnmctl's namespace path as SandboxKey; the answer says which host
        link to move in (SrcName), its name prefix, gateways and static routes."""
        from cnmctl.sandbox.interfaces import check_movable

        answer = self._call("Join", {"NetworkID": net.id, "EndpointID": ep.id,
                                     "SandboxKey": sandbox_key, "Options": {}})
        try:
            info = self._join_info(answer)
            check_movable(info.host_ifname)  # here too, to say whose answer it was
        except (ValueError, TypeError, InvalidArgument) as exc:
            raise self._bad_answer("Join", str(exc)) from None
        ep.gateway, ep.ipv6_gateway = info.gateway, info.gateway6
        info.mac = ep.mac
        info.addresses = [a for a in (ep.ipv4, ep.ipv6) if a]
        return info

    @staticmethod
    def _join_info(answer: dict) -> JoinInfo:
        from cnmctl.drivers.bridge import check_ifname

        names = answer.get("InterfaceName") or {}
        routes = answer.get("StaticRoutes") or []
        if not isinstance(names, dict) or not isinstance(routes, list):
            raise ValueError("InterfaceName must be an object and StaticRoutes a list")
        src = str(names.get("SrcName") or "")
        if not src:
            raise ValueError("no InterfaceName.SrcName: no interface to move into the sandbox")
        check_ifname(src, "InterfaceName.SrcName")
        prefix = str(names.get("DstPrefix") or "eth")
        check_ifname(prefix + "0", "InterfaceName.DstPrefix")
        # str() first: ipaddress would take a number for an address
        gateway = (str(ipaddress.IPv4Address(str(answer["Gateway"])))
                   if answer.get("Gateway") else "")
        gateway6 = (str(ipaddress.IPv6Address(str(answer["GatewayIPv6"])))
                    if answer.get("GatewayIPv6") else "")
        return JoinInfo("move", host_ifname=src, prefix=prefix, gateway=gateway,
                        gateway6=gateway6, static_routes=[_static_route(r) for r in routes],
                        disable_gateway_service=bool(answer.get("DisableGatewayService")))

    def program_external_connectivity(self, net: Network, ep: Endpoint, sandbox_key: str,
                                      options: dict) -> None:
        """ProgramExternalConnectivity with the container's port map and exposed ports
        in Docker's shapes (a 404 is tolerated: not every plugin implements it)."""
        self._call("ProgramExternalConnectivity", {
            "NetworkID": net.id, "EndpointID": ep.id,
            "Options": _port_options(options["exposed"], options["bindings"])}, optional=True)

    def revoke_external_connectivity(self, net: Network, ep: Endpoint) -> None:
        """RevokeExternalConnectivity (404 tolerated)."""
        self._call("RevokeExternalConnectivity", {"NetworkID": net.id, "EndpointID": ep.id},
                   optional=True, forgiving=True)

    def endpoint_info(self, net: Network, ep: Endpoint) -> dict:
        """EndpointOperInfo's Value. Docker asks it once joined, for the port data
        of NetworkSettings.Ports, which it reads only as its own drivers' typed
        values, never from a plugin's JSON: nothing of it is shown. A 404 is {}."""
        value = self._call("EndpointOperInfo", {"NetworkID": net.id, "EndpointID": ep.id},
                           optional=True).get("Value") or {}
        if not isinstance(value, dict):
            raise self._bad_answer("EndpointOperInfo", "Value is not an object")
        return value

    def leave(self, net: Network, ep: Endpoint, sandbox_key: str) -> None:
        """Leave, once the interface is back on the host."""
        self._call("Leave", {"NetworkID": net.id, "EndpointID": ep.id}, forgiving=True)

    def delete_endpoint(self, net: Network, ep: Endpoint) -> None:
        """DeleteEndpoint, after Leave."""
        self._call("DeleteEndpoint", {"NetworkID": net.id, "EndpointID": ep.id},
                   forgiving=True)


def _ipam_data(net: Network) -> tuple[list[dict], list[dict]]:
    """IPv4Data and IPv6Data: per subnet its pool, its gateway with the pool's prefix
    length, and its auxiliary addresses likewise (only when there are some)."""
    v4: list[dict] = []
    v6: list[dict] = []
    for cfg, gateway in zip(net.ipam_config, net.gateway_interfaces(), strict=True):
        pool = ipaddress.ip_network(cfg["Subnet"], strict=False)
        data = {"AddressSpace": ADDRESS_SPACE, "Pool": str(pool), "Gateway": gateway}
        aux = cfg.get("AuxiliaryAddresses") or {}
        if aux:
            data["AuxAddresses"] = {k: f"{v}/{pool.prefixlen}" for k, v in aux.items()}
        (v4 if pool.version == 4 else v6).append(data)
    return v4, v6


def _port_options(exposed: list[str], bindings: dict[str, list[dict]]) -> dict:
    """Docker's sandbox port options: exposed ports as {"Proto", "Port"}, bindings as
    {"Proto", "IP", "Port", "HostIP", "HostPort", "HostPortEnd"} (a host port range
    as its two ends, no host port as 0), protocols by IP protocol number."""
    def proto_port(key: str) -> tuple[int, int]:
        port, _, proto = key.partition("/")
        return _PROTOCOLS.get(proto or "tcp", 6), int(port)

    exposed_list = [dict(zip(("Proto", "Port"), proto_port(key), strict=True))
                    for key in exposed]
    portmap = []
    for key, hosts in sorted(bindings.items()):
        proto, port = proto_port(key)
        for host in hosts:
            first, _, last = (host.get("HostPort") or "0").partition("-")
            portmap.append({"Proto": proto, "IP": "", "Port": port,
                            "HostIP": host.get("HostIp") or "", "HostPort": int(first),
                            "HostPortEnd": int(last or first)})
    return {PORT_MAP: portmap, EXPOSED_PORTS: exposed_list}


_PROTOCOLS = {"tcp": 6, "udp": 17, "sctp": 132}


def _cidr(version: int):
    def check(text: object) -> str:
        iface = ipaddress.ip_interface(str(text))
        if iface.version != version or "/" not in str(text):
            raise ValueError(f"{str(text)[:60]!r} is not an IPv{version} address in CIDR form")
        return str(iface)
    return check


def _mac(text: object) -> str:
    value = str(text).lower()
    if not _MAC.fullmatch(value) or int(value[:2], 16) & 1:
        raise ValueError(f"{value[:40]!r} is not a unicast MAC address")
    return value


_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")


def _static_route(route: dict) -> tuple[str, str]:
    """(destination, next hop or "" for on-link) of a StaticRoutes entry."""
    if not isinstance(route, dict):
        raise ValueError("a StaticRoutes entry is not an object")
    dst = ipaddress.ip_network(str(route.get("Destination")), strict=False)
    kind = route.get("RouteType", NEXTHOP)
    if kind == CONNECTED:
        return str(dst), ""
    if kind != NEXTHOP:
        raise ValueError(f"unknown RouteType {str(kind)[:20]!r} (0: next hop, 1: connected)")
    hop = ipaddress.ip_address(str(route.get("NextHop")))
    if hop.version != dst.version:
        raise ValueError(f"next hop {hop} of route {dst} is of another address family")
    return str(dst), str(hop)


def _host_address() -> str:
    """This host's address as its default route's source ("" without one): no packet
    is sent, connecting a UDP socket only picks the route."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))
            return sock.getsockname()[0]
        except OSError:
            return ""
