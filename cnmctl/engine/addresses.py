"""Pools and addresses: every one a network or endpoint gets, through the Ipam
protocol (ipam/api.py), from the driver the network names.

Who keeps the state: the default driver's is derived data in the store (the
``ipam`` document of each network: the allocators, rebuildable from the
network's configuration and its endpoints), loaded and saved here inside the
command's transaction, so a failed or killed command leaves it as it was. An
IPAM plugin keeps its own, outside that transaction: every request to it is
recorded as an undo step before it is sent (its pool ID or address filled in
from the answer), so a failure or a kill releases what the plugin accepted;
releases on teardown are steps run after the commit, redone after a crash.
The network records what later calls need: its pools' IDs and the addresses
requested with them (``Network.ipam_pools``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from cnmctl.errors import CnmError, Conflict, InvalidArgument
from cnmctl.model import Endpoint, Network
from cnmctl.store import StoreCorrupt

if TYPE_CHECKING:
    from cnmctl.engine.tx import Transaction
    from cnmctl.ipam.api import AllocatedPool, Ipam, IPInterface, PoolRequest
    from cnmctl.ipam.default import DefaultIpam
    from cnmctl.store import Store

NOT_IN_SUBNETS = "Invalid address {}: It does not belong to any of this network's subnets"


class Pool(NamedTuple):
    """One pool of a network: its driver's ID, its subnet, its gateway."""

    id: str
    subnet: ipaddress.IPv4Network | ipaddress.IPv6Network
    gateway: str


