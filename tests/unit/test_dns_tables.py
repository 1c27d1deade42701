"""How the DNS helper builds its answer tables from the store (no sockets, no root)."""

from __future__ import annotations

import subprocess

from cnmctl.dns import server
from cnmctl.model import Container, Endpoint, Network, Sandbox, new_id
from cnmctl.runtime import process
from cnmctl.store.jsonstore import JsonStore


def make_helper(tmp_path) -> tuple[server.Helper, dict[str, server._Attached]]:
    """A store with cnm-net (s1, s2) and other-net (s3 on both), an internal net
    (s4), and a helper over it whose sandboxes are attached without sockets."""
    store = JsonStore(str(tmp_path / "lib"))
    nets = {name: Network(id=new_id(), name=name, driver="bridge", created="x",
                          internal=name == "int-net")
            for name in ("cnm-net", "other-net", "int-net")}
    members = {"s1": ["cnm-net"], "s2": ["cnm-net"], "s3": ["cnm-net", "other-net"],
               "s4": ["int-net"]}
    with store.lock():
        store.initialise()
        for net in nets.values():
            store.put("networks", net.id, net.to_doc())
        for n, (name, joined) in enumerate(members.items(), start=2):
            ctr = Container(id=new_id(), name=name, created="x", path="sleep",
                            dns=["10.9.9.9"] if name == "s2" else [])
            store.put("containers", ctr.id, ctr.to_doc())
            eps = [Endpoint(id=new_id(), network_id=nets[net].id, container_id=ctr.id,
                            name=name, ipv4=f"172.18.0.{n}/16") for net in joined]
            for ep in eps:
                store.put("endpoints", ep.id, ep.to_doc())
            sandbox = Sandbox(id=new_id(), key=f"/run/test/{name}", container_id=ctr.id,
                              endpoint_ids=[ep.id for ep in eps])
            store.put("sandboxes", sandbox.id, sandbox.to_doc())
    helper = server.Helper(nets["cnm-net"].id, store.root, str(tmp_path / "run"),
                           ["192.0.2.53"], server._Log("test"))
    attached = {name: server._Attached(f"/run/test/{name}", (0, 0), None, None)
                for name in members}
    return helper, attached


def test_sandboxes_on_the_same_networks_share_one_table(tmp_path):
    helper, sb = make_helper(tmp_path)
    try:
        assert helper.table_for(sb["s1"]) is helper.table_for(sb["s2"])
        assert helper.table_for(sb["s3"]) is not helper.table_for(sb["s1"])
        helper._reload()  # a change: tables are built again, and shared again
        fresh = helper.table_for(sb["s2"])
        assert fresh is not None and helper.table_for(sb["s1"]) is fresh
    finally:
        helper.sel.close()


def test_upstreams_per_sandbox(tmp_path):
    helper, sb = make_helper(tmp_path)
    try:
        for name in sb:
            helper.table_for(sb[name])
        assert [addr for _family, addr in sb["s1"].upstreams] == [("192.0.2.53", 53)]
        assert [addr for _family, addr in sb["s2"].upstreams] == [("10.9.9.9", 53)]  # --dns
        assert sb["s4"].upstreams == []  # all its networks are internal: no forwarding
    finally:
        helper.sel.close()


def resolves(table, name: str) -> bool:
    """True if the table answers an A query for `name` with an address."""
    from dnslib import DNSRecord

    reply = table.answer(DNSRecord.question(name, "A").pack(), 512)
    return reply is not None and bool(DNSRecord.parse(reply).rr)


def record_running(helper: server.Helper, name: str, pid: int) -> None:
    """Record the container `name` as running with process `pid`."""
    [doc] = [d for d in helper.store.list("containers") if d["name"] == name]
    doc.update(status="running", pid=pid, pid_start_time=process.start_time(pid),
               supervisor_pid=pid)
    with helper.store.lock():
        helper.store.put("containers", doc["id"], doc)


def test_a_container_whose_process_died_is_not_answered(tmp_path):
    """Recorded running, but its process is gone and no one recorded the exit (its
    supervisor was killed too): its names go the moment the process exits, through
    the pidfd the helper watches, without any reload from cnmctl."""
    helper, sb = make_helper(tmp_path)
    sleeper = subprocess.Popen(["sleep", "60"])
    ended = subprocess.Popen(["true"])
    ended.wait()
    try:
        record_running(helper, "s1", sleeper.pid)
        record_running(helper, "s3", ended.pid)  # already dead when the table is built
        table = helper.table_for(sb["s2"])
        assert resolves(table, "s1") and not resolves(table, "s3")
        assert resolves(table, "s2")  # created, never started: as the store says
        sleeper.kill()
        sleeper.wait()
        events = helper.sel.select(10.0)  # the helper's loop, one turn
        assert events, "the process's exit woke nobody"
        for key, mask in events:
            handler, obj = key.data
            handler(obj, mask)
        assert helper.tables == {} and helper.loaded is None  # every table dropped
        sb["s2"].table = None  # as _reload does for the sandboxes it serves
        assert not resolves(helper.table_for(sb["s2"]), "s1")
        assert resolves(helper.table_for(sb["s2"]), "s2")
        assert helper.watched == {}
    finally:
        sleeper.kill()
        sleeper.wait()
        helper.close()
