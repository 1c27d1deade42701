"""macvlan and ipvlan networks, checked from outside as a user would (`ip -j`,
ping, dig, nft).

Two machines on one LAN: the test's own namespace (where `cnm` runs) is
machine A, a namespace made here is machine B, and a veth pair joins them:
A's end is the parent of A's macvlan network, B's end is both B's own
interface (with B's host address) and the parent of the macvlan network of a
second cnmctl (its own store and run root) running inside B. A macvlan child
never reaches its own parent's host addresses (the kernel passes the parent's
frames from a child straight to the wire), so B's host address is pinged only
from A's side, and A has no host address on the LAN at all.

ipvlan needs a kernel with ipvlan links: where it has none, its tests skip
naming that (the one skip CI accepts), and `network create -d ipvlan` must
fail in one line leaving nothing behind, which is tested everywhere.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from conftest import CNMCTL, Cli, store_snapshot
from kernel import require_link_kind
from leftovers import clean_up, link_names
from shapes import assert_same_shape, reference

from cnmctl import features
from cnmctl.drivers.bridge import OWNER_ALIAS

SUBNET = "198.51.100.0/24"  # TEST-NET-2: only on this test's veth pair
GATEWAY = "198.51.100.1"
HOST_B = "198.51.100.200"


def ip_json(*args: str, netns: str = "") -> list:
    """`ip -j ...` (inside `netns`, a path, if given), decoded."""
    prefix = ["nsenter", f"--net={netns}"] if netns else []
    out = subprocess.run([*prefix, "ip", "-j", "-d", *args], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


class Machine(Cli):
    """A second cnmctl, with its own store and run root, inside namespace `netns`."""

    def __init__(self, root: str, run_root: str, netns: str) -> None:
        super().__init__(root, run_root)
        self.netns = netns

    def run(self, *args: str, input: str | None = None):
        from conftest import Result

        proc = subprocess.run(["nsenter", f"--net={self.netns}", *CNMCTL, *args],
                              env=self.env, capture_output=True, text=True, input=input,
                              timeout=120)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def shell(self, *cmd: str) -> subprocess.CompletedProcess:
        """A command on machine B itself (not in a container)."""
        return subprocess.run(["nsenter", f"--net={self.netns}", *cmd], capture_output=True,
                              text=True, timeout=30)


@pytest.fixture
def lan(tmp_path):
    """Machine B (a namespace with host address HOST_B) joined to this namespace by a
    veth pair: `mvA` here, `mvB` there. Yields B's cnmctl; afterwards B's containers,
    helpers and namespace go."""
    # /run/netns is one folder for every mount namespace on the machine (the same
    # tmpfs): a name of this run's own, not the pid (2 in every suite's namespace).
    name = f"lanB{os.urandom(4).hex()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    path = f"/run/netns/{name}"
    subprocess.run(["ip", "link", "add", "mvA", "type", "veth", "peer", "name", "mvB",
                    "netns", name], check=True)
    subprocess.run(["ip", "link", "set", "mvA", "up"], check=True)
    machine = Machine(str(tmp_path / "b-lib"), str(tmp_path / "b-run"), path)
    for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "link", "set", "mvB", "up"],
                ["ip", "addr", "add", f"{HOST_B}/24", "dev", "mvB"]):
        assert machine.shell(*cmd).returncode == 0
    yield machine
    errors = clean_up(machine.root, machine.run_root, link_names())
    subprocess.run(["ip", "link", "del", "mvA"], capture_output=True)
    subprocess.run(["ip", "netns", "del", name], check=True)
    assert not errors, errors


def kernel_ready(cli: Cli) -> None:
    """Have cnmctl restore its kernel state (the default bridge) now, so that what a
    later command changes is all its own."""
    cli("network", "rm", cli("network", "create", "warm").strip())


def sandbox_key(cli: Cli, name: str) -> str:
    return cli("inspect", "-f", "{{.NetworkSettings.SandboxKey}}", name).strip()


def pings(cli: Cli, name: str, address: str) -> bool:
    return cli.run("exec", name, "ping", "-c", "1", "-W", "2", address).code == 0


def test_a_container_on_each_machine_reaches_the_other_and_the_other_machine(cnm, lan):
    cnm("network", "create", "-d", "macvlan", "-o", "parent=mvA", "--subnet", SUBNET,
        "--gateway", GATEWAY, "--ip-range", "198.51.100.0/28", "lan")
    lan("network", "create", "-d", "macvlan", "-o", "parent=mvB", "-o", "macvlan_mode=bridge",
        "--subnet", SUBNET, "--gateway", GATEWAY, "--ip-range", "198.51.100.16/28", "lan")
    cnm("run", "-d", "--name", "a1", "--network", "lan", "sleep", "300")
    lan("run", "-d", "--name", "b1", "--network", "lan", "--ip", "198.51.100.20", "sleep",
        "300")
    a1 = json.loads(cnm("inspect", "a1"))[0]["NetworkSettings"]["Networks"]["lan"]
    assert (a1["IPAddress"], a1["Gateway"], a1["MacAddress"]) == (
        "198.51.100.2", GATEWAY, "02:42:c6:33:64:02")
    # The kernel's view: a macvlan child in the sandbox, on A's end of the wire, with its
    # own MAC and address, and the default route via the gateway.
    key = sandbox_key(cnm, "a1")
    (eth0,) = ip_json("addr", "show", "eth0", netns=key)
    assert eth0["linkinfo"]["info_kind"] == "macvlan"
    assert eth0["linkinfo"]["info_data"]["mode"] == "bridge"
    assert eth0["address"] == "02:42:c6:33:64:02"
    assert [(a["local"], a["prefixlen"]) for a in eth0["addr_info"] if a["family"] == "inet"] \
        == [("198.51.100.2", 24)]
    assert eth0["link_index"] == ip_json("link", "show", "mvA")[0]["ifindex"]
    routes = ip_json("route", "show", "default", netns=key)
    assert [(r["gateway"], r["dev"]) for r in routes] == [(GATEWAY, "eth0")]
    # Nothing of the endpoint is on the host: no veth, no bridge port.
    assert {link["ifname"] for link in ip_json("link", "show")} >= {"mvA"}
    assert not [link for link in ip_json("link", "show")
                if link.get("linkinfo", {}).get("info_kind") == "macvlan"]
    # A's container reaches machine B, B's container reaches A's, and back.
    assert pings(cnm, "a1", HOST_B)
    assert pings(lan, "b1", "198.51.100.2")
    assert pings(cnm, "a1", "198.51.100.20")
    assert lan.shell("ping", "-c", "1", "-W", "2", "198.51.100.2").returncode == 0
    # ...but not its own parent's machine (the kernel rule above): B's host from b1.
    assert not pings(lan, "b1", HOST_B)
    cnm("rm", "-f", "a1")
    lan("rm", "-f", "b1")
    cnm("network", "rm", "lan")
    lan("network", "rm", "lan")
    assert ip_json("link", "show", "mvA")[0]["operstate"] == "UP"  # the user's parent stays
    assert cnm.run("system", "check").out == ""
    assert lan.run("system", "check").out == ""


def test_dns_names_and_no_published_ports_on_one_host(cnm, lan):
    cnm("network", "create", "-d", "macvlan", "-o", "parent=mvA", "--subnet", SUBNET, "lan")
    cnm("run", "-d", "--name", "c1", "--network", "lan", "--network-alias", "web", "sleep",
        "300")
    cnm("run", "-d", "--name", "c2", "--network", "lan", "-p", "18080:80", "sleep", "300")
    key = sandbox_key(cnm, "c1")
    resolv = cnm("exec", "c1", "cat", "/etc/resolv.conf")
    assert "nameserver 127.0.0.11\n" in resolv
    for name, address in (("c2", "198.51.100.3"), ("web", "198.51.100.2")):
        out = subprocess.run(["nsenter", f"--net={key}", "dig", "@127.0.0.11", "+time=2",
                              "+tries=1", "+short", name], capture_output=True, text=True,
                             check=True).stdout
        assert out == address + "\n", (name, out)
    assert "Address: 198.51.100.2" in cnm("exec", "c2", "nslookup", "c1")
    assert pings(cnm, "c2", "c1")
    # -p on macvlan: Docker logs a warning and publishes nothing; so does cnmctl.
    assert cnm("port", "c2") == ""
    nft = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    assert "18080" not in nft
    cnm("rm", "-f", "c1", "c2")
    assert cnm.run("exec", "c1", "true").code != 0
    cnm("network", "rm", "lan")


def test_ls_and_inspect_in_docker_s_shapes(cnm, lan):
    cnm("network", "create", "-d", "macvlan", "-o", "parent=mvA", "-o", "macvlan_mode=vepa",
        "--subnet", SUBNET, "--ip-range", "198.51.100.64/26", "--gateway", GATEWAY,
        "--aux-address", "router=198.51.100.254", "lan")
    cnm("run", "-d", "--name", "c1", "--network", "lan", "sleep", "300")
    cnm("run", "-d", "--name", "c2", "--network", "lan", "sleep", "300")
    (doc,) = json.loads(cnm("network", "inspect", "lan"))
    assert doc["Driver"] == "macvlan" and doc["Scope"] == "local"
    assert doc["Options"] == {"parent": "mvA", "macvlan_mode": "vepa"}  # as given
    assert doc["IPAM"]["Config"] == [{"Subnet": SUBNET, "IPRange": "198.51.100.64/26",
                                      "Gateway": GATEWAY,
                                      "AuxiliaryAddresses": {"router": "198.51.100.254"}}]
    assert sorted(c["IPv4Address"] for c in doc["Containers"].values()) == [
        "198.51.100.64/24", "198.51.100.65/24"]
    # The rest is shaped as Docker's user-defined network with two containers.
    ref = reference("task4-network-inspect-cnm-net.json")[0]
    assert_same_shape({**doc, "Options": {}, "IPAM": {**doc["IPAM"], "Config": [{}]}},
                      {**ref, "IPAM": {**ref["IPAM"], "Config": [{}]}})
    row = cnm("network", "ls", "--filter", "driver=macvlan", "--format",
              "{{.Name}} {{.Driver}} {{.Scope}} {{.Internal}}")
    assert row == "lan macvlan local false\n"
    cnm("rm", "-f", "c1", "c2")
    cnm("network", "rm", "lan")


def test_network_connect_and_disconnect_plug_a_child(cnm, lan):
    cnm("network", "create", "-d", "macvlan", "-o", "parent=mvA", "--subnet", SUBNET,
        "--internal", "lan")
    cnm("network", "create", "--subnet", "10.98.0.0/24", "br")
    cnm("run", "-d", "--name", "c1", "--network", "br", "sleep", "300")
    cnm("network", "connect", "lan", "c1")
    key = sandbox_key(cnm, "c1")
    (eth1,) = ip_json("link", "show", "eth1", netns=key)
    assert eth1["linkinfo"]["info_kind"] == "macvlan"
    # --internal: no route out through it; the bridge keeps the default route.
    assert [r["dev"] for r in ip_json("route", "show", "default", netns=key)] == ["eth0"]
    assert json.loads(cnm("inspect", "c1"))[0]["NetworkSettings"]["Networks"]["lan"][
        "Gateway"] == ""
    cnm("network", "disconnect", "lan", "c1")
    assert [link["ifname"] for link in ip_json("link", "show", netns=key)] == ["lo", "eth0"]
    cnm("rm", "-f", "c1")
    cnm("network", "rm", "lan", "br")


def test_a_stopped_or_removed_child_is_gone_before_the_command_returns(cnm, lan):
    """A child left to die with its namespace lingers while the kernel frees it (a
    pending neighbour entry holds it: here, a ping nobody answers), and a new child
    with its MAC (02:42 + the same address) would be refused. So it is deleted
    first: restart, and rm -f + run with the same --ip, work at once."""
    cnm("network", "create", "-d", "macvlan", "-o", "parent=mvA", "--subnet", SUBNET, "lan")
    cnm("run", "-d", "--name", "k1", "--network", "lan", "sleep", "300")
    address = cnm("inspect", "-f", "{{.NetworkSettings.Networks.lan.IPAddress}}",
                  "k1").strip()
    for _ in range(2):
        assert not pings(cnm, "k1", "198.51.100.250")  # nobody: an INCOMPLETE neighbour
        cnm("restart", "-t", "0", "k1")
        assert cnm("inspect", "-f", "{{.State.Status}}", "k1").strip() == "running"
    assert not pings(cnm, "k1", "198.51.100.250")
    cnm("rm", "-f", "k1")
    cnm("run", "-d", "--name", "k2", "--network", "lan", "--ip", address, "sleep", "300")
    assert pings(cnm, "k2", HOST_B)
    cnm("rm", "-f", "k2")
    cnm("network", "rm", "lan")


def test_passthru_is_one_container_with_the_parent_s_mac(cnm, lan):
    cnm("network", "create", "-d", "macvlan", "-o", "parent=mvA", "-o",
        "macvlan_mode=passthru", "--subnet", SUBNET, "pt")
    cnm("run", "-d", "--name", "c1", "--network", "pt", "sleep", "300")
    (eth0,) = ip_json("link", "show", "eth0", netns=sandbox_key(cnm, "c1"))
    assert eth0["linkinfo"]["info_data"]["mode"] == "passthru"
    assert eth0["address"] == ip_json("link", "show", "mvA")[0]["address"]
    assert pings(cnm, "c1", HOST_B)
    before = store_snapshot(cnm.root)
    assert cnm.fails("run", "-d", "--name", "c2", "--network", "pt", "sleep", "300",
                     code=125) == "Error: create macvlan eth0 on mvA: Invalid argument"
    assert store_snapshot(cnm.root) == before
    cnm("rm", "-f", "c1")
    cnm("network", "rm", "pt")
    assert cnm.run("system", "check").out == ""


def test_a_reboot_restores_nothing_twice(cnm, lan):
    """After a reboot the first command restores every network: for a macvlan network
    on the user's parent there is nothing to make, and doing it twice changes nothing."""
    from cnmctl.engine.base import BOOT_MARKER

    cnm("network", "create", "-d", "macvlan", "-o", "parent=mvA", "--subnet", SUBNET, "lan")
    links = link_names()
    for _ in range(2):
        os.unlink(os.path.join(cnm.run_root, BOOT_MARKER))
        kernel_ready(cnm)
        assert link_names() == links
    cnm("run", "-d", "--name", "c1", "--network", "lan", "sleep", "300")
    assert pings(cnm, "c1", HOST_B)
    assert cnm.run("system", "check").out == ""
    cnm("rm", "-f", "c1")
    cnm("network", "rm", "lan")


