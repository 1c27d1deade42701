"""drivers/remote.py without a kernel: the payloads it sends, how it reads (and
refuses) a plugin's answers, and the tolerant clean-ups of calls that may never
have arrived; plus the intent record that ends a clean-up's pending state."""

from __future__ import annotations

import pytest

from cnmctl.drivers.api import Capabilities
from cnmctl.drivers.remote import RemoteDriver, _port_options
from cnmctl.model import Endpoint, Network
from cnmctl.plugins.client import PluginError, PluginRefused


class FakePlugin:
    """Answers calls from a table {method: answer or exception}; records them."""

    def __init__(self, answers: dict) -> None:
        self.answers, self.calls = answers, []

    def call(self, method: str, payload=None) -> dict:
        self.calls.append((method.split(".", 1)[1], payload))
        answer = self.answers.get(method.split(".", 1)[1], {})
        if isinstance(answer, Exception):
            raise answer
        return answer


def _driver(answers: dict, tolerant: bool = False) -> tuple[RemoteDriver, FakePlugin]:
    driver = RemoteDriver("p", tolerant=tolerant)
    driver._plugin = FakePlugin(answers)
    driver._caps = Capabilities(scope="local")
    return driver, driver._plugin


NET = Network(id="n" * 64, name="rn", driver="p", created="2026-01-01T00:00:00Z",
              ipam_config=[{"Subnet": "10.1.0.0/24", "Gateway": "10.1.0.1",
                            "AuxiliaryAddresses": {"r": "10.1.0.5"}},
                           {"Subnet": "fd00::/64", "Gateway": "fd00::1"}],
              options={"k": "v"}, internal=True, enable_ipv6=True)


def _ep(**kw) -> Endpoint:
    return Endpoint(id="e" * 64, network_id=NET.id, container_id="c" * 64, name="a",
                    ipv4="10.1.0.2/24", **kw)


def test_create_network_payload():
    driver, plugin = _driver({})
    driver.create_network(NET)
    assert plugin.calls == [("CreateNetwork", {
        "NetworkID": NET.id,
        "Options": {"com.docker.network.generic": {"k": "v"},
                    "com.docker.network.enable_ipv4": True,
                    "com.docker.network.enable_ipv6": True,
                    "com.docker.network.internal": True},
        "IPv4Data": [{"AddressSpace": "LocalDefault", "Pool": "10.1.0.0/24",
                      "Gateway": "10.1.0.1/24", "AuxAddresses": {"r": "10.1.0.5/24"}}],
        "IPv6Data": [{"AddressSpace": "LocalDefault", "Pool": "fd00::/64",
                      "Gateway": "fd00::1/64"}]})]


@pytest.mark.parametrize("given, error", [
    ({"MacAddress": "02:aa:00:00:00:01"}, ""),  # filled where the engine left it empty
    ({"Address": "10.1.0.2/24"}, ""),  # the same value: no change
    ({"AddressIPv6": "fd00::9/64"}, ""),
    ({"Address": "10.1.0.9/24"}, "modified the interface's Address"),
    ({"Address": "10.1.0.9"}, "invalid Address"),
    ({"MacAddress": "01:00:5e:00:00:01"}, "not a unicast MAC"),
    ({"AddressIPv6": "10.1.0.3/24"}, "invalid AddressIPv6"),
])
def test_create_endpoint_may_fill_but_not_change(given, error):
    driver, _ = _driver({"CreateEndpoint": {"Interface": given}})
    ep = _ep()
    if error:
        with pytest.raises(PluginError, match=f'^plugin "p": NetworkDriver.CreateEndpoint: '
                                              f'.*{error}'):
            driver.create_endpoint(NET, ep)
    else:
        driver.create_endpoint(NET, ep)
        assert ep.mac == given.get("MacAddress", "")
        assert ep.ipv6 == given.get("AddressIPv6", "")


@pytest.fixture
def movable(monkeypatch):
    from cnmctl.sandbox import interfaces

    monkeypatch.setattr(interfaces, "check_movable", lambda name: None)


def test_join_answer_becomes_join_info(movable):
    driver, plugin = _driver({"Join": {
        "InterfaceName": {"SrcName": "veth0", "DstPrefix": "net"}, "Gateway": "10.1.0.1",
        "StaticRoutes": [{"Destination": "10.9.0.0/16", "RouteType": 1},
                         {"Destination": "10.8.0.0/16", "RouteType": 0,
                          "NextHop": "10.1.0.254"}],
        "DisableGatewayService": True}})
    ep = _ep(mac="02:aa:00:00:00:01")
    info = driver.join(NET, ep, "/run/x/netns/abc")
    assert plugin.calls[0] == ("Join", {"NetworkID": NET.id, "EndpointID": ep.id,
                                        "SandboxKey": "/run/x/netns/abc", "Options": {}})
    assert (info.kind, info.host_ifname, info.prefix, info.gateway, info.mac) == (
        "move", "veth0", "net", "10.1.0.1", "02:aa:00:00:00:01")
    assert info.static_routes == [("10.9.0.0/16", ""), ("10.8.0.0/16", "10.1.0.254")]
    assert info.disable_gateway_service and info.addresses == ["10.1.0.2/24"]
    assert (ep.gateway, ep.ipv6_gateway) == ("10.1.0.1", "")


