"""Remote IPAM end to end: the reference IPAM plugin (tests/plugins/ipamplugin.py)
behind the default bridge driver; the exact calls and payloads Docker sends;
every failure (Err, HTTP 500, a hang, a death, garbage, hostile answers) leaves
the store unchanged and nothing held in the plugin."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest
from conftest import store_snapshot
from ipam_plugin import NAME, RefIpam, held_by_store, plugin_holds
from leftovers import link_names

GW_OPTS = {"RequestAddressType": "com.docker.network.gateway"}


@pytest.fixture
def refipam(cnm, tmp_path):
    plugin = RefIpam(str(tmp_path))
    cnm.env = plugin.env(cnm.env)
    yield plugin
    plugin.stop()


def _ipam_calls(plugin: RefIpam) -> list[tuple[str, dict | None]]:
    """The IPAM calls, without the GetCapabilities each command makes at activation."""
    return [(m.removeprefix("IpamDriver."), p) for m, p in plugin.calls()
            if m.startswith("IpamDriver.") and m != "IpamDriver.GetCapabilities"]


def _kernel_and_run_root(cnm) -> tuple:
    """The host's links and what the run root holds (namespaces, containers, intents)."""
    held = {}
    for folder in ("netns", "containers", "intents", "starting"):
        path = os.path.join(cnm.run_root, folder)
        held[folder] = sorted(os.listdir(path)) if os.path.isdir(path) else []
    return link_names(), held


def _eth0(cnm, name: str) -> list[str]:
    """The IPv4 addresses on eth0 inside a container, as the kernel has them."""
    out = json.loads(cnm("exec", name, "ip", "-j", "-4", "addr", "show", "eth0"))
    return [f"{a['local']}/{a['prefixlen']}" for a in out[0]["addr_info"]]


def test_create_run_ping_disconnect_rm_with_the_calls_docker_makes(cnm, refipam):
    cnm("network", "create", "--ipam-driver", NAME, "--ipam-opt", "k=v", "n1")
    doc = json.loads(cnm("network", "inspect", "n1"))[0]
    assert doc["IPAM"] == {"Driver": NAME, "Options": {"k": "v"},
                           "Config": [{"Subnet": "10.77.0.0/24", "Gateway": "10.77.0.1"}]}
    pool = "ref/10.77.0.0/24"
    assert [m for m, _ in refipam.calls()][:3] == [
        "Plugin.Activate", "IpamDriver.GetCapabilities", "IpamDriver.GetDefaultAddressSpaces"]
    assert _ipam_calls(refipam)[1:] == [
        ("RequestPool", {"AddressSpace": "reflocal", "Pool": "", "SubPool": "",
                         "Options": {"k": "v"}, "V6": False}),
        ("RequestAddress", {"PoolID": pool, "Address": "", "Options": GW_OPTS})]
    refipam.forget_calls()
    cnm("run", "-d", "--name", "c1", "--network", "n1", "sleep", "1000")
    cnm("run", "-d", "--name", "c2", "--network", "n1", "sleep", "1000")
    assert _ipam_calls(refipam) == [
        ("RequestAddress", {"PoolID": pool, "Address": "",
                            "Options": {"com.docker.network.endpoint.name": "c1"}}),
        ("RequestAddress", {"PoolID": pool, "Address": "",
                            "Options": {"com.docker.network.endpoint.name": "c2"}})]
    assert _eth0(cnm, "c1") == ["10.77.0.2/24"]
    assert _eth0(cnm, "c2") == ["10.77.0.3/24"]
    assert cnm.run("exec", "c1", "ping", "-c1", "-W2", "10.77.0.3").code == 0
    assert cnm.run("exec", "c2", "ping", "-c1", "-W2", "10.77.0.1").code == 0
    assert held_by_store(cnm.root) == plugin_holds(refipam) == {
        pool: ["10.77.0.1", "10.77.0.2", "10.77.0.3"]}
    refipam.forget_calls()
    cnm("network", "disconnect", "n1", "c2")
    assert _ipam_calls(refipam) == [("ReleaseAddress", {"PoolID": pool,
                                                        "Address": "10.77.0.3"})]
    cnm("rm", "-f", "c1", "c2")
    cnm("network", "rm", "n1")
    assert _ipam_calls(refipam)[1:] == [
        ("ReleaseAddress", {"PoolID": pool, "Address": "10.77.0.2"}),
        ("ReleaseAddress", {"PoolID": pool, "Address": "10.77.0.1"}),
        ("ReleasePool", {"PoolID": pool})]
    assert refipam.state() == {}