def test_each_refusal_is_one_line_and_changes_nothing(cnm, lan):
    cnm("network", "create", "-d", "macvlan", "-o", "parent=mvA", "--subnet", SUBNET, "lan")
    lan_id = cnm("network", "inspect", "-f", "{{.Id}}", "lan").strip()
    before, links = store_snapshot(cnm.root), link_names()
    refused = {
        ("-o", "parent=nosuch"):
            "invalid subinterface vlan name nosuch, example formatting is eth0.10",
        ("-o", "parent=nosuch.10"): "-o parent interface was not found on the host: nosuch",
        ("-o", "parent=mvA.4095"): "vlan id must be between 1-4094, received: 4095",
        ("-o", "parent=mvA", "-o", "macvlan_mode=loud"):
            "requested macvlan mode 'loud' is not valid, 'bridge' mode is the macvlan driver "
            "default",
        ("-o", "parent=lo"): "loopback interface is not a valid macvlan parent link",
        ("-o", "parent=mvA"):
            f"network dm-{lan_id[:12]} is already using parent interface mvA",
        ("-o", "parent=$(reboot)"):
            "invalid parent interface '$(reboot)': only letters, digits, '_', '.' and '-' "
            "are allowed",
        ("-o", "parent=mvA", "-o", "mode=x"): "unknown macvlan driver option 'mode'",
        # a link cnmctl made goes with its network: never a parent
        ("-o", "parent=cnm0"): "invalid parent interface cnm0: it is a link cnmctl made for "
                               "network bridge, not a host interface",
    }
    for options, message in refused.items():
        assert cnm.fails("network", "create", "-d", "macvlan", *options, "--subnet",
                         "203.0.113.0/24", "m2") == f"Error: {message}", options
    assert store_snapshot(cnm.root) == before and link_names() == links
    # A container cannot start once the parent is gone: Docker's words.
    subprocess.run(["ip", "link", "set", "mvA", "name", "mvGone"], check=True)
    try:
        assert cnm.fails("run", "-d", "--name", "c1", "--network", "lan", "sleep", "300",
                         code=125) == ("Error: the requested parent interface mvA was not "
                                     "found on the Docker host")
    finally:
        subprocess.run(["ip", "link", "set", "mvGone", "name", "mvA"], check=True)
    assert cnm("ps", "-aq") == ""
    assert cnm.run("system", "check").out == ""


