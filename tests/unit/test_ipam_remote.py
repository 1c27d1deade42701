"""The IPAM registry, the remote IPAM driver over a fake transport (payloads as
Docker sends them, every answer checked), the default driver's claims, and the
transaction records the IPAM steps rely on (answered, last)."""

from __future__ import annotations

import re
from ipaddress import ip_interface, ip_network

import pytest
from memstore import Disk, MemoryStore

from cnmctl.engine import addresses, steps
from cnmctl.engine.tx import Transaction, recover, run_steps
from cnmctl.errors import Conflict, InvalidArgument, NotFound
from cnmctl.ipam import get_ipam
from cnmctl.ipam.api import GATEWAY_KEY, GATEWAY_OPTIONS, Capabilities, Ipam, PoolRequest
from cnmctl.ipam.default import DefaultIpam
from cnmctl.ipam.remote import BadAnswer, RemoteIpam, released_already
from cnmctl.plugins.client import CallNotFound, NoAnswer, PluginError, PluginRefused

POOL = {"PoolID": "p1", "Pool": "10.7.0.0/24", "Data": {}}


class FakePlugin:
    """A transport answering from a table {method: answer or exception}."""

    name = "fake"

    def __init__(self, **answers) -> None:
        self.answers = {f"IpamDriver.{k}": v for k, v in answers.items()}
        self.calls: list[tuple[str, dict | None]] = []

    def call(self, method: str, payload: dict | None = None) -> dict:
        self.calls.append((method, payload))
        answer = self.answers.get(method, {})
        if isinstance(answer, Exception):
            raise answer
        return answer


def raises(exc_type, message):
    return pytest.raises(exc_type, match="^" + re.escape(message) + "$")


# -- the registry ------------------------------------------------------------------------


def test_registry_builtin_null_and_missing_plugins(tmp_path, monkeypatch):
    assert isinstance(get_ipam("default"), DefaultIpam)
    assert isinstance(get_ipam("default"), Ipam)
    with pytest.raises(InvalidArgument, match='ipam driver "null" is not supported'):
        get_ipam("null")
    monkeypatch.setenv("CNMCTL_PLUGIN_SOCK_DIR", str(tmp_path))
    monkeypatch.setenv("CNMCTL_PLUGIN_SPEC_DIRS", str(tmp_path))
    with raises(NotFound, 'plugin "nosuch" not found'):
        get_ipam("nosuch")


def test_remote_implements_the_protocol():
    assert isinstance(RemoteIpam(FakePlugin()), Ipam)


# -- RemoteIpam: calls and payloads ----------------------------------------------------------


def test_capabilities_asked_once_and_404_means_none():
    plugin = FakePlugin(GetCapabilities=CallNotFound("404"))
    ipam = RemoteIpam(plugin)
    assert ipam.capabilities() == Capabilities() == ipam.capabilities()
    assert plugin.calls == [("IpamDriver.GetCapabilities", None)]
    ipam = RemoteIpam(FakePlugin(GetCapabilities={"RequiresMACAddress": True}))
    assert ipam.capabilities().requires_mac
    with raises(BadAnswer, 'plugin "fake": IpamDriver.GetCapabilities: malformed answer: '
                           "RequiresMACAddress is not true or false"):
        RemoteIpam(FakePlugin(GetCapabilities={"RequiresMACAddress": "yes"})).capabilities()


def test_request_pool_payload_and_answer():
    plugin = FakePlugin(RequestPool={**POOL, "Data": {GATEWAY_KEY: "10.7.0.254/16"}})
    pool = RemoteIpam(plugin).request_pool(PoolRequest(
        pool="10.7.0.0/24", sub_pool="10.7.0.128/25", options={"k": "v"}, gateway="10.7.0.9",
        address_space="sp"))
    assert plugin.calls == [("IpamDriver.RequestPool", {
        "AddressSpace": "sp", "Pool": "10.7.0.0/24", "SubPool": "10.7.0.128/25",
        "Options": {"k": "v"}, "V6": False})]
    # the gateway in Data gets the pool's prefix length
    assert pool == (("p1", ip_network("10.7.0.0/24"), {GATEWAY_KEY: "10.7.0.254/24"}))