@pytest.mark.parametrize("answer, error", [
    ({}, "no InterfaceName.SrcName"),
    ({"InterfaceName": {"SrcName": "../x"}}, "only letters"),
    ({"InterfaceName": {"SrcName": "v", "DstPrefix": "e" * 20}}, "too long"),
    ({"InterfaceName": {"SrcName": "v"}, "Gateway": "10.1.0.1/24"}, "10.1.0.1/24"),
    ({"InterfaceName": {"SrcName": "v"}, "GatewayIPv6": "10.1.0.1"}, "10.1.0.1"),
    ({"InterfaceName": {"SrcName": "v"}, "StaticRoutes": [{"Destination": "10.9.0.0/16",
                                                          "RouteType": 7}]}, "RouteType"),
    ({"InterfaceName": {"SrcName": "v"}, "StaticRoutes": [{"Destination": "10.9.0.0/16"}]},
     "None"),
    ({"InterfaceName": {"SrcName": "v"}, "StaticRoutes": [
        {"Destination": "fd01::/64", "NextHop": "10.1.0.1"}]}, "another address family"),
    ({"InterfaceName": "v"}, "InterfaceName must be an object"),
    ({"InterfaceName": {"SrcName": "v"}, "StaticRoutes": {"a": 1}}, "StaticRoutes a list"),
    ({"InterfaceName": {"SrcName": "v"}, "StaticRoutes": [5]}, "not an object"),
    ({"InterfaceName": {"SrcName": "v"}, "Gateway": 167772161}, "167772161"),
])
def test_a_bad_join_answer_is_refused_naming_plugin_and_call(movable, answer, error):
    driver, _ = _driver({"Join": answer})
    with pytest.raises(PluginError, match=r'^plugin "p": NetworkDriver.Join: ') as info:
        driver.join(NET, _ep(), "/k")
    assert error in str(info.value)


def test_clean_ups_of_calls_that_may_never_have_arrived():
    refused = PluginRefused('plugin "p": NetworkDriver.DeleteEndpoint: no endpoint')
    strict, _ = _driver({"DeleteEndpoint": refused})
    with pytest.raises(PluginRefused):
        strict.delete_endpoint(NET, _ep())
    tolerant = strict.tolerant()
    tolerant._plugin = FakePlugin({"DeleteEndpoint": refused})
    tolerant.delete_endpoint(NET, _ep())  # the plugin never knew it: nothing to undo
    dead = PluginError('plugin "p": NetworkDriver.Leave: cannot connect')
    tolerant._plugin = FakePlugin({"Leave": dead})
    with pytest.raises(PluginError, match="cannot connect"):  # a dead plugin is reported
        tolerant.leave(NET, _ep(), "/k")


def test_port_options_in_dockers_shapes():
    assert _port_options(["80/tcp", "53/udp"],
                         {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                          "53/udp": [{"HostIp": "", "HostPort": "5300-5310"}]}) == {
        "com.docker.network.portmap": [
            {"Proto": 17, "IP": "", "Port": 53, "HostIP": "", "HostPort": 5300,
             "HostPortEnd": 5310},
            {"Proto": 6, "IP": "", "Port": 80, "HostIP": "127.0.0.1", "HostPort": 8080,
             "HostPortEnd": 8080}],
        "com.docker.network.endpoint.exposedports": [{"Proto": 6, "Port": 80},
                                                     {"Proto": 17, "Port": 53}]}


def test_an_answer_clears_pending_in_the_intent(tmp_path):
    from memstore import MemoryStore

    from cnmctl.engine.tx import Transaction, read_intent

    store = MemoryStore()
    with store.lock():
        tx = Transaction(store, str(tmp_path), "run")
        first = tx.created({"kind": "dir", "name": "a", "pending": True})
        tx.created({"kind": "dir", "name": "b", "pending": True})
        tx.answered(first, {"kind": "dir", "name": "a"})
        intent = read_intent(tx._path)  # what a recovery after a kill would read
        assert intent["undo"] == [{"kind": "dir", "name": "a"},
                                  {"kind": "dir", "name": "b", "pending": True}]
        assert tx.intent["undo"] == intent["undo"]
        tx.store.abort()