def test_a_port_of_a_users_bridge_is_refused_at_create(cnm, lan):
    """The kernel makes no macvlan child of a bridge's port (EBUSY at every run):
    refused when the network is made, not when each container starts."""
    for cmd in (["ip", "link", "add", "ubr", "type", "bridge"],
                ["ip", "link", "add", "uport", "type", "veth", "peer", "name", "upeer"],
                ["ip", "link", "set", "uport", "master", "ubr"]):
        subprocess.run(cmd, check=True)
    try:
        kernel_ready(cnm)
        before, links = store_snapshot(cnm.root), link_names()
        assert cnm.fails("network", "create", "-d", "macvlan", "-o", "parent=uport",
                         "--subnet", "203.0.113.0/24", "m2") == (
            "Error: invalid parent interface uport: it is a port of ubr, and a bridge's port "
            "cannot be a parent")
        assert store_snapshot(cnm.root) == before and link_names() == links
    finally:
        for link in ("uport", "ubr"):
            subprocess.run(["ip", "link", "del", link], check=True)


def test_a_parent_the_kernel_cannot_make(cnm, lan):
    """Without -o parent: a dummy link; with IFACE.VLAN: an 802.1Q sub-interface. Where
    the kernel lacks them, one line naming it and nothing changed; where it has them,
    Docker's thing: made, marked as cnmctl's, deleted with the network."""
    kernel_ready(cnm)
    for options, kind, name in (((), "dummy", None), (("-o", "parent=mvA.10"), "vlan",
                                                       "mvA.10")):
        before, links = store_snapshot(cnm.root), link_names()
        lacking = features.probe((kind,))[kind]
        if lacking:
            what = {"dummy": "a macvlan network without -o parent needs a dummy link as its "
                             "parent: the kernel has no dummy links",
                    "vlan": "cannot create the VLAN sub-interface mvA.10 (-o parent): the "
                            "kernel has no 802.1Q VLAN links (8021q)"}[kind]
            assert cnm.fails("network", "create", "-d", "macvlan", *options, "m") == \
                f"Error: {what}"
            assert store_snapshot(cnm.root) == before and link_names() == links
            continue
        net_id = cnm("network", "create", "-d", "macvlan", *options, "m").strip()
        name = name or f"dm-{net_id[:12]}"
        (link,) = ip_json("link", "show", name)
        assert link["linkinfo"]["info_kind"] == kind
        assert link["ifalias"] == OWNER_ALIAS + net_id
        cnm("run", "-d", "--name", "c1", "--network", "m", "sleep", "300")
        if kind == "dummy":  # internal: no way out, so no default route
            assert ip_json("route", "show", "default", netns=sandbox_key(cnm, "c1")) == []
        cnm("rm", "-f", "c1")
        cnm("network", "rm", "m")
        assert name not in link_names()


