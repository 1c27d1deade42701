"""refnet: a reference Docker network plugin, for the tests and the lab.

A real plugin of Docker's protocol (an unmodified dockerd could use it): each
network is a Linux bridge the plugin makes (`rn` + 8 hex of the network ID,
the gateway address on it); Join makes a veth pair, one end on that bridge, the
other (SrcName) handed to the engine to move into the sandbox as `eth`N, so
containers on the network reach each other and the host through the gateway.
Leave deletes the pair (the engine gave SrcName back); DeleteNetwork the
bridge. It refuses what it does not know (a DeleteEndpoint of an endpoint it
never saw is an Err, as many real plugins answer), which tests the engine's
clean-ups. Options (`network create -o`): `refnet.route=CIDR` adds an on-link
static route, `refnet.nogateway=1` answers Join without a gateway,
`refnet.srcname=NAME` names another link as SrcName (a hostile answer).
`/Refnet.State` (not Docker's) tells the tests what the plugin holds.

Run: `python -m plugins.netplugin SOCKET LOG [FAULTS]` with tests/ on sys.path
(see server.py); REFNET_SCOPE=global makes it a global-scope driver.
"""

from __future__ import annotations

import os
import subprocess
import threading

from plugins.server import PluginError, serve

_networks: dict[str, dict] = {}  # NetworkID -> {"bridge", "gateway", "options"}
_endpoints: dict[str, dict] = {}  # EndpointID -> {"network", "mac", "joined"}
_lock = threading.Lock()


def _ip(*args: str) -> None:
    """Run `ip ARGS`; its error becomes the plugin's Err."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise PluginError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def _link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", "dev", name], capture_output=True).returncode == 0


def get_capabilities(_payload: dict) -> dict:
    scope = os.environ.get("REFNET_SCOPE", "local")
    return {"Scope": scope, "ConnectivityScope": scope}


def create_network(payload: dict) -> dict:
    nid = payload["NetworkID"]
    with _lock:
        if nid in _networks:
            raise PluginError(f"network {nid} exists")
        v4 = payload.get("IPv4Data") or []
        if not v4:
            raise PluginError("refnet needs an IPv4 pool")
        bridge = f"rn{nid[:8]}"
        _ip("link", "add", bridge, "type", "bridge")
        try:
            _ip("addr", "add", v4[0]["Gateway"], "dev", bridge)
            _ip("link", "set", bridge, "up")
        except PluginError:
            _ip("link", "del", bridge)
            raise
        generic = (payload.get("Options") or {}).get("com.docker.network.generic") or {}
        _networks[nid] = {"bridge": bridge, "gateway": v4[0]["Gateway"].split("/")[0],
                          "options": generic}
    return {}


def delete_network(payload: dict) -> dict:
    with _lock:
        net = _networks.pop(payload["NetworkID"], None)
        if net is None:
            raise PluginError(f"no network {payload['NetworkID']}")
        if _link_exists(net["bridge"]):
            _ip("link", "del", net["bridge"])
    return {}


def create_endpoint(payload: dict) -> dict:
    eid = payload["EndpointID"]
    with _lock:
        if payload["NetworkID"] not in _networks:
            raise PluginError(f"no network {payload['NetworkID']}")
        iface = payload.get("Interface") or {}
        answer = {}
        mac = iface.get("MacAddress") or ""
        if not mac:  # the engine left it empty: the plugin fills it (Docker's rule)
            mac = "02:aa:" + ":".join(eid[i:i + 2] for i in range(0, 8, 2))
            answer = {"Interface": {"MacAddress": mac}}
        _endpoints[eid] = {"network": payload["NetworkID"], "mac": mac, "joined": False}
    return answer


def _pair(eid: str) -> tuple[str, str]:
    """(the end on the bridge, the end handed to the engine) of an endpoint's veth."""
    return f"rv{eid[:8]}", f"rc{eid[:8]}"


def join(payload: dict) -> dict:
    eid = payload["EndpointID"]
    with _lock:
        ep = _endpoints.get(eid)
        if ep is None or ep["network"] != payload["NetworkID"]:
            raise PluginError(f"no endpoint {eid}")
        net = _networks[ep["network"]]
        host_end, container_end = _pair(eid)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", container_end)
        try:
            _ip("link", "set", host_end, "master", net["bridge"], "up")
        except PluginError:
            _ip("link", "del", host_end)
            raise
        ep["joined"] = True
        src = net["options"].get("refnet.srcname") or container_end  # a hostile SrcName
        answer: dict = {"InterfaceName": {"SrcName": src, "DstPrefix": "eth"}}
        if not net["options"].get("refnet.nogateway"):
            answer["Gateway"] = net["gateway"]
        if net["options"].get("refnet.route"):
            answer["StaticRoutes"] = [{"Destination": net["options"]["refnet.route"],
                                       "RouteType": 1}]
    return answer


def leave(payload: dict) -> dict:
    eid = payload["EndpointID"]
    with _lock:
        ep = _endpoints.get(eid)
        if ep is None or not ep["joined"]:
            raise PluginError(f"endpoint {eid} is not joined")
        ep["joined"] = False
        host_end, _ = _pair(eid)
        if _link_exists(host_end):  # gone with the sandbox if the engine did not give it back
            _ip("link", "del", host_end)
    return {}


def delete_endpoint(payload: dict) -> dict:
    with _lock:
        if _endpoints.pop(payload["EndpointID"], None) is None:
            raise PluginError(f"no endpoint {payload['EndpointID']}")
    return {}


def endpoint_oper_info(payload: dict) -> dict:
    with _lock:
        ep = _endpoints.get(payload["EndpointID"])
        if ep is None:
            raise PluginError(f"no endpoint {payload['EndpointID']}")
        return {"Value": {"veth": _pair(payload["EndpointID"])[0], "mac": ep["mac"]}}


def _accept(_payload: dict) -> dict:
    return {}


def state(_payload: dict) -> dict:
    """Not Docker's: what the plugin holds, for the tests to compare with cnmctl's store."""
    with _lock:
        return {"networks": sorted(_networks), "endpoints": sorted(_endpoints),
                "joined": sorted(e for e, ep in _endpoints.items() if ep["joined"])}


HANDLERS = {
    "NetworkDriver.GetCapabilities": get_capabilities,
    "NetworkDriver.CreateNetwork": create_network,
    "NetworkDriver.DeleteNetwork": delete_network,
    "NetworkDriver.CreateEndpoint": create_endpoint,
    "NetworkDriver.EndpointOperInfo": endpoint_oper_info,
    "NetworkDriver.DeleteEndpoint": delete_endpoint,
    "NetworkDriver.Join": join,
    "NetworkDriver.Leave": leave,
    "NetworkDriver.DiscoverNew": _accept,
    "NetworkDriver.DiscoverDelete": _accept,
    "NetworkDriver.ProgramExternalConnectivity": _accept,
    "NetworkDriver.RevokeExternalConnectivity": _accept,
    "Refnet.State": state,
}

if __name__ == "__main__":
    serve(HANDLERS, ["NetworkDriver"])
