"""Unit tests for cnmctl.model: the CNM dataclasses and time helpers."""

from __future__ import annotations

import json
import re
import time

import pytest

from cnmctl import model
from cnmctl.model import (
    Container,
    Endpoint,
    Network,
    Sandbox,
    go_time_string,
    new_id,
    now_rfc3339nano,
    rfc3339_to_ns,
)

RFC3339NANO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,8}[1-9])?Z$")


def _network(**overrides) -> Network:
    values = dict(
        id="a" * 64,
        name="cnm-net",
        driver="bridge",
        created="2026-11-29T17:11:30.638188706Z",
        scope="local",
        ipam_driver="default",
        ipam_options={"foo": "bar"},
        ipam_config=[{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}],
        internal=True,
        attachable=True,
        enable_ipv6=True,
        options={"com.docker.network.bridge.name": "br-test"},
        labels={"team": "net"},
        driver_data={"bridge": "br-aaaaaaaaaaaa", "mac": "02:42:ac:12:00:01"},
    )
    values.update(overrides)
    return Network(**values)


SAMPLES = [
    _network(),
    Network(id="b" * 64, name="plain", driver="null", created="2026-01-01T00:00:00Z"),
    Endpoint(
        id="c" * 64, network_id="a" * 64, container_id="d" * 64, name="web",
        mac="02:42:ac:12:00:02", ipv4="172.18.0.2/16", ipv6="fd00::2/64",
        gateway="172.18.0.1", ipv6_gateway="fd00::1", aliases=["web", "www"],
        ifname="eth0", host_ifname="veth1234567",
    ),
    Endpoint(id="e" * 64, network_id="a" * 64, container_id="d" * 64, name="db"),
    Sandbox(id="f" * 64, key="/run/cnmctl/netns/ffff", container_id="d" * 64,
            endpoint_ids=["c" * 64, "e" * 64]),
    Sandbox(id="0" * 64, key="/run/cnmctl/netns/0000", container_id="1" * 64),
    Container(
        id="d" * 64, name="web", created="2026-11-29T17:11:30.5Z", path="/bin/sh",
        args=["-c", "sleep 1"], status="running", pid=4242, pid_start_time=123456,
        exit_code=0, error="", started_at="2026-11-29T17:11:31Z",
        finished_at="0001-01-01T00:00:00Z", hostname="web1", network_mode="cnm-net",
        networks={"cnm-net": {"id": "a" * 64, "ip": "172.18.0.2", "ip6": "",
                              "aliases": ["www"], "mac": ""}},
        dns=["1.1.1.1"], dns_search=["example.com"], dns_options=["ndots:2"],
        extra_hosts=["host.docker.internal:172.18.0.1"], env=["A=1"], workdir="/tmp",
        rootfs="/", auto_remove=True, interactive=True, sandbox_id="f" * 64,
    ),
    Container(id="2" * 64, name="min", created="2026-11-29T17:11:30Z", path="true"),
]


@pytest.mark.parametrize("obj", SAMPLES, ids=lambda o: f"{type(o).__name__}-{o.id[:4]}")
def test_to_doc_from_doc_round_trip(obj) -> None:
    cls = type(obj)
    doc = obj.to_doc()
    assert set(doc) == set(cls.field_names())
    assert cls.from_doc(doc) == obj
    # The document survives the store's JSON encoding unchanged.
    assert cls.from_doc(json.loads(json.dumps(doc))) == obj


@pytest.mark.parametrize("cls", [Network, Endpoint, Sandbox, Container])
def test_from_doc_ignores_unknown_keys(cls) -> None:
    obj = next(o for o in SAMPLES if type(o) is cls)
    doc = obj.to_doc()
    doc["FutureField"] = {"added": "by a newer cnmctl"}
    doc["another"] = 1
    assert cls.from_doc(doc) == obj


def test_from_doc_fills_defaults() -> None:
    net = Network.from_doc({"id": "x", "name": "n", "driver": "bridge",
                            "created": "2026-01-01T00:00:00Z"})
    assert net.scope == "local"
    assert net.ipam_driver == "default"
    assert net.ipam_config == [] and net.options == {} and net.labels == {}
    assert net.internal is False
    c = Container.from_doc({"id": "x", "name": "c", "created": "2026-01-01T00:00:00Z",
                            "path": "sh"})
    assert c.status == "created"
    assert c.started_at == "0001-01-01T00:00:00Z"
    assert c.network_mode == "bridge"


def test_defaults_are_not_shared() -> None:
    a = Network(id="a", name="a", driver="bridge", created="2026-01-01T00:00:00Z")
    b = Network(id="b", name="b", driver="bridge", created="2026-01-01T00:00:00Z")
    a.labels["x"] = "y"
    a.ipam_config.append({"Subnet": "10.0.0.0/24"})
    assert b.labels == {} and b.ipam_config == []


