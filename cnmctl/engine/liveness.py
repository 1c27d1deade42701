"""Liveness: a container runs only while its process does, whatever its record says.

A running container's record holds its process's pid and start time (which
together name it across pid reuse) and its supervisor's pid. The supervisor
records the exit, with the real exit code, when the process ends. A supervisor
killed with SIGKILL, or a whole session killed, records nothing, and the record
would say "running" forever. So the commands that read a container (`ps`,
`inspect`, `wait`, `logs -f`, `stop`, `start`) look at the process itself
(/proc, and a pidfd to wait), never only at the record:

- process alive: running, even if its supervisor is gone (an orphan: nobody will
  record its exit, so `wait`, `logs -f` and `stop` watch the process itself, and
  the first command that finds it dead records the exit);
- process gone, supervisor alive: the supervisor is recording the exit, with the
  real code; it is left to do so;
- process and supervisor gone: nobody can tell how it ended. `reap` records it
  exited with EXIT_LOST and releases its sandbox and endpoints (so its addresses
  are free and the DNS stops answering its names), under the store lock
  (`container_exited`, which is idempotent: whoever notices first records it).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from cnmctl.engine.base import BOOT_MARKER
from cnmctl.model import Container
from cnmctl.store import Store

# The exit code of a container that ended with nobody to see how: its process and
# its supervisor both gone, or lost with the kernel state at a reboot. Docker records
# 255 when it can no longer find a container's process to ask (its containerd
# client's DeleteTask, as when the daemon comes back); 137 would claim a SIGKILL that
# may never have happened.
EXIT_LOST = 255


class LivenessOps:
    """Mixed into Engine; relies on its store, run root and ContainerOps.container_exited."""

    store: Store
    run_root: str

    def lost(self, ctr: Container) -> bool:
        """True if `ctr` is recorded running but its process and its supervisor are
        both gone, so that no one will ever record its exit; or recorded restarting
        and the process waiting to restart it is gone (restart.py)."""
        from cnmctl.runtime import process

        booted = os.path.exists(os.path.join(self.run_root, BOOT_MARKER))
        if ctr.status == "restarting":
            return not booted or not process.alive(ctr.waiter_pid, ctr.waiter_start)
        if ctr.status != "running":
            return False

        if process.alive(ctr.pid, ctr.pid_start_time):
            return False
        # After a reboot (the run root's marker gone with the tmpfs) the recorded pids
        # are no one's: start times count from the boot, so another process at the
        # supervisor's pid could pass for it.
        return not process.supervised(ctr) or not booted

    def reap_lost(self, ctr: Container) -> bool:
        """Record `ctr` exited (EXIT_LOST; a lost restart with the code it had) if it is
        lost; True if it was."""
        if not self.lost(ctr):
            return False
        if ctr.status == "restarting":
            self._settle_restart(ctr.id, (ctr.waiter_pid, ctr.waiter_start))
        else:
            self.container_exited(ctr.id, EXIT_LOST, expected_pid=ctr.pid)
        return True

    def reap(self, containers: Iterable[Container]) -> list[Container]:
        """`containers` as they really are: each lost one recorded exited and read
        again (left out if that removed it: --rm)."""
        found = []
        for ctr in containers:
            if self.reap_lost(ctr):
                doc = self.store.get("containers", ctr.id)
                if doc is None:
                    continue
                ctr = Container.from_doc(doc)
            found.append(ctr)
        return found

    def watch_exit(self, ctr: Container, timeout: float) -> bool:
        """Block until the running container `ctr` may have stopped, at most about
        `timeout` s: a pidfd wakes us the moment its process exits; while its
        supervisor records that exit, a short pause. A lost container is reaped
        here; True if this call did so."""
        from cnmctl.runtime import process

        if process.alive(ctr.pid, ctr.pid_start_time):
            process.wait_exit(ctr.pid, ctr.pid_start_time, timeout)
            return False
        if self.reap_lost(ctr):
            return True
        import time

        time.sleep(min(timeout, 0.02))  # the supervisor is recording the exit
        return False

    def still_running(self, cid: str) -> bool:
        """True while the container is recorded running and is not lost (its process
        lives, or its supervisor is recording the exit); a lost one is reaped."""
        doc = self.store.get("containers", cid)
        if doc is None or doc["status"] != "running":
            return False
        return not self.reap_lost(Container.from_doc(doc))
