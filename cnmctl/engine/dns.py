"""Keeping the embedded DNS helpers in step with the sandboxes.

Each DNS-enabled network has one helper process (cnmctl.dns.server). The
engine tells it, while holding the store lock, when a sandbox joins the network
(`attach`, before the transaction commits) or leaves it (`detach`, a step after
the commit; engine/steps.py); the helper acknowledges both. Once a transaction
has committed, every running helper is told to `reload` (a sandbox on two
networks is served by both helpers, and each answers for both networks); so a
name resolves when `run` returns and stops when `rm` returns.
"""

from __future__ import annotations

from collections.abc import Iterable

from cnmctl.errors import KernelError
from cnmctl.model import Endpoint, Network, Sandbox
from cnmctl.store import Store


class DnsOps:
    """Mixed into Engine; relies on its store, roots and lookups."""

    store: Store
    root: str
    run_root: str

    @staticmethod
    def _dns_networks(networks: Iterable[Network | None]) -> list[Network]:
        """The DNS-enabled ones among `networks`, each once (None: a network gone)."""
        from cnmctl.dns.records import dns_enabled

        return list({net.id: net for net in networks if net and dns_enabled(net)}.values())

    def _networks_of(self, endpoints: list[Endpoint]) -> list[Network | None]:
        """Each endpoint's network, read from the store (None if it is gone)."""
        docs = [self.store.get("networks", ep.network_id) for ep in endpoints]
        return [Network.from_doc(doc) if doc else None for doc in docs]

    def dns_attach(self, sandbox: Sandbox, networks: list[Network]) -> None:
        """Serve `sandbox` from the helper of each of `networks` (starting it, or
        restarting it with every sandbox of its network, if it is not running).
        The transaction tells every helper to reload once it has committed."""
        from cnmctl.dns import control

        for net in networks:
            try:
                control.request(net.id, self.run_root, f"attach {sandbox.key}")
            except control.HelperUnreachable:
                self._dns_restart(net, sandbox.key)

    def _dns_restart(self, net: Network, required_key: str = "") -> None:
        """Start the network's helper and attach every sandbox on the network.
        Only `required_key` must attach; the others are best effort (a sandbox
        whose container died unnoticed has no namespace left to serve)."""
        from cnmctl.dns import control

        control.ensure_helper(net.id, self.root, self.run_root)
        keys = self._network_sandbox_keys(net.id)
        if required_key and required_key not in keys:
            keys.append(required_key)
        for key in keys:
            try:
                control.request(net.id, self.run_root, f"attach {key}")
            except KernelError:
                if key == required_key:
                    raise

    def _network_sandbox_keys(self, network_id: str) -> list[str]:
        endpoint_ids = {doc["id"] for doc in self.store.list("endpoints")
                        if doc.get("network_id") == network_id}
        keys = []
        for doc in self.store.list("sandboxes"):
            if endpoint_ids.intersection(doc.get("endpoint_ids", ())):
                keys.append(doc["key"])
        return keys

    def ensure_dns(self, sandbox_id: str) -> None:
        """Restart the helpers of the sandbox's networks that died (`exec` calls
        this, so a lab's next command brings names back after a helper crash)."""
        from cnmctl.dns import control

        doc = self.store.get("sandboxes", sandbox_id) if sandbox_id else None
        if doc is None:
            return
        endpoints = self._sandbox_endpoints(Sandbox.from_doc(doc))
        networks = self._dns_networks(self._networks_of(endpoints))
        dead = [net for net in networks if not control.alive(net.id, self.run_root)]
        if not dead:
            return
        with self.store.lock():
            for net in dead:
                if not control.alive(net.id, self.run_root):
                    self._dns_restart(net)