def test_to_doc_is_a_copy() -> None:
    net = _network()
    doc = net.to_doc()
    doc["labels"]["mutated"] = "yes"
    doc["ipam_config"][0]["Gateway"] = "1.2.3.4"
    assert "mutated" not in net.labels
    assert net.ipam_config[0]["Gateway"] == "172.18.0.1"


# -- IDs and time -------------------------------------------------------------


def test_new_id_shape_and_uniqueness() -> None:
    ids = [new_id() for _ in range(1000)]
    for i in ids:
        assert re.fullmatch(r"[0-9a-f]{64}", i), i
    assert len(set(ids)) == len(ids)


def test_now_rfc3339nano_shape_and_round_trip() -> None:
    before = time.time_ns()
    stamp = now_rfc3339nano()
    after = time.time_ns()
    assert RFC3339NANO.match(stamp), stamp
    ns = rfc3339_to_ns(stamp)
    assert before - 1_000 <= ns <= after + 1_000


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (1_795_972_290_638_188_706, "2026-11-29T17:11:30.638188706Z"),
        (1_795_972_290_000_000_000, "2026-11-29T17:11:30Z"),  # no fraction at all
        (1_795_972_290_500_000_000, "2026-11-29T17:11:30.5Z"),  # trailing zeros trimmed
        (1_795_972_290_120_000_000, "2026-11-29T17:11:30.12Z"),
        (1_795_972_290_000_000_001, "2026-11-29T17:11:30.000000001Z"),
        (1_795_972_290_000_001_000, "2026-11-29T17:11:30.000001Z"),
        (0, "1970-01-01T00:00:00Z"),
    ],
)
def test_now_rfc3339nano_exact(monkeypatch, ns: int, text: str) -> None:
    monkeypatch.setattr(model.time, "time_ns", lambda: ns)
    stamp = now_rfc3339nano()
    assert stamp == text
    assert RFC3339NANO.match(stamp)
    assert rfc3339_to_ns(stamp) == ns


def test_rfc3339_to_ns_go_zero_time() -> None:
    # Docker's "never" value for StartedAt/FinishedAt.
    assert rfc3339_to_ns("0001-01-01T00:00:00Z") == -62135596800 * 1_000_000_000


def test_network_created_ns() -> None:
    assert _network().created_ns == 1_795_972_290_638_188_706


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-11-29T17:11:30.638188706Z", "2026-11-29 17:11:30.638188706 +0000 UTC"),
        ("2026-11-29T17:11:30.5Z", "2026-11-29 17:11:30.5 +0000 UTC"),
        ("2026-11-29T17:11:30Z", "2026-11-29 17:11:30 +0000 UTC"),
    ],
)
def test_go_time_string(stamp: str, expected: str) -> None:
    assert go_time_string(stamp) == expected


# -- Network helpers ------------------------------------------------------------


def test_gateway_interfaces_uses_configured_gateway() -> None:
    net = _network(ipam_config=[{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.254"}])
    assert net.gateway_interfaces() == ["172.18.0.254/16"]


def test_gateway_interfaces_defaults_to_first_host() -> None:
    net = _network(ipam_config=[
        {"Subnet": "10.1.2.0/24"},
        {"Subnet": "10.9.0.0/16", "Gateway": ""},
        {"Subnet": "fd00:1::/64"},
        {"Subnet": "192.168.7.5/24"},  # host bits set: the subnet is 192.168.7.0/24
    ])
    assert net.gateway_interfaces() == [
        "10.1.2.1/24", "10.9.0.1/16", "fd00:1::1/64", "192.168.7.1/24",
    ]


def test_gateway_interfaces_mixed_and_empty() -> None:
    net = _network(ipam_config=[
        {"Subnet": "172.20.0.0/16", "Gateway": "172.20.0.1", "IPRange": "172.20.5.0/24"},
        {"Subnet": "fd00:dead::/48", "Gateway": "fd00:dead::fe"},
    ])
    assert net.gateway_interfaces() == ["172.20.0.1/16", "fd00:dead::fe/48"]
    assert _network(ipam_config=[]).gateway_interfaces() == []


@pytest.mark.parametrize(
    ("name", "predefined"),
    [("bridge", True), ("host", True), ("none", True), ("cnm-net", False),
     ("Bridge", False), ("bridge2", False)],
)
def test_predefined(name: str, predefined: bool) -> None:
    assert _network(name=name).predefined is predefined


def test_is_default_bridge() -> None:
    default = _network(name="bridge", options={
        "com.docker.network.bridge.default_bridge": "true",
        "com.docker.network.bridge.name": "docker0",
    })
    assert default.is_default_bridge
    assert default.predefined
    # A user network named like a bridge, or with the option false, is not the default.
    assert not _network(name="bridge", options={}).is_default_bridge
    assert not _network(options={"com.docker.network.bridge.default_bridge": "false"}
                        ).is_default_bridge
    assert not _network(name="host", driver="host", options={}).is_default_bridge
