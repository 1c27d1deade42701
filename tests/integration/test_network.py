"""`cnmctl network ...` end to end, as root in the suite's private namespace."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys

import kernel
import pytest
from conftest import CNMCTL, link_names, store_snapshot
from shapes import assert_same_shape, reference


def test_task1_create_and_inspect_matches_docker(cnm):
    net_id = cnm("network", "create", "cnm-net").strip()
    assert len(net_id) == 64 and int(net_id, 16) >= 0
    [doc] = json.loads(cnm("network", "inspect", "cnm-net"))
    assert_same_shape(doc, reference("task1-network-inspect-empty.json")[0])
    assert doc["Id"] == net_id
    assert doc["IPAM"]["Config"] == [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]
    assert doc["Containers"] == {} and doc["Options"] == {} and doc["Labels"] == {}
    # The bridge is real: named br-<12 hex>, gateway address on it, a fixed 02:42 MAC, up.
    bridge = kernel.link(f"br-{net_id[:12]}")
    assert bridge["kind"] == "bridge"
    assert bridge["addresses"] == ["172.18.0.1/16"]
    assert bridge["mtu"] == 1500 and bridge["up"]
    assert bridge["mac"].startswith("02:42:")


def test_task4_default_bridge_matches_docker(cnm):
    [doc] = json.loads(cnm("network", "inspect", "bridge"))
    ref = reference("task4-network-inspect-bridge.json")[0]
    assert_same_shape(doc, ref)
    expected = dict(ref["Options"], **{"com.docker.network.bridge.name": "cnm0"})
    assert doc["Options"] == expected
    assert doc["IPAM"] == ref["IPAM"]
    # A user-defined network created next to it shows the same shape as Docker's cnm-net.
    cnm("network", "create", "cnm-net")
    [user] = json.loads(cnm("network", "inspect", "cnm-net"))
    assert_same_shape(user, reference("task4-network-inspect-cnm-net.json")[0])
    assert kernel.link("cnm0")["addresses"] == ["172.17.0.1/16"]


def test_bridge_options_reach_the_kernel(cnm):
    cnm("network", "create", "-o", "com.docker.network.bridge.name=labbr0",
        "-o", "com.docker.network.driver.mtu=1400", "--subnet", "10.77.0.0/24",
        "--gateway", "10.77.0.254", "mtunet")
    bridge = kernel.link("labbr0")
    assert bridge["mtu"] == 1400
    assert bridge["addresses"] == ["10.77.0.254/24"]
    [doc] = json.loads(cnm("network", "inspect", "mtunet"))
    assert doc["Options"] == {"com.docker.network.bridge.name": "labbr0",
                              "com.docker.network.driver.mtu": "1400"}
    assert doc["IPAM"]["Config"] == [{"Subnet": "10.77.0.0/24", "Gateway": "10.77.0.254"}]
    assert cnm("network", "rm", "mtunet") == "mtunet\n"
    assert kernel.link("labbr0") is None


def test_ipam_flags_are_recorded(cnm):
    cnm("network", "create", "--subnet", "10.88.0.0/16", "--ip-range", "10.88.5.0/24",
        "--gateway", "10.88.0.1", "--aux-address", "router=10.88.0.2", "--label", "team=lab",
        "--label", "bare", "--internal", "--attachable", "fixnet")
    [doc] = json.loads(cnm("network", "inspect", "fixnet"))
    assert doc["IPAM"]["Config"] == [{"Subnet": "10.88.0.0/16", "IPRange": "10.88.5.0/24",
                                      "Gateway": "10.88.0.1",
                                      "AuxiliaryAddresses": {"router": "10.88.0.2"}}]
    assert doc["Internal"] is True and doc["Attachable"] is True
    assert doc["Labels"] == {"team": "lab", "bare": ""}


def test_ipv6_network(cnm):
    cnm("network", "create", "--ipv6", "--subnet", "fd00:1::/64", "v6net")
    [doc] = json.loads(cnm("network", "inspect", "v6net"))
    assert doc["EnableIPv6"] is True
    subnets = [c["Subnet"] for c in doc["IPAM"]["Config"]]
    assert subnets == ["172.18.0.0/16", "fd00:1::/64"]
    net_id = doc["Id"]
    assert "fd00:1::1/64" in kernel.link(f"br-{net_id[:12]}")["addresses"]
    cnm("network", "create", "--ipv6", "auto6")
    [auto] = json.loads(cnm("network", "inspect", "auto6"))
    v6 = ipaddress.ip_network(auto["IPAM"]["Config"][1]["Subnet"])
    assert v6.prefixlen == 64 and str(v6).startswith("fd")


def test_default_pools_skip_host_routes(cnm):
    cnm("network", "ls")  # first use: the default bridge takes 172.17.0.0/16
    # A host route that clashes with the next pool (172.18.0.0/16) makes it skip to .19.
    subprocess.run(["ip", "link", "add", "tveth0", "type", "veth", "peer", "name", "tveth1"],
                   check=True)
    try:
        for cmd in (["ip", "addr", "add", "10.9.9.1/24", "dev", "tveth0"],
                    ["ip", "link", "set", "tveth0", "up"], ["ip", "link", "set", "tveth1", "up"],
                    ["ip", "route", "add", "172.18.0.0/16", "via", "10.9.9.2"]):
            subprocess.run(cmd, check=True)
        cnm("network", "create", "first")
        cnm("network", "create", "second")
        subnets = cnm("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
                      "first", "second").split()
        assert subnets == ["172.19.0.0/16", "172.20.0.0/16"]
    finally:
        subprocess.run(["ip", "link", "del", "tveth0"], check=False)


def test_twenty_concurrent_creates(cnm):
    cnm("network", "ls")
    procs = [subprocess.Popen([*CNMCTL, "network", "create", f"par{i}"], env=cnm.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(20)]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    assert all(code == 0 for code, _, _ in results), results
    names = [f"par{i}" for i in range(20)]
    subnets = cnm("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
                  *names).split()
    assert len(set(subnets)) == 20
    for folder, _dirs, files in os.walk(cnm.root):
        for name in files:
            if name.endswith(".json"):
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    json.load(f)
            else:
                assert name == ".lock", name  # no temporary files left behind
    docs = [f for f in os.listdir(os.path.join(cnm.root, "networks"))]
    assert len(docs) == 23  # 20 + bridge, host, none


def test_ls_table_quiet_notrunc_and_formats(cnm):
    net_id = cnm("network", "create", "--label", "a=1", "cnm-net").strip()
    lines = cnm("network", "ls").splitlines()
    assert lines[0] == "NETWORK ID     NAME      DRIVER    SCOPE"
    assert [line.split()[1] for line in lines[1:]] == ["bridge", "cnm-net", "host", "none"]
    assert lines[2] == f"{net_id[:12]}   cnm-net   bridge    local"
    assert cnm("network", "ls", "-q").split()[1] == net_id[:12]
    assert net_id in cnm("network", "ls", "--no-trunc")
    assert cnm("network", "ls", "--format", "{{.Name}} {{.Driver}}").splitlines() == [
        "bridge bridge", "cnm-net bridge", "host host", "none null"]
    rows = [json.loads(line) for line in cnm("network", "ls", "--format", "json").splitlines()]
    assert list(rows[1]) == ["CreatedAt", "Driver", "ID", "IPv6", "Internal", "Labels",
                             "Name", "Scope"]
    assert rows[1]["Labels"] == "a=1" and rows[1]["IPv6"] == "false"
    assert rows[1]["CreatedAt"].endswith(" +0000 UTC")
    table = cnm("network", "ls", "--format", "table {{.Name}}\\t{{.Labels}}").splitlines()
    assert table[0] == "NAME      LABELS"
    assert cnm("network", "ls", "--format", '{{.Label "a"}}').split() == ["1"]


@pytest.mark.parametrize(("filters", "expected"), [
    (["driver=bridge", "type=custom"], ["cnm-net", "other-net"]),
    (["type=builtin"], ["bridge", "host", "none"]),
    (["name=net"], ["cnm-net", "other-net"]),
    (["name=cnm-net", "name=none"], ["cnm-net", "none"]),
    (["label=tier"], ["other-net"]),
    (["label=tier=back"], ["other-net"]),
    (["label=tier=front"], []),
    (["scope=local", "driver=null"], ["none"]),
    (["dangling=true", "type=custom"], ["cnm-net", "other-net"]),
])
def test_ls_filters(cnm, filters, expected):
    cnm("network", "create", "cnm-net")
    cnm("network", "create", "--label", "tier=back", "other-net")
    args = [a for f in filters for a in ("-f", f)]
    assert cnm("network", "ls", *args, "--format", "{{.Name}}").split() == expected


def test_ls_filter_by_id_prefix(cnm):
    net_id = cnm("network", "create", "cnm-net").strip()
    assert cnm("network", "ls", "-f", f"id={net_id[:6]}", "--format", "{{.Name}}") == "cnm-net\n"


def test_inspect_by_prefix_several_and_missing(cnm):
    net_id = cnm("network", "create", "cnm-net").strip()
    assert cnm("network", "inspect", "-f", "{{.Name}}", net_id[:5]) == "cnm-net\n"
    result = cnm.run("network", "inspect", "-f", "{{.Name}} {{.Id}}", "cnm-net", "nosuchnet")
    assert result.code == 1
    assert result.out == f"cnm-net {net_id}\n"
    assert result.err == "Error: No such network: nosuchnet\n"
    result = cnm.run("network", "inspect", "nosuchnet")
    assert (result.code, result.out) == (1, "[]\n")
    assert cnm("network", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Scope}}", "host",
               "none") == "host host local\nnone null local\n"
    assert cnm("network", "inspect", "-f", '{{index .Options "com.docker.network.bridge.name"}}',
               "bridge") == "cnm0\n"
    assert cnm("network", "inspect", "-f", "{{json .IPAM.Config}}", "bridge") == \
        '[{"Subnet":"172.17.0.0/16","Gateway":"172.17.0.1"}]\n'


def test_bad_template_is_one_line(cnm):
    line = cnm.fails("network", "inspect", "-f", "{{.Name", "bridge")
    assert line.startswith("Error: template")
    line = cnm.fails("network", "ls", "--format", "{{nosuchfunc .Name}}")
    assert "function" in line and "not defined" in line


def test_rm_several_and_predefined(cnm):
    cnm("network", "create", "a-net")
    cnm("network", "create", "b-net")
    assert cnm("network", "rm", "a-net", "b-net") == "a-net\nb-net\n"
    result = cnm.run("network", "rm", "bridge", "host", "none")
    assert result.code == 1
    assert result.err.splitlines() == [
        f"Error: {n} is a pre-defined network and cannot be removed"
        for n in ("bridge", "host", "none")]
    result = cnm.run("network", "rm", "nosuchnet")
    assert (result.code, result.err) == (1, "Error: No such network: nosuchnet\n")


def test_prune(cnm):
    cnm("network", "create", "fixnet")
    cnm("network", "create", "--label", "keep=yes", "kept")
    out = cnm("network", "prune", "-f", "--filter", "label!=keep")
    assert out == "Deleted Networks:\nfixnet\n\n"
    assert cnm("network", "prune", "-f", "--filter", "until=1h") == ""
    declined = cnm.run("network", "prune", input="n\n")
    assert declined.code == 0 and "WARNING!" in declined.out
    assert "kept" in cnm("network", "ls", "--format", "{{.Name}}").split()
    assert cnm("network", "prune", input="y\n").endswith("Deleted Networks:\nkept\n\n")
    assert cnm("network", "ls", "--format", "{{.Name}}").split() == ["bridge", "host", "none"]


BAD_CREATES = [
    (["cnm-net"], "network with name cnm-net already exists"),
    (["--subnet", "10.77.0.0/24", "cnm-net"], "network with name cnm-net already exists"),
    (["--subnet", "172.18.0.0/16", "ovl-a"], "Pool overlaps with other one on this address space"),
    (["--subnet", "172.18.5.0/24", "ovl-b"], "Pool overlaps with other one on this address space"),
    (["--subnet", "172.16.0.0/12", "ovl-c"], "Pool overlaps with other one on this address space"),
    (["--subnet", "172.17.0.0/16", "ovl-d"], "Pool overlaps with other one on this address space"),
    (["--subnet", "10.50.0.0/24", "--gateway", "10.60.0.1", "gw-out"],
     "no matching subnet for gateway 10.60.0.1"),
    (["--gateway", "10.60.0.1", "gw-only"],
     "every ip-range or gateway must have a corresponding subnet"),
    (["--subnet", "10.50.0.0/24", "--gateway", "10.50.0.0", "gw-net"],
     "failed to allocate gateway (10.50.0.0): Address already in use"),
    (["--subnet", "10.50.0.0/24", "--gateway", "10.50.0.255", "gw-bcast"],
     "failed to allocate gateway (10.50.0.255): Address already in use"),
    (["--subnet", "foo", "badsub1"], "Invalid subnet foo : invalid CIDR address: foo"),
    (["--subnet", "10.1.2.0/33", "badsub2"], "invalid CIDR address: 10.1.2.0/33"),
    (["--subnet", "10.1.2.300/24", "badsub3"], "invalid CIDR address: 10.1.2.300/24"),
    (["--subnet", "10.1.2.3/24", "hostbits"], "host bits set"),
    (["--subnet", "10.1.2.0/31", "tiny31"], "No available addresses on this pool"),
    (["--subnet", "10.1.2.0/24", "--ip-range", "10.1.3.0/24", "badrange"],
     "no matching subnet for range 10.1.3.0/24"),
    (["--subnet", "10.1.2.0/24", "--aux-address", "r=10.1.3.5", "badaux"],
     "no matching subnet for aux-address 10.1.3.5"),
    (["--subnet", "10.1.2.0/24", "--gateway", "fd00::1", "v6gw"],
     "no matching subnet for gateway fd00::1"),
    (["--subnet", "fd00:9::/64", "nov6flag"], "without --ipv6"),
    (["-d", "nosuchdriver", "baddriver"], 'plugin "nosuchdriver" not found'),
    (["-o", "com.example.nope=1", "badopt"], "unknown bridge driver option"),
    (["-o", "com.docker.network.bridge.name=averyveryverylongname", "longbr"], "too long"),
    (["-o", "com.docker.network.driver.mtu=9", "badmtu"], "invalid MTU"),
    (["-o", "com.docker.network.bridge.enable_icc=maybe", "badbool"], "invalid value"),
    (["bad/name"], "Invalid network name (bad/name)"),
    (["bad name"], "Invalid network name (bad name)"),
    (["-d", "bridge", "--", "-badname"], "Invalid network name (-badname)"),
    (["ünïcode"], "Invalid network name"),
    (["n" * 200], "longer than"),
    ([""], "network name must not be empty"),
    (["-d", "host", "host2"], 'only one instance of "host" network is allowed'),
]


@pytest.mark.parametrize(("args", "message"), BAD_CREATES,
                         ids=[a[-1] or "empty" for a, _ in BAD_CREATES])
def test_bad_create_changes_nothing(cnm, args, message):
    cnm("network", "create", "cnm-net")
    store_before, links_before = store_snapshot(cnm.root), link_names()
    line = cnm.fails("network", "create", *args)
    assert line.startswith("Error: ") and message in line, line
    assert store_snapshot(cnm.root) == store_before
    assert link_names() == links_before


def test_existing_bridge_name_is_refused(cnm):
    cnm("network", "create", "-o", "com.docker.network.bridge.name=labbr1", "one")
    store_before, links_before = store_snapshot(cnm.root), link_names()
    line = cnm.fails("network", "create", "-o", "com.docker.network.bridge.name=labbr1", "two")
    assert "already used by network one" in line
    assert store_snapshot(cnm.root) == store_before and link_names() == links_before


def test_usage_errors_exit_125(cnm):
    line = cnm.fails("network", "rm", "-f", "cnm-net", code=125)
    assert line == "Error: unknown shorthand flag: 'f' in -f (see 'cnmctl network rm --help')"


CLICK_PATH = [sys.executable, "-c", "import sys; from cnmctl.cli.app import main; main()"]


@pytest.mark.parametrize("args", [a for a, _ in BAD_CREATES[:12]] + [
    ["--subnet", "10.99.0.0/24", "--label", "k=v", "-o", "com.docker.network.driver.mtu=1400",
     "good-net"]])
def test_create_and_rm_same_through_click(cnm, args):
    """`network create`/`rm` answer alike on the click-free path and through click."""
    cnm("network", "create", "cnm-net")
    outcomes = []
    for prefix in (CNMCTL, CLICK_PATH):
        create = subprocess.run([*prefix, "network", "create", *args], env=cnm.env,
                                capture_output=True, text=True)
        outcome = (create.returncode, len(create.stdout), create.stderr)
        if create.returncode == 0:
            rm = subprocess.run([*prefix, "network", "rm", args[-1]], env=cnm.env,
                                capture_output=True, text=True)
            outcome += (rm.returncode, rm.stdout, rm.stderr)
        outcomes.append(outcome)
    assert outcomes[0] == outcomes[1]