def test_a_parent_is_marked_under_its_making_name_before_it_takes_its_own(lan):
    """What linkkinds does for a dummy or VLAN parent, on a kind this kernel has (a
    macvlan link stands in): made as mk-..., marked, renamed, up. A name taken
    meanwhile (the user's own link) is refused, that link untouched, nothing left."""
    from cnmctl import linkkinds
    from cnmctl.errors import Conflict

    mark = OWNER_ALIAS + "ab" * 32
    linkkinds.create_parent_link("mvA.10", "macvlan", "mvA", alias=mark, temp="mk-test")
    try:
        (link,) = ip_json("link", "show", "mvA.10")
        assert link["ifalias"] == mark and "UP" in link["flags"]
        assert "mk-test" not in link_names()
        subprocess.run(["ip", "link", "add", "mvA.20", "link", "mvA", "type", "macvlan"],
                       check=True)
        with pytest.raises(Conflict) as exc:
            linkkinds.create_parent_link("mvA.20", "macvlan", "mvA", alias=mark,
                                         temp="mk-test")
        assert str(exc.value) == "create macvlan link mvA.20: File exists"
        (users,) = ip_json("link", "show", "mvA.20")
        assert "ifalias" not in users and "mk-test" not in link_names()
    finally:
        for name in ("mvA.10", "mvA.20"):
            subprocess.run(["ip", "link", "del", name], capture_output=True)


