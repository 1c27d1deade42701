"""Remote network plugins end to end, with the reference plugin (tests/plugins/netplugin.py).

Each test checks what cnmctl did against independent witnesses: the kernel (`ip -j`
on the host and inside the sandboxes), the plugin's call log and its own state.
"""

from __future__ import annotations

import json
import os

import pytest
from refnet import links, sandbox_json

SUBNET, GATEWAY = "10.77.0.0/24", "10.77.0.1"


def _addresses(cnm, ctr: str, ifname: str) -> list[str]:
    [link] = sandbox_json(cnm, ctr, "addr", "show", "dev", ifname)
    return [f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"] if a["family"] == "inet"]


def _nothing_left(cnm, refnet, links_before: set[str], networks: tuple[str, ...] = ()) -> None:
    """No container, sandbox or endpoint in the store, no namespace mount, none of the
    plugin's links beyond `links_before`, the plugin holding only `networks`' state and
    no endpoint, and `system check` clean."""
    assert cnm("ps", "-aq") == ""
    assert not os.listdir(os.path.join(cnm.root, "endpoints"))
    assert not os.listdir(os.path.join(cnm.root, "sandboxes"))
    assert not os.path.isdir(os.path.join(cnm.run_root, "netns")) or \
        not os.listdir(os.path.join(cnm.run_root, "netns"))
    assert links() == links_before
    names = cnm("network", "ls", "--format", "{{.Name}}").split()
    assert sorted(names) == sorted(["bridge", "host", "none", *networks])
    if refnet.alive():
        ids = [cnm("network", "inspect", "-f", "{{.Id}}", n).strip() for n in networks]
        assert refnet.state() == {"networks": sorted(ids), "endpoints": [], "joined": []}
    assert cnm("system", "check") == ""


def test_two_containers_on_a_plugin_network_ping_disconnect_remove(cnm, refnet):
    out = cnm("network", "create", "-d", "refnet", "--subnet", SUBNET,
              "-o", "refnet.route=10.78.0.0/24", "rn")
    nid = out.strip()
    # network ls and inspect show the plugin as the driver, with its scope
    assert cnm("network", "ls", "--filter", "name=rn", "--format",
               "{{.Name}} {{.Driver}} {{.Scope}}") == "rn refnet local\n"
    doc = cnm.run("network", "inspect", "rn").json()[0]
    assert (doc["Driver"], doc["Scope"], doc["Options"]) == (
        "refnet", "local", {"refnet.route": "10.78.0.0/24"})
    bridge = f"rn{nid[:8]}"
    assert bridge in links()  # the plugin's bridge, seen by the kernel

    for name in ("a", "b"):
        cnm("run", "-d", "--name", name, "--network", "rn", "sleep", "1000")
    # Inside a: eth0 (DstPrefix eth + the next index) with IPAM's address, the
    # plugin's MAC, on-link static route and default route via the plugin's gateway.
    [eth0] = sandbox_json(cnm, "a", "link", "show", "dev", "eth0")
    assert eth0["address"].startswith("02:aa:") and "UP" in eth0["flags"]
    assert _addresses(cnm, "a", "eth0") == ["10.77.0.2/24"]
    routes = {r["dst"]: r for r in sandbox_json(cnm, "a", "route")}
    assert routes["default"]["gateway"] == GATEWAY and routes["default"]["dev"] == "eth0"
    assert routes["10.78.0.0/24"]["scope"] == "link" and "gateway" not in routes["10.78.0.0/24"]
    # the SrcName left the host: only the bridge-side ends are there
    ep_a = cnm("inspect", "-f", "{{.NetworkSettings.Networks.rn.EndpointID}}", "a").strip()
    assert f"rc{ep_a[:8]}" not in links() and f"rv{ep_a[:8]}" in links()
    assert cnm("inspect", "-f", "{{.NetworkSettings.Networks.rn.Gateway}} "
               "{{.NetworkSettings.Networks.rn.MacAddress}}", "a").strip() == \
        f"{GATEWAY} {eth0['address']}"
    # the two containers reach each other (by the embedded DNS's name too) and the host
    cnm("exec", "a", "ping", "-c", "1", "-W", "2", "10.77.0.3")
    cnm("exec", "b", "ping", "-c", "1", "-W", "2", "a")
    cnm("exec", "a", "ping", "-c", "1", "-W", "2", GATEWAY)

    mark = len(refnet.calls())
    cnm("network", "disconnect", "rn", "b")
    assert refnet.methods(mark) == ["RevokeExternalConnectivity", "Leave", "DeleteEndpoint"]
    assert sandbox_json(cnm, "b", "link", "show", "type", "veth") == []
    ep_b = refnet.calls()[mark + 1]["payload"]["EndpointID"]
    assert not {f"rc{ep_b[:8]}", f"rv{ep_b[:8]}"} & links()  # given back, then deleted
    cnm("rm", "-f", "a", "b")
    cnm("network", "rm", "rn")
    assert bridge not in links()

    calls = refnet.calls()
    seq = refnet.methods()
    assert seq == ["CreateNetwork",
                   *["CreateEndpoint", "Join", "ProgramExternalConnectivity",
                     "EndpointOperInfo"] * 2,
                   "RevokeExternalConnectivity", "Leave", "DeleteEndpoint",
                   "RevokeExternalConnectivity", "Leave", "DeleteEndpoint",
                   "DeleteNetwork"]
    create = calls[[c["method"] for c in calls].index("CreateNetwork")]["payload"]
    assert create == {
        "NetworkID": nid,
        "Options": {"com.docker.network.generic": {"refnet.route": "10.78.0.0/24"},
                    "com.docker.network.enable_ipv4": True,
                    "com.docker.network.enable_ipv6": False},
        "IPv4Data": [{"AddressSpace": "LocalDefault", "Pool": SUBNET,
                      "Gateway": f"{GATEWAY}/24"}],
        "IPv6Data": []}
    endpoint = next(c["payload"] for c in calls if c["method"] == "CreateEndpoint")
    assert endpoint == {"NetworkID": nid, "EndpointID": ep_a, "Options": {},
                        "Interface": {"Address": "10.77.0.2/24", "AddressIPv6": "",
                                      "MacAddress": ""}}
    join = next(c["payload"] for c in calls if c["method"] == "Join")
    assert join["EndpointID"] == ep_a and join["SandboxKey"].startswith(cnm.run_root)
    assert all(c["payload"]["NetworkID"] == nid for c in calls
               if c["method"] != "GetCapabilities")
    _nothing_left(cnm, refnet, set())


def test_connect_a_running_container_and_disconnect(cnm, refnet):
    cnm("network", "create", "-d", "refnet", "--subnet", SUBNET, "rn")
    cnm("network", "create", "--subnet", "10.66.0.0/24", "plain")
    cnm("run", "-d", "--name", "a", "--network", "plain", "sleep", "1000")
    mark = len(refnet.calls())
    cnm("network", "connect", "rn", "a")
    # not the default route's endpoint: no external connectivity for it
    assert refnet.methods(mark) == ["CreateEndpoint", "Join", "EndpointOperInfo"]
    assert _addresses(cnm, "a", "eth1") == ["10.77.0.2/24"]
    default = [r for r in sandbox_json(cnm, "a", "route") if r["dst"] == "default"]
    assert [(r["dev"], r["gateway"]) for r in default] == [("eth0", "10.66.0.1")]
    mark = len(refnet.calls())
    cnm("network", "disconnect", "rn", "a")
    assert refnet.methods(mark) == ["Leave", "DeleteEndpoint"]
    assert [link["ifname"] for link in sandbox_json(cnm, "a", "link", "show", "type", "veth")] \
        == ["eth0"]
    cnm("rm", "-f", "a")
    cnm("network", "rm", "plain")
    _nothing_left(cnm, refnet, links(), ("rn",))


def test_a_container_that_exits_by_itself_leaves_the_plugin_network(cnm, refnet):
    """Its exit hook (a process of its own, started by the shim) finds the plugin
    where `run` did and sends Leave and DeleteEndpoint."""
    from conftest import wait_until

    cnm("network", "create", "-d", "refnet", "rn")
    cnm("run", "-d", "--name", "a", "--network", "rn", "sh", "-c", "sleep 0.3")
    wait_until(lambda: refnet.methods()[-2:] == ["Leave", "DeleteEndpoint"], timeout=10,
               what="the exit hook's Leave and DeleteEndpoint")
    assert refnet.state()["endpoints"] == []
    cnm("rm", "a")
    _nothing_left(cnm, refnet, links(), ("rn",))


def test_what_an_exit_hook_could_not_do_is_kept_for_system_check(cnm, refnet):
    """The exit hook's stderr is the pipe of a `run` long gone: a plugin refusing its
    Leave is written to the run root's reports, shown by `system check` (exit 1),
    cleared by `--fix`."""
    from conftest import wait_until

    cnm("network", "create", "-d", "refnet", "rn")
    refnet.fault(Leave="err")
    cnm("run", "-d", "--name", "a", "--network", "rn", "sh", "-c", "sleep 0.3")
    wait_until(lambda: "DeleteEndpoint" in refnet.methods(), timeout=10,
               what="the exit hook's DeleteEndpoint")
    wait_until(lambda: cnm.run("system", "check").code == 1, timeout=10,
               what="the exit hook's report")
    found = cnm.run("system", "check").out
    assert 'plugin "refnet": NetworkDriver.Leave: NetworkDriver.Leave refused' in found, found
    assert found.startswith("report 1/"), found
    fixed = cnm("system", "check", "--fix")
    assert "fixed: report 1/" in fixed and "Leave refused by test" in fixed
    assert cnm("system", "check") == ""
    refnet.fault()
    cnm("rm", "a")


def test_no_gateway_from_the_plugin_means_no_default_route(cnm, refnet):
    cnm("network", "create", "-d", "refnet", "-o", "refnet.nogateway=1", "rn")
    cnm("run", "-d", "--name", "a", "--network", "rn", "sleep", "1000")
    assert [r for r in sandbox_json(cnm, "a", "route") if r["dst"] == "default"] == []
    assert "ProgramExternalConnectivity" not in refnet.methods()
    assert cnm("inspect", "-f", "{{.NetworkSettings.Networks.rn.Gateway}}", "a").strip() == ""


# -- failures: one line naming plugin and call, nothing left --------------------------

FAULTS = ["err", "err500", "garbage", "hang", "die"]


def _one_error(result, call: str, code: int) -> str:
    """The command failed with `code` and one Error line naming the plugin and `call`;
    a dead plugin's failed clean-ups are reported too, as warnings before it."""
    assert result.code == code, (result.code, result.err)
    lines = result.err.strip().splitlines()
    errors = [line for line in lines if not line.startswith("Warning: undo: ")]
    assert len(errors) == 1, lines
    assert errors[0].startswith('Error: plugin "refnet": ') and call in errors[0], lines
    return errors[0]


@pytest.mark.parametrize("fault", FAULTS)
def test_create_network_failure_leaves_nothing(cnm, refnet, fault):
    before = links()
    refnet.fault(CreateNetwork=fault)
    cnm.env["CNMCTL_PLUGIN_TIMEOUT"] = "1.5"
    result = cnm.run("network", "create", "-d", "refnet", "rn")
    _one_error(result, "NetworkDriver.CreateNetwork", 1)
    if fault == "die":
        assert not refnet.alive()
        # its DeleteNetwork could not be made (refused, or reset while it died): said
        assert 'Warning: undo: network: plugin "refnet": NetworkDriver.DeleteNetwork: ' \
            in result.err
    else:
        # the undo reached the plugin (which, never having made it, refused: tolerated)
        assert refnet.methods()[-2:] == ["CreateNetwork", "DeleteNetwork"]
        assert len(result.err.strip().splitlines()) == 1
    _nothing_left(cnm, refnet, before)


# Every fault on the first two calls; the later ones with err and err500 (the transport
# faults take the same path there, and each costs a timeout).
RUN_FAULTS = [(call, fault) for call in ("CreateEndpoint", "Join") for fault in FAULTS] + [
    (call, fault) for call in ("ProgramExternalConnectivity", "EndpointOperInfo")
    for fault in FAULTS if fault not in ("hang", "die", "garbage")]


@pytest.mark.parametrize(("call", "fault"), RUN_FAULTS)
def test_run_failure_leaves_nothing(cnm, refnet, call, fault):
    cnm("network", "create", "-d", "refnet", "--subnet", SUBNET, "rn")
    before = links()
    refnet.fault(**{call: fault})
    cnm.env["CNMCTL_PLUGIN_TIMEOUT"] = "1.5"
    mark = len(refnet.calls())
    result = cnm.run("run", "-d", "--name", "a", "--network", "rn", "sleep", "1000")
    _one_error(result, f"NetworkDriver.{call}", 125)
    methods = refnet.methods(mark)
    if fault != "die":
        assert len(result.err.strip().splitlines()) == 1, result.err
        # every call the plugin accepted (or may have) is undone, in reverse
        undo = {"CreateEndpoint": ["DeleteEndpoint"],
                "Join": ["Leave", "DeleteEndpoint"],
                "ProgramExternalConnectivity": ["RevokeExternalConnectivity", "Leave",
                                                "DeleteEndpoint"],
                "EndpointOperInfo": ["RevokeExternalConnectivity", "Leave",
                                     "DeleteEndpoint"]}[call]
        assert methods[methods.index(call) + 1:] == undo, methods
    refnet.fault()
    if fault == "die":
        assert "Warning: undo: " in result.err  # the dead plugin's clean-ups, reported
        assert cnm("ps", "-aq") == "" and not os.listdir(os.path.join(cnm.root, "endpoints"))
        assert cnm("system", "check") == ""
        return
    _nothing_left(cnm, refnet, before, ("rn",))
    cnm("run", "-d", "--name", "a", "--network", "rn", "sleep", "1000")  # works again
    cnm("rm", "-f", "a")


@pytest.mark.parametrize("fault", ["err", "hang"])
def test_connect_failure_leaves_the_container_as_it_was(cnm, refnet, fault):
    cnm("network", "create", "-d", "refnet", "--subnet", SUBNET, "rn")
    cnm("run", "-d", "--name", "a", "sleep", "1000")
    before_ifaces = sandbox_json(cnm, "a", "link", "show")
    refnet.fault(Join=fault)
    cnm.env["CNMCTL_PLUGIN_TIMEOUT"] = "1.5"
    mark = len(refnet.calls())
    result = cnm.run("network", "connect", "rn", "a")
    _one_error(result, "NetworkDriver.Join", 1)
    assert refnet.methods(mark) == ["CreateEndpoint", "Join", "Leave", "DeleteEndpoint"]
    assert [x["ifname"] for x in sandbox_json(cnm, "a", "link", "show")] == \
        [x["ifname"] for x in before_ifaces]
    assert json.loads(cnm("inspect", "-f", "{{json .NetworkSettings.Networks}}", "a")).keys() \
        == {"bridge"}
    assert refnet.state()["endpoints"] == []
    cnm("rm", "-f", "a")


@pytest.mark.parametrize("src, why", [
    ("lo", "it is the host's loopback"),
    ("nosuchlink0", "there is no such link on the host"),
    ("cnm0", "cnmctl made it"),
    ("bad/name", "only letters"),
])
def test_a_hostile_srcname_is_refused(cnm, refnet, src, why):
    cnm("network", "create", "-d", "refnet", "-o", f"refnet.srcname={src}", "rn")
    before = links(("",))
    mark = len(refnet.calls())
    result = cnm.run("run", "-d", "--name", "a", "--network", "rn", "sleep", "1000")
    line = _one_error(result, "NetworkDriver.Join", 125)
    assert why in line and len(result.err.strip().splitlines()) == 1
    assert refnet.methods(mark) == ["CreateEndpoint", "Join", "Leave", "DeleteEndpoint"]
    assert links(("",)) == before  # lo, cnm0 and the rest untouched
    _nothing_left(cnm, refnet, links(), ("rn",))


def test_network_rm_sends_delete_network_after_the_commit(cnm, refnet):
    nid = cnm("network", "create", "-d", "refnet", "rn").strip()
    refnet.fault(DeleteNetwork="err")
    result = cnm.run("network", "rm", "rn")
    # removed from the store (the commit stands), the plugin's refusal reported
    assert result.code == 0 and result.out == "rn\n"
    assert 'plugin "refnet": NetworkDriver.DeleteNetwork: ' in result.err
    assert nid in refnet.state()["networks"]  # the plugin kept it, as it said


def test_unknown_and_invalid_plugin_names(cnm, refnet):
    assert cnm.fails("network", "create", "-d", "nosuch", "n") == \
        'Error: plugin "nosuch" not found'
    line = cnm.fails("network", "create", "-d", "../refnet", "n")
    assert line.startswith("Error: invalid plugin name")
    assert cnm("network", "ls", "--format", "{{.Name}}").split() == ["bridge", "host", "none"]


def test_global_scope_plugin_is_warned_about_and_allocated(cnm, tmp_path):
    from refnet import Refnet

    plugin = Refnet(cnm, tmp_path, env={"REFNET_SCOPE": "global"})
    try:
        result = cnm.run("network", "create", "-d", "refnet", "gn")
        assert result.code == 0, result.err
        assert result.err.startswith('Warning: plugin "refnet" has global scope')
        assert cnm("network", "ls", "--filter", "name=gn", "--format", "{{.Scope}}") == \
            "global\n"
        methods = plugin.methods()
        # told of this host once; AllocateNetwork's 404 tolerated (an SDK plugin)
        assert methods[:3] == ["DiscoverNew", "AllocateNetwork", "CreateNetwork"]
        discover = plugin.calls()[1]["payload"]
        assert discover["DiscoveryType"] == 1 and discover["DiscoveryData"]["Self"] is True
        cnm("network", "rm", "gn")
        assert plugin.methods()[-2:] == ["DeleteNetwork", "FreeNetwork"]
    finally:
        plugin.stop()


def test_a_dead_plugin_stops_only_what_needs_it(cnm, refnet):
    """ls and inspect never call the plugin; removing a container or the network with
    the plugin gone still happens in cnmctl, each call that cannot be made reported
    (one timeout, then its later calls fail at once)."""
    cnm("network", "create", "-d", "refnet", "rn")
    cnm("run", "-d", "--name", "a", "--network", "rn", "sleep", "1000")
    refnet.stop()
    cnm.env["CNMCTL_PLUGIN_TIMEOUT"] = "1"
    assert "rn" in cnm("network", "ls")
    assert cnm("network", "inspect", "-f", "{{.Driver}}", "rn") == "refnet\n"
    assert cnm("inspect", "-f", "{{.State.Status}}", "a") == "running\n"
    result = cnm.run("rm", "-f", "a")
    assert result.code == 0 and result.out == "a\n", result.err
    [warning] = result.err.strip().splitlines()
    assert warning.startswith('Warning: endpoint: plugin "refnet": ') and \
        "cannot connect" in warning, warning
    result = cnm.run("network", "rm", "rn")
    assert result.code == 0 and result.err.startswith(
        'Warning: network: plugin "refnet": NetworkDriver.DeleteNetwork: Plugin.Activate: '
        "cannot connect"), result.err
    assert cnm("system", "check") == ""
    assert not os.listdir(os.path.join(cnm.root, "endpoints"))


def test_found_through_spec_and_json_files_and_refused_from_an_open_folder(cnm, refnet,
                                                                           tmp_path):
    """The same plugin named by a .spec (unix:// URL) and a .json (Addr) file in a spec
    folder; a spec in a folder anyone may write to is refused in one line."""
    specs = tmp_path / "specs"
    specs.mkdir(mode=0o755)
    (specs / "viaspec.spec").write_text(f"unix://{refnet.sock}\n")
    (specs / "viajson").mkdir(mode=0o755)
    (specs / "viajson" / "viajson.json").write_text(
        json.dumps({"Name": "ignored", "Addr": f"unix://{refnet.sock}"}))
    for name in ("viaspec", "viajson"):
        cnm("network", "create", "-d", name, f"n-{name}")
        assert cnm("network", "ls", "--filter", f"name=n-{name}", "--format",
                   "{{.Driver}}") == f"{name}\n"
        cnm("network", "rm", f"n-{name}")
    assert refnet.methods().count("CreateNetwork") == 2
    open_dir = specs / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    (open_dir / "open.spec").write_text(f"unix://{refnet.sock}\n")
    line = cnm.fails("network", "create", "-d", "open", "n-open")
    assert "is not trusted" in line and str(open_dir) in line
    assert refnet.methods().count("CreateNetwork") == 2
