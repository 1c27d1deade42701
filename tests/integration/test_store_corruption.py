"""A corrupt or damaged store: one line naming the file, never a traceback; the rest of
the store keeps working; `system check` reports it and `--fix` repairs it."""

from __future__ import annotations

import json
import os

import pytest

CORRUPT_HINT = "run `cnmctl system check`"


def _doc(cnm, kind: str, doc_id: str) -> str:
    return os.path.join(cnm.root, kind, f"{doc_id}.json")


def _check_then_fix(cnm, expect: str) -> None:
    """`system check` reports `expect` and exits 1; --fix repairs; then nothing is left."""
    found = cnm.run("system", "check")
    assert found.code == 1 and expect in found.out, (found.out, found.err)
    assert "Traceback" not in found.err
    fixed = cnm.run("system", "check", "--fix")
    assert fixed.code == 0 and expect in fixed.out, (fixed.out, fixed.err)
    assert cnm("system", "check") == ""


@pytest.fixture
def world(cnm):
    cnm("network", "create", "cnm-net")
    ids = {name: cnm("run", "-d", "--name", name, "--network", "cnm-net", "sleep", "600").strip()
           for name in ("c1", "c2")}
    return ids


@pytest.mark.parametrize(("content", "why"), [
    (b"\xff\xfe{not utf-8", "not UTF-8 text"),
    (b"[]", "a JSON list, not an object"),
    (b'{"id": 5}', "its id does not match its file name"),
    (b'{"id": "', "Unterminated string"),
    (b"", "Expecting value"),
])
def test_corrupt_container_document(cnm, world, content, why):
    path = _doc(cnm, "containers", world["c2"])
    with open(path, "wb") as f:
        f.write(content)
    # The command that needs it: one line naming the file.
    line = cnm.fails("inspect", "c2")
    assert line.startswith(f"Error: corrupt store document {path}: {why}") and \
        line.endswith(CORRUPT_HINT + " to see what --fix would do"), line
    # The rest still works: c1 is listed, with one warning line naming the file.
    listing = cnm.run("ps", "-a", "--format", "{{.Names}}")
    assert listing.code == 0 and listing.out == "c1\n"
    [warning] = listing.err.splitlines()
    assert warning.startswith(f"Warning: skipping corrupt store document {path}: {why}")
    assert warning.endswith(f"; {CORRUPT_HINT} to see what --fix would do")
    assert cnm("inspect", "-f", "{{.State.Status}}", "c1") == "running\n"
    _check_then_fix(cnm, f"document {path}")
    assert os.path.exists(path + ".corrupt")
    # c2's sandbox, endpoint and name were released with it; its address is free again.
    assert cnm("run", "-d", "--name", "c2", "--network", "cnm-net", "sleep", "600")


def test_corrupt_network_document_keeps_other_networks_usable(cnm, world):
    other = cnm("network", "create", "other-net").strip()
    with open(_doc(cnm, "networks", other), "wb") as f:
        f.write(b"[]")
    result = cnm.run("network", "ls", "--format", "{{.Name}}")
    assert result.code == 0 and result.out.split() == ["bridge", "cnm-net", "host", "none"]
    assert len(result.err.splitlines()) == 1 and "other-net" not in result.err
    _check_then_fix(cnm, "document")


def test_garbage_schema_is_one_line_and_repaired(cnm, world):
    path = os.path.join(cnm.root, "schema.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write("garbage")
    line = cnm.fails("network", "ls")
    assert line.startswith(f"Error: corrupt store document {path}") and CORRUPT_HINT in line
    _check_then_fix(cnm, f"store {cnm.root}: schema.json missing or unreadable")
    assert cnm("inspect", "-f", "{{.State.Status}}", "c1") == "running\n"


def test_removed_schema_does_not_duplicate_predefined_networks(cnm, world):
    os.unlink(os.path.join(cnm.root, "schema.json"))
    names = cnm("network", "ls", "--format", "{{.Name}}").split()
    assert names == ["bridge", "cnm-net", "host", "none"]
    assert cnm("system", "check") == ""


def test_deleted_ipam_document_is_rebuilt_from_the_endpoints(cnm, world):
    net_id = cnm("network", "inspect", "-f", "{{.Id}}", "cnm-net").strip()
    os.unlink(_doc(cnm, "ipam", net_id))
    cnm("run", "-d", "--name", "c3", "--network", "cnm-net", "sleep", "600")
    got = {n: cnm("inspect", "-f", '{{(index .NetworkSettings.Networks "cnm-net").IPAddress}}',
                  n).strip() for n in ("c1", "c2", "c3")}
    assert got == {"c1": "172.18.0.2", "c2": "172.18.0.3", "c3": "172.18.0.4"}
    assert cnm("system", "check") == ""


def test_wrong_ipam_document_is_found_and_rebuilt(cnm, world):
    net_id = cnm("network", "inspect", "-f", "{{.Id}}", "cnm-net").strip()
    path = _doc(cnm, "ipam", net_id)
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    cnm("rm", "-f", "c1")  # frees 172.18.0.2 ...
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f)  # ... which the stale copy still holds
    _check_then_fix(cnm, "ipam cnm-net: address allocations disagree with the endpoints")
    cnm("run", "-d", "--name", "c4", "--network", "cnm-net", "sleep", "600")
    assert cnm("inspect", "-f", '{{(index .NetworkSettings.Networks "cnm-net").IPAddress}}',
               "c4") == "172.18.0.2\n"


def test_stale_name_index_entry_frees_the_name(cnm, world):
    with open(_doc(cnm, "container-names", "ghost"), "w", encoding="utf-8") as f:
        json.dump({"id": "0" * 64}, f)
    assert cnm.fails("inspect", "ghost") == "Error: No such object: ghost"
    with open(_doc(cnm, "container-names", "c1"), "wb") as f:
        f.write(b"\x00")
    assert cnm("inspect", "-f", "{{.Name}}", "c1") == "/c1\n"  # found by a scan instead
    _check_then_fix(cnm, "name ghost: the index names no such container")
    assert cnm("run", "-d", "--name", "ghost", "sleep", "600")
    with open(_doc(cnm, "container-names", "c1"), encoding="utf-8") as f:
        assert json.load(f) == {"id": world["c1"]}
