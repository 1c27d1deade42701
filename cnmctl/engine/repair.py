"""`system check [--fix]`: the store against the kernel, the run root and the processes.

Each finding is one line: what is wrong, with which object, and what `--fix`
does about it. The checks run in phases, each on the state the previous
phase's fixes left (with --fix, all in one transaction, so the repair itself
is crash-safe):

1. interrupted commands: committed store journals, intents, temporary files;
2. store documents: the schema, corrupt documents, the predefined networks;
3. references: containers recorded running whose process is gone, sandboxes
   without their container, endpoints without their sandbox or network;
4. derived data: the name index, IPAM allocations (rebuilt from the rest);
5. the kernel: namespace mounts, bridges, veths, macvlan/ipvlan parents cnmctl made
   (against the store);
6. processes and the run root: supervisors, DNS helpers, freezer cgroups, folders;
7. the firewall: cnmctl's nftables table against the one the store implies;
8. images: image folders and container layers against their records.

Another firewall that drops forwarded traffic (firewall/coexist.py) is no
finding: --fix cannot change it. `system check` warns of it instead.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable

from cnmctl.engine.liveness import EXIT_LOST
from cnmctl.errors import CnmError
from cnmctl.model import PREDEFINED_NETWORKS, Container, Endpoint, Network, Sandbox
from cnmctl.store.api import DERIVED_KINDS, KINDS, StoreCorrupt


class Finding:
    """One problem: a line for the user and the repair that removes it."""

    def __init__(self, what: str, name: str, problem: str, action: str,
                 fix: Callable[[], None]) -> None:
        self.what, self.name, self.problem, self.action, self.fix = (
            what, name, problem, action, fix)

    def line(self) -> str:
        """`what name: problem; --fix will action`."""
        return f"{self.what} {self.name}: {self.problem}; --fix will {self.action}"


class Checker:
    """The phases of `system check` over one engine (under its store lock)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.store = engine.store
        self.run_root = engine.run_root

    def phases(self) -> list[Callable[[], list[Finding]]]:
        """The checks, in the order their fixes must run."""
        return [self.interrupted, self.documents, self.references, self.derived,
                self.kernel, self.processes, self.firewall, self.images]

    # -- 1. interrupted commands ----------------------------------------------------
    def interrupted(self) -> list[Finding]:
        from cnmctl.engine.tx import pending_intents

        found = []
        for txid in self.store.pending_commits():
            found.append(Finding("transaction", txid, "committed but not applied (killed)",
                                 "apply it", lambda: None))
        for path in pending_intents(self.run_root):
            found.append(Finding("intent", os.path.basename(path),
                                 "a command was interrupted", "finish or undo it",
                                 lambda: None))
        for path in self.store.stray_files():
            found.append(Finding("file", path, "temporary file of an interrupted write",
                                 "remove it", lambda p=path: _unlink(p)))
        # (Journals and intents need no fix of their own: the repair's transaction
        # recovers them all as it starts.)
        found += self._reports()
        containers = {c.id: c for c in self.engine.containers()}
        for name in _listdir(os.path.join(self.run_root, "starting")):
            ctr = containers.get(name[:-5])
            if ctr is None or ctr.status != "running" or self.engine.lost(ctr):
                found.append(Finding("start", name[:-5][:12], "a start that never opened its "
                                     "gate", "undo it", lambda c=name[:-5]: self._undo(c)))
        return found

    def _reports(self) -> list[Finding]:
        """What background hooks reported (engine/reports.py), a finding a line."""
        from cnmctl.engine import reports

        lines = reports.read_reports(self.run_root)
        return [Finding("report", f"{n}/{len(lines)}", line, "forget it (shown here)",
                        lambda: reports.clear_reports(self.run_root))
                for n, line in enumerate(lines, 1)]

    def _undo(self, cid: str) -> None:
        if not self.engine._abandoned_start(cid):
            return
        self.engine._tx.then({"kind": "dns-reload"})

    # -- 2. store documents ---------------------------------------------------------
    def documents(self) -> list[Finding]:
        found = []
        try:
            readable = self.store.exists() and self.store.check_schema() is None
        except StoreCorrupt:
            readable = False
        if not readable:
            found.append(Finding("store", self.store.root, "schema.json missing or unreadable",
                                 "write it again", self.store.initialise))
        for kind in KINDS:
            for doc_id in self.store.ids(kind):
                try:
                    self.store.get(kind, doc_id)
                except StoreCorrupt as exc:
                    self.store.warned(exc.path)
                    action = ("rebuild it" if kind in DERIVED_KINDS
                              else "move it aside (as .corrupt)")
                    found.append(Finding("document", exc.path, str(exc).split(": ", 2)[-1]
                                         .split(";")[0], action,
                                         lambda k=kind, i=doc_id: self.store.quarantine(k, i)))
        names = [net.name for net in self.engine.networks()]
        for name in PREDEFINED_NETWORKS:
            if name not in names:
                found.append(Finding("network", name, "predefined network missing",
                                     "create it", self.engine.create_predefined))
        return found

    # -- 3. references ----------------------------------------------------------------
    def references(self) -> list[Finding]:
        from cnmctl.runtime import process
        from cnmctl.sandbox import netns

        found = []
        engine = self.engine
        sandboxes = {doc["id"]: Sandbox.from_doc(doc) for doc in self.store.list("sandboxes")}
        containers = {c.id: c for c in engine.containers()}
        for ctr in containers.values():
            if ctr.status == "restarting" and engine.lost(ctr):
                found.append(Finding("container", ctr.name, "restarting, the process waiting "
                                     "to restart it is gone", "record it exited",
                                     lambda c=ctr: engine.reap_lost(c)))
            if ctr.status != "running":
                continue
            problem = ""
            joined = ctr.network_mode.startswith("container:")
            if engine.lost(ctr):  # a process gone with a live supervisor: it is recording
                problem = "recorded running, its process and supervisor are gone"
            elif not process.alive(ctr.pid, ctr.pid_start_time) or joined:
                pass  # joined: it keeps its owner's namespace alive after the owner left
            elif ctr.network_mode != "host" and ctr.sandbox_id not in sandboxes:
                problem = "running without its sandbox"
            elif ctr.sandbox_id and not netns.exists(sandboxes[ctr.sandbox_id].key):
                problem = "running, its namespace is gone"
            if problem:
                found.append(Finding("container", ctr.name, problem,
                                     f"record it exited ({EXIT_LOST}) and release its sandbox",
                                     lambda c=ctr: self._lost(c)))
        for sandbox in sandboxes.values():
            owner = containers.get(sandbox.container_id)
            if owner is None or owner.status != "running" or owner.sandbox_id != sandbox.id:
                found.append(Finding("sandbox", sandbox.id[:12],
                                     "no running container owns it",
                                     "release its endpoints and delete its namespace",
                                     lambda s=sandbox: self._drop_sandbox(s)))
        live = {ep for s in sandboxes.values() for ep in s.endpoint_ids}
        networks = {net.id for net in engine.networks()}
        for ep in engine.endpoints():
            if ep.id not in live or ep.network_id not in networks:
                why = "no sandbox lists it" if ep.id not in live else "its network is gone"
                found.append(Finding("endpoint", f"{ep.name} ({ep.id[:12]})", why,
                                     "forget it and free its addresses",
                                     lambda e=ep: self._drop_endpoint(e)))
        return found

    def _lost(self, ctr: Container) -> None:
        """Kill what is left of a container (a process whose namespace is gone, a
        supervisor: the session step kills only a real supervisor of this run root)
        and record it exited."""
        from cnmctl.runtime import process

        if ctr.supervisor_pid:
            self.engine._tx.then({"kind": "session", "pid": ctr.supervisor_pid,
                                  "start": process.start_time(ctr.supervisor_pid)})
        if ctr.pid and process.alive(ctr.pid, ctr.pid_start_time):
            with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
                os.kill(ctr.pid, 9)
        self.engine.container_exited(ctr.id, EXIT_LOST, expected_pid=ctr.pid)

    def _drop_sandbox(self, sandbox: Sandbox) -> None:
        tx = self.engine._tx
        for ep in self.engine._sandbox_endpoints(sandbox):
            self._drop_endpoint(ep)
        self.store.delete("sandboxes", sandbox.id)
        tx.then({"kind": "dns-reload"})
        tx.then({"kind": "netns", "name": sandbox.key})

    def _drop_endpoint(self, ep: Endpoint) -> None:
        doc = self.store.get("networks", ep.network_id)
        self.engine._drop_endpoint(Network.from_doc(doc) if doc else None, ep)

    # -- 4. derived data ----------------------------------------------------------------
    def derived(self) -> list[Finding]:
        found = []
        engine = self.engine
        containers = engine.containers()
        by_name = {c.name: c.id for c in containers}
        for name in self.store.ids("container-names"):
            try:
                doc = self.store.get("container-names", name)
            except StoreCorrupt:
                doc = None
            if doc is None or by_name.get(name) != doc["id"]:
                found.append(Finding("name", name, "the index names no such container",
                                     "remove the entry",
                                     lambda n=name: self.store.delete("container-names", n)))
        for name, cid in by_name.items():
            if not self._indexed(name, cid):
                found.append(Finding("name", name, "missing from the name index", "add it",
                                     lambda n=name, c=cid: self.store.put(
                                         "container-names", n, {"id": c})))
        for net in engine.networks():
            if not net.ipam_config or net.ipam_driver != "default":  # a plugin keeps its own
                continue
            rebuilt = [a.to_doc() for a in engine.rebuilt_ipam(net)]
            try:
                doc = self.store.get("ipam", net.id)
            except StoreCorrupt:
                doc = None
            if doc is None or doc.get("subnets") != rebuilt:
                found.append(Finding("ipam", net.name,
                                     "address allocations disagree with the endpoints",
                                     "rebuild them from the endpoints",
                                     lambda n=net: engine._save_ipam(n, engine.rebuilt_ipam(n))))
        return found

    def _indexed(self, name: str, cid: str) -> bool:
        try:
            doc = self.store.get("container-names", name)
        except StoreCorrupt:
            return False
        return doc is not None and doc["id"] == cid

    # -- 5. the kernel ---------------------------------------------------------------
    def kernel(self) -> list[Finding]:
        from cnmctl.drivers.bridge import owner_of
        from cnmctl.sandbox import interfaces

        found = []
        engine = self.engine
        keys = {doc["key"] for doc in self.store.list("sandboxes")}
        folder = os.path.join(self.run_root, "netns")
        for entry in _listdir(folder):
            path = os.path.join(folder, entry)
            if path not in keys:
                found.append(Finding("namespace", path, "no sandbox records it",
                                     "kill what runs in it and delete it",
                                     lambda p=path: engine._tx.then({"kind": "netns",
                                                                     "name": p})))
        networks = engine.networks()
        links = interfaces.host_links()
        names = {name for name, _kind, _master, _alias in links}
        bridges = {}
        for net in networks:
            bridge = net.driver_data.get("bridge") if net.driver == "bridge" else None
            # A macvlan/ipvlan parent cnmctl made (a dummy or VLAN link, parentlink.py).
            made = net.driver_data.get("parent") if net.driver_data.get("make") else None
            if bridge:
                bridges[bridge] = net
            for link, what in ((bridge, "bridge"), (made, "parent link")):
                if link and link not in names:
                    # create_network, not restore_network: a restore leaves what it cannot
                    # make for the next start to report, a fix must say why it failed.
                    found.append(Finding(what, link, f"network {net.name} has no {what}",
                                         "make it again",
                                         lambda n=net: engine._driver(n).create_network(n)))
        ids = {net.id for net in networks}
        host_ends = {ep.host_ifname for ep in engine.endpoints()}
        veths = {}
        for name, kind, master, alias in links:
            if owner_of(alias) and owner_of(alias) not in ids:
                found.append(Finding(kind or "link", name, "its network is gone", "delete it",
                                     lambda n=name: engine._tx.then({"kind": "link",
                                                                     "name": n})))
            elif kind == "veth" and master in bridges and name not in host_ends:
                veths[name] = master
        for name in _settled(veths):
            found.append(Finding("veth", name, f"on {veths[name]} for no endpoint", "delete it",
                                 lambda n=name: engine._tx.then({"kind": "link", "name": n})))
        return found

    # -- 6. processes and the run root -------------------------------------------------
    def processes(self) -> list[Finding]:
        from cnmctl.dns import control
        from cnmctl.runtime import process

        found = []
        engine = self.engine
        containers = {c.id: c for c in engine.containers()}
        running = {c.supervisor_pid for c in containers.values() if c.status == "running"}
        for pid, cid in process.supervisors(engine.root):
            if pid not in running:
                found.append(Finding("supervisor", f"{pid} ({cid[:12]})",
                                     "supervises no running container", "kill its session",
                                     lambda p=pid: engine._tx.then({
                                         "kind": "session", "pid": p,
                                         "start": process.start_time(p)})))
        short_ids = {net.id[:12]: net for net in engine.networks()}
        for short_id in control.running_helpers(self.run_root):
            if short_id not in short_ids:
                found.append(Finding("dns helper", short_id, "its network is gone", "stop it",
                                     lambda s=short_id: engine._tx.then({
                                         "kind": "dns-stop", "network": s})))
        served = {ep.network_id for ep in engine.endpoints()}
        for net in engine._dns_networks(short_ids.values()):
            if net.id in served and not control.alive(net.id, self.run_root):
                found.append(Finding("dns helper", net.id[:12],
                                     f"not running, though containers on {net.name} use it",
                                     "start it", lambda n=net: engine._dns_restart(n)))
        found += self._cgroups(containers)
        found += self._unowned(os.path.join(self.run_root, "containers"), set(containers),
                               "folder", "dir")
        return found

    def _cgroups(self, containers: dict[str, Container]) -> list[Finding]:
        """Freezer cgroups this run root made (pause.py) for containers that no longer
        run, and paused containers whose cgroup is gone."""
        from cnmctl import cgroups
        from cnmctl.validate import is_id

        found = []
        engine = self.engine
        for cid in filter(is_id, _listdir(os.path.join(self.run_root, "cgroups"))):
            ctr = containers.get(cid)
            if ctr is None or ctr.status != "running":
                found.append(Finding("cgroup", f"{cgroups.PARENT}/{cid[:12]}",
                                     "its container is not running", "thaw and remove it",
                                     lambda c=cid: engine._tx.then({
                                         "kind": "cgroup", "name": engine.cgroup_marker(c)})))
        paused = [c for c in containers.values() if c.state == "paused"]
        if paused:
            try:
                freezer = cgroups.find_freezer()
            except cgroups.FreezerMissing:
                freezer = None
            for ctr in paused:
                if freezer is None or not freezer.exists(ctr.id):
                    found.append(Finding("container", ctr.name,
                                         "recorded paused, its freezer cgroup is gone",
                                         "record it unpaused", lambda c=ctr: engine._thaw(c)))
        return found

    # -- 7. the firewall ---------------------------------------------------------------
    def firewall(self) -> list[Finding]:
        from cnmctl.firewall import sync
        from cnmctl.firewall.apply import FirewallError

        try:
            problem = sync.drift(self.store)
        except FirewallError as exc:
            problem = str(exc)
        if not problem:
            return []
        return [Finding("firewall", "table inet cnmctl", problem,
                        "write it as the store implies", self.engine.firewall_changed)]


    # -- 8. images ----------------------------------------------------------------------
    def images(self) -> list[Finding]:
        from cnmctl.engine.images import IMAGE_ROOTS, LAYERS

        found = []
        engine = self.engine
        containers = engine.containers()
        records = set(self.store.ids("images"))
        # An image deleted by force keeps its folder for the containers still using it.
        used = {c.image_id for c in containers if c.image_id}
        roots = os.path.join(engine.root, IMAGE_ROOTS)
        for entry in _listdir(roots):
            if entry not in records and entry not in used:
                path = os.path.join(roots, entry)
                found.append(Finding("image folder", path, "no image records it", "remove it",
                                     lambda p=path: engine._tx.then({"kind": "store-dir",
                                                                     "name": p})))
        for image_id in sorted(records):
            if not os.path.isdir(os.path.join(roots, image_id)):
                found.append(Finding("image", image_id[:12], "its folder is gone",
                                     "forget it", lambda i=image_id:
                                     self.store.delete("images", i)))
        found += self._unowned(os.path.join(engine.root, LAYERS),
                               {c.id for c in containers if c.image_id}, "layer", "store-dir")
        return found

    def _unowned(self, folder: str, owners: set[str], what: str, step: str) -> list[Finding]:
        """A finding for each entry of `folder` (one per container ID) that no
        container in `owners` records; the fix removes it with a `step` step."""
        found = []
        for entry in _listdir(folder):
            if entry not in owners:
                path = os.path.join(folder, entry)
                found.append(Finding(what, path, "no container records it", "remove it",
                                     lambda p=path: self.engine._tx.then({"kind": step,
                                                                          "name": p})))
        return found


