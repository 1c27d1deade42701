"""Restart policies (`--restart`), as Docker's restart manager applies them, without a
daemon.

- **At an exit.** The process that saw the exit (the container's shim, which
  becomes `cnmctl internal exited`) records it
  (`container_exited`) and decides as moby's restartmanager does: `always` and
  `unless-stopped` restart, `on-failure` only after a non-zero exit and while
  fewer than MAX restarts were made; never after `stop`, `kill` or `rm -f` (the
  container is then *manually stopped*). Docker's back-off: 100 ms, doubled at
  each restart up to one minute, back to 100 ms when the container had run 10 s.
  The container is recorded `restarting` with its restart count, its exit code
  and who waits (pid and start time); the waiting happens after the commit,
  outside the store lock, and the waiter looks at the record again under the
  lock before starting it: `stop`, `kill`, `rm -f` or `start` meanwhile cancel
  it.
- **Crashes.** A waiter that dies (killed, a reboot) is found by liveness
  (liveness.py) like a lost supervisor: the container is recorded exited with the
  code it had. A restart killed between its commit and its gate is undone by the
  start marker (lifecycle.py) back to `restarting`, then found the same way.
- **After a reboot.** `cnmctl system boot` restores the kernel state and starts
  what Docker's daemon starts when it comes up: `always` containers, `unless-stopped`
  ones that were not stopped by hand, `on-failure` ones whose last exit code was
  not zero and whose count is below MAX (moby's daemon.restore asks the same
  restart manager).
"""

from __future__ import annotations

import os
import time

from cnmctl.errors import CnmError, InvalidArgument
from cnmctl.model import Container, rfc3339_to_ns
from cnmctl.store import Store

POLICIES = ("no", "always", "unless-stopped", "on-failure")
BACKOFF_FIRST_MS = 100
BACKOFF_MAX_MS = 60_000
RESET_AFTER_S = 10  # a container that ran this long starts its back-off anew


def check_restart_policy(name: str, count: int) -> None:
    """Refuse what dockerd refuses (daemon's validateRestartPolicy)."""
    if name in ("", "no", "always", "unless-stopped"):
        if count != 0:
            raise InvalidArgument(
                f"maximum retry count cannot be used with restart policy '{name}'")
    elif name == "on-failure":
        if count < 0:
            raise InvalidArgument("maximum retry count cannot be negative")
    else:
        raise InvalidArgument(f"invalid restart policy '{name}'")


def _on_failure_wants(ctr: Container, exit_code: int) -> bool:
    return exit_code != 0 and (ctr.restart_max == 0 or ctr.restart_count < ctr.restart_max)


def restart_delay(ctr: Container, exit_code: int, now: float) -> float | None:
    """At an exit: the back-off in seconds if `ctr` must restart (its count and
    back-off updated), else None. moby's restartmanager.ShouldRestart."""
    if ctr.restart_policy in ("", "no") or ctr.manually_stopped:
        return None
    if now - rfc3339_to_ns(ctr.started_at) / 1e9 >= RESET_AFTER_S:
        ctr.backoff_ms = 0
    ctr.backoff_ms = (BACKOFF_FIRST_MS if not ctr.backoff_ms
                      else min(ctr.backoff_ms * 2, BACKOFF_MAX_MS))
    if ctr.restart_policy == "on-failure" and not _on_failure_wants(ctr, exit_code):
        return None
    ctr.restart_count += 1
    return ctr.backoff_ms / 1000


def wanted_at_boot(ctr: Container) -> bool:
    """True if `system boot` starts `ctr` (what dockerd starts as it comes up)."""
    if ctr.status != "exited":
        return False  # never started, or already running (or restarting)
    policy = ctr.restart_policy
    return (policy == "always" or (policy == "unless-stopped" and not ctr.manually_stopped)
            or (policy == "on-failure" and _on_failure_wants(ctr, ctr.exit_code)))


class RestartOps:
    """Mixed into Engine; relies on its store, transactions and LifecycleOps."""

    store: Store

    def restart_after(self, cid: str, delay: float) -> None:
        """Wait `delay` s (outside the lock), then start the container again if it is
        still restarting with this process as its waiter; a start that fails leaves
        it exited, with the error in State.Error (as Docker does)."""
        from cnmctl.runtime import process

        time.sleep(delay)
        me = (os.getpid(), process.start_time(os.getpid()))
        try:
            with self.store.lock():
                self.ensure_kernel()
                with self.transaction("restart"):
                    ctr = self._waited_by(cid, me)
                    if ctr is None:
                        return  # stopped, removed or started meanwhile
                    before = ctr.to_doc()
                    ctr.waiter_pid = ctr.waiter_start = 0
                    launch = self._prepare_start(ctr, before)
                self._go(ctr, launch, before)
        except CnmError as exc:
            self._settle_restart(cid, me, str(exc))

    def _waited_by(self, cid: str, waiter: tuple[int, int]) -> Container | None:
        """The container if it is restarting with `waiter` as its waiter, else None."""
        doc = self.store.get("containers", cid)
        ctr = Container.from_doc(doc) if doc else None
        if ctr is None or ctr.status != "restarting" or (
                (ctr.waiter_pid, ctr.waiter_start) != waiter):
            return None
        return ctr

    def _settle_restart(self, cid: str, waiter: tuple[int, int], error: str = "") -> None:
        """Record a restarting container exited (with the code it had), if `waiter`
        still waits for it: its waiter is gone, or its start failed."""
        with self.transaction("restart ended"):
            ctr = self._waited_by(cid, waiter)
            if ctr is not None:
                ctr.status, ctr.waiter_pid, ctr.waiter_start = "exited", 0, 0
                ctr.error = error
                self.store.put("containers", cid, ctr.to_doc())

    def mark_stopped(self, ctr: Container) -> Container:
        """`stop`, `kill`, `rm -f`: mark the container manually stopped before it is
        signalled, so its exit restarts nothing, and end a back-off (exited, with the
        code it had). Only for containers with a policy (or restarting); the record
        as it is now."""
        if ctr.restart_policy in ("", "no") and ctr.status != "restarting":
            return ctr
        with self.transaction("stop"):
            doc = self.store.get("containers", ctr.id)
            if doc is None:
                return ctr
            ctr = Container.from_doc(doc)
            ctr.manually_stopped = True
            if ctr.status == "restarting":
                ctr.status, ctr.waiter_pid, ctr.waiter_start = "exited", 0, 0
            self.store.put("containers", ctr.id, ctr.to_doc())
        return ctr

    def boot(self) -> tuple[list[str], list[str]]:
        """`system boot`: the kernel state restored (as after any reboot), then the
        containers whose policy asks for it started, oldest first (so that a
        container linked to or sharing the network of an older one finds it
        running); (names started, one error line per failure)."""
        self.ensure_kernel()
        started, errors = [], []
        for ctr in reversed(self.reap(self.containers())):
            if not wanted_at_boot(ctr):
                continue
            try:
                self.start_container(ctr.id)
            except CnmError as exc:
                errors.append(f"{ctr.name}: {exc}")
            else:
                started.append(ctr.name)
        return started, errors