@pytest.mark.parametrize(("answer", "request_", "message", "accepted"), [
    ({"Pool": "10.7.0.0/24"}, PoolRequest(), "malformed answer: no PoolID", ""),
    ({**POOL, "Pool": "banana"}, PoolRequest(), "Pool 'banana' is not a CIDR subnet", "p1"),
    ({**POOL, "Pool": "10.7.0.0"}, PoolRequest(), "Pool '10.7.0.0' is not a CIDR subnet", "p1"),
    ({**POOL, "Pool": "10.7.0.0/255.255.255.0"}, PoolRequest(),
     "Pool '10.7.0.0/255.255.255.0' is not a CIDR subnet", "p1"),
    (POOL, PoolRequest(v6=True), "Pool 10.7.0.0/24 is not an IPv6 subnet", "p1"),
    (POOL, PoolRequest(pool="10.8.0.0/24"),
     "Pool 10.7.0.0/24 is not the subnet asked for (10.8.0.0/24)", "p1"),
    ({**POOL, "Data": {GATEWAY_KEY: "10.9.0.1/24"}}, PoolRequest(),
     "gateway 10.9.0.1 is outside the pool 10.7.0.0/24", "p1"),
    ({**POOL, "Data": {GATEWAY_KEY: "10.7.0.1"}}, PoolRequest(),
     "gateway '10.7.0.1' is not an address in CIDR form", "p1"),
    ({**POOL, "Data": ["x"]}, PoolRequest(),
     "malformed answer: Data is not a small map of strings", "p1"),
    # a pool all the same: given back with the ID the plugin chose, whatever it holds
    ({**POOL, "PoolID": "p\n1"}, PoolRequest(),
     "malformed answer: PoolID is not a string of at most 512 printable characters", "p\n1"),
    ({**POOL, "PoolID": "p" * 600}, PoolRequest(),
     "malformed answer: PoolID is not a string of at most 512 printable characters", "p" * 600),
    ({**POOL, "PoolID": "p" * (1 << 20)}, PoolRequest(),  # not written to an intent
     "malformed answer: PoolID is not a string of at most 512 printable characters", ""),
    ({**POOL, "PoolID": 7}, PoolRequest(),
     "malformed answer: PoolID is not a string of at most 512 printable characters", ""),
])
def test_hostile_pool_answers(answer, request_, message, accepted):
    with raises(BadAnswer, f'plugin "fake": IpamDriver.RequestPool: {message}') as caught:
        RemoteIpam(FakePlugin(RequestPool=answer)).request_pool(request_)
    assert caught.value.accepted == accepted  # what the engine releases


def test_request_address_payloads():
    plugin = FakePlugin(RequestAddress={"Address": "10.7.0.1/24"})
    ipam = RemoteIpam(plugin)
    assert ipam.request_address("p1", None, GATEWAY_OPTIONS) == ip_interface("10.7.0.1/24")
    assert ipam.request_address("p1", "10.7.0.1") == ip_interface("10.7.0.1/24")
    assert plugin.calls == [
        ("IpamDriver.RequestAddress", {"PoolID": "p1", "Address": "",
                                       "Options": {"RequestAddressType":
                                                   "com.docker.network.gateway"}}),
        ("IpamDriver.RequestAddress", {"PoolID": "p1", "Address": "10.7.0.1", "Options": None})]


@pytest.mark.parametrize(("answer", "preferred", "message", "accepted"), [
    ({}, None, "no address returned", ""),
    ({"Address": "10.7.0.2"}, None, "Address '10.7.0.2' is not an address in CIDR form", ""),
    ({"Address": "10.7.0.2/24"}, "10.7.0.3",
     "returned 10.7.0.2, not the address asked for (10.7.0.3)", "10.7.0.2"),
    ({"Address": "10.7.0.2/24", "Data": "x"}, None,
     "malformed answer: Data is not a small map of strings", "10.7.0.2"),
])
def test_hostile_address_answers(answer, preferred, message, accepted):
    with raises(BadAnswer, f'plugin "fake": IpamDriver.RequestAddress: {message}') as caught:
        RemoteIpam(FakePlugin(RequestAddress=answer)).request_address("p1", preferred)
    assert caught.value.accepted == accepted


def test_releases_and_what_counts_as_released_already():
    plugin = FakePlugin()
    ipam = RemoteIpam(plugin)
    ipam.release_address("p1", "10.7.0.2")
    ipam.release_pool("p1")
    assert plugin.calls == [
        ("IpamDriver.ReleaseAddress", {"PoolID": "p1", "Address": "10.7.0.2"}),
        ("IpamDriver.ReleasePool", {"PoolID": "p1"})]
    assert released_already(PluginRefused('plugin "x": IpamDriver.ReleasePool: pool p1 not found'))
    assert released_already(PluginRefused("address 10.7.0.2 not allocated"))
    assert not released_already(NoAnswer("connection lost"))
    assert not released_already(CallNotFound("not found (404)"))
    # the plugin never answered: nothing says it let go, whatever the transport's words
    for kind, unanswered in (
            (PluginError, "cannot connect to unix:///run/p.sock: No such file or directory"),
            (NoAnswer, "no answer within 2 s"), (NoAnswer, "connection lost: pool not found"),
            (NoAnswer, "malformed answer: 'Not Found'")):
        assert not released_already(
            kind(f'plugin "x": IpamDriver.ReleasePool: {unanswered}')), unanswered


# -- the default driver hands out what it reserved with a pool once ------------------------------


