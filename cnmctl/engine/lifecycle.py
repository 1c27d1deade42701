"""A container's life: start (sandbox, endpoints, process), exit, stop, kill, rm.

Each verb is one transaction (engine/tx.py). `start` records how to clean up
every kernel object before making it, commits the container as running, and
only then opens the gate its process waits at; so a kill at any instruction
leaves either nothing (the gate closes with the killer, the held process
exits, the recorded clean-ups run at the next command) or a running container
whose exit its supervisor will record. Teardown changes the store first and
takes the kernel objects away after the commit, as steps redone after a crash.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from cnmctl.engine.liveness import EXIT_LOST
from cnmctl.errors import Conflict
from cnmctl.faults import point
from cnmctl.model import Container, Endpoint, Network, Sandbox, new_id, now_rfc3339nano


class LifecycleOps:
    """Mixed into Engine; relies on its store, transactions, lookups and IPAM."""

    # -- endpoints ----------------------------------------------------------
    def _attach(self, ctr: Container, sandbox: Sandbox, net: Network, req: dict,
                default_route: bool) -> Endpoint:
        """Make one endpoint: addresses from IPAM, the driver's endpoint and join, the
        sandbox layer plugs it (as the next name for the join's prefix), external
        connectivity if it carries the default route, record. Each clean-up is on
        record (the caller's transaction) before the call it undoes, `pending` until
        the driver answered; so they run in reverse: revoke, unplug, leave, delete."""
        from cnmctl.errors import NotFound
        from cnmctl.sandbox import interfaces
        from cnmctl.sandbox.files import endpoint_aliases

        aliases = []
        if not net.is_default_bridge:
            aliases = endpoint_aliases(ctr, req.get("aliases", []))
        ep = Endpoint(id=new_id(), network_id=net.id, container_id=ctr.id, name=ctr.name,
                      aliases=aliases)
        mac = self._allocate(net, ep, req.get("ip", ""), req.get("ip6", ""), req.get("mac", ""))
        driver, tx = self._driver(net), self._tx
        step = self._leave_step(net, ep, sandbox.key)
        undo = {**step, "leave": False}
        at = tx.created({**undo, "pending": True})
        driver.create_endpoint(net, ep, mac)
        tx.answered(at, undo)
        undo = {**step, "delete": False}
        at = tx.created({**undo, "pending": True})
        join = driver.join(net, ep, sandbox.key)
        tx.answered(at, undo)
        ep.ifname = self._next_ifname(sandbox, net, join.prefix)
        if join.kind == "move":
            ep.src_name = join.host_ifname
        tx.created({"kind": "iface", "netns": sandbox.key, "name": ep.ifname,
                    "restore": ep.src_name})
        try:
            interfaces.plug(sandbox.key, ep.ifname, join, default_route)
        except NotFound:
            # The network's kernel objects are gone though the store has it (the kernel
            # state was lost while the run root survived): make them again.
            driver.restore_network(net)
            interfaces.plug(sandbox.key, ep.ifname, join, default_route)
        if (default_route and not net.internal and not join.disable_gateway_service
                and (join.gateway or join.gateway6)):
            undo = {**step, "revoke": True, "leave": False, "delete": False}
            at = tx.created({**undo, "pending": True})
            driver.program_external_connectivity(
                net, ep, sandbox.key, {"exposed": ctr.exposed_ports,
                                       "bindings": ctr.port_bindings})
            tx.answered(at, undo)
            ep.external = True
        driver.endpoint_info(net, ep)
        self.store.put("endpoints", ep.id, ep.to_doc())
        return ep

    @staticmethod
    def _leave_step(net: Network, ep: Endpoint, sandbox_key: str) -> dict:
        """The step that has the driver revoke (if it programmed external connectivity),
        leave and delete an endpoint (engine/steps.py)."""
        return {"kind": "endpoint", "network": net.to_doc(), "endpoint": ep.to_doc(),
                "netns": sandbox_key, "revoke": ep.external}

    @staticmethod
    def _next_ifname(sandbox: Sandbox, net: Network, prefix: str = "") -> str:
        """eth0, eth1, ... (or `prefix`, a plugin's DstPrefix, or the network's
        container_iface_prefix, and its own count, as Docker keeps one per prefix),
        never reusing an index within a sandbox's life: eth2 after eth1 left."""
        prefix = prefix or net.driver_data.get("iface_prefix") or "eth"
        index = sandbox.if_counters.get(prefix, 0)
        sandbox.if_counters[prefix] = index + 1
        return f"{prefix}{index}"

    def _sandbox_endpoints(self, sandbox: Sandbox) -> list[Endpoint]:
        eps = []
        for ep_id in sandbox.endpoint_ids:
            doc = self.store.get("endpoints", ep_id)
            if doc:
                eps.append(Endpoint.from_doc(doc))
        return eps

    def _drop_endpoint(self, net: Network | None, ep: Endpoint) -> None:
        """Forget an endpoint and free its addresses (its interface goes with the sandbox)."""
        self._release(net, ep)
        self.store.delete("endpoints", ep.id)

    # -- start --------------------------------------------------------------
    def start_container(self, ref: str, *, attach: Callable[[Container], object] | None = None):
        """`start`: build the sandbox and endpoints, then start the process.

        Returns the container; with `attach`, what `attach(container)` returned,
        called once the start is committed and before the process runs (so that
        none of its output is missed). Everything made is undone if a step fails.
        """
        from cnmctl.runtime import process

        ctr = self.find_container(ref)
        if ctr.status == "running" and not process.alive(ctr.pid, ctr.pid_start_time):
            # Exited, its supervisor recording it: let it, before building anew
            # (outside the lock, which the supervisor needs).
            self._await_exit(ctr, EXIT_LOST)
        with self.store.lock():
            self.ensure_kernel()
            with self.transaction("start"):
                ctr = self.find_container(ref)
                if self.reap_lost(ctr):  # its old sandbox released first (liveness.py)
                    ctr = self.find_container(ctr.id)
                if ctr.status == "running" and process.alive(ctr.pid, ctr.pid_start_time):
                    if ctr.paused:
                        raise Conflict("cannot start a paused container, try unpause instead")
                    return attach(ctr) if attach else ctr
                before = ctr.to_doc()
                # Started by hand: Docker's restart manager anew (a back-off is over:
                # its waiter finds the container running and leaves it).
                ctr.restart_count, ctr.backoff_ms, ctr.manually_stopped = 0, 0, False
                ctr.waiter_pid = ctr.waiter_start = 0
                launch = self._prepare_start(ctr, before)
            attached = self._go(ctr, launch, before, attach)
        return attached if attach else ctr

    def run_container(self, argv: list[str], *,
                      attach: Callable[[Container], object] | None = None,
                      **options) -> tuple[Container, object]:
        """`run`: create and start in one transaction, so a failure (or a kill)
        leaves no container behind; (the container, what `attach` returned: see
        start_container)."""
        if options.get("port_bindings") or options.get("publish_all"):
            self.require_firewall()  # before anything, the restore of a reboot included
        with self.store.lock():
            self.ensure_kernel()
            with self.transaction("run"):
                ctr = self.create_container(argv, check_networks=True, **options)
                launch = self._prepare_start(ctr, None)
            return ctr, self._go(ctr, launch, None, attach)

    def exec_container(self, ref: str, argv: list[str], *, env: list[str], workdir: str,
                       detach: bool, interactive: bool, user: str = "",
                       privileged: bool = False, tty: bool = False) -> int:
        """`exec`: the command run in the container's namespaces and root, as its
        user (or `user`) with its capabilities (all with `privileged`); its status,
        or 0 at once with `detach`. A dead DNS helper of its networks is started
        again first."""
        from cnmctl.runtime.execute import exec_in_container

        ctr = self.find_container(ref)
        if ctr.paused:
            raise Conflict(f"Container {ctr.id} is paused, unpause the container before exec")
        self.ensure_dns(ctr.sandbox_id)
        links = self.link_env(ctr, self.linked(ctr, strict=False)) if ctr.links else []
        return exec_in_container(ctr, argv, env=env, workdir=workdir, detach=detach,
                                 interactive=interactive, link_env=links, user=user,
                                 privileged=privileged, tty=tty)

    def top_container(self, ref: str, ps_args: list[str]) -> tuple[list[str], list[list[str]]]:
        """`top`: the titles and rows of `ps ps_args` for the container's processes."""
        from cnmctl.runtime.top import top

        ctr = self.find_container(ref)
        if not self.still_running(ctr.id):
            raise Conflict(f"Container {ctr.id} is not running")
        return top(ctr.pid, ps_args)

    def show_logs(self, ref: str, *, follow: bool, tail: int | None, timestamps: bool,
                  details: bool = False, since: int | None = None,
                  until: int | None = None) -> None:
        """`logs`: the container's output (runtime/logs.py); with `follow`, until it
        stops (its process, not only its record: see liveness.py)."""
        from cnmctl.runtime.logs import show_logs

        ctr = self.find_container(ref)
        show_logs(self.container_dir(ctr.id), follow=follow, tail=tail, timestamps=timestamps,
                  details=details, since=since, until=until,
                  running=lambda: self.still_running(ctr.id))

    def _prepare_start(self, ctr: Container, before: dict | None):
        """Everything of a start up to the gate, in the open transaction: the held
        process, the sandbox, files, DNS; the container recorded as running."""
        from cnmctl.engine.ports import wanted_bindings
        from cnmctl.runtime import process

        tx = self._tx
        if wanted_bindings(ctr):
            self.require_firewall()
        linked = self.linked(ctr) if ctr.links else []
        sandbox_id = new_id()
        files = self._file_paths(ctr)
        # Start the process first, held at a gate: its interpreter start-up then
        # overlaps with building the sandbox. Killed before the gate opens, it exits.
        launch = process.launch(ctr, self._netns_for(ctr, sandbox_id), files,
                                root=self.root, run_root=self.run_root,
                                folder=self.container_dir(ctr.id),
                                extra_env=self.link_env(ctr, linked),
                                marker=self._starting_path(ctr.id),
                                overlay=self.overlay_spec(ctr))
        try:
            tx.created({"kind": "session", "pid": launch.popen.pid,
                        "start": process.start_time(launch.popen.pid)})
            pid = launch.pid()
            sandbox = self._build_sandbox(ctr, sandbox_id)
            ctr.ports = self._publish(ctr, sandbox)
            if ctr.ports:
                self.firewall_changed()
            dns_networks = self._write_files(ctr, sandbox, linked)
            if dns_networks and sandbox.container_id == ctr.id:
                for net in dns_networks:
                    tx.created({"kind": "dns-detach", "network": net.id, "name": sandbox.key})
                self.dns_attach(sandbox, dns_networks)
        except BaseException:
            launch.cancel()
            raise
        tx.then({"kind": "dns-reload"})
        self._mark_starting(ctr, before)
        ctr.status, ctr.pid, ctr.pid_start_time = "running", pid, process.start_time(pid)
        ctr.supervisor_pid = launch.popen.pid
        ctr.started_at, ctr.exit_code, ctr.error = now_rfc3339nano(), 0, ""
        ctr.sandbox_id = sandbox.id if sandbox else ""
        self.store.put("containers", ctr.id, ctr.to_doc())
        return launch

    def _go(self, ctr: Container, launch, before: dict | None,
            attach: Callable[[Container], object] | None = None):
        """Open the gate of a committed start (the process removes the start's marker
        as it passes it), after `attach(ctr)` if given (its result is returned). If
        the command cannot run, undo the start in a transaction of its own (see
        _undo_start)."""
        attached = None
        try:
            point()
            if attach is not None:
                attached = attach(ctr)
            launch.go()
            return attached
        except BaseException:
            if attached is not None:
                attached.close()
            with self.transaction("start failed"):
                self._undo_start(ctr.id, before)
                self._tx.then({"kind": "file", "name": self._starting_path(ctr.id)})
            raise

    def _starting_path(self, cid: str) -> str:
        """The marker of a start between its commit and its gate (see _mark_starting)."""
        return os.path.join(self.run_root, "starting", f"{cid}.json")

    def _mark_starting(self, ctr: Container, before: dict | None) -> None:
        """Before the commit, a marker the process removes as it passes its gate: if
        the gate never opens (cnmctl killed first), whoever records the exit finds
        it and undoes the start (_abandoned_start)."""
        import json

        path = self._starting_path(ctr.id)
        self._tx.created({"kind": "file", "name": path})
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"before": before}, f)

    def _abandoned_start(self, cid: str) -> bool:
        """Undo a committed start whose gate never opened, from its marker (in the
        open transaction); False if there is no marker."""
        import json

        path = self._starting_path(cid)
        try:
            with open(path, encoding="utf-8") as f:
                before = json.load(f)["before"]
        except FileNotFoundError:
            return False
        self._undo_start(cid, before)
        self._tx.then({"kind": "file", "name": path})
        return True

    def _undo_start(self, cid: str, before: dict | None) -> None:
        """Tear down a start's sandbox and put the container back as it was `before`
        (for `run`, None: no container at all)."""
        doc = self.store.get("containers", cid)
        if doc is not None:
            failed = Container.from_doc(doc)
            # Unplugged at once: as if the start had never been, links included.
            self._teardown(failed, unplug=True)
            if before is None:
                self._forget(failed)
            else:
                self.store.put("containers", cid, before)

    def _netns_for(self, ctr: Container, sandbox_id: str) -> str:
        """The namespace the process will join: its own sandbox's, the peer's, or none."""
        if ctr.network_mode == "host":
            return ""
        if ctr.network_mode.startswith("container:"):
            peer = self._peer_container(ctr)
            return Sandbox.from_doc(self.store.get("sandboxes", peer.sandbox_id)).key
        return self.sandbox_key(sandbox_id)

    def _build_sandbox(self, ctr: Container, sandbox_id: str) -> Sandbox | None:
        """The namespace and one endpoint per requested network (none for host mode)."""
        from cnmctl.sandbox import netns

        mode = ctr.network_mode
        if mode == "host":
            return None
        if mode.startswith("container:"):
            peer = self._peer_container(ctr)
            sandbox = Sandbox.from_doc(self.store.get("sandboxes", peer.sandbox_id))
            self._set_joined(sandbox, ctr.id, True)
            return sandbox
        nets = list(self._requested(ctr))
        sandbox = Sandbox(id=sandbox_id, key=self.sandbox_key(sandbox_id), container_id=ctr.id)
        self._tx.created({"kind": "netns", "name": sandbox.key})
        netns.create(sandbox.key)
        for i, (net, req) in enumerate(nets):
            ep = self._attach(ctr, sandbox, net, req, default_route=i == 0)
            sandbox.endpoint_ids.append(ep.id)
        self.store.put("sandboxes", sandbox.id, sandbox.to_doc())
        return sandbox

    def _set_joined(self, sandbox: Sandbox, cid: str, joined: bool) -> None:
        """Record (or forget) a container sharing the sandbox, so that the owner's
        teardown spares its processes without scanning every container."""
        sandbox.joined = [c for c in sandbox.joined if c != cid] + ([cid] if joined else [])
        self.store.put("sandboxes", sandbox.id, sandbox.to_doc())

    def _peer_container(self, ctr: Container) -> Container:
        peer = self.find_container(ctr.network_mode[len("container:"):])
        if peer.status != "running" or not peer.sandbox_id:
            raise Conflict(f"cannot join network of a non running container: {peer.id}")
        return peer

    # -- exit, stop, kill, rm -------------------------------------------------
    def container_exited(self, cid: str, exit_code: int, expected_pid: int = 0,
                         waiter: bool = False) -> float | None:
        """Record an exit and release the sandbox; idempotent (several may notice).

        `waiter`: the caller saw the exit (the shim's exit hook, `cnmctl internal exited`)
        and will wait out a restart's back-off: if the restart policy asks for one,
        the container is recorded restarting with this process as its waiter, and the
        back-off in seconds is returned (engine/restart.py). Otherwise None."""
        from cnmctl.engine.restart import restart_delay

        with self.transaction("exited"):
            doc = self.store.get("containers", cid)
            if doc is None:
                return None
            ctr = Container.from_doc(doc)
            if ctr.status != "running" or (expected_pid and ctr.pid != expected_pid):
                return None
            if self._abandoned_start(cid):
                return None  # its gate never opened: cnmctl was killed at the start
            self._teardown(ctr)
            ctr.status, ctr.exit_code, ctr.pid, ctr.pid_start_time = "exited", exit_code, 0, 0
            ctr.finished_at = now_rfc3339nano()
            delay = restart_delay(ctr, exit_code, time.time()) if waiter else None
            if delay is not None:
                from cnmctl.runtime import process

                ctr.status, ctr.waiter_pid = "restarting", os.getpid()
                ctr.waiter_start = process.start_time(os.getpid())
            if ctr.auto_remove:
                self._forget(ctr)
            else:
                self.store.put("containers", ctr.id, ctr.to_doc())
        return delay

    def _teardown(self, ctr: Container, unplug: bool = False) -> None:
        """Release the endpoints and the sandbox in the store; once committed, the
        DNS helpers let go of the namespace, what still runs in it is killed and it
        is deleted (its veths vanish with it; first if `unplug`, or if a driver asks)."""
        tx = self._tx
        self._drop_cgroup(ctr)  # thawed before what runs in the sandbox is killed
        sandbox_doc = self.store.get("sandboxes", ctr.sandbox_id) if ctr.sandbox_id else None
        if sandbox_doc and sandbox_doc["container_id"] == ctr.id:
            sandbox = Sandbox.from_doc(sandbox_doc)
            eps = self._sandbox_endpoints(sandbox)
            nets = self._networks_of(eps)
            for net, ep in zip(nets, eps, strict=True):
                self._drop_endpoint(net, ep)
            # After the store forgot the names, before the namespace goes: the
            # helpers' sockets in it would keep it (and its veths) alive.
            for net in self._dns_networks(nets):
                tx.then({"kind": "dns-detach", "network": net.id, "name": sandbox.key})
            tx.then({"kind": "dns-reload"})
            unplug = unplug or any(self._driver(net).unplug_first for net in nets if net)
            tx.then({"kind": "netns", "name": sandbox.key, "keep": self._kept(ctr, sandbox),
                     "ifaces": [ep.ifname for ep in eps], "unplug": unplug,
                     "restore": [[ep.ifname, ep.src_name] for ep in eps if ep.src_name]})
            for net, ep in zip(nets, eps, strict=True):
                if net is not None:
                    tx.then(self._leave_step(net, ep, sandbox.key))
            self.store.delete("sandboxes", sandbox.id)
        elif sandbox_doc and ctr.id in sandbox_doc.get("joined", ()):
            self._set_joined(Sandbox.from_doc(sandbox_doc), ctr.id, False)
        ctr.sandbox_id = ""
        if ctr.ports:  # its DNAT rules go with it
            ctr.ports = []
            self.firewall_changed()

    def _kept(self, ctr: Container, sandbox: Sandbox) -> list[list[int]]:
        """The mount namespaces whose processes stay when the sandbox goes: cnmctl's
        own and those of containers joined to it with --network container:OWNER."""
        from cnmctl.runtime import process

        keep = {process.namespace_of(f"/proc/{os.getpid()}/ns/mnt")}
        for cid in sandbox.joined:
            doc = self.store.get("containers", cid)
            if doc and doc["id"] != ctr.id and doc["sandbox_id"] == sandbox.id and doc["pid"]:
                keep.add(process.namespace_of(f"/proc/{doc['pid']}/ns/mnt"))
        keep.discard(None)
        return [list(k) for k in sorted(keep)]

    def _forget(self, ctr: Container) -> None:
        self.store.delete("containers", ctr.id)
        owner = self.store.get("container-names", ctr.name)
        if owner is not None and owner["id"] == ctr.id:
            self.store.delete("container-names", ctr.name)
        self._tx.then({"kind": "dir", "name": self.container_dir(ctr.id)})
        self._tx.then({"kind": "file", "name": self._starting_path(ctr.id)})
        self.drop_layer(ctr)

    def stop_container(self, ref: str, timeout: float = 10.0, sig: int = signal.SIGTERM) -> str:
        """`stop`: the signal, then SIGKILL after `timeout` seconds; waits for the exit."""
        from cnmctl.runtime import process

        ctr = self.mark_stopped(self.find_container(ref))  # no restart (restart.py)
        if ctr.status != "running" or self.reap_lost(ctr):  # liveness.py
            return ctr.id
        if process.alive(ctr.pid, ctr.pid_start_time):
            self.signal_container(ctr, sig)  # a paused one is thawed to act on it
            process.signal_and_wait(ctr.pid, ctr.pid_start_time, 0, timeout)
        self._await_exit(ctr, 128 + signal.SIGKILL)
        return ctr.id

    def _await_exit(self, ctr: Container, fallback_code: int) -> None:
        """Give the supervisor a moment to record the exit; do it ourselves if it is gone
        (never while the process still runs: that would tear down a live container)."""
        from cnmctl.runtime import process

        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            doc = self.store.get("containers", ctr.id)
            if doc is None or doc["status"] != "running" or doc["pid"] != ctr.pid:
                return
            if not process.supervised(ctr):
                break
            time.sleep(0.01)
        if not process.alive(ctr.pid, ctr.pid_start_time):
            self.container_exited(ctr.id, fallback_code, expected_pid=ctr.pid)

    def kill_container(self, ref: str, sig: int) -> str:
        """`kill`: send a signal to the container's process."""
        from cnmctl.runtime import process

        ctr = self.find_container(ref)
        if ctr.status == "restarting":  # as Docker: the back-off ends, no signal to send
            self.mark_stopped(ctr)
            return ctr.id
        if ctr.status != "running" or not process.alive(ctr.pid, ctr.pid_start_time):
            raise Conflict(f"Cannot kill container: {ref}: Container {ctr.id} is not running")
        self.mark_stopped(ctr)  # any signal: no restart at its next exit (as Docker)
        self.signal_container(ctr, sig)
        if sig == signal.SIGKILL:
            process.signal_and_wait(ctr.pid, ctr.pid_start_time, 0, 5.0)
            self._await_exit(ctr, 128 + signal.SIGKILL)
        return ctr.id

    def remove_container(self, ref: str, force: bool = False) -> Container:
        """`rm`: refuse a running container unless `force`, which kills it first
        (its supervisor's session too) and clears endpoints left behind by it."""
        from cnmctl.runtime import process

        ctr = self.find_container(ref)
        if ctr.status == "restarting" or (ctr.status == "running"
                                          and process.alive(ctr.pid, ctr.pid_start_time)):
            if not force:
                procedure = "Stop the container before attempting removal or force remove"
                if ctr.paused:
                    procedure = "Unpause and then " + procedure.lower()
                raise Conflict(f"You cannot remove a {ctr.state} container {ctr.id}. "
                               f"{procedure}")
            ctr = self.mark_stopped(ctr)  # its exit restarts nothing
            if ctr.status == "running":
                self.signal_container(ctr, signal.SIGKILL)  # thawed after it: v1 needs that
                process.signal_and_wait(ctr.pid, ctr.pid_start_time, 0, 5.0)
        with self.transaction("rm"):
            doc = self.store.get("containers", ctr.id)
            if doc is None:
                return ctr
            ctr = Container.from_doc(doc)
            if ctr.status == "running":
                self._teardown(ctr)
                if ctr.supervisor_pid:
                    self._tx.then({"kind": "session", "pid": ctr.supervisor_pid,
                                   "start": process.start_time(ctr.supervisor_pid)})
            if force:
                self._drop_stale_endpoints(lambda ep: ep.container_id == ctr.id)
            self._forget(ctr)
        return ctr

    def prune_containers(self) -> list[tuple[str, int]]:
        """`container prune`: remove every container that is not running; (ID, bytes
        of its logs and files) of each."""
        removed = []
        with self.transaction("container prune"):
            for ctr in self.containers():
                if ctr.status not in ("running", "restarting"):
                    removed.append((ctr.id, folder_size(self.container_dir(ctr.id))))
                    self._forget(ctr)
        return removed

    def _drop_stale_endpoints(self, match) -> list[Endpoint]:
        """Forget the endpoints `match` picks whose container or sandbox is gone
        (left by a crash of an older cnmctl, or a store edited by hand)."""
        # Every sandbox read (a corrupt one raises): skipping it would make its
        # endpoints look stale and free addresses that containers use.
        live = {ep_id for sid in self.store.ids("sandboxes")
                for ep_id in (self.store.get("sandboxes", sid) or {}).get("endpoint_ids", ())}
        dropped = []
        for ep in self.endpoints():
            if match(ep) and ep.id not in live:
                doc = self.store.get("networks", ep.network_id)
                self._drop_endpoint(Network.from_doc(doc) if doc else None, ep)
                dropped.append(ep)
        return dropped


def folder_size(folder: str) -> int:
    """Bytes of the regular files directly in `folder` (a container's logs and files)."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    return sum(e.stat(follow_symlinks=False).st_size for e in entries
               if e.is_file(follow_symlinks=False))
