"""One transaction per command: intent recorded, steps done, commit; undo in reverse.

A command that changes anything runs inside `Transaction`, under the store
lock:

1. Before making a kernel object (a namespace, a veth, a bridge, a process, a
   DNS helper's sockets) it records how to clean it up (`created`), in an
   intent file under the run root. The run root is on tmpfs, like the kernel
   objects it describes: a reboot clears both.
2. Store writes are held back by the store's transaction (reads see them).
3. `commit` lists the steps that finish the command after the store changed
   (removing what the command took away: `then`), makes the store's change
   durable (its commit point), marks the intent committed, runs those steps,
   and removes the intent.

On an error before the commit point the recorded clean-ups run in reverse and
the store is left as it was. A process killed at any instruction leaves an
intent (and perhaps a committed store journal): `recover`, which every
transaction runs first and `system check --fix` runs too, finishes it
(committed: the remaining steps) or undoes it (not committed: the clean-ups).
Steps are idempotent and keep going past a failed one; every error is
reported, none is swallowed.
"""

from __future__ import annotations

import json
import os
import time

from cnmctl.errors import CnmError, KernelError
from cnmctl.faults import point
from cnmctl.store.api import Store

INTENTS = "intents"


class Transaction:
    """The intent, kernel clean-ups and store change of one command."""

    def __init__(self, store: Store, run_root: str, verb: str) -> None:
        self.store = store
        self.run_root = run_root
        self.id = f"{time.time_ns():x}-{os.getpid()}"
        self.intent: dict = {"id": self.id, "verb": verb, "pid": os.getpid(),
                             "committed": False, "undo": [], "then": []}
        self._path = os.path.join(run_root, INTENTS, f"{self.id}.json")
        self._written = False
        store.begin(self.id)

    # -- recording ----------------------------------------------------------------
    def created(self, step: dict) -> None:
        """Record how to clean up a kernel object the command is about to make;
        call it before making the object, so a kill in between leaves a no-op."""
        self.intent["undo"].append(step)
        self._save()
        point()

    def then(self, step: dict) -> None:
        """A step to run once the store's change is committed (taking a kernel
        object away, telling the DNS helpers): redone after a crash. A step
        already listed is not added again."""
        if step not in self.intent["then"]:
            self.intent["then"].append(step)

    # -- ending ---------------------------------------------------------------------
    def commit(self) -> None:
        """Commit the store's change, then run the `then` steps; errors of those
        are raised together once every step has run."""
        if self.intent["then"]:
            self._save()  # the finishing steps must be on record before the commit point
        self.store.commit(at_commit_point=self._mark_committed if self._written else None)
        errors = run_steps(self.intent["then"], self.run_root)
        self._forget()
        if errors:
            raise KernelError("; ".join(errors))

    def rollback(self) -> list[str]:
        """Drop the store's change and clean up the recorded objects in reverse;
        every error, in order."""
        self.store.abort()
        errors = run_steps(list(reversed(self.intent["undo"])), self.run_root)
        self._forget()
        return errors

    # -- the intent file ------------------------------------------------------------
    def _mark_committed(self) -> None:
        self.intent["committed"] = True
        self._save()

    def _save(self) -> None:
        # No fsync: what the intent describes (kernel state) does not outlive a reboot either.
        folder = os.path.dirname(self._path)
        if not self._written:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        tmp = f"{self._path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.intent, f)
        os.replace(tmp, self._path)
        self._written = True

    def _forget(self) -> None:
        if self._written:
            os.unlink(self._path)
            self._written = False


def recover(store: Store, run_root: str) -> list[str]:
    """Finish or undo what killed commands left (call under the store lock);
    the errors of their steps. Committed store journals are applied first."""
    errors: list[str] = []
    folder = os.path.join(run_root, INTENTS)
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        names = []
    committed = set(store.pending_commits())
    for name in names:
        path = os.path.join(folder, name)
        if not name.endswith(".json"):
            os.unlink(path)  # a .tmp its writer never renamed: it recorded nothing yet
            continue
        try:
            with open(path, encoding="utf-8") as f:
                intent = json.load(f)
        except (OSError, ValueError) as exc:
            errors.append(f"unreadable intent {path}: {exc}")
            os.unlink(path)
            continue
        if intent.get("committed") or intent.get("id") in committed:
            store.replay(intent["id"])
            errors += run_steps(intent.get("then", []), run_root)
        else:
            errors += run_steps(list(reversed(intent.get("undo", []))), run_root)
        os.unlink(path)
    for txid in store.pending_commits():
        store.replay(txid)
    return errors


def pending_intents(run_root: str) -> list[str]:
    """The intent files of commands that did not finish."""
    folder = os.path.join(run_root, INTENTS)
    try:
        return sorted(os.path.join(folder, n) for n in os.listdir(folder))
    except FileNotFoundError:
        return []


def run_steps(steps: list[dict], run_root: str) -> list[str]:
    """Run clean-up or finishing steps in order, past failures; their errors."""
    from cnmctl.engine import steps as kernel_steps

    errors = []
    for step in steps:
        try:
            point()
            kernel_steps.run(step, run_root)
        except (CnmError, OSError) as exc:
            errors.append(f"{step.get('kind')} {step.get('name', '')}: {exc}".replace("  ", " "))
    return errors
