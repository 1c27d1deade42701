"""`pause` and `unpause`: a running container's processes frozen in a cgroup.

At its first pause a container gets a freezer cgroup `cnmctl/<ID>`
(cgroups.py), and the run root a marker `cgroups/<ID>` saying that this run
root owns it: the clean-up step is recorded first, then the marker and the
cgroup are made, the container's processes moved in and frozen, and the
container recorded paused. `unpause` thaws it; the cgroup stays (as runc's
does) until the container stops or is removed, whose teardown removes it
(a `cgroup` step, before the sandbox's processes are killed: a frozen task
only dies once thawed). `system check` finds a marker whose container no
longer runs, and --fix removes its cgroup.

As Docker 20.10 does, a signal sent to a paused container (`kill`, `stop`,
`rm -f`) is delivered and the container thawed so that it can act on it.
"""

from __future__ import annotations

import os

from cnmctl.errors import Conflict
from cnmctl.model import Container


class PauseOps:
    """Mixed into Engine; relies on its store, run root, transactions and lookups."""

    run_root: str

    def cgroup_marker(self, cid: str) -> str:
        """The run root's record that the container's freezer cgroup is its own."""
        from cnmctl.validate import check_id

        return os.path.join(self.run_root, "cgroups", check_id(cid, "container"))

    def pause_container(self, ref: str) -> str:
        """`pause`: freeze every process of a running container."""
        from cnmctl import cgroups
        from cnmctl.runtime import process

        freezer = cgroups.find_freezer()  # before anything: one line if there is none
        with self.transaction("pause"):
            ctr = self.find_container(ref)
            if ctr.status != "running" or not process.alive(ctr.pid, ctr.pid_start_time):
                raise Conflict(f"Container {ctr.id} is not running")
            if ctr.paused:
                raise Conflict(f"Container {ctr.id} is already paused")
            # Undone by removing the cgroup (its processes moved out, so thawed), also
            # when an unpause left it: a pause killed half-way leaves nothing frozen.
            marker = self.cgroup_marker(ctr.id)
            self._tx.created({"kind": "cgroup", "name": marker})
            os.makedirs(os.path.dirname(marker), mode=0o700, exist_ok=True)
            with open(marker, "w", encoding="ascii"):
                pass
            freezer.create(ctr.id)
            freezer.gather(ctr.id, ctr.pid)
            freezer.freeze(ctr.id)
            freezer.gather(ctr.id, ctr.pid)  # a fork that raced the freeze: frozen as it moves
            freezer.freeze(ctr.id)
            ctr.paused = True
            self.store.put("containers", ctr.id, ctr.to_doc())
        return ctr.id

    def unpause_container(self, ref: str) -> str:
        """`unpause`: let a paused container's processes run again."""
        with self.transaction("unpause"):
            ctr = self.find_container(ref)
            if not ctr.paused:
                raise Conflict(f"Container {ctr.id} is not paused")
            self._thaw(ctr)
        return ctr.id

    def _thaw(self, ctr: Container) -> None:
        """Record the container unpaused (in the open transaction); its cgroup is
        thawed once that is committed (a step, redone after a crash)."""
        ctr.paused = False
        self.store.put("containers", ctr.id, ctr.to_doc())
        self._tx.then({"kind": "cgroup", "name": self.cgroup_marker(ctr.id), "thaw": True})

    def signal_container(self, ctr: Container, sig: int) -> None:
        """Send `sig` to the container's process; a paused container is thawed after
        it, so that it can act on it (Docker 20.10's killWithSignal)."""
        import contextlib

        with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
            os.kill(ctr.pid, sig)
        if ctr.paused:
            with self.transaction("unpause"):
                doc = self.store.get("containers", ctr.id)
                if doc is not None and doc.get("paused"):
                    self._thaw(Container.from_doc(doc))
            ctr.paused = False

    def _drop_cgroup(self, ctr: Container) -> None:
        """At teardown (in the open transaction): no longer paused, and once committed,
        the cgroup removed (before the sandbox's processes are killed)."""
        ctr.paused = False
        marker = self.cgroup_marker(ctr.id)
        if os.path.exists(marker):
            self._tx.then({"kind": "cgroup", "name": marker})