def test_subnet_range_gateway_aux_static_ip_and_mac(cnm, refipam):
    refipam.faults({"caps": {"RequiresMACAddress": True}})
    cnm("network", "create", "--ipam-driver", NAME, "--subnet", "10.88.0.0/24",
        "--ip-range", "10.88.0.128/25", "--gateway", "10.88.0.254",
        "--aux-address", "printer=10.88.0.5", "n1")
    pool = "ref/10.88.0.0/24/10.88.0.128/25"
    assert _ipam_calls(refipam)[1:] == [
        ("RequestPool", {"AddressSpace": "reflocal", "Pool": "10.88.0.0/24",
                         "SubPool": "10.88.0.128/25", "Options": {}, "V6": False}),
        ("RequestAddress", {"PoolID": pool, "Address": "10.88.0.254", "Options": GW_OPTS}),
        ("RequestAddress", {"PoolID": pool, "Address": "10.88.0.5", "Options": None})]
    assert json.loads(cnm("network", "inspect", "n1"))[0]["IPAM"]["Config"] == [
        {"Subnet": "10.88.0.0/24", "IPRange": "10.88.0.128/25", "Gateway": "10.88.0.254",
         "AuxiliaryAddresses": {"printer": "10.88.0.5"}}]
    refipam.forget_calls()
    cnm("run", "-d", "--name", "c1", "--network", "n1", "--ip", "10.88.0.200", "sleep", "1000")
    cnm("run", "-d", "--name", "c2", "--network", "n1", "sleep", "1000")
    calls = _ipam_calls(refipam)
    mac = json.loads(cnm("inspect", "c1"))[0]["NetworkSettings"]["Networks"]["n1"]["MacAddress"]
    assert calls[0] == ("RequestAddress", {"PoolID": pool, "Address": "10.88.0.200", "Options": {
        "com.docker.network.endpoint.name": "c1", "com.docker.network.endpoint.macaddress": mac}})
    assert calls[1][1]["Address"] == "" and _eth0(cnm, "c2") == ["10.88.0.128/24"]
    assert _eth0(cnm, "c1") == ["10.88.0.200/24"]
    # A static address the plugin refuses: its message, nothing held.
    before = store_snapshot(cnm.root)
    line = cnm.fails("run", "-d", "--name", "c3", "--network", "n1", "--ip", "10.88.0.200",
                     "sleep", "1000", code=125)
    assert line.endswith(f'plugin "{NAME}": IpamDriver.RequestAddress: Address already in use')
    assert store_snapshot(cnm.root) == before
    assert held_by_store(cnm.root) == plugin_holds(refipam)
    cnm("rm", "-f", "c1", "c2")
    cnm("network", "rm", "n1")
    assert refipam.state() == {}


def test_pool_data_gateway_is_used_without_requesting_one(cnm, refipam):
    cnm("network", "create", "--ipam-driver", NAME, "--ipam-opt", "answer=datagateway", "n1")
    assert [m for m, _ in _ipam_calls(refipam)] == ["GetDefaultAddressSpaces", "RequestPool"]
    assert json.loads(cnm("network", "inspect", "n1"))[0]["IPAM"]["Config"] == [
        {"Subnet": "10.77.0.0/24", "Gateway": "10.77.0.254"}]
    # The plugin never handed that gateway out, so it would give it to an endpoint:
    # the bridge holds it, it is refused and released.
    before = store_snapshot(cnm.root)
    line = cnm.fails("run", "-d", "--network", "n1", "--ip", "10.77.0.254", "sleep", "1000",
                     code=125)
    assert line.endswith(f'plugin "{NAME}": IpamDriver.RequestAddress: returned 10.77.0.254, '
                         "which is not free on this network"), line
    assert store_snapshot(cnm.root) == before
    assert plugin_holds(refipam) == {"ref/10.77.0.0/24": []}
    cnm("network", "rm", "n1")
    assert refipam.state() == {}


