"""The transaction and undo logic (cnmctl/engine/tx.py), without root: an in-memory
store (memstore.py), fake steps standing in for kernel objects, and simulated kills."""

from __future__ import annotations

import os

import pytest
from memstore import Disk, MemoryStore

from cnmctl.engine import steps
from cnmctl.engine.tx import Transaction, pending_intents, recover
from cnmctl.errors import KernelError
from cnmctl.store.api import RevisionConflict
from cnmctl.store.jsonstore import JsonStore


class Killed(BaseException):
    """A simulated SIGKILL: nothing after it runs in the 'process'."""


@pytest.fixture
def ran(monkeypatch) -> list:
    """Fake step kinds: `fake` records its name; `broken` fails."""
    done: list = []

    def fake(step: dict, run_root: str) -> None:
        done.append(step["name"])

    def broken(step: dict, run_root: str) -> None:
        done.append(step["name"])
        raise KernelError("it broke")

    monkeypatch.setitem(steps._ACTIONS, "fake", fake)
    monkeypatch.setitem(steps._ACTIONS, "broken", broken)
    return done


def fake(name: str, kind: str = "fake") -> dict:
    return {"kind": kind, "name": name}


@pytest.fixture(params=["memory", "json"])
def store(request, tmp_path):
    """The same tests on the in-memory store and on the JSON store."""
    if request.param == "memory":
        return MemoryStore()
    s = JsonStore(str(tmp_path / "lib"))
    with s.lock():
        s.initialise()
    return s


def test_commit_writes_everything_and_runs_then_steps(store, tmp_path, ran):
    with store.lock():
        tx = Transaction(store, str(tmp_path), "run")
        tx.created(fake("netns"))
        store.put("containers", "c1", {"id": "c1"})
        store.put("endpoints", "e1", {"id": "e1"})
        assert store.get("containers", "c1") == {"id": "c1"}  # reads see the transaction
        tx.then(fake("reload"))
        tx.then(fake("reload"))  # listed once
        tx.commit()
    assert store.get("containers", "c1") == {"id": "c1"}
    assert store.get("endpoints", "e1") == {"id": "e1"}
    assert ran == ["reload"]
    assert store.pending_commits() == [] and pending_intents(str(tmp_path)) == []


def test_rollback_undoes_in_reverse_past_failures(store, tmp_path, ran):
    with store.lock():
        store.put("networks", "n1", {"id": "n1", "v": 1})
        tx = Transaction(store, str(tmp_path), "run")
        tx.created(fake("first"))
        tx.created(fake("second", "broken"))
        tx.created(fake("third"))
        store.put("networks", "n1", {"id": "n1", "v": 2})
        errors = tx.rollback()
    assert ran == ["third", "second", "first"]
    assert errors == ["broken second: it broke"]
    assert store.get("networks", "n1") == {"id": "n1", "v": 1}
    assert pending_intents(str(tmp_path)) == []


def test_kill_before_commit_is_undone_by_the_next_command(tmp_path, ran):
    disk = Disk()
    store = MemoryStore(disk)
    with store.lock():
        tx = Transaction(store, str(tmp_path), "run")
        tx.created(fake("veth"))
        tx.created(fake("netns"))
        store.put("containers", "c1", {"id": "c1"})
        # killed here: the process and its memory are gone
    survivor = MemoryStore(disk)
    with survivor.lock():
        assert recover(survivor, str(tmp_path)) == []
    assert ran == ["netns", "veth"]
    assert survivor.get("containers", "c1") is None
    assert pending_intents(str(tmp_path)) == []


def test_kill_after_commit_point_is_finished_by_the_next_command(tmp_path, ran, monkeypatch):
    disk = Disk()
    store = MemoryStore(disk)
    with store.lock():
        tx = Transaction(store, str(tmp_path), "rm")
        store.delete("containers", "c1")
        store.put("networks", "n1", {"id": "n1"})
        tx.then(fake("netns"))
        real = tx._at_commit_point

        def die_after_marking() -> None:
            real()
            raise Killed

        monkeypatch.setattr(tx, "_at_commit_point", die_after_marking)
        with pytest.raises(Killed):
            tx.commit()
    assert ran == [] and disk.docs == {}  # committed, nothing applied yet
    survivor = MemoryStore(disk)
    with survivor.lock():
        assert recover(survivor, str(tmp_path)) == []
    assert survivor.get("networks", "n1") == {"id": "n1"}
    assert ran == ["netns"]
    assert survivor.pending_commits() == [] and pending_intents(str(tmp_path)) == []


