"""The controller: each verb as one transaction over store, IPAM, drivers and sandboxes.

The CLI calls these methods and renders what they return; they never print.
Every mutation validates first, then takes the store lock, changes the kernel
through a driver, records the result, and undoes the kernel changes if a
later step fails.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable

from cnmctl.engine.base import (
    BOOT_MARKER,
    DEFAULT_BRIDGE_GATEWAY,
    DEFAULT_BRIDGE_NAME,
    DEFAULT_BRIDGE_SUBNET,
    DEFAULT_ROOT,
    DEFAULT_RUN_ROOT,
    find_by_ref,
    is_valid_name,
)
from cnmctl.engine.containers import ContainerOps
from cnmctl.engine.dns import DnsOps
from cnmctl.engine.liveness import EXIT_LOST, LivenessOps
from cnmctl.engine.networks import NetworkOps
from cnmctl.errors import CnmError
from cnmctl.model import Container, Endpoint, Network, new_id, now_rfc3339nano
from cnmctl.store import JsonStore


class Engine(NetworkOps, ContainerOps, DnsOps, LivenessOps):
    """cnmctl's state and the operations on it, for one store and run root."""

    def __init__(self, root: str | None = None, run_root: str | None = None) -> None:
        self.root = root or os.environ.get("CNMCTL_ROOT") or DEFAULT_ROOT
        self.run_root = run_root or os.environ.get("CNMCTL_RUN_ROOT") or DEFAULT_RUN_ROOT
        self.store = JsonStore(self.root)
        if not self.store.exists():
            self._initialise()
        else:
            self.store.check_schema()

    # -- first use and reboots ----------------------------------------------
    def _initialise(self) -> None:
        """Create the store and the predefined networks `bridge`, `host`, `none`."""
        with self.store.lock():
            if self.store.exists():  # another process won the race
                return
            self.store.initialise()
            from cnmctl.drivers.bridge import BRIDGE_NAME as BRIDGE_NAME_OPT
            from cnmctl.drivers.bridge import (
                DEFAULT_BRIDGE,
                ENABLE_ICC,
                ENABLE_IP_MASQUERADE,
                HOST_BINDING_IPV4,
                MTU,
            )

            created = now_rfc3339nano()
            bridge = Network(
                id=new_id(), name="bridge", driver="bridge", created=created,
                ipam_options=None,
                ipam_config=[{"Subnet": DEFAULT_BRIDGE_SUBNET,
                              "Gateway": DEFAULT_BRIDGE_GATEWAY}],
                options={
                    DEFAULT_BRIDGE: "true",
                    ENABLE_ICC: "true",
                    ENABLE_IP_MASQUERADE: "true",
                    HOST_BINDING_IPV4: "0.0.0.0",
                    BRIDGE_NAME_OPT: DEFAULT_BRIDGE_NAME,
                    MTU: "1500",
                },
            )
            self._driver(bridge).validate(bridge)
            self._record_network(bridge)
            for name, driver in (("host", "host"), ("none", "null")):
                net = Network(id=new_id(), name=name, driver=driver, created=created,
                              ipam_options=None)
                self._record_network(net)

    def ensure_kernel(self) -> None:
        """Re-make the networks' kernel objects after a reboot (or on first use).

        The run root is on tmpfs: when its marker is missing, the kernel state
        is assumed lost. Every recorded network is restored, and containers
        recorded as running whose process is gone are marked exited (code 255,
        as Docker reports containers that died with their daemon) with their
        endpoints released.
        """
        marker = os.path.join(self.run_root, BOOT_MARKER)
        if os.path.exists(marker):
            return
        with self.store.lock():
            if os.path.exists(marker):
                return
            for net in self.networks():
                self._driver(net).restore_network(net)
            from cnmctl.runtime import process

            for ctr in self.containers():
                if ctr.status == "running" and not process.alive(ctr.pid, ctr.pid_start_time):
                    self.container_exited(ctr.id, EXIT_LOST, expected_pid=ctr.pid)
            os.makedirs(self.run_root, mode=0o700, exist_ok=True)
            with open(marker, "w", encoding="utf-8") as f:
                f.write(now_rfc3339nano() + "\n")

    # -- lookups ------------------------------------------------------------
    @staticmethod
    def _driver(net: Network):
        from cnmctl.drivers import get_driver

        return get_driver(net.driver)

    def networks(self) -> list[Network]:
        """Every network, sorted by name."""
        nets = [Network.from_doc(d) for d in self.store.list("networks")]
        return sorted(nets, key=lambda n: n.name)

    def find_network(self, ref: str) -> Network:
        """A network by full ID, exact name, or unique ID prefix."""
        return find_by_ref(self.networks(), ref, "network")

    def resolve_networks(self, refs: Iterable[str]) -> dict[str, Network]:
        """Each of `refs` that names an existing network -> that network, from one
        listing of the store (find_network lists it on every call)."""
        nets = self.networks()
        found = {}
        for ref in refs:
            with contextlib.suppress(CnmError):
                found[ref] = find_by_ref(nets, ref, "network")
        return found

    def endpoints(self, network_id: str | None = None) -> list[Endpoint]:
        """Endpoints, optionally only those on one network."""
        eps = [Endpoint.from_doc(d) for d in self.store.list("endpoints")]
        if network_id is not None:
            eps = [e for e in eps if e.network_id == network_id]
        return eps

    def containers(self) -> list[Container]:
        """Every container, newest first (as `ps` lists them)."""
        ctrs = [Container.from_doc(d) for d in self.store.list("containers")]
        return sorted(ctrs, key=lambda c: c.created, reverse=True)

    def find_container(self, ref: str) -> Container:
        """A container by full ID, name, or unique ID prefix."""
        # A full ID, then a name (from the name index): one read each; then the
        # scan for an ID prefix. Docker's order.
        if len(ref) == 64:
            doc = self.store.get("containers", ref)
            if doc is not None:
                return Container.from_doc(doc)
        if is_valid_name(ref):
            owner = self.store.get("container-names", ref)
            doc = self.store.get("containers", owner["id"]) if owner else None
            if doc is not None:
                return Container.from_doc(doc)
        # Only the documents whose file name (the ID) starts with ref: a name or a
        # network's name would otherwise parse every container.
        docs = [self.store.get("containers", cid) for cid in self.store.ids("containers")
                if ref and cid.startswith(ref)]
        return find_by_ref([Container.from_doc(d) for d in docs if d], ref, "container")

    def wait_container(self, ref: str) -> int:
        """`wait`: block until the container is not running; its exit code.

        It watches the process itself (a pidfd), not only the record: a container
        whose supervisor is gone stops all the same, and one found lost is reaped
        (see liveness.py)."""
        ctr = self.find_container(ref)
        code = ctr.exit_code
        while True:
            doc = self.store.get("containers", ctr.id)
            if doc is None:  # removed, as --rm does at the exit
                return code
            ctr = Container.from_doc(doc)
            if ctr.status != "running":
                return ctr.exit_code
            code = EXIT_LOST if self.watch_exit(ctr, 1.0) else ctr.exit_code

    def inspect_object(self, ref: str, kind: str | None = None) -> dict:
        """`inspect`: a container (first) or network by name, ID or prefix."""
        from cnmctl.errors import NotFound
        from cnmctl.views import network_inspect

        if kind in (None, "container"):
            try:
                found = self.reap([self.find_container(ref)])
                if not found:  # found lost, and removed with its exit (--rm)
                    raise NotFound(f"No such container: {ref}")
            except NotFound:
                if kind:
                    raise
            else:
                return self.container_view(found[0])
        net = self.find_network(ref)
        return network_inspect(net, self.endpoints(net.id))

    def container_view(self, ctr: Container) -> dict:
        """The Docker-shaped inspect document of one container."""
        from cnmctl.model import Sandbox
        from cnmctl.views import container_inspect

        networks = self.resolve_networks([*ctr.networks, "bridge"])
        endpoints, key = [], ""
        doc = self.store.get("sandboxes", ctr.sandbox_id) if ctr.sandbox_id else None
        if doc:
            sandbox = Sandbox.from_doc(doc)
            key = sandbox.key
            if sandbox.container_id == ctr.id:
                endpoints = self._sandbox_endpoints(sandbox)
        return container_inspect(ctr, endpoints, networks, key, self.container_dir(ctr.id))