def _settled(veths: dict[str, str], patience: float = 2.0) -> list[str]:
    """The veths among `veths` still there after a moment: the kernel frees a deleted
    namespace (and the veths whose peers it held) asynchronously, after its unmount."""
    import time

    from cnmctl.sandbox import interfaces

    deadline = time.monotonic() + patience
    left = set(veths)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left &= {name for name, _kind, _master, _alias in interfaces.host_links()}
    return sorted(left)


def check(engine) -> list[Finding]:
    """Every finding, changing nothing."""
    checker = Checker(engine)
    with engine.store.lock():
        return [f for phase in checker.phases() for f in phase()]


def fix(engine, rounds: int = 3) -> tuple[list[Finding], list[Finding]]:
    """Repair phase by phase, each in a transaction, again while a repair uncovers
    more (a container joined to a sandbox that a repair released); (what was fixed,
    what remains)."""
    checker = Checker(engine)
    fixed: list[Finding] = []
    with engine.store.lock():
        for _ in range(rounds):
            before = len(fixed)
            for phase in checker.phases():
                findings = phase()  # before the transaction, whose start recovers phase 1's
                with engine.transaction("system check --fix"):
                    for finding in findings:
                        try:
                            finding.fix()
                        except CnmError as exc:  # reported; the next finding gets its turn
                            print(f"Warning: could not fix {finding.what} {finding.name}: "
                                  f"{exc}", file=sys.stderr)
                            continue
                        fixed.append(finding)
            if len(fixed) == before:
                break
        remaining = check(engine)
    return fixed, remaining


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _listdir(folder: str) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except FileNotFoundError:
        return []
