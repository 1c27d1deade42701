"""Network verbs: create, rm, prune."""

from __future__ import annotations

from cnmctl.drivers import BUILTIN_DRIVERS
from cnmctl.engine.base import check_name
from cnmctl.errors import Conflict, Forbidden
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
        from cnmctl.ipam.config import parse_ipam_config

        check_name(name, "network")
        drv = get_driver(driver)
        caps = drv.capabilities()
        if not caps.needs_ipam:  # host and null: the predefined one is the only one
            raise Forbidden(f'only one instance of "{driver}" network is allowed')
        config = parse_ipam_config(
            list(subnets), list(ip_ranges), list(gateways), list(aux_addresses), enable_ipv6
        )
        net = Network(
            id=new_id(), name=name, driver=driver, created=now_rfc3339nano(),
            ipam_driver=ipam_driver, ipam_options=dict(ipam_options or {}), internal=internal,
            attachable=attachable, enable_ipv6=enable_ipv6, options=dict(options or {}),
            labels=dict(labels or {}), scope=caps.scope,
        )
        self._ipam(net)  # a plugin found and activated before anything is locked or made
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
            self._request_pools(net, config, existing, interfaces.host_networks)
            drv.validate(net, existing)
            # pending until the driver answered: a plugin asked to delete a network it
            # never received may refuse (steps.py)
            undo = {"kind": "network", "doc": net.to_doc()}
            at = tx.created({**undo, "pending": True})
            drv.create_network(net)
            tx.answered(at, undo)
            self._record_network(net)
            if caps.external_connectivity:
                self.firewall_changed()
        return net

    def _record_network(self, net: Network) -> None:
        """Write the network and the default IPAM driver's (empty) allocation state."""
        if net.ipam_config and net.ipam_driver == "default":
            from cnmctl.ipam.allocator import SubnetAllocator

            self._save_ipam(net, [SubnetAllocator.from_config(c) for c in net.ipam_config])
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
        self._release_pools(net)
        self._tx.then({"kind": "dns-stop", "network": net.id})
        self._tx.then({"kind": "network", "doc": net.to_doc()})
        # A plugin's network has no rules in cnmctl's firewall: its plugin need not answer.
        if net.driver in BUILTIN_DRIVERS and self._driver(net).capabilities().external_connectivity:
            self.firewall_changed()

