"""The embedded store: one JSON document per object, in a folder per kind.

Layout under the root (default /var/lib/cnmctl):
    schema.json              {"version": N}
    .lock                    flock'ed exclusively around every mutation
    networks/<id>.json       endpoints/<id>.json   sandboxes/<id>.json
    containers/<id>.json     ipam/<network id>.json (address bitmaps)

Writes go to a temporary file in the same folder, are fsync'ed and renamed
over the target, so a reader never sees a half-written document and needs no
lock. Folders are 0700 and files 0600: the store holds no secrets, but it
describes the host's network and only root may change it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator

from cnmctl.errors import CnmError
from cnmctl.validate import check_key

SCHEMA_VERSION = 1
# container-names: {"id": ...} per container name, so a name is checked or
# resolved with one read instead of a scan of every container.
KINDS = ("networks", "endpoints", "sandboxes", "containers", "ipam", "container-names")


class JsonStore:
    """Documents keyed by (kind, id), with one exclusive lock for mutations."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._lock_fd: int | None = None
        self._lock_depth = 0

    # -- set-up -------------------------------------------------------------
    def exists(self) -> bool:
        """True once the store has been initialised (schema file present)."""
        return os.path.exists(os.path.join(self.root, "schema.json"))

    def initialise(self) -> None:
        """Create the folders and schema file; call under lock()."""
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        for kind in KINDS:
            os.makedirs(os.path.join(self.root, kind), mode=0o700, exist_ok=True)
        self._write(os.path.join(self.root, "schema.json"), {"version": SCHEMA_VERSION})

    def check_schema(self) -> None:
        """Refuse to work on a store written by a newer cnmctl."""
        with open(os.path.join(self.root, "schema.json"), encoding="utf-8") as f:
            version = json.load(f).get("version", 0)
        if version > SCHEMA_VERSION:
            raise CnmError(
                f"store {self.root} has schema version {version}; "
                f"this cnmctl understands up to {SCHEMA_VERSION}"
            )

    # -- locking ------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store's exclusive lock (re-entrant within this process)."""
        if self._lock_depth == 0:
            try:
                os.makedirs(self.root, mode=0o700, exist_ok=True)
                fd = os.open(os.path.join(self.root, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
            except PermissionError as exc:
                raise _denied(exc) from None
            fcntl.flock(fd, fcntl.LOCK_EX)
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
        return os.path.join(self.root, kind, f"{check_key(doc_id)}.json")

    def get(self, kind: str, doc_id: str) -> dict | None:
        """The document, or None if it does not exist."""
        path = self._path(kind, doc_id)
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except PermissionError as exc:
            raise _denied(exc) from None
        except json.JSONDecodeError as exc:
            raise CnmError(f"corrupt store document {path}: {exc.msg} at line {exc.lineno}; "
                           "remove or repair it") from None

    def ids(self, kind: str) -> list[str]:
        """The IDs of every document of a kind, sorted."""
        try:
            names = os.listdir(os.path.join(self.root, kind))
        except FileNotFoundError:
            return []
        return sorted(n[:-5] for n in names if n.endswith(".json") and not n.startswith("."))

    def list(self, kind: str) -> list[dict]:
        """Every document of a kind (documents removed meanwhile are skipped)."""
        docs = []
        for doc_id in self.ids(kind):
            doc = self.get(kind, doc_id)
            if doc is not None:
                docs.append(doc)
        return docs

    def put(self, kind: str, doc_id: str, doc: dict) -> None:
        """Write a document atomically; the caller holds the lock."""
        assert self.locked, "store mutation outside lock()"
        path = self._path(kind, doc_id)
        try:
            self._write(path, doc)
        except FileNotFoundError:  # a kind added after this store was created
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            self._write(path, doc)

    def delete(self, kind: str, doc_id: str) -> None:
        """Remove a document; removing a missing one is not an error."""
        assert self.locked, "store mutation outside lock()"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(kind, doc_id))

    @staticmethod
    def _write(path: str, doc: dict) -> None:
        folder, name = os.path.split(path)
        tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def _denied(exc: PermissionError) -> CnmError:
    """One line instead of a traceback: the store is root's (0700)."""
    return CnmError(f"permission denied: {exc.filename}: cnmctl must run as root "
                    "(or be given --root/--run-root it can write)")
