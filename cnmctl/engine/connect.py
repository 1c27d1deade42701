"""`network connect` and `network disconnect`: hot-plugging a running container.

Both are one transaction. Connect records the new interface's clean-up before
plugging it; disconnect forgets the endpoint in the store first and unplugs
it (and restores a default route) once committed, as steps redone after a crash.
"""

from __future__ import annotations

from cnmctl.engine.base import check_alias
from cnmctl.engine.containers import SPECIAL_MODES
from cnmctl.errors import Conflict, Forbidden, NotFound
from cnmctl.model import Network, Sandbox


class ConnectOps:
    """Mixed into Engine; relies on its transactions, lookups and endpoints."""

    def connect(self, net_ref: str, ctr_ref: str, ip: str = "", ip6: str = "",
                aliases: list[str] = ()) -> None:
        """`network connect`: record the request; hot-plug it when the container runs."""
        from cnmctl.sandbox import interfaces

        for alias in aliases:
            check_alias(alias)
        self.ensure_kernel()
        with self.transaction("network connect") as tx:
            net = self._network_for_start(net_ref)
            ctr = self.find_container(ctr_ref)
            if ctr.network_mode in SPECIAL_MODES or ctr.network_mode.startswith("container:"):
                raise Forbidden("container sharing network namespace with another container "
                                "or host cannot be connected to any other network")
            if net.is_default_bridge:
                self._check_request(net, ip, ip6, aliases)  # Docker's messages, first
            if net.name in ctr.networks or any(other.id == net.id for other in
                                               self.resolve_networks(ctr.networks).values()):
                raise Conflict(f"endpoint with name {ctr.name} already exists in network "
                               f"{net.name}")
            req = {"ip": ip, "ip6": ip6, "aliases": list(aliases), "mac": "", "connected": True}
            sandbox = None
            if ctr.status == "running" and ctr.sandbox_id:
                sandbox = Sandbox.from_doc(self.store.get("sandboxes", ctr.sandbox_id))
                had_default = bool(interfaces.default_routes(sandbox.key))
                ep = self._attach(ctr, sandbox, net, req, default_route=not had_default)
                sandbox.endpoint_ids.append(ep.id)
                self.store.put("sandboxes", sandbox.id, sandbox.to_doc())
                dns_networks = self._dns_networks([net])
                for dns_net in dns_networks:
                    tx.created({"kind": "dns-detach", "network": dns_net.id,
                                "name": sandbox.key})
                self.dns_attach(sandbox, dns_networks)
                tx.then({"kind": "dns-reload"})
            else:
                self._check_request(net, ip, ip6, [])
            ctr.networks[net.name] = req
            self.store.put("containers", ctr.id, ctr.to_doc())
            if sandbox is not None:
                self._write_files(ctr, sandbox)

    def disconnect(self, net_ref: str, ctr_ref: str, force: bool = False) -> None:
        """`network disconnect`: unplug the interface, keep a default route if one is
        left. With `force`, a container that no longer exists still has its endpoints
        on the network cleared (by name or ID), as Docker's `disconnect -f` is for."""
        with self.transaction("network disconnect") as tx:
            net = self._network_for_start(net_ref)
            try:
                ctr = self.find_container(ctr_ref)
            except NotFound:
                if not force or not self._drop_stale_endpoints(
                        lambda ep: ep.network_id == net.id
                        and (ep.name == ctr_ref or ep.container_id.startswith(ctr_ref))):
                    raise
                tx.then({"kind": "dns-reload"})
                return
            if force:
                self._drop_stale_endpoints(
                    lambda ep: ep.network_id == net.id and ep.container_id == ctr.id)
            resolved = self.resolve_networks(ctr.networks)
            names = [n for n in ctr.networks
                     if n == net.name or (n in resolved and resolved[n].id == net.id)]
            if not names:
                raise NotFound(f"container {ctr.id} is not connected to network {net.name}")
            sandbox = None
            if ctr.status == "running" and ctr.sandbox_id:
                sandbox = Sandbox.from_doc(self.store.get("sandboxes", ctr.sandbox_id))
                self._unplug(sandbox, net)
            for name in names:
                del ctr.networks[name]
            if any(binding["network"] == net.id for binding in ctr.ports):
                # Docker too stops publishing ports on a network the container left.
                ctr.ports = [b for b in ctr.ports if b["network"] != net.id]
                self.firewall_changed()
            self.store.put("containers", ctr.id, ctr.to_doc())
            if sandbox is not None:
                self._write_files(ctr, sandbox)

    def _unplug(self, sandbox: Sandbox, net: Network) -> None:
        """Forget the sandbox's endpoints on `net`; once committed, the DNS helper
        lets go, the interfaces go, and a default route comes back via the first
        remaining routable network if the one that left carried it."""
        tx = self._tx
        leaving = [e for e in self._sandbox_endpoints(sandbox) if e.network_id == net.id]
        for ep in leaving:
            self._drop_endpoint(net, ep)
            sandbox.endpoint_ids.remove(ep.id)
            tx.then({"kind": "iface", "netns": sandbox.key, "name": ep.ifname,
                     "restore": ep.src_name})
            tx.then(self._leave_step(net, ep, sandbox.key))
        self.store.put("sandboxes", sandbox.id, sandbox.to_doc())
        if not leaving:
            return
        for dns_net in self._dns_networks([net]):
            tx.then({"kind": "dns-detach", "network": dns_net.id, "name": sandbox.key})
        tx.then({"kind": "dns-reload"})
        for ep in self._sandbox_endpoints(sandbox):
            doc = self.store.get("networks", ep.network_id)
            if ep.gateway and doc:
                tx.then({"kind": "route", "netns": sandbox.key, "ifname": ep.ifname,
                         "gateway": ep.gateway})
                break