def test_default_driver_claims_gateway_and_aux_once():
    ipam = DefaultIpam()
    pool = ipam.request_pool(PoolRequest(pool="10.5.0.0/24", gateway="10.5.0.254",
                                         aux_addresses={"a": "10.5.0.9"}))
    assert str(ipam.request_address(pool.pool_id, "10.5.0.254", GATEWAY_OPTIONS)) == \
        "10.5.0.254/24"
    assert str(ipam.request_address(pool.pool_id, "10.5.0.9")) == "10.5.0.9/24"
    with raises(Conflict, "Address already in use"):  # reserved: never to an endpoint
        ipam.request_address(pool.pool_id, "10.5.0.9")
    other = ipam.request_pool(PoolRequest(pool="10.6.0.0/24"))
    assert str(ipam.request_address(other.pool_id, None, GATEWAY_OPTIONS)) == "10.6.0.1/24"
    assert str(ipam.request_address(other.pool_id)) == "10.6.0.2/24"


# -- the IPAM steps and the transaction records they use ------------------------------------------


@pytest.fixture
def released(monkeypatch) -> list:
    """The releases the IPAM steps make, through a fake plugin."""
    done: list = []

    class Recorder(FakePlugin):
        def call(self, method, payload=None):
            done.append((method.removeprefix("IpamDriver."), payload))
            if payload and payload.get("PoolID") == "gone":
                raise PluginRefused(f'plugin "fake": {method}: pool gone not found')
            return {}

    monkeypatch.setattr("cnmctl.plugins.client.get", lambda name, kind: Recorder())
    return done


def test_an_answered_request_is_released_by_the_next_command(tmp_path, released):
    disk = Disk()
    store = MemoryStore(disk)
    with store.lock():
        tx = Transaction(store, str(tmp_path), "network create")
        index = tx.created({"kind": "ipam-pool", "driver": "fake", "pool": ""},
                           crash_point=False)
        tx.answered(index, {"kind": "ipam-pool", "driver": "fake", "pool": "p1"})
        step = {"kind": "ipam-address", "driver": "fake", "pool": "p1", "address": ""}
        tx.answered(tx.created(step, crash_point=False), {**step, "address": "10.7.0.1"})
        refused = tx.created({**step, "address": "10.7.0.2"})
        tx.answered(refused, {**step, "address": "10.7.0.2", "refused": True})
        tx.created({"kind": "ipam-pool", "driver": "fake", "pool": "gone"})
        # killed here
    survivor = MemoryStore(disk)
    with survivor.lock():
        assert recover(survivor, str(tmp_path)) == []
    assert released == [("ReleasePool", {"PoolID": "gone"}),
                        ("ReleaseAddress", {"PoolID": "p1", "Address": "10.7.0.1"}),
                        ("ReleasePool", {"PoolID": "p1"})]


def test_an_unanswered_request_is_reported_and_a_held_address_kept(tmp_path, released):
    store = MemoryStore()
    with store.lock():
        store.put("networks", "n1", {"id": "n1", "name": "n1", "driver": "bridge",
                                     "created": "", "ipam_driver": "fake",
                                     "ipam_pools": [{"id": "p1", "subnet": "10.7.0.0/24",
                                                     "addresses": ["10.7.0.1"]}]})
        store.put("endpoints", "e1", {"id": "e1", "network_id": "n1", "container_id": "c",
                                      "name": "c", "ipv4": "10.7.0.2/24"})
        tx = Transaction(store, str(tmp_path), "x")
        tx.commit()
    step = {"kind": "ipam-address", "driver": "fake", "pool": "p1"}
    errors = run_steps([{**step, "address": ""}, {**step, "address": "10.7.0.1"},
                        {**step, "address": "10.7.0.2"}, {**step, "address": "10.7.0.3"}],
                       str(tmp_path), store)
    assert errors == ['ipam-address: plugin "fake": a killed command never recorded the '
                      "answer to its request: what the plugin gave then stays with it"]
    assert released == [("ReleaseAddress", {"PoolID": "p1", "Address": "10.7.0.3"})]
    assert addresses._held_in_store(store, "fake", "p1", "10.7.0.2")
    assert not addresses._held_in_store(store, "other", "p1", "10.7.0.2")


def test_last_then_steps_run_after_the_others(tmp_path, monkeypatch):
    done = []
    monkeypatch.setitem(steps._ACTIONS, "fake", lambda step, run_root: done.append(step["n"]))
    store = MemoryStore()
    with store.lock():
        tx = Transaction(store, str(tmp_path), "rm")
        tx.then({"kind": "fake", "n": 1}, last=True)
        tx.then({"kind": "fake", "n": 2})
        tx.then({"kind": "fake", "n": 3})
        store.put("containers", "c1", {"id": "c1"})
        assert tx.commit() == []
    assert done == [2, 3, 1]
