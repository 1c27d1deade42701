"""Network verbs: create, rm, prune."""

from __future__ import annotations

import contextlib

from cnmctl.drivers import BUILTIN_DRIVERS
from cnmctl.engine.base import check_name
from cnmctl.errors import Conflict, Forbidden, NotFound
from cnmctl.model import Network, new_id, now_rfc3339nano


class NetworkOps:
    """`network create`, `rm` and `prune`; mixed into Engine."""

    # -- network create -----------------------------------------------------
    def create_network(
        self,
        name: str,
        *,
        driver: str = "bridge",
        subnets: list[str] = (),
        ip_ranges: list[str] = (),
        gateways: list[str] = (),
        aux_addresses: list[str] = (),
        enable_ipv6: bool = False,
        internal: bool = False,
        attachable: bool = False,
        options: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        ipam_driver: str = "default",
        ipam_options: dict[str, str] | None = None,
    ) -> Network:
        """`network create`: validate everything, then make the bridge and record it."""
        from cnmctl.drivers import get_driver
        from cnmctl.ipam import default as ipam

        check_name(name, "network")
        drv = get_driver(driver)
        caps = drv.capabilities()
        if not caps.needs_ipam:  # host and null: the predefined one is the only one
            raise Forbidden(f'only one instance of "{driver}" network is allowed')
        if ipam_driver != "default":
            raise NotFound(f'plugin "{ipam_driver}" not found')
        config = ipam.parse_ipam_config(
            list(subnets), list(ip_ranges), list(gateways), list(aux_addresses), enable_ipv6
        )
        net = Network(
            id=new_id(), name=name, driver=driver, created=now_rfc3339nano(),
            ipam_options=dict(ipam_options or {}), internal=internal, attachable=attachable,
            enable_ipv6=enable_ipv6, options=dict(options or {}), labels=dict(labels or {}),
            scope=caps.scope,
        )
        # Import the sandbox layer (netlink) before taking the lock: the import is the
        # slow part.
        from cnmctl.sandbox import interfaces

        if caps.external_connectivity:
            self.require_firewall()
        self.ensure_kernel()
        with self.transaction("network create") as tx:
            existing = self.networks()
            if any(n.name == name for n in existing):
                raise Conflict(f"network with name {name} already exists")
            net.ipam_config = self._complete_ipam(config, existing, enable_ipv6,
                                                  interfaces.host_networks)
            drv.validate(net, existing)
            # pending until the driver accepted it: a plugin asked to delete a network
            # it never received may refuse (steps.py)
            at = tx.created({"kind": "network", "doc": net.to_doc(), "pending": True})
            drv.create_network(net)
            tx.accepted(at)
            self._record_network(net)
            if caps.external_connectivity:
                self.firewall_changed()
        return net

    def _complete_ipam(self, config: list[dict], existing: list[Network], enable_ipv6: bool,
                       host_networks) -> list[dict]:
        """Check explicit subnets against other networks; pick default pools for the rest,
        clear of `host_networks()` (the host's own subnets and routes)."""
        import ipaddress

        from cnmctl.ipam import default as ipam

        in_use = [ipaddress.ip_network(c["Subnet"], strict=False)
                  for n in existing for c in n.ipam_config]
        for cfg in config:
            ipam.check_overlap(ipaddress.ip_network(cfg["Subnet"], strict=False), in_use)
        versions = {ipaddress.ip_network(c["Subnet"], strict=False).version for c in config}
        result = list(config)
        if 4 not in versions:
            reserved = host_networks() + _resolver_networks()
            subnet = ipam.choose_pool(in_use, reserved)
            result.insert(0, {"Subnet": str(subnet), "Gateway": str(ipam.default_gateway(subnet))})
        if enable_ipv6 and 6 not in versions:
            subnet = ipam.choose_pool_v6(in_use, _host_id())
            result.append({"Subnet": str(subnet), "Gateway": str(ipam.default_gateway(subnet))})
        return result

    def _record_network(self, net: Network) -> None:
        """Write the network and its (empty) address allocation state."""
        if net.ipam_config:
            from cnmctl.ipam import default as ipam

            self._save_ipam(net, [ipam.SubnetAllocator.from_config(c) for c in net.ipam_config])
        self.store.put("networks", net.id, net.to_doc())

    # -- network rm / prune -------------------------------------------------
    def remove_network(self, ref: str) -> Network:
        """`network rm` of one network; refuses predefined and busy networks. Endpoints
        whose container or sandbox no longer exists do not count: they are cleared."""
        with self.transaction("network rm"):
            net = self.find_network(ref)
            if net.predefined:
                raise Forbidden(f"{net.name} is a pre-defined network and cannot be removed")
            self._drop_stale_endpoints(lambda ep: ep.network_id == net.id)
            busy = self.endpoints(net.id)
            if busy:
                names = ", ".join(sorted(e.name for e in busy))
                raise Conflict(
                    f"error while removing network: network {net.name} has active endpoints "
                    f"({names})"
                )
            self._delete_network(net)
        return net

    def prune_networks(self, keep) -> list[str]:
        """Remove every user-defined network without endpoints for which `keep` is false."""
        removed = []
        with self.transaction("network prune"):
            self._drop_stale_endpoints(lambda ep: True)
            busy = {e.network_id for e in self.endpoints()}
            for net in self.networks():
                if net.predefined or net.id in busy or keep(net):
                    continue
                self._delete_network(net)
                removed.append(net.name)
        return removed

    def _delete_network(self, net: Network) -> None:
        """The records of a network; once committed, its DNS helper and kernel objects."""
        self.store.delete("networks", net.id)
        self.store.delete("ipam", net.id)
        self._tx.then({"kind": "dns-stop", "network": net.id})
        self._tx.then({"kind": "network", "doc": net.to_doc()})
        # A plugin's network has no rules in cnmctl's firewall: its plugin need not answer.
        if net.driver in BUILTIN_DRIVERS and self._driver(net).capabilities().external_connectivity:
            self.firewall_changed()


def _resolver_networks() -> list:
    """The host's nameservers as /32 (/128) networks: Docker keeps pools off them."""
    import ipaddress

    from cnmctl.sandbox.files import host_resolvers

    return [ipaddress.ip_network(server.split("%")[0]) for server in host_resolvers()[0]]


def _host_id() -> str:
    """A stable host identity for the IPv6 ULA prefix (the machine ID)."""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        with contextlib.suppress(OSError), open(path, encoding="utf-8") as f:
            return f.read().strip()
    import socket

    return socket.gethostname()