def test_a_missing_parent_cnmctl_made_is_made_again_by_a_fix_or_the_fix_says_why(cnm, lan):
    """system check finds a VLAN parent cnmctl made gone (deleted by hand; here its
    record stands for one, this kernel making no VLAN links); --fix makes it again,
    or, where it cannot, says why instead of reporting it fixed."""
    net_id = cnm("network", "create", "-d", "macvlan", "-o", "parent=mvA", "--subnet",
                 SUBNET, "lan").strip()
    path = os.path.join(cnm.root, "networks", f"{net_id}.json")
    with open(path) as f:
        doc = json.load(f)
    doc["driver_data"].update(parent="mvA.7", make="vlan", base="mvA", vlan_id=7)
    with open(path, "w") as f:
        json.dump(doc, f)
    finding = "parent link mvA.7: network lan has no parent link; --fix will make it again"
    assert cnm.run("system", "check").out == finding + "\n"
    fixed = cnm.run("system", "check", "--fix")
    if features.probe(("vlan",))["vlan"]:
        assert (fixed.code, fixed.out) == (1, "")  # not "fixed:", three rounds over
        assert fixed.err == ("Warning: could not fix parent link mvA.7: cannot create the VLAN "
                             "sub-interface mvA.7 (-o parent): the kernel has no 802.1Q VLAN "
                             f"links (8021q)\nError: still: {finding}\n")
    else:
        assert fixed.code == 0 and fixed.out == f"fixed: {finding}\n", fixed
        assert ip_json("link", "show", "mvA.7")[0]["ifalias"] == OWNER_ALIAS + net_id
    cnm("network", "rm", "lan")
    assert "mvA.7" not in link_names()


