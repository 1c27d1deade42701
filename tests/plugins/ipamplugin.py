"""The reference IPAM plugin: Docker's /IpamDriver.* protocol, as an unmodified
Docker engine would use it, on tests/plugins/server.py.

`python -m plugins.ipamplugin SOCKET LOG [FAULTS]`. Pools are refcounted by ID
(identical requests share one); without a Pool it picks the first free /24 of
10.77.0.0/16 (IPv6: the first /64 of fd77::/48), or of the range an
`--ipam-opt range=CIDR` names; addresses are handed out lowest free first.
After every call its state is written to LOG.state as JSON ({pool ID: {"pool",
"refs", "addresses"}}), so a test can compare it with cnmctl's store.

Test hooks (beyond server.py's faults): the FAULTS file's "caps" object is the
GetCapabilities answer; a pool requested with `--ipam-opt answer=HOW` answers
with hostile values: notcidr (a Pool that is not CIDR), overlap (the Pool
10.99.0.0/24, whatever was asked), outside (addresses outside the pool;
outsideep: only endpoints'),
badid (a PoolID with control characters, which it knows as its own),
datagateway (the gateway in the pool's Data, the pool's last host).
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import threading

from plugins.server import PluginError, _faults, serve

GATEWAY = "com.docker.network.gateway"
LOCAL, GLOBAL = "reflocal", "refglobal"
_pools: dict[str, dict] = {}
_lock = threading.Lock()


def _save() -> None:
    state = {pid: {"pool": p["pool"], "refs": p["refs"], "addresses": sorted(p["addresses"])}
             for pid, p in _pools.items()}
    path = sys.argv[2] + ".state"
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(state, f)
    os.replace(path + ".tmp", path)


def locked(handler):
    """One call at a time, the state saved after each."""
    def run(payload: dict) -> dict:
        with _lock:
            try:
                return handler(payload)
            finally:
                _save()
    return run


def capabilities(_payload: dict) -> dict:
    faults = _faults(sys.argv[3]) if len(sys.argv) > 3 else {}
    return faults.get("caps", {"RequiresMACAddress": False})


def address_spaces(_payload: dict) -> dict:
    return {"LocalDefaultAddressSpace": LOCAL, "GlobalDefaultAddressSpace": GLOBAL}


def _network(text: str, what: str):
    try:
        return ipaddress.ip_network(text)
    except ValueError:
        raise PluginError(f"invalid address {what}: {text}") from None


def _taken(net) -> bool:
    return any(net.overlaps(ipaddress.ip_network(p["pool"])) for p in _pools.values()
               if ipaddress.ip_network(p["pool"]).version == net.version)


def request_pool(payload: dict) -> dict:
    if payload.get("AddressSpace") not in (LOCAL, GLOBAL):
        raise PluginError("invalid address space")
    options = payload.get("Options") or {}
    text, sub = payload.get("Pool") or "", payload.get("SubPool") or ""
    if sub and not text:
        raise PluginError("invalid address subpool")
    if text:
        net = _network(text, "pool")
        if sub and not _network(sub, "subpool").subnet_of(net):
            raise PluginError("invalid address subpool")
    else:
        base = options.get("range") or ("fd77::/48" if payload.get("V6") else "10.77.0.0/16")
        size = 64 if payload.get("V6") else 24
        net = next((n for n in _network(base, "pool").subnets(new_prefix=size)
                    if not _taken(n)), None)
        if net is None:
            raise PluginError("all predefined address pools have been fully subnetted")
    pool_id = f"ref/{net}" + (f"/{sub}" if sub else "")
    if options.get("answer") == "badid":  # its own ID, with control characters
        pool_id += "\n\x1b[2J"
    if pool_id in _pools:
        _pools[pool_id]["refs"] += 1
    elif _taken(net):
        raise PluginError("Pool overlaps with other one on this address space")
    else:
        _pools[pool_id] = {"pool": str(net), "sub": sub, "refs": 1, "addresses": set(),
                           "answer": options.get("answer", "")}
    answer = _pools[pool_id]["answer"]
    shown = {"notcidr": "banana", "overlap": "10.99.0.0/24"}.get(answer, str(net))
    data = {GATEWAY: f"{net.broadcast_address - 1}/{net.prefixlen}"} \
        if answer == "datagateway" else {}
    return {"PoolID": pool_id, "Pool": shown, "Data": data}


def _pool(pool_id: str) -> dict:
    if pool_id not in _pools:
        raise PluginError(f"pool {pool_id} not found")
    return _pools[pool_id]


def request_address(payload: dict) -> dict:
    pool = _pool(payload.get("PoolID", ""))
    net = ipaddress.ip_network(pool["pool"])
    wanted = payload.get("Address") or ""
    if wanted:
        address = ipaddress.ip_address(wanted)
        if address not in net:
            raise PluginError("requested address is out of range")
        if str(address) in pool["addresses"]:
            raise PluginError("Address already in use")
    else:
        scope = ipaddress.ip_network(pool["sub"]) if pool["sub"] else net
        edges = {net.network_address, *([net.broadcast_address] if net.version == 4 else [])}
        address = next((a for a in _addresses(scope)
                        if a not in edges and str(a) not in pool["addresses"]), None)
        if address is None:
            raise PluginError("No available addresses on this pool")
    endpoint = "com.docker.network.endpoint.name" in (payload.get("Options") or {})
    if pool["answer"] == "outside" or (pool["answer"] == "outsideep" and endpoint):
        address, net = ipaddress.ip_address("192.0.2.77"), ipaddress.ip_network("192.0.2.0/24")
    pool["addresses"].add(str(address))
    return {"Address": f"{address}/{net.prefixlen}", "Data": {}}


def _addresses(scope):
    """The addresses of `scope`, lowest first (lazily: an IPv6 /64 is huge)."""
    address = scope.network_address
    while address <= scope.broadcast_address:
        yield address
        address += 1


def release_address(payload: dict) -> dict:
    pool = _pool(payload.get("PoolID", ""))
    address = payload.get("Address", "")
    if address not in pool["addresses"]:
        raise PluginError(f"address {address} not allocated")
    pool["addresses"].discard(address)
    return {}


def release_pool(payload: dict) -> dict:
    pool_id = payload.get("PoolID", "")
    pool = _pool(pool_id)
    pool["refs"] -= 1
    if pool["refs"] == 0:
        del _pools[pool_id]
    return {}


if __name__ == "__main__":
    serve({"IpamDriver.GetCapabilities": capabilities,
           "IpamDriver.GetDefaultAddressSpaces": address_spaces,
           "IpamDriver.RequestPool": locked(request_pool),
           "IpamDriver.ReleasePool": locked(release_pool),
           "IpamDriver.RequestAddress": locked(request_address),
           "IpamDriver.ReleaseAddress": locked(release_address)}, ["IpamDriver"])