def test_unknown_plugin_and_null(cnm):
    assert cnm.fails("network", "create", "--ipam-driver", "nosuch", "n1") == \
        'Error: plugin "nosuch" not found'
    assert "not supported" in cnm.fails("network", "create", "--ipam-driver", "null", "n1")


CREATE = ["network", "create", "--ipam-driver", NAME, "--subnet", "10.66.0.0/24",
          "--aux-address", "a=10.66.0.9", "n1"]


@pytest.mark.parametrize("method", ["GetDefaultAddressSpaces", "RequestPool", "RequestAddress"])
@pytest.mark.parametrize("fault", ["err", "err500", "hang", "die", "garbage", "404"])
def test_network_create_failures_change_nothing(cnm, refipam, method, fault):
    cnm("network", "create", "warm")  # the store and the default bridge exist
    before, kernel = store_snapshot(cnm.root), _kernel_and_run_root(cnm)
    refipam.faults({f"IpamDriver.{method}": fault})
    if fault == "die" and method == "RequestAddress":
        # The pool it gave cannot go back to a dead plugin: said before the error.
        result = cnm.run(*CREATE)
        assert result.code == 1
        warning, line = result.err.strip().splitlines()
        assert warning.startswith(f'Warning: undo: ipam-pool: plugin "{NAME}": '
                                  "IpamDriver.ReleasePool: "), warning
    else:
        line = cnm.fails(*CREATE)
    assert line.startswith(f'Error: plugin "{NAME}": IpamDriver.{method}: '), \
        line
    assert store_snapshot(cnm.root) == before and _kernel_and_run_root(cnm) == kernel
    if fault == "die":
        refipam.start()  # its state died with it
    assert refipam.state() == {} or plugin_holds(refipam) == {}
    refipam.faults({})
    cnm(*CREATE)  # and it works once the plugin does
    cnm("network", "rm", "n1", "warm")
    assert refipam.state() == {}


@pytest.mark.parametrize("fault", ["err", "hang", "die", "garbage"])
def test_run_failure_at_the_address_request_changes_nothing(cnm, refipam, fault):
    cnm("network", "create", "--ipam-driver", NAME, "n1")
    before, kernel = store_snapshot(cnm.root), _kernel_and_run_root(cnm)
    refipam.faults({"IpamDriver.RequestAddress": fault})
    line = cnm.fails("run", "-d", "--name", "c1", "--network", "n1", "sleep", "1000", code=125)
    assert f'plugin "{NAME}": IpamDriver.RequestAddress: ' in line
    assert store_snapshot(cnm.root) == before and _kernel_and_run_root(cnm) == kernel
    if fault == "die":
        return  # its state died with it
    refipam.faults({})
    assert held_by_store(cnm.root) == plugin_holds(refipam)
    cnm("network", "rm", "n1")
    assert refipam.state() == {}


@pytest.mark.parametrize(("answer", "message"), [
    ("notcidr", "IpamDriver.RequestPool: Pool 'banana' is not a CIDR subnet"),
    ("overlap", "IpamDriver.RequestPool: Pool 10.99.0.0/24 is not the subnet asked for "
                "(10.66.0.0/24)"),
    ("outside", "IpamDriver.RequestAddress: returned 192.0.2.77, outside the pool "
                "10.66.0.0/24"),
    ("badid", "IpamDriver.RequestPool: malformed answer: PoolID is not a string of at most "
              "512 printable characters"),
])
def test_hostile_answers_are_refused_and_released(cnm, refipam, answer, message):
    cnm("network", "ls")
    before = store_snapshot(cnm.root)
    line = cnm.fails(*CREATE[:-1], "--ipam-opt", f"answer={answer}", "n1")
    assert line == f'Error: plugin "{NAME}": {message}'
    assert store_snapshot(cnm.root) == before
    assert refipam.state() == {}


