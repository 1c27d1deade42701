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
import re
import time

from cnmctl.errors import CnmError
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
                             "undo": [], "then": []}
        self._path = os.path.join(run_root, INTENTS, f"{self.id}.json")
        self._fd: int | None = None
        self._then_saved = 0
        self._last: list[dict] = []
        self.reached_commit_point = False
        store.begin(self.id)

    # -- recording ----------------------------------------------------------------
    def created(self, step: dict, crash_point: bool = True) -> int:
        """Record how to clean up a kernel object the command is about to make;
        call it before making the object, so a kill in between leaves a no-op.
        Returns the step's index, for `answered`. A request to a plugin whose
        answer completes the step has no crash point between the two records."""
        self.intent["undo"].append(step)
        self._append({"undo": step})
        if crash_point:
            point()
        return len(self.intent["undo"]) - 1

    def answered(self, index: int, step: dict) -> None:
        """Replace undo step `index` with what the answer made known (a plugin's
        pool ID or address), before acting on the answer."""
        self.intent["undo"][index] = step
        self._append({"undo": step, "replaces": index})
        point()

    def then(self, step: dict, last: bool = False) -> None:
        """A step to run once the store's change is committed (taking a kernel
        object away, telling the DNS helpers): redone after a crash. A step
        already listed is not added again. `last`: after every other one (an
        address goes back to its IPAM plugin once the endpoint is gone, as in
        Docker)."""
        steps = self._last if last else self.intent["then"]
        if step not in steps:
            steps.append(step)

    # -- ending ---------------------------------------------------------------------
    def commit(self) -> list[str]:
        """Commit the store's change, then run the `then` steps; the errors of
        those (the change stands; what a failed step left, `system check` finds).
        A failure before the commit point (a compare-and-swap conflict, a full
        disk) rolls the whole transaction back and is raised."""
        # The finishing steps must be on record before the commit point.
        self.intent["then"] += [s for s in self._last if s not in self.intent["then"]]
        self._last = []
        for step in self.intent["then"][self._then_saved:]:
            self._append({"then": step})
        try:
            self.store.commit(at_commit_point=self._at_commit_point)
        except BaseException as exc:
            if not self.reached_commit_point:
                for error in self.rollback():
                    exc.add_note(f"undo: {error}")
            raise
        errors = run_steps(self.intent["then"], self.run_root, self.store)
        self._forget()
        return errors

    def rollback(self) -> list[str]:
        """Drop the store's change and clean up the recorded objects in reverse;
        every error, in order."""
        self.store.abort()
        errors = run_steps(list(reversed(self.intent["undo"])), self.run_root, self.store)
        self._forget()
        return errors

    # -- the intent file ------------------------------------------------------------
    # One JSON record a line, each appended with one write(2) and no fsync (what it
    # describes, kernel state, does not outlive a reboot either): a header, then
    # {"undo": step}, {"undo": step, "replaces": index} (a plugin's answer completing
    # an earlier undo step), {"then": step} and {"committed": true} records. A kill in the
    # middle of a write leaves a cut last line, which says nothing yet.
    def _at_commit_point(self) -> None:
        self.reached_commit_point = True
        if self._fd is not None:  # an intent on file says it is committed now
            self._append({"committed": True})

    def _append(self, record: dict) -> None:
        line = json.dumps(record) + "\n"
        if self._fd is None:
            os.makedirs(os.path.dirname(self._path), mode=0o700, exist_ok=True)
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND
                               | os.O_CLOEXEC, 0o600)
            header = {"id": self.id, "verb": self.intent["verb"], "pid": self.intent["pid"]}
            line = json.dumps(header) + "\n" + line
        os.write(self._fd, line.encode())
        if "then" in record:
            self._then_saved += 1

    def _forget(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            os.unlink(self._path)
            self._fd = None


def read_intent(path: str) -> dict | None:
    """An intent file as {"id", "committed", "undo", "then"}; None if a kill cut its
    first write short (it recorded nothing); ValueError if it is not an intent."""
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    intent: dict = {"committed": False, "undo": [], "then": []}
    for i, line in enumerate(lines):
        if not line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            if i == len(lines) - 1:  # the last line, cut by a kill: nothing done after it
                break
            raise ValueError("not an intent") from None
        if not isinstance(record, dict):
            raise ValueError("not an intent")
        if i == 0:
            if not _INTENT_ID.fullmatch(str(record.get("id"))):
                raise ValueError("not an intent")
            intent["id"] = record["id"]
        elif "replaces" in record:  # an answer completing an earlier undo step
            index = record["replaces"]
            if not isinstance(index, int) or not 0 <= index < len(intent["undo"]):
                raise ValueError("not an intent")
            intent["undo"][index] = record["undo"]
        elif "undo" in record or "then" in record:
            kind = "undo" if "undo" in record else "then"
            intent[kind].append(record[kind])
        elif record.get("committed") is True:
            intent["committed"] = True
    if "id" not in intent:
        if intent["undo"] or intent["then"]:
            raise ValueError("not an intent")
        return None
    return intent


_INTENT_ID = re.compile(r"[0-9a-f]+-[0-9]+")


def recover(store: Store, run_root: str) -> list[str]:
    """Finish or undo what killed commands left (call under the store lock);
    the errors of their steps. Committed store journals are applied first. An
    intent that cannot be handled is moved aside (NAME.bad) and reported, so one
    bad file cannot stop every later command."""
    errors: list[str] = []
    folder = os.path.join(run_root, INTENTS)
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        names = []
    committed = set(store.pending_commits())
    for name in names:
        path = os.path.join(folder, name)
        if name.endswith(".bad"):
            continue
        if not name.endswith(".json"):
            os.unlink(path)  # not one of ours (older versions' .tmp files)
            continue
        try:
            intent = read_intent(path)
            if intent is None:
                pass
            elif intent["committed"] or intent["id"] in committed:
                store.replay(intent["id"])
                # Redone: a plugin may have had these calls already (steps.py, pending).
                errors += run_steps([dict(step, pending=True) if isinstance(step, dict)
                                     else step for step in intent["then"]], run_root, store)
            else:
                errors += run_steps(list(reversed(intent["undo"])), run_root, store)
        except (OSError, ValueError, CnmError) as exc:
            errors.append(f"intent {path} moved aside as .bad: {exc}")
            os.replace(path, f"{path}.bad")
            continue
        os.unlink(path)
    for txid in store.pending_commits():
        try:
            store.replay(txid)
        except CnmError as exc:
            errors.append(str(exc))
    return errors


def pending_intents(run_root: str) -> list[str]:
    """The intent files of commands that did not finish."""
    folder = os.path.join(run_root, INTENTS)
    try:
        return sorted(os.path.join(folder, n) for n in os.listdir(folder))
    except FileNotFoundError:
        return []


def run_steps(steps: list[dict], run_root: str, store: Store | None = None) -> list[str]:
    """Run clean-up or finishing steps in order, past failures; their errors. The
    store is for the steps that need it: the firewall step reads it (committed),
    the store-dir step finds its root."""
    from cnmctl.engine import steps as kernel_steps

    errors = []
    for step in steps:
        try:
            point()
            if not isinstance(step, dict):
                raise CnmError("not a step")
            kernel_steps.run(step, run_root, store)
        except Exception as exc:  # reported, never swallowed: every step must get its turn
            what = f"{step.get('kind')} {step.get('name', '')}" if isinstance(step, dict) \
                else repr(step)[:40]
            errors.append(f"{what.strip()}: {exc}")
    return errors
