"""The controller: each verb as one transaction over store, IPAM, drivers and sandboxes.

The CLI calls these methods and renders what they return; they never print.
Every mutation validates first, then takes the store lock, changes the kernel
through a driver, records the result, and undoes the kernel changes if a
later step fails.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterable, Iterator

from cnmctl.engine.addresses import AddressOps
from cnmctl.engine.attach import AttachOps
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
from cnmctl.engine.connect import ConnectOps
from cnmctl.engine.containers import ContainerOps
from cnmctl.engine.dns import DnsOps
from cnmctl.engine.images import ImageOps
from cnmctl.engine.lifecycle import LifecycleOps
from cnmctl.engine.liveness import EXIT_LOST, LivenessOps
from cnmctl.engine.networks import NetworkOps
from cnmctl.engine.pause import PauseOps
from cnmctl.engine.ports import PortOps
from cnmctl.engine.restart import RestartOps
from cnmctl.engine.tx import Transaction, recover
from cnmctl.errors import CnmError
from cnmctl.model import Container, Endpoint, Network, new_id, now_rfc3339nano
from cnmctl.store import Store, StoreCorrupt, open_store
from cnmctl.validate import is_id, private_dir


class Engine(NetworkOps, AddressOps, ContainerOps, LifecycleOps, AttachOps, ConnectOps, DnsOps,
             LivenessOps, PortOps, RestartOps, PauseOps, ImageOps):
    """cnmctl's state and the operations on it, for one store and run root."""

    def __init__(self, root: str | None = None, run_root: str | None = None,
                 check_schema: bool = True) -> None:
        """The engine over a store and run root (created on first use). `check_schema`
        False lets `system check` open a store whose schema file is unreadable."""
        # Both made 0700 if missing, refused if others could plant files in them.
        self.root = private_dir(root or os.environ.get("CNMCTL_ROOT") or DEFAULT_ROOT,
                                "store root")
        self.run_root = private_dir(
            run_root or os.environ.get("CNMCTL_RUN_ROOT") or DEFAULT_RUN_ROOT, "run root")
        self.store: Store = open_store(self.root)
        self._tx: Transaction | None = None
        if not self.store.exists():
            self._initialise()
        elif check_schema:
            self.store.check_schema()

    # -- transactions -------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self, verb: str) -> Iterator[Transaction]:
        """The command's transaction (see engine/tx.py): under the store lock, after
        finishing or undoing what killed commands left; committed when the block
        ends, rolled back if it raises. A nested call joins the open one."""
        if self._tx is not None:
            yield self._tx
            return
        with self.store.lock():
            for error in recover(self.store, self.run_root):
                print(f"Warning: repairing an interrupted command: {error}", file=sys.stderr)
            tx = self._tx = Transaction(self.store, self.run_root, verb)
            try:
                yield tx
            except BaseException:
                self._tx = None
                for error in tx.rollback():
                    print(f"Warning: undo: {error}", file=sys.stderr)
                raise
            self._tx = None
            for error in tx.commit():  # committed: what a step could not do is reported
                print(f"Warning: {error}", file=sys.stderr)

    # -- first use and reboots ----------------------------------------------
    def _initialise(self) -> None:
        """Create the store and the predefined networks `bridge`, `host`, `none`, in
        one transaction."""
        with self.transaction("initialise"):
            if self.store.exists():  # another process won the race
                return
            self.store.initialise()
            self.create_predefined()

    def create_predefined(self) -> None:
        """Record whichever of the predefined networks is missing (in the open
        transaction): a store that lost its schema file keeps those it has."""
        from cnmctl.drivers.bridge import BRIDGE_NAME as BRIDGE_NAME_OPT
        from cnmctl.drivers.bridge import (
            DEFAULT_BRIDGE,
            ENABLE_ICC,
            ENABLE_IP_MASQUERADE,
            HOST_BINDING_IPV4,
            MTU,
        )

        have = {net.name for net in self.networks()}
        created = now_rfc3339nano()
        if "bridge" not in have:
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
            if name not in have:
                self._record_network(Network(id=new_id(), name=name, driver=driver,
                                             created=created, ipam_options=None))

    def ensure_kernel(self) -> None:
        """Re-make the networks' kernel objects after a reboot (or on first use).

        The run root is on tmpfs: when its marker is missing, the kernel state
        is assumed lost. Every recorded network is restored, the firewall
        written as the store implies it, and containers
        recorded as running whose process is gone are marked exited (code 255,
        as Docker reports containers that died with their daemon) with their
        endpoints released. It is a transaction of its own, committed before the
        marker is written, so a command that fails afterwards cannot take the
        repair back: call it before opening the command's transaction.
        """
        marker = os.path.join(self.run_root, BOOT_MARKER)
        if os.path.exists(marker):
            return
        assert self._tx is None, "ensure_kernel inside a transaction"
        with self.store.lock():
            if os.path.exists(marker):
                return
            with self.transaction("restore"):
                for net in self.networks():
                    self._driver(net).restore_network(net)
                self.firewall_changed()
                from cnmctl.runtime import process

                for ctr in self.containers():
                    if ctr.status == "running" and not process.alive(ctr.pid,
                                                                     ctr.pid_start_time):
                        self.container_exited(ctr.id, EXIT_LOST, expected_pid=ctr.pid)
                    elif ctr.status == "restarting":  # its waiter went with the reboot
                        self._settle_restart(ctr.id, (ctr.waiter_pid, ctr.waiter_start))
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
        if is_id(ref):
            doc = self.store.get("containers", ref)
            if doc is not None:
                return Container.from_doc(doc)
        if is_valid_name(ref):
            owner = self.name_owner(ref)
            if owner is not None:
                return owner
        # Only the documents whose file name (the ID) starts with ref: a name or a
        # network's name would otherwise parse every container.
        docs = [self.store.get("containers", cid) for cid in self.store.ids("containers")
                if ref and cid.startswith(ref)]
        return find_by_ref([Container.from_doc(d) for d in docs if d], ref, "container")

    def name_owner(self, name: str) -> Container | None:
        """The container called `name`, from the name index. The index is derived
        data: an entry whose container is gone or renamed counts as free (fixed by the
        next transaction that takes the name, or by `system check --fix`), and a
        corrupt entry is answered by a scan of every container."""
        try:
            owner = self.store.get("container-names", name)
        except StoreCorrupt:
            return next((c for c in self.containers() if c.name == name), None)
        doc = self.store.get("containers", owner["id"]) if owner else None
        if doc is None or doc.get("name") != name:
            return None
        return Container.from_doc(doc)

    def wait_container(self, ref: str) -> int:
        """`wait`: block until the container is not running; its exit code.

        It watches the process itself (a pidfd), not only the record: a container
        whose supervisor is gone stops all the same, and one found lost is reaped
        (see liveness.py)."""
        ctr = self.find_container(ref)
        code, finished = ctr.exit_code, ctr.finished_at
        while True:
            doc = self.store.get("containers", ctr.id)
            if doc is None:  # removed, as --rm does at the exit
                return code
            ctr = Container.from_doc(doc)
            if ctr.status == "restarting" and ctr.finished_at == finished:
                # Docker counts a back-off as running: its next exit is awaited
                code = EXIT_LOST if self.reap_lost(ctr) else ctr.exit_code
                time.sleep(0.05)
                continue
            if ctr.status != "running":
                return ctr.exit_code
            code = EXIT_LOST if self.watch_exit(ctr, 1.0) else ctr.exit_code

    def inspect_object(self, ref: str, kind: str | None = None) -> dict:
        """`inspect`: a container, an image or a network (in Docker's order) by
        name, ID or prefix."""
        from cnmctl.errors import InvalidArgument, NotFound
        from cnmctl.views import network_inspect

        if kind in (None, "container"):
            try:
                found = self.find_reaped(ref)
            except NotFound:
                if kind:
                    raise
            else:
                return self.container_view(found)
        if kind in (None, "image"):
            try:
                return self.image_view(self.find_image(ref))
            except (NotFound, InvalidArgument):
                if kind:
                    raise NotFound(f"No such image: {ref}") from None
        net = self.find_network(ref)
        return network_inspect(net, self.endpoints(net.id))

    def published_ports(self, ref: str) -> dict[str, list[dict] | None]:
        """`port`: the container's NetworkSettings.Ports, each exposed port with the
        host addresses it is published on (none unless it runs)."""
        from cnmctl.ports import network_ports

        return network_ports(self.find_reaped(ref))

    def find_reaped(self, ref: str) -> Container:
        """A container as find_container gives it, its exit recorded first if it was
        found lost (liveness.py); NotFound if that removed it (--rm)."""
        from cnmctl.errors import NotFound

        found = self.reap([self.find_container(ref)])
        if not found:
            raise NotFound(f"No such container: {ref}")
        return found[0]

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
        layers = (self.image_dir(ctr.image_id), self.layer_dir(ctr.id)) if ctr.image_id else None
        return container_inspect(ctr, endpoints, networks, key, self.container_dir(ctr.id),
                                 layers)
