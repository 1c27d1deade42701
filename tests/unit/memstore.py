"""An in-memory implementation of cnmctl's Store protocol, for unit tests.

It is also the proof that a second backend is one module: the transaction
code (cnmctl/engine/tx.py) runs on it unchanged. "Durable" state is a dict
that survives a simulated crash (a new MemoryStore over the same `disk`).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator

from cnmctl.store.api import RevisionConflict


class Disk:
    """What survives a crash: documents, revisions and committed journals."""

    def __init__(self) -> None:
        self.docs: dict[tuple[str, str], dict] = {}
        self.revisions: dict[tuple[str, str], int] = {}
        self.journals: dict[str, dict] = {}
        self.clock = 0


class MemoryStore:
    """Store protocol over a Disk; `crash_after_commit_point` simulates a kill."""

    def __init__(self, disk: Disk | None = None) -> None:
        self.root = "memory"
        self.disk = disk or Disk()
        self._depth = 0
        self._txid: str | None = None
        self._overlay: dict[tuple[str, str], dict | None] = {}
        self._reads: dict[tuple[str, str], int] = {}

    def exists(self) -> bool:
        return True

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1

    def get(self, kind: str, doc_id: str) -> dict | None:
        key = (kind, doc_id)
        if key in self._overlay:
            return copy.deepcopy(self._overlay[key])
        if self._txid is not None:
            self._reads.setdefault(key, self.disk.revisions.get(key, 0))
        return copy.deepcopy(self.disk.docs.get(key))

    def ids(self, kind: str) -> list[str]:
        found = {i for (k, i) in self.disk.docs if k == kind}
        for (k, i), doc in self._overlay.items():
            if k == kind:
                (found.add if doc is not None else found.discard)(i)
        return sorted(found)

    def list(self, kind: str) -> list[dict]:
        return [d for d in (self.get(kind, i) for i in self.ids(kind)) if d is not None]

    def revision(self, kind: str, doc_id: str) -> str:
        return str(self.disk.revisions.get((kind, doc_id), 0))

    def begin(self, txid: str) -> None:
        assert self._depth and self._txid is None
        self._txid, self._overlay, self._reads = txid, {}, {}

    def put(self, kind: str, doc_id: str, doc: dict) -> None:
        assert self._depth
        if self._txid is None:
            self._apply({(kind, doc_id): copy.deepcopy(doc)})
        else:
            self._overlay[(kind, doc_id)] = copy.deepcopy(doc)

    def delete(self, kind: str, doc_id: str) -> None:
        assert self._depth
        if self._txid is None:
            self._apply({(kind, doc_id): None})
        else:
            self._overlay[(kind, doc_id)] = None

    def commit(self, at_commit_point: Callable[[], None] | None = None) -> bool:
        txid, overlay, reads = self._txid, self._overlay, self._reads
        self._txid, self._overlay, self._reads = None, {}, {}
        if not overlay:
            if at_commit_point:
                at_commit_point()
            return False
        for key, seen in reads.items():
            if self.disk.revisions.get(key, 0) != seen:
                raise RevisionConflict(f"{key} changed")
        self.disk.journals[txid] = overlay
        if at_commit_point:
            at_commit_point()
        self.replay(txid)
        return True

    def abort(self) -> None:
        self._txid, self._overlay, self._reads = None, {}, {}

    def pending_commits(self) -> list[str]:
        return sorted(self.disk.journals)

    def replay(self, txid: str) -> None:
        overlay = self.disk.journals.pop(txid, None)
        if overlay is not None:
            self._apply(overlay)

    def _apply(self, changes: dict) -> None:
        for key, doc in changes.items():
            self.disk.clock += 1
            self.disk.revisions[key] = self.disk.clock
            if doc is None:
                self.disk.docs.pop(key, None)
            else:
                self.disk.docs[key] = doc

    def warned(self, path: str) -> None:
        pass

    def quarantine(self, kind: str, doc_id: str) -> str:
        self.disk.docs.pop((kind, doc_id), None)
        return f"{kind}/{doc_id}.corrupt"

    def stray_files(self) -> list[str]:
        return []