def test_ipvlan_where_the_kernel_lacks_it_is_one_line(cnm, lan):
    kernel_ready(cnm)
    before, links = store_snapshot(cnm.root), link_names()
    result = cnm.run("network", "create", "-d", "ipvlan", "-o", "parent=mvA", "iv")
    if features.probe(("ipvlan",))["ipvlan"]:
        assert result.code == 1 and result.err == (
            "Error: cannot create ipvlan network iv: the kernel has no ipvlan links\n")
        assert store_snapshot(cnm.root) == before and link_names() == links
    else:
        assert result.code == 0, result.err
        cnm("network", "rm", "iv")
    # Option errors come first, as in Docker, whatever the kernel has.
    assert cnm.fails("network", "create", "-d", "ipvlan", "-o", "ipvlan_flag=loud", "iv") == (
        "Error: requested ipvlan flag 'loud' is not valid, 'bridge' is the ipvlan driver "
        "default")
    assert cnm.fails("network", "create", "-d", "ipvlan", "-o", "ipvlan_mode=l4", "iv") == (
        "Error: requested ipvlan mode 'l4' is not valid, 'l2' mode is the ipvlan driver "
        "default")
    assert store_snapshot(cnm.root) == before and link_names() == links


def test_ipvlan_l2_reaches_the_other_machine_via_the_gateway(cnm, lan):
    require_link_kind("ipvlan")
    cnm("network", "create", "-d", "ipvlan", "-o", "parent=mvA", "--subnet", SUBNET,
        "--gateway", GATEWAY, "iv")
    cnm("run", "-d", "--name", "c1", "--network", "iv", "sleep", "300")
    cnm("run", "-d", "--name", "c2", "--network", "iv", "sleep", "300")
    key = sandbox_key(cnm, "c1")
    (eth0,) = ip_json("link", "show", "eth0", netns=key)
    assert eth0["linkinfo"]["info_kind"] == "ipvlan"
    assert eth0["linkinfo"]["info_data"]["mode"] == "l2"
    assert eth0["address"] == ip_json("link", "show", "mvA")[0]["address"]  # the parent's
    assert [(r["gateway"], r["dev"]) for r in ip_json("route", "show", "default",
                                                      netns=key)] == [(GATEWAY, "eth0")]
    assert pings(cnm, "c1", HOST_B)
    assert pings(cnm, "c1", "c2")  # by name: the embedded DNS
    assert cnm.fails("run", "-d", "--network", "iv", "--mac-address", "02:00:00:00:00:09",
                     "sleep", "300") == (
        "Error: ipvlan interfaces do not support custom mac address assignment")
    cnm("rm", "-f", "c1", "c2")
    cnm("network", "rm", "iv")
    assert cnm.run("system", "check").out == ""


def test_ipvlan_l3_routes_out_of_the_interface_without_a_gateway(cnm, lan):
    require_link_kind("ipvlan")
    cnm("network", "create", "-d", "ipvlan", "-o", "parent=mvA", "-o", "ipvlan_mode=l3",
        "-o", "ipvlan_flag=private", "--subnet", SUBNET, "iv")
    cnm("run", "-d", "--name", "c1", "--network", "iv", "sleep", "300")
    key = sandbox_key(cnm, "c1")
    (eth0,) = ip_json("link", "show", "eth0", netns=key)
    assert eth0["linkinfo"]["info_data"]["mode"] == "l3"
    routes = ip_json("route", "show", "default", netns=key)
    assert [(r.get("gateway"), r["dev"], r.get("scope")) for r in routes] == [
        (None, "eth0", "link")]
    assert json.loads(cnm("inspect", "c1"))[0]["NetworkSettings"]["Networks"]["iv"][
        "Gateway"] == ""
    cnm("rm", "-f", "c1")
    cnm("network", "rm", "iv")
