"""The store interface every part of cnmctl uses (engine, DNS helpers, repair).

A store keeps documents (JSON objects) keyed by (kind, id). Mutations happen
inside a transaction: `begin()` under `lock()`, then `put`/`delete` (which the
transaction holds back, while `get`/`list` already see them), then `commit()`,
which writes them all or none, checking by compare-and-swap that no document
the transaction read was changed by someone else meanwhile. The embedded JSON
store implements it (jsonstore.py); a global-scope backend (etcd, for
multi-host networks) is meant to be one more module behind the same protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Protocol

from cnmctl.errors import CnmError

#: primary kinds (the truth) and derived ones (rebuildable from the primary documents)
PRIMARY_KINDS = ("networks", "endpoints", "sandboxes", "containers", "images")
DERIVED_KINDS = ("ipam", "container-names")
KINDS = PRIMARY_KINDS + DERIVED_KINDS


class StoreCorrupt(CnmError):
    """A store document cannot be read as what it should be; names the file."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"corrupt store document {path}: {why}; "
                         "run `cnmctl system check` to see what --fix would do")
        self.path = path


class RevisionConflict(CnmError):
    """A document read by a transaction changed before it committed (compare-and-swap)."""


class LockTimeout(CnmError):
    """The store's lock stayed held by another process for too long."""


class Store(Protocol):
    """Documents by (kind, id), one lock, and all-or-nothing transactions."""

    root: str

    def exists(self) -> bool:
        """True once the store was initialised."""

    def initialise(self) -> None:
        """Make the store's folders and (in the open transaction) its schema record."""

    def check_schema(self) -> None:
        """Refuse a store of a newer schema; StoreCorrupt if the record is unreadable."""

    @property
    def locked(self) -> bool:
        """True while this process holds the lock."""

    def lock(self) -> AbstractContextManager[None]:
        """Hold the store's exclusive lock (re-entrant within a process)."""

    def get(self, kind: str, doc_id: str) -> dict | None:
        """The document, as the open transaction sees it; None if there is none."""

    def ids(self, kind: str) -> list[str]:
        """The IDs of every document of a kind, sorted."""

    def list(self, kind: str) -> list[dict]:
        """Every readable document of a kind; corrupt ones are reported, not returned."""

    def warned(self, path: str) -> None:
        """Stop warning about a corrupt document (its caller reports it)."""

    def quarantine(self, kind: str, doc_id: str) -> str:
        """Move a corrupt document aside, out of every listing; where it went."""

    def stray_files(self) -> list[str]:
        """Temporary files of writes that were killed."""

    def revision(self, kind: str, doc_id: str) -> str:
        """An opaque token that changes whenever the stored document changes."""

    def begin(self, txid: str) -> None:
        """Start holding back mutations (under lock)."""

    def put(self, kind: str, doc_id: str, doc: dict) -> None:
        """Write a document as part of the open transaction."""

    def delete(self, kind: str, doc_id: str) -> None:
        """Delete a document as part of the open transaction (missing: no error)."""

    def commit(self, at_commit_point: Callable[[], None] | None = None) -> bool:
        """Make the transaction's mutations durable, all or none (calling
        `at_commit_point` once they are, before applying them); False if none."""

    def abort(self) -> None:
        """Drop the transaction's mutations."""

    def pending_commits(self) -> Iterator[str]:
        """IDs of transactions committed but not fully applied (a crash mid-way)."""

    def replay(self, txid: str) -> None:
        """Finish applying a committed transaction (idempotent)."""