def test_a_chosen_pool_overlapping_another_network_is_released(cnm, refipam):
    cnm("network", "create", "--subnet", "10.77.0.0/16", "other")
    before = store_snapshot(cnm.root)
    line = cnm.fails("network", "create", "--ipam-driver", NAME, "n1")
    assert line == (f'Error: plugin "{NAME}": IpamDriver.RequestPool: '
                    "returned 10.77.0.0/24, which overlaps another network's subnet, a host "
                    "route or a resolver")
    assert store_snapshot(cnm.root) == before
    assert refipam.state() == {}
    cnm("network", "rm", "other")


def test_an_endpoint_address_outside_the_pool_is_refused_and_released(cnm, refipam):
    cnm("network", "create", "--ipam-driver", NAME, "--ipam-opt", "answer=outsideep", "n1")
    before = store_snapshot(cnm.root)
    line = cnm.fails("run", "-d", "--network", "n1", "sleep", "1000", code=125)
    assert line.endswith(f'plugin "{NAME}": IpamDriver.RequestAddress: returned 192.0.2.77, '
                         "outside the pool 10.77.0.0/24"), line
    assert store_snapshot(cnm.root) == before
    assert held_by_store(cnm.root) == plugin_holds(refipam) == {"ref/10.77.0.0/24": ["10.77.0.1"]}
    # a static address outside every subnet is refused before the plugin is asked
    line = cnm.fails("run", "-d", "--network", "n1", "--ip", "10.78.0.5", "sleep", "1", code=125)
    assert "does not belong to any of this network's subnets" in line
    cnm("network", "rm", "n1")
    assert refipam.state() == {}


def test_ipv6_pools_chosen_by_the_plugin(cnm, refipam):
    cnm("network", "create", "--ipam-driver", NAME, "--ipv6", "n1")
    requests = [p for m, p in _ipam_calls(refipam) if m == "RequestPool"]
    assert [r["V6"] for r in requests] == [False, True]
    assert json.loads(cnm("network", "inspect", "n1"))[0]["IPAM"]["Config"] == [
        {"Subnet": "10.77.0.0/24", "Gateway": "10.77.0.1"},
        {"Subnet": "fd77::/64", "Gateway": "fd77::1"}]
    cnm("run", "-d", "--name", "c1", "--network", "n1", "sleep", "1000")
    networks = json.loads(cnm("inspect", "c1"))[0]["NetworkSettings"]["Networks"]["n1"]
    assert (networks["IPAddress"], networks["GlobalIPv6Address"]) == ("10.77.0.2", "fd77::2")
    assert held_by_store(cnm.root) == plugin_holds(refipam)
    cnm("rm", "-f", "c1")
    cnm("network", "rm", "n1")
    assert refipam.state() == {}


def test_a_chosen_pool_on_a_host_route_is_released(cnm, refipam):
    subprocess.run(["ip", "addr", "add", "10.77.0.200/24", "dev", "lo"], check=True)
    try:
        line = cnm.fails("network", "create", "--ipam-driver", NAME, "n1")
    finally:
        subprocess.run(["ip", "addr", "del", "10.77.0.200/24", "dev", "lo"], check=True)
    assert line == (f'Error: plugin "{NAME}": IpamDriver.RequestPool: returned 10.77.0.0/24, '
                    "which overlaps another network's subnet, a host route or a resolver")
    assert refipam.state() == {}
    # an explicit subnet is the user's choice, as with the default driver
    cnm("network", "create", "--ipam-driver", NAME, "--subnet", "10.66.0.0/24", "n1")
    cnm("network", "rm", "n1")


