"""Unit tests for cnmctl.store.jsonstore.JsonStore (no root needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnmctl.errors import CnmError
from cnmctl.store.jsonstore import KINDS, SCHEMA_VERSION, JsonStore

REPO_ROOT = Path(__file__).resolve().parents[2]


def _mode(path: str | os.PathLike) -> int:
    return os.stat(path).st_mode & 0o777


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def _python(script: str, *args: str) -> subprocess.Popen:
    """Start a Python child that can import cnmctl from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
    )
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen, timeout: float = 300) -> None:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{out}\n{err}"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(root: Path) -> JsonStore:
    s = JsonStore(str(root))
    with s.lock():
        s.initialise()
    return s


# -- documents ---------------------------------------------------------------


def test_put_get_round_trip(store: JsonStore) -> None:
    doc = {"id": "abc", "name": "net", "labels": {"a": "b"}, "list": [1, 2.5, None, True],
           "unicode": "héllo ✓ <&>"}
    with store.lock():
        store.put("networks", "abc", doc)
    assert store.get("networks", "abc") == doc


def test_put_overwrites(store: JsonStore) -> None:
    with store.lock():
        store.put("networks", "abc", {"id": "abc", "v": 1})
        store.put("networks", "abc", {"id": "abc", "v": 2})
    assert store.get("networks", "abc") == {"id": "abc", "v": 2}
    assert store.ids("networks") == ["abc"]


def test_get_missing_is_none(store: JsonStore, tmp_path: Path) -> None:
    assert store.get("networks", "nope") is None
    # A store that was never initialised has no kind folders either.
    assert JsonStore(str(tmp_path / "empty")).get("networks", "nope") is None


def test_ids_sorted_and_skip_hidden_and_temp_files(store: JsonStore, root: Path) -> None:
    with store.lock():
        for doc_id in ("c", "a", "b"):
            store.put("endpoints", doc_id, {"id": doc_id})
    (root / "endpoints" / ".hidden.json").write_text("{}")
    (root / "endpoints" / ".a.json.1234.tmp").write_text("{")
    (root / "endpoints" / "notes.txt").write_text("x")
    assert store.ids("endpoints") == ["a", "b", "c"]
    assert store.ids("networks") == []


def test_ids_of_missing_folder_is_empty(tmp_path: Path) -> None:
    assert JsonStore(str(tmp_path / "nothing")).ids("networks") == []
    assert JsonStore(str(tmp_path / "nothing")).list("networks") == []


def test_list_returns_docs_in_id_order(store: JsonStore) -> None:
    with store.lock():
        for doc_id in ("b", "a"):
            store.put("containers", doc_id, {"id": doc_id})
    assert store.list("containers") == [{"id": "a"}, {"id": "b"}]


def test_list_skips_docs_deleted_meanwhile(store: JsonStore, monkeypatch) -> None:
    with store.lock():
        for doc_id in ("a", "b", "c"):
            store.put("sandboxes", doc_id, {"id": doc_id})

    real_ids = store.ids

    def ids_then_delete(kind: str) -> list[str]:
        listed = real_ids(kind)
        # Another process removes "b" after the folder was listed.
        os.unlink(os.path.join(store.root, kind, "b.json"))
        return listed

    monkeypatch.setattr(store, "ids", ids_then_delete)
    assert store.list("sandboxes") == [{"id": "a"}, {"id": "c"}]


def test_delete_is_idempotent(store: JsonStore) -> None:
    with store.lock():
        store.put("networks", "x", {"id": "x"})
        store.delete("networks", "x")
        assert store.get("networks", "x") is None
        store.delete("networks", "x")  # already gone: no error
        store.delete("networks", "never-existed")
    assert store.ids("networks") == []


def test_put_outside_lock_raises(store: JsonStore) -> None:
    with pytest.raises(AssertionError):
        store.put("networks", "x", {"id": "x"})
    assert store.get("networks", "x") is None


def test_delete_outside_lock_raises(store: JsonStore) -> None:
    with store.lock():
        store.put("networks", "x", {"id": "x"})
    with pytest.raises(AssertionError):
        store.delete("networks", "x")
    assert store.get("networks", "x") == {"id": "x"}


# -- locking -----------------------------------------------------------------


def test_lock_is_reentrant(store: JsonStore) -> None:
    assert not store.locked
    with store.lock():
        assert store.locked
        with store.lock():  # would deadlock if the flock were taken again
            assert store.locked
            store.put("networks", "inner", {"v": 1})
        assert store.locked  # leaving the inner block keeps the lock
        store.put("networks", "outer", {"v": 2})
    assert not store.locked
    with pytest.raises(AssertionError):
        store.put("networks", "after", {"v": 3})
    assert store._lock_fd is None


def test_lock_released_after_exception(store: JsonStore) -> None:
    with pytest.raises(RuntimeError), store.lock(), store.lock():
        raise RuntimeError("boom")
    assert not store.locked
    with store.lock():
        assert store.locked


_PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(3)
sys.exit(0)
"""


def test_lock_excludes_other_processes(store: JsonStore, root: Path) -> None:
    lock_file = str(root / ".lock")
    with store.lock():
        probe = _python(_PROBE, lock_file)
        probe.communicate(timeout=60)
        assert probe.returncode == 3, "another process took the lock while we held it"
        with store.lock():
            probe = _python(_PROBE, lock_file)
            probe.communicate(timeout=60)
            assert probe.returncode == 3
    probe = _python(_PROBE, lock_file)
    probe.communicate(timeout=60)
    assert probe.returncode == 0, "the lock was not released"


# -- permissions and atomic writes -------------------------------------------


def test_folder_and_file_modes(tmp_path: Path) -> None:
    root = tmp_path / "store"
    old_umask = os.umask(0)  # the store must not rely on the umask
    try:
        s = JsonStore(str(root))
        with s.lock():
            s.initialise()
            s.put("networks", "n1", {"id": "n1"})
            s.put("ipam", "n1", {"bitmap": "00"})
    finally:
        os.umask(old_umask)
    assert _mode(root) == 0o700
    for kind in KINDS:
        assert _mode(root / kind) == 0o700, kind
    assert _mode(root / "schema.json") == 0o600
    assert _mode(root / ".lock") == 0o600
    assert _mode(root / "networks" / "n1.json") == 0o600
    assert _mode(root / "ipam" / "n1.json") == 0o600


def test_initialise_writes_schema(store: JsonStore, root: Path) -> None:
    assert store.exists()
    assert json.loads((root / "schema.json").read_text()) == {"version": SCHEMA_VERSION}
    store.check_schema()  # the current version is accepted


def test_exists_false_before_initialise(tmp_path: Path) -> None:
    assert not JsonStore(str(tmp_path / "store")).exists()


def test_initialise_is_idempotent(store: JsonStore) -> None:
    with store.lock():
        store.put("networks", "keep", {"id": "keep"})
        store.initialise()
    assert store.get("networks", "keep") == {"id": "keep"}


def test_no_temp_files_left_after_put(store: JsonStore, root: Path) -> None:
    with store.lock():
        for i in range(20):
            store.put("networks", f"n{i}", {"i": i, "pad": "x" * 10_000})
            store.put("networks", f"n{i}", {"i": -i})
        store.delete("networks", "n3")
    assert _temp_files(root) == []
    assert all(not name.startswith(".") or name == ".lock"
               for name in os.listdir(root))
    assert all(name.endswith(".json") for name in os.listdir(root / "networks"))


def test_failed_dump_keeps_previous_document(store: JsonStore, root: Path) -> None:
    with store.lock():
        store.put("networks", "n", {"id": "n", "version": 1, "name": "good"})
        with pytest.raises(TypeError):
            # The dump fails part-way, after some text reached the temp file.
            store.put("networks", "n", {"version": 2, "name": "x" * 50_000,
                                        "bad": object()})
    assert store.get("networks", "n") == {"id": "n", "version": 1, "name": "good"}
    assert _temp_files(root) == []
    assert store.ids("networks") == ["n"]


def test_failed_dump_of_new_document_leaves_nothing(store: JsonStore, root: Path) -> None:
    with store.lock(), pytest.raises(TypeError):
        store.put("networks", "new", {"bad": {1, 2}})
    assert store.get("networks", "new") is None
    assert store.ids("networks") == []
    assert _temp_files(root) == []


def test_check_schema_rejects_newer_version(store: JsonStore, root: Path) -> None:
    (root / "schema.json").write_text(json.dumps({"version": SCHEMA_VERSION + 1}))
    with pytest.raises(CnmError, match="schema version"):
        store.check_schema()


def test_check_schema_accepts_older_version(store: JsonStore, root: Path) -> None:
    (root / "schema.json").write_text(json.dumps({}))
    store.check_schema()


# -- concurrency across processes --------------------------------------------

_WRITER = """
import sys
from cnmctl.store.jsonstore import JsonStore
root, size, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = JsonStore(root)
for i in range(count):
    with store.lock():
        store.put("networks", "big", {"id": "big", "value": i, "blob": chr(97 + i % 26) * size})
"""

_BLOB_SIZE = 256 * 1024
_WRITES = 200


def test_readers_never_see_half_written_document(store: JsonStore, root: Path) -> None:
    with store.lock():
        store.put("networks", "big", {"id": "big", "value": -1, "blob": "-" * _BLOB_SIZE})
    path = root / "networks" / "big.json"

    writer = _python(_WRITER, str(root), str(_BLOB_SIZE), str(_WRITES))
    reads = 0
    try:
        while writer.poll() is None or reads < _WRITES + 10:
            # Read the raw bytes (no store code) and also through get().
            text = path.read_text(encoding="utf-8")
            doc = json.loads(text)  # raises if a half-written file were visible
            via_get = store.get("networks", "big")
            assert via_get is not None
            for d in (doc, via_get):
                value = d["value"]
                assert -1 <= value < _WRITES
                expected = "-" if value == -1 else chr(97 + value % 26)
                assert d["blob"] == expected * _BLOB_SIZE
            reads += 1
    finally:
        _finish(writer)
    assert reads >= _WRITES
    assert store.get("networks", "big")["value"] == _WRITES - 1
    assert _temp_files(root) == []


_INCREMENTER = """
import sys
from cnmctl.store.jsonstore import JsonStore
root, count = sys.argv[1], int(sys.argv[2])
store = JsonStore(root)
for _ in range(count):
    with store.lock():
        doc = store.get("containers", "counter")
        with store.lock():  # re-entrant inside the read-modify-write
            store.put("containers", "counter", {"id": "counter", "n": doc["n"] + 1})
"""


def test_concurrent_lockers_serialise(store: JsonStore, root: Path) -> None:
    workers, increments = 8, 25
    with store.lock():
        store.put("containers", "counter", {"id": "counter", "n": 0})
    procs = [_python(_INCREMENTER, str(root), str(increments)) for _ in range(workers)]
    for proc in procs:
        _finish(proc)
    assert store.get("containers", "counter") == {"id": "counter", "n": workers * increments}
    assert _temp_files(root) == []


def test_corrupt_document_is_one_clear_error(store: JsonStore) -> None:
    with store.lock():
        store.put("networks", "n1", {"id": "n1"})
    Path(store.root, "networks", "n1.json").write_text("{bad")
    with pytest.raises(CnmError, match=r"corrupt store document .*n1\.json: .* \(line 1"):
        store.get("networks", "n1")