class AddressOps:
    """Mixed into Engine; relies on its store and transactions."""

    store: Store
    _tx: Transaction | None

    # -- drivers and pools ----------------------------------------------------------
    def _ipam(self, net: Network) -> Ipam:
        """The network's IPAM driver: the default one loaded with the network's
        pools, or the plugin (found and activated once per command)."""
        if net.ipam_driver == "default":
            return self._default_ipam(net)
        from cnmctl.ipam import get_ipam

        drivers = self.__dict__.setdefault("_ipam_drivers", {})
        if net.ipam_driver not in drivers:
            drivers[net.ipam_driver] = get_ipam(net.ipam_driver)
        return drivers[net.ipam_driver]

    def _default_ipam(self, net: Network) -> DefaultIpam:
        from cnmctl.ipam.default import DefaultIpam, default_pool_id

        if not net.ipam_config:  # a network being created
            return DefaultIpam()
        return DefaultIpam({default_pool_id(a.subnet, a.ip_range): a
                            for a in self._load_ipam(net)})

    @staticmethod
    def _pools(net: Network) -> list[Pool]:
        """The network's pools, in its configuration's order; the default driver's
        IDs follow from the configuration, a plugin's are recorded."""
        from cnmctl.ipam.allocator import default_gateway
        from cnmctl.ipam.default import default_pool_id

        ids = {rec["subnet"]: rec["id"] for rec in net.ipam_pools}
        pools = []
        for cfg in net.ipam_config:
            subnet = ipaddress.ip_network(cfg["Subnet"], strict=False)
            pool_id = ids.get(str(subnet)) or default_pool_id(subnet, cfg.get("IPRange"))
            pools.append(Pool(pool_id, subnet, cfg.get("Gateway") or str(default_gateway(subnet))))
        return pools

    @staticmethod
    def _pool_for(pools: list[Pool], text: str) -> Pool:
        """The pool a static --ip/--ip6 lies in (Docker's messages otherwise)."""
        try:
            wanted = ipaddress.ip_address(text)
        except ValueError:
            family = "IPv6" if ":" in text else "IPv4"
            raise InvalidArgument(f"invalid {family} address: {text}") from None
        for pool in pools:
            if wanted in pool.subnet:
                return pool
        raise InvalidArgument(NOT_IN_SUBNETS.format(text))

    # -- requests, recorded when the driver keeps its state outside the store -------------
    def _request_pool(self, ipam: Ipam, req: PoolRequest) -> AllocatedPool:
        """RequestPool; a plugin's answer is on record (to release) before it is used."""
        if not ipam.external:
            return ipam.request_pool(req)
        from cnmctl.ipam.remote import BadAnswer

        step = {"kind": "ipam-pool", "driver": ipam.name, "pool": ""}
        index = self._tx.created(step, crash_point=False)
        try:
            pool = ipam.request_pool(req)
        except BadAnswer as exc:  # a pool ID with a bad pool: it is released
            self._tx.answered(index, {**step, "pool": exc.accepted} if exc.accepted
                              else {**step, "refused": True})
            raise
        except CnmError:  # refused (or no answer): nothing to release
            self._tx.answered(index, {**step, "refused": True})
            raise
        self._tx.answered(index, {**step, "pool": pool.pool_id})
        return pool

    def _request_address(self, ipam: Ipam, pool: Pool, preferred: str | None,
                         options: dict | None, taken: set) -> IPInterface:
        """RequestAddress; a plugin's answer is on record (to release) before it is
        checked: in the pool, not the subnet's own address, not held already."""
        if not ipam.external:
            return ipam.request_address(pool.id, preferred, options)
        from cnmctl.ipam.remote import BadAnswer, unanswered

        step = {"kind": "ipam-address", "driver": ipam.name, "pool": pool.id,
                "address": preferred or ""}
        index = self._tx.created(step, crash_point=bool(preferred))
        try:
            got = ipam.request_address(pool.id, preferred, options)
        except BadAnswer as exc:  # an address all the same: released (unless held)
            if exc.accepted or not preferred:
                self._tx.answered(index, {**step, "address": exc.accepted} if exc.accepted
                                  else {**step, "refused": True})
            raise
        except CnmError as exc:
            # Sent and not answered in time: the address asked for may be held, and
            # its step (recorded with it) releases it; any other answer is a refusal.
            if not (preferred and unanswered(exc)):
                self._tx.answered(index, {**step, "refused": True})
            raise
        self._tx.answered(index, {**step, "address": str(got.ip)})
        where = f'plugin "{ipam.name}": IpamDriver.RequestAddress: returned {got.ip}'
        if got.ip not in pool.subnet:
            raise CnmError(f"{where}, outside the pool {pool.subnet}")
        if got.ip == pool.subnet.network_address or str(got.ip) in taken:
            raise CnmError(f"{where}, which is not free on this network")
        taken.add(str(got.ip))
        return got

    # -- network create and rm ------------------------------------------------------
    def _request_pools(self, net: Network, config: list[dict], existing: list[Network],
                       host_networks: Callable[[], list]) -> None:
        """`network create`'s IPAM half, in Docker's order: the address spaces, then
        per subnet (the user's, then a driver-chosen IPv4 one first and IPv6 one
        last where the user gave none) RequestPool, the gateway's RequestAddress
        (unless the pool's data names one and the user gave none) and one per aux
        address. Fills the network's IPAM.Config (and pools, for a plugin)."""
        from cnmctl.ipam.api import GATEWAY_KEY, GATEWAY_OPTIONS, PoolRequest
        from cnmctl.ipam.pools import check_overlap

        in_use = [ipaddress.ip_network(c["Subnet"], strict=False)
                  for n in existing for c in n.ipam_config]
        for cfg in config:  # Docker's message, before any driver is asked
            check_overlap(cfg["Subnet"], in_use)
        versions = {ipaddress.ip_network(c["Subnet"]).version for c in config}
        wanted = [*([{}] if 4 not in versions else []), *config,
                  *([{"v6": True}] if net.enable_ipv6 and 6 not in versions else [])]
        ipam = self._ipam(net)
        if net.ipam_driver == "default" and net.enable_ipv6:
            ipam.host_id = _host_id()  # seeds the host's IPv6 ULA prefix
        space = ipam.default_address_spaces()[0]
        result, records = [], []
        for cfg in wanted:
            subnet = cfg.get("Subnet", "")
            v6 = cfg.get("v6", False) or ipaddress.ip_network(subnet or "0.0.0.0/0").version == 6
            exclude = list(in_use)
            if not subnet and not v6:
                exclude += host_networks() + _resolver_networks()
            req = PoolRequest(pool=subnet, sub_pool=cfg.get("IPRange", ""),
                              gateway=cfg.get("Gateway", ""),
                              aux_addresses=cfg.get("AuxiliaryAddresses"),
                              options=net.ipam_options or {}, exclude=exclude, v6=v6,
                              address_space=space)
            allocated = self._request_pool(ipam, req)
            if any(allocated.pool.overlaps(other) for other in exclude):
                raise Conflict(f'plugin "{ipam.name}": IpamDriver.RequestPool: returned '
                               f"{allocated.pool}, which overlaps another network's subnet"
                               + ("" if v6 or subnet else ", a host route or a resolver"))
            in_use.append(allocated.pool)
            pool = Pool(allocated.pool_id, allocated.pool, "")
            record = {"id": pool.id, "subnet": str(pool.subnet), "addresses": []}
            taken: set = set()
            gateway = allocated.data.get(GATEWAY_KEY, "").split("/")[0]
            if req.gateway or not gateway:
                gateway = str(self._request_address(ipam, pool, req.gateway or None,
                                                    GATEWAY_OPTIONS, taken).ip)
                record["addresses"].append(gateway)
            taken.add(gateway)
            aux = {}
            for name, ip in (req.aux_addresses or {}).items():
                aux[name] = str(self._request_address(ipam, pool, ip, None, taken).ip)
                record["addresses"].append(aux[name])
            records.append(record)
            if subnet and not ipam.external:  # the user's keys only, as Docker shows them
                result.append(cfg)
                continue
            shown = {"Subnet": str(pool.subnet), "IPRange": req.sub_pool, "Gateway": gateway,
                     "AuxiliaryAddresses": aux}
            result.append({k: v for k, v in shown.items() if v})
        net.ipam_config = result
        if ipam.external:
            net.ipam_pools = records

    def _release_pools(self, net: Network) -> None:
        """`network rm`: the default driver's state goes with the network's IPAM
        document; a plugin gets, once committed, ReleaseAddress for the gateway
        and aux addresses, then ReleasePool, for each pool."""
        self.store.delete("ipam", net.id)
        for rec in net.ipam_pools:
            for address in rec["addresses"]:
                self._tx.then({"kind": "ipam-address", "driver": net.ipam_driver,
                               "pool": rec["id"], "address": address})
            self._tx.then({"kind": "ipam-pool", "driver": net.ipam_driver, "pool": rec["id"]})

    # -- endpoints ------------------------------------------------------------------
    def _check_request(self, net: Network, ip: str, ip6: str, aliases: list[str]) -> None:
        """Refuse what the network cannot take: addresses or aliases on the default
        bridge, and addresses outside its subnets (or, for the default driver, taken:
        requested and dropped, so the error is exactly the one start would raise; a
        plugin is asked only at start, as Docker does)."""
        from cnmctl.engine.containers import ALIAS_ONLY, USER_IP_ONLY

        if net.is_default_bridge and (ip or ip6):
            raise InvalidArgument(USER_IP_ONLY)
        if net.is_default_bridge and aliases:
            raise InvalidArgument(ALIAS_ONLY)
        pools = self._pools(net)
        for text in (ip, ip6):
            if text:
                pool = self._pool_for(pools, text)
                if net.ipam_driver == "default":
                    self._default_ipam(net).request_address(pool.id, text)

    def _allocate(self, net: Network, ep: Endpoint, ip: str, ip6: str, mac: str = "") -> str:
        """Fill `ep`'s addresses and gateways: one RequestAddress per family, the
        static --ip/--ip6 or any free one, with Docker's options (the endpoint's
        name; its MAC when the driver requires one, made up here if none was asked
        for). Returns the MAC the endpoint must have ("": the network driver's)."""
        from cnmctl.ipam.api import endpoint_options

        ipam = self._ipam(net)
        pools = self._pools(net)
        requires_mac = ipam.capabilities().requires_mac
        if requires_mac and not mac:
            from cnmctl.drivers.bridge import random_mac

            mac = random_mac()
        options = endpoint_options(ep.name, mac if requires_mac else "")
        chosen: dict[int, tuple[Pool, str | None]] = {}
        for text in (ip, ip6):
            if text:
                pool = self._pool_for(pools, text)
                chosen[pool.subnet.version] = (pool, text)
        for pool in pools:
            chosen.setdefault(pool.subnet.version, (pool, None))
        taken = self._held(net) if ipam.external else set()
        for version, (pool, wanted) in sorted(chosen.items()):
            got = self._request_address(ipam, pool, wanted, options, taken)
            cidr = f"{got.ip}/{pool.subnet.prefixlen}"
            if version == 4:
                ep.ipv4, ep.gateway = cidr, pool.gateway
            else:
                ep.ipv6, ep.ipv6_gateway = cidr, pool.gateway
        if not ipam.external:
            self._save_ipam(net, list(ipam.pools.values()))
        return mac

    def _held(self, net: Network) -> set[str]:
        """The addresses of a network's gateways (those a pool's data named too, which
        the plugin never handed out), aux addresses and endpoints."""
        held = {a for rec in net.ipam_pools for a in rec["addresses"]}
        held.update(pool.gateway for pool in self._pools(net))
        held.update(cidr.split("/")[0] for ep in self.endpoints(net.id)
                    for cidr in (ep.ipv4, ep.ipv6) if cidr)
        return held

    def _release(self, net: Network | None, ep: Endpoint) -> None:
        """Give an endpoint's addresses back: to the default driver's state now, to
        a plugin once committed and after the endpoint's interface is gone."""
        if net is None:
            return
        ipam = self._default_ipam(net) if net.ipam_driver == "default" else None
        for cidr in (ep.ipv4, ep.ipv6):
            if not cidr:
                continue
            address = cidr.split("/")[0]
            for pool in self._pools(net):
                if ipaddress.ip_address(address) not in pool.subnet:
                    continue
                if ipam is None:
                    self._tx.then({"kind": "ipam-address", "driver": net.ipam_driver,
                                   "pool": pool.id, "address": address}, last=True)
                else:
                    ipam.release_address(pool.id, address)
        if ipam is not None:
            self._save_ipam(net, list(ipam.pools.values()))

    # -- the default driver's state (derived data) -------------------------------------
    def _load_ipam(self, net: Network) -> list:
        """The network's address allocators; rebuilt (derived data) when their
        document is missing, corrupt, or not of the network's subnets."""
        from cnmctl.ipam.allocator import SubnetAllocator

        try:
            doc = self.store.get("ipam", net.id)
            allocators = [SubnetAllocator.from_doc(d) for d in doc["subnets"]] if doc else None
        except (StoreCorrupt, KeyError, TypeError, ValueError, CnmError):
            allocators = None
        wanted = [str(c["Subnet"]) for c in net.ipam_config]
        if allocators is None or sorted(str(a.subnet) for a in allocators) != sorted(wanted):
            allocators = self.rebuilt_ipam(net)
        return allocators

    def rebuilt_ipam(self, net: Network) -> list:
        """The allocators as the network's configuration and its endpoints' addresses
        say they must be (the IPAM document is derived from those)."""
        from cnmctl.ipam.allocator import SubnetAllocator

        allocators = [SubnetAllocator.from_config(c) for c in net.ipam_config]
        for ep in self.endpoints(net.id):
            for cidr in (ep.ipv4, ep.ipv6):
                if not cidr:
                    continue
                addr = ipaddress.ip_interface(cidr).ip
                for alloc in allocators:
                    if addr in alloc.subnet and not alloc.is_allocated(addr):
                        alloc.allocate(addr)
        return allocators

    def _save_ipam(self, net: Network, allocators: list) -> None:
        self.store.put("ipam", net.id, {"subnets": [a.to_doc() for a in allocators]})