def test_start_of_a_lost_container_keeps_its_static_address(cnm, refipam):
    """A container whose process and supervisor were killed: `start` records its exit
    first (the address goes back), then asks for the address again."""
    cnm("network", "create", "--ipam-driver", NAME, "n1")
    cid = cnm("run", "-d", "--name", "c1", "--network", "n1", "--ip", "10.77.0.50",
              "sleep", "1000").strip()
    with open(os.path.join(cnm.root, "containers", f"{cid}.json"), encoding="utf-8") as f:
        doc = json.load(f)
    os.killpg(doc["supervisor_pid"], signal.SIGKILL)
    os.kill(doc["pid"], signal.SIGKILL)
    refipam.forget_calls()
    cnm("start", "c1")
    pool = "ref/10.77.0.0/24"
    assert _ipam_calls(refipam) == [
        ("ReleaseAddress", {"PoolID": pool, "Address": "10.77.0.50"}),
        ("RequestAddress", {"PoolID": pool, "Address": "10.77.0.50",
                            "Options": {"com.docker.network.endpoint.name": "c1"}})]
    assert _eth0(cnm, "c1") == ["10.77.0.50/24"]
    assert held_by_store(cnm.root) == plugin_holds(refipam) == {
        pool: ["10.77.0.1", "10.77.0.50"]}
    cnm("rm", "-f", "c1")
    cnm("network", "rm", "n1")
    assert refipam.state() == {}


def test_a_static_address_the_plugin_gave_too_late_is_released(cnm, refipam):
    """The plugin did the request but its answer never came (a timeout): the address
    asked for may be held, so it is released, not taken as refused."""
    cnm("network", "create", "--ipam-driver", NAME, "n1")
    pool = "ref/10.77.0.0/24"
    refipam.faults({"IpamDriver.RequestAddress": "late"})
    run = ["run", "-d", "--name", "c1", "--network", "n1", "--ip", "10.77.0.50", "sleep", "1000"]
    line = cnm.fails(*run, code=125)
    assert line.endswith(f'plugin "{NAME}": IpamDriver.RequestAddress: no answer within 2 s')
    refipam.faults({})
    assert held_by_store(cnm.root) == plugin_holds(refipam) == {pool: ["10.77.0.1"]}
    cnm(*run)  # and the address can be had again
    cnm("rm", "-f", "c1")
    cnm("network", "rm", "n1")
    assert refipam.state() == {}


def test_a_plugin_named_by_a_spec_file_whose_socket_is_gone(cnm, refipam, tmp_path):
    """A .spec naming a socket that is not there (the plugin not started, or stopped):
    one line naming the plugin, no traceback; a release that cannot reach it is
    reported, never taken as done."""
    specs = tmp_path / "specs"
    specs.mkdir(mode=0o755)
    (specs / f"{NAME}.spec").write_text(f"unix://{refipam.sock}\n")
    cnm.env = dict(cnm.env, CNMCTL_PLUGIN_SOCK_DIR=str(tmp_path / "nosocks"),
                   CNMCTL_PLUGIN_SPEC_DIRS=str(specs), CNMCTL_PLUGIN_TIMEOUT="0.5")
    refipam.stop()
    os.unlink(refipam.sock)
    cnm("network", "ls")
    before = store_snapshot(cnm.root)
    line = cnm.fails("network", "create", "--ipam-driver", NAME, "n1")
    assert line == (f'Error: plugin "{NAME}": Plugin.Activate: cannot connect to '
                    f"unix://{refipam.sock}: No such file or directory")
    assert store_snapshot(cnm.root) == before
    refipam.start()
    cnm("network", "create", "--ipam-driver", NAME, "n1")
    refipam.stop()
    os.unlink(refipam.sock)
    result = cnm.run("network", "rm", "n1")
    assert result.code == 0
    warnings = result.err.strip().splitlines()
    assert len(warnings) == 2 and all(
        w.startswith("Warning: ipam-") and f'plugin "{NAME}": ' in w
        and "cannot connect to" in w for w in warnings), warnings
