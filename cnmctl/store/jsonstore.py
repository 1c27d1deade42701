"""The embedded store: one JSON document per object, in a folder per kind.

Layout under the root (default /var/lib/cnmctl):
    schema.json              {"version": N}
    .lock                    flock'ed exclusively around every mutation
    networks/<id>.json       endpoints/<id>.json   sandboxes/<id>.json
    containers/<id>.json     ipam/<network id>.json (address bitmaps)
    container-names/<name>.json                     (the name index)
    journal/<txid>.json      a committed transaction not yet fully applied

A transaction's mutations are held in memory (reads see them) until commit,
which writes them all to one journal file, fsyncs it and its folder (the
commit point: two fsyncs, whatever the number of documents), then renames
each document into place and removes the journal. A process killed after the
commit point leaves the journal, and the next transaction (or `system check
--fix`) applies it again; one killed before leaves nothing. A reader never
sees a half-written document and needs no lock. Folders are 0700, files 0600.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Callable, Iterator

from cnmctl.errors import CnmError
from cnmctl.faults import point
from cnmctl.store.api import (
    DERIVED_KINDS,
    KINDS,
    PRIMARY_KINDS,
    LockTimeout,
    RevisionConflict,
    StoreCorrupt,
)
from cnmctl.validate import check_key, is_key

SCHEMA_VERSION = 1
JOURNAL = "journal"
#: the pseudo-kind of top-level documents (schema.json)
META = "meta"
LOCK_NOTICE_AFTER = 2.0  # seconds before saying who holds the lock
#: whether a wait says who holds the lock: off in a background hook (nobody is waiting)
LOCK_NOTICES = True
DEFAULT_LOCK_TIMEOUT = 30.0  # seconds before giving up (CNMCTL_LOCK_TIMEOUT)

__all__ = ["DERIVED_KINDS", "KINDS", "PRIMARY_KINDS", "SCHEMA_VERSION", "JsonStore"]

_DELETED = None  # an overlay entry meaning "deleted in this transaction"


class JsonStore:
    """Documents keyed by (kind, id), one exclusive lock, journaled transactions."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._lock_fd: int | None = None
        self._lock_depth = 0
        self._txid: str | None = None
        self._overlay: dict[tuple[str, str], dict | None] = {}
        self._read_revisions: dict[tuple[str, str], str] = {}
        self._warned: set[str] = set()

    # -- set-up -------------------------------------------------------------
    def exists(self) -> bool:
        """True once the store has been initialised (schema file present)."""
        return os.path.exists(os.path.join(self.root, "schema.json"))

    def initialise(self) -> None:
        """Create the folders and, in the open transaction (else at once), the schema."""
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        for kind in (*KINDS, JOURNAL):
            os.makedirs(os.path.join(self.root, kind), mode=0o700, exist_ok=True)
        self.put(META, "schema", {"version": SCHEMA_VERSION})

    def check_schema(self) -> None:
        """Refuse to work on a store written by a newer cnmctl."""
        doc = self.get(META, "schema") or {}
        version = doc.get("version", 0)
        if not isinstance(version, int):
            raise StoreCorrupt(self._path(META, "schema"), "the version is not a number")
        if version > SCHEMA_VERSION:
            raise CnmError(
                f"store {self.root} has schema version {version}; "
                f"this cnmctl understands up to {SCHEMA_VERSION}"
            )

    # -- locking ------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store's exclusive lock (re-entrant within this process).

        Waiting longer than 2 s says once on stderr which process holds it;
        after CNMCTL_LOCK_TIMEOUT seconds (30) the command gives up."""
        if self._lock_depth == 0:
            try:
                os.makedirs(self.root, mode=0o700, exist_ok=True)
                fd = os.open(os.path.join(self.root, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
            except PermissionError as exc:
                raise _denied(exc) from None
            try:
                _acquire(fd, _lock_timeout())
            except BaseException:
                os.close(fd)
                raise
            self._lock_fd = fd
        self._lock_depth += 1
        try:
            yield
        finally:
            self._lock_depth -= 1
            if self._lock_depth == 0 and self._lock_fd is not None:
                os.close(self._lock_fd)  # closing releases the flock
                self._lock_fd = None

    @property
    def locked(self) -> bool:
        """True while this process holds the lock."""
        return self._lock_depth > 0

    # -- documents ----------------------------------------------------------
    def _path(self, kind: str, doc_id: str) -> str:
        if kind == META:
            return os.path.join(self.root, f"{check_key(doc_id)}.json")
        return os.path.join(self.root, kind, f"{check_key(doc_id)}.json")

    def get(self, kind: str, doc_id: str) -> dict | None:
        """The document (as the open transaction sees it), or None if there is none.

        A document that is not a JSON object of its kind raises StoreCorrupt."""
        key = (kind, doc_id)
        if key in self._overlay:
            doc = self._overlay[key]
            return json.loads(json.dumps(doc)) if doc is not None else None
        path = self._path(kind, doc_id)
        try:
            with open(path, "rb") as f:
                raw = f.read()
                if self._txid is not None and key not in self._read_revisions:
                    self._read_revisions[key] = _revision(os.fstat(f.fileno()))
        except FileNotFoundError:
            if self._txid is not None:
                self._read_revisions.setdefault(key, "")
            return None
        except PermissionError as exc:
            raise _denied(exc) from None
        except IsADirectoryError:
            raise StoreCorrupt(path, "a folder where a document belongs") from None
        return _parse(path, kind, doc_id, raw)

    def ids(self, kind: str) -> list[str]:
        """The IDs of every document of a kind, sorted (the open transaction's view)."""
        try:
            names = os.listdir(os.path.join(self.root, kind))
        except (FileNotFoundError, NotADirectoryError):
            names = []
        # Only valid keys: a stray file (`x y.json`) is not a document of ours.
        found = {n[:-5] for n in names if n.endswith(".json") and is_key(n[:-5])}
        for (k, doc_id), doc in self._overlay.items():
            if k == kind:
                (found.add if doc is not None else found.discard)(doc_id)
        return sorted(found)

    def list(self, kind: str) -> list[dict]:
        """Every document of a kind; one removed meanwhile is skipped, and so is a
        corrupt one (with one warning line naming it), so the rest stays usable."""
        docs = []
        for doc_id in self.ids(kind):
            try:
                doc = self.get(kind, doc_id)
            except StoreCorrupt as exc:
                self.warn(exc)
                continue
            if doc is not None:
                docs.append(doc)
        return docs

    def warn(self, exc: StoreCorrupt) -> None:
        """Say once per process, on stderr, that a corrupt document was skipped."""
        if exc.path not in self._warned:
            self._warned.add(exc.path)
            print(f"Warning: skipping {exc}", file=sys.stderr)

    def warned(self, path: str) -> None:
        """Do not warn about `path` (its caller reports it another way)."""
        self._warned.add(path)

    def quarantine(self, kind: str, doc_id: str) -> str:
        """Move a corrupt document aside (KIND/ID.json.corrupt, which listings skip);
        the new path."""
        path = self._path(kind, doc_id)
        target = f"{path}.corrupt"
        os.replace(path, target)
        return target

    def revision(self, kind: str, doc_id: str) -> str:
        """The stored document's revision: changes with every write ("" if none)."""
        try:
            return _revision(os.stat(self._path(kind, doc_id)))
        except FileNotFoundError:
            return ""

    # -- transactions ---------------------------------------------------------
    def begin(self, txid: str) -> None:
        """Hold back every put and delete until commit(); the caller holds the lock."""
        assert self.locked, "transaction outside lock()"
        assert self._txid is None, "a transaction is open already"
        self._txid = txid
        self._overlay, self._read_revisions = {}, {}

    def put(self, kind: str, doc_id: str, doc: dict) -> None:
        """Write a document: in the open transaction, else at once; under lock."""
        assert self.locked, "store mutation outside lock()"
        if self._txid is not None:
            self._overlay[(kind, doc_id)] = json.loads(json.dumps(doc))
        else:
            self._write(self._path(kind, doc_id), doc, durable=True)

    def delete(self, kind: str, doc_id: str) -> None:
        """Remove a document (missing is not an error): in the transaction, else at once."""
        assert self.locked, "store mutation outside lock()"
        if self._txid is not None:
            self._overlay[(kind, doc_id)] = _DELETED
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path(kind, doc_id))

    def commit(self, at_commit_point: Callable[[], None] | None = None) -> bool:
        """Write the transaction's documents all or none; False if it changed none.

        `at_commit_point` runs once the change is durable, before it is applied.
        Compare-and-swap: a document this transaction read that someone changed
        since (outside the lock) fails the commit with RevisionConflict."""
        txid, overlay = self._txid, self._overlay
        assert txid is not None, "commit without begin"
        self._txid, self._overlay = None, {}
        reads, self._read_revisions = self._read_revisions, {}
        if not overlay:
            if at_commit_point is not None:
                at_commit_point()
            return False
        for (kind, doc_id), seen in reads.items():
            if self.revision(kind, doc_id) != seen:
                raise RevisionConflict(f"store document {self._path(kind, doc_id)} changed "
                                       "during the transaction; try again")
        record = {"put": [[k, i, d] for (k, i), d in overlay.items() if d is not None],
                  "delete": [[k, i] for (k, i), d in overlay.items() if d is None]}
        folder = os.path.join(self.root, JOURNAL)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        self._write(os.path.join(folder, f"{txid}.json"), record, durable=True)
        _fsync_dir(folder)  # the commit point
        if at_commit_point is not None:
            at_commit_point()
        self.replay(txid)
        return True

    def abort(self) -> None:
        """Drop the open transaction's mutations (nothing was written)."""
        self._txid, self._overlay, self._read_revisions = None, {}, {}

    def pending_commits(self) -> list[str]:
        """Transactions committed but not fully applied (their process was killed)."""
        try:
            names = os.listdir(os.path.join(self.root, JOURNAL))
        except FileNotFoundError:
            return []
        return sorted(n[:-5] for n in names if n.endswith(".json") and not n.startswith("."))

    def replay(self, txid: str) -> None:
        """Apply a committed transaction's documents, then forget it (idempotent).
        A journal that is not what commit writes is moved aside (.bad), named in a
        StoreCorrupt, and applies nothing."""
        path = os.path.join(self.root, JOURNAL, f"{check_key(txid)}.json")
        try:
            with open(path, "rb") as f:
                record = json.loads(f.read())
        except FileNotFoundError:
            return
        except (ValueError, UnicodeDecodeError):
            # Never reached the commit point whole (fsync'ed before it counts).
            os.unlink(path)
            return
        if not _valid_journal(record):
            os.replace(path, f"{path}.bad")
            raise StoreCorrupt(path, "not a journal of cnmctl's (moved aside as .bad)")
        for kind, doc_id, doc in record["put"]:
            self._write(self._path(kind, doc_id), doc, durable=False)
        for kind, doc_id in record["delete"]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path(kind, doc_id))
            point()
        os.unlink(path)

    def stray_files(self) -> list[str]:
        """Temporary files left by writers that were killed mid-write."""
        found = []
        for kind in (*KINDS, JOURNAL, ""):
            folder = os.path.join(self.root, kind)
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                found += [os.path.join(folder, n) for n in os.listdir(folder)
                          if n.startswith(".") and n.endswith(".tmp")]
        return sorted(found)

    @staticmethod
    def _write(path: str, doc: dict, durable: bool) -> None:
        folder, name = os.path.split(path)
        tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        except FileNotFoundError:  # a kind added after this store was created
            os.makedirs(folder, mode=0o700, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1)
                if durable:
                    f.flush()
                    os.fsync(f.fileno())
            point()
            os.replace(tmp, path)
            point()
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def _parse(path: str, kind: str, doc_id: str, raw: bytes) -> dict:
    """A document's bytes as the object it must be, else StoreCorrupt naming the file."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise StoreCorrupt(path, "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise StoreCorrupt(path, f"{exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(doc, dict):
        raise StoreCorrupt(path, f"a JSON {type(doc).__name__}, not an object")
    if kind in PRIMARY_KINDS and doc.get("id") != doc_id:
        raise StoreCorrupt(path, "its id does not match its file name")
    if kind == "container-names" and not isinstance(doc.get("id"), str):
        raise StoreCorrupt(path, "no container id")
    return doc


def _valid_journal(record: object) -> bool:
    """True for what commit writes: documents of known kinds under valid keys."""
    if not isinstance(record, dict):
        return False
    puts, deletes = record.get("put"), record.get("delete")
    if not isinstance(puts, list) or not isinstance(deletes, list):
        return False
    entries = [p[:2] for p in puts if isinstance(p, list) and len(p) == 3
               and isinstance(p[2], dict)]
    entries += [d for d in deletes if isinstance(d, list) and len(d) == 2]
    return (len(entries) == len(puts) + len(deletes)
            and all(k in (*KINDS, META) and isinstance(i, str) and is_key(i)
                    for k, i in entries))


def _revision(info: os.stat_result) -> str:
    return f"{info.st_ino}:{info.st_mtime_ns}:{info.st_size}"


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lock_timeout() -> float:
    text = os.environ.get("CNMCTL_LOCK_TIMEOUT", "")
    try:
        return float(text) if text else DEFAULT_LOCK_TIMEOUT
    except ValueError:
        raise CnmError(f"invalid CNMCTL_LOCK_TIMEOUT {text!r}: expected seconds") from None


def _acquire(fd: int, timeout: float) -> None:
    """flock(fd) exclusively: at once if free; else wait, naming the holder once
    after 2 s, and give up after `timeout` seconds with LockTimeout."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    start = time.monotonic()
    noticed = False
    delay = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        waited = time.monotonic() - start
        if waited >= timeout:
            raise LockTimeout(f"gave up after {timeout:g} s waiting for the store lock, held by "
                              f"{_holder(fd)} (set CNMCTL_LOCK_TIMEOUT to wait longer)")
        if LOCK_NOTICES and not noticed and waited >= LOCK_NOTICE_AFTER:
            noticed = True
            print(f"Waiting for the store lock, held by {_holder(fd)}...", file=sys.stderr)
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def _holder(fd: int) -> str:
    """Which process holds the flock on `fd`'s file, from /proc/locks."""
    inode = os.fstat(fd).st_ino
    try:
        with open("/proc/locks", encoding="ascii") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 5 and fields[1] == "FLOCK" and fields[-3].endswith(f":{inode}"):
                    pid = fields[4]
                    return f"pid {pid} ({_command(pid)})"
    except OSError:
        pass
    return "another process"


def _command(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
    except OSError:
        return "gone"
    text = " ".join(a.decode(errors="replace") for a in args if a)
    return text[:80] or "unknown"


def _denied(exc: PermissionError) -> CnmError:
    """One line instead of a traceback: the store is root's (0700)."""
    return CnmError(f"permission denied: {exc.filename}: cnmctl must run as root "
                    "(or be given --root/--run-root it can write)")