def release_step(step: dict, store: Store) -> None:
    """Run an ipam-pool or ipam-address step (engine/steps.py): release what an
    IPAM plugin gave, unless it was refused, or (an address) a network or
    endpoint in the store still holds it; 'not found' from the plugin is done."""
    from cnmctl.ipam.remote import RemoteIpam, released_already
    from cnmctl.plugins import client

    if step.get("refused"):
        return
    driver, pool = step["driver"], step["pool"]
    address = step.get("address") if step["kind"] == "ipam-address" else None
    if not pool or address == "":
        raise CnmError(f'plugin "{driver}": a killed command never recorded the answer to its '
                       "request: what the plugin gave then stays with it")
    if address is not None and _held_in_store(store, driver, pool, address):
        return
    ipam = RemoteIpam(client.get(driver, "IpamDriver"))
    try:
        if address is None:
            ipam.release_pool(pool)
        else:
            ipam.release_address(pool, address)
    except client.PluginError as exc:
        if not released_already(exc):
            raise


def _held_in_store(store: Store, driver: str, pool_id: str, address: str) -> bool:
    """Whether a recorded network (its gateway or an aux address) or endpoint holds
    `address` from pool `pool_id` of IPAM driver `driver`: then it is theirs, not
    an undone request's (a plugin that refused it as taken, or handed it out twice)."""
    networks = set()
    for doc in store.list("networks"):
        net = Network.from_doc(doc)
        for rec in net.ipam_pools if net.ipam_driver == driver else ():
            if rec["id"] == pool_id:
                if address in rec["addresses"]:
                    return True
                networks.add(net.id)
    for doc in store.list("endpoints"):
        ep = Endpoint.from_doc(doc)
        if ep.network_id in networks and address in (ep.ipv4.split("/")[0],
                                                     ep.ipv6.split("/")[0]):
            return True
    return False


def _resolver_networks() -> list:
    """The host's nameservers as /32 (/128) networks: Docker keeps pools off them."""
    from cnmctl.sandbox.files import host_resolvers

    return [ipaddress.ip_network(server.split("%")[0]) for server in host_resolvers()[0]]


def _host_id() -> str:
    """A stable host identity for the IPv6 ULA prefix (the machine ID)."""
    import contextlib

    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        with contextlib.suppress(OSError), open(path, encoding="utf-8") as f:
            return f.read().strip()
    import socket

    return socket.gethostname()