def test_kill_between_journal_and_intent_mark_still_counts_as_committed(tmp_path, ran,
                                                                         monkeypatch):
    """The store's journal is the commit point; the intent's flag may lag behind it."""
    disk = Disk()
    store = MemoryStore(disk)
    with store.lock():
        tx = Transaction(store, str(tmp_path), "rm")
        tx.created(fake("made"))
        store.put("containers", "c1", {"id": "c1"})
        tx.then(fake("finish"))

        def die() -> None:
            tx.reached_commit_point = True  # a real kill runs no handler after it
            raise Killed

        monkeypatch.setattr(tx, "_at_commit_point", die)
        with pytest.raises(Killed):
            tx.commit()
    survivor = MemoryStore(disk)
    with survivor.lock():
        recover(survivor, str(tmp_path))
    assert survivor.get("containers", "c1") == {"id": "c1"}
    assert ran == ["finish"]  # not the undo of "made"


def test_failed_then_steps_are_all_run_and_reported(store, tmp_path, ran):
    with store.lock():
        tx = Transaction(store, str(tmp_path), "rm")
        store.delete("containers", "c1")
        tx.then(fake("a", "broken"))
        tx.then(fake("b"))
        assert tx.commit() == ["broken a: it broke"]  # committed all the same
    assert store.get("containers", "c1") is None
    assert ran == ["a", "b"]
    assert pending_intents(str(tmp_path)) == []


def test_compare_and_swap_refuses_a_document_changed_meanwhile(store, tmp_path):
    with store.lock():
        store.put("networks", "n1", {"id": "n1", "v": 1})
        tx = Transaction(store, str(tmp_path), "connect")
        assert store.get("networks", "n1")["v"] == 1
        store.put("containers", "c1", {"id": "c1"})
        # someone writes n1 behind the lock's back (by hand, or a buggy tool)
        if isinstance(store, MemoryStore):
            store.disk.revisions[("networks", "n1")] += 1
        else:
            path = os.path.join(store.root, "networks", "n1.json")
            with open(path + ".new", "w", encoding="utf-8") as f:
                f.write('{"id": "n1", "v": 9}')
            os.replace(path + ".new", path)
        with pytest.raises(RevisionConflict):
            tx.commit()
    assert store.get("containers", "c1") is None


def test_store_without_changes_writes_no_journal(tmp_path, ran):
    store = JsonStore(str(tmp_path / "lib"))
    with store.lock():
        store.initialise()
        tx = Transaction(store, str(tmp_path), "noop")
        tx.commit()
    assert os.listdir(tmp_path / "lib" / "journal") == []


def test_json_journal_survives_a_kill_and_is_replayed(tmp_path):
    store = JsonStore(str(tmp_path / "lib"))
    with store.lock():
        store.initialise()
        store.begin("t1")
        store.put("containers", "c1", {"id": "c1"})
        store.delete("networks", "gone")

        def die() -> None:
            raise Killed

        with pytest.raises(Killed):
            store.commit(at_commit_point=die)
    fresh = JsonStore(str(tmp_path / "lib"))
    assert fresh.get("containers", "c1") is None
    assert fresh.pending_commits() == ["t1"]
    with fresh.lock():
        recover(fresh, str(tmp_path / "run"))
    assert fresh.get("containers", "c1") == {"id": "c1"}
    assert fresh.pending_commits() == []


def test_a_failed_commit_point_rolls_everything_back(store, tmp_path, ran, monkeypatch):
    """A failure before the commit point (a full disk, a compare-and-swap conflict)
    leaves nothing: the recorded clean-ups run at once."""
    with store.lock():
        tx = Transaction(store, str(tmp_path), "run")
        tx.created(fake("netns"))
        store.put("containers", "c1", {"id": "c1"})

        def full_disk(*_args, **_kwargs):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(store, "commit", full_disk)
        with pytest.raises(OSError):
            tx.commit()
    assert ran == ["netns"]
    assert pending_intents(str(tmp_path)) == []


def test_a_bad_intent_file_is_moved_aside_and_reported(tmp_path, ran):
    """One unreadable or foreign intent must not stop every later command."""
    folder = tmp_path / "intents"
    folder.mkdir()
    (folder / "1-1.json").write_text("[]\n")
    (folder / "2-2.json").write_text('{"id": "../../x"}\n{"undo": {"kind": "fake"}}\n')
    (folder / "3-3.json").write_text('{"id": "3-3"}\n{"undo": {"kind": "nosuch"}}\n'
                                     '{"undo": 5}\n{"undo": {"kind": "fake", "name": "still"}}\n'
                                     '{"undo": {"kind": "fake", "na')  # cut by a kill
    (folder / "4-4.json").write_text('{"id": "4-')  # killed in its first write
    store = MemoryStore()
    with store.lock():
        errors = recover(store, str(tmp_path))
    assert sorted(p.name for p in folder.iterdir()) == ["1-1.json.bad", "2-2.json.bad"]
    assert ran == ["still"]  # the good step of 3-3 ran past the two bad ones, not the cut one
    assert len(errors) == 4 and "unknown step kind 'nosuch'" in " ".join(errors)
