"""Containers end to end: `cnmctl run/create/start/stop/.../exec` and `network
connect/disconnect`, checked from outside as a user would (nsenter, ip, ping),
as root in the suite's private namespaces.

Traffic only ever goes between containers and bridges the test made.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import socket
import subprocess
import time

import pytest
from conftest import CNMCTL, link_names, store_snapshot, wait_until
from shapes import assert_same_shape, reference

FULL_ID = re.compile(r"[0-9a-f]{64}")
HOSTS_HEADER = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)
ZERO_TIME = "0001-01-01T00:00:00Z"
# Docker's wording, with the container ID filled in.
RUNNING_RM = ("Error: You cannot remove a running container {}. Stop the container before "
              "attempting removal or force remove")
NAME_CONFLICT = ('Error: Conflict. The container name "/{}" is already in use by container '
                 '"{}". You have to remove (or rename) that container to be able to reuse '
                 "that name.")


@pytest.fixture(autouse=True)
def _remove_containers(cnm):
    """Kill what a test left running, before `cnm` deletes the test's links."""
    yield
    ids = cnm.run("ps", "-aq", "--no-trunc").out.split()
    if ids:
        cnm.run("rm", "-f", *ids)


# -- helpers ----------------------------------------------------------------
def inspect(cnm, ref: str) -> dict:
    [doc] = json.loads(cnm("inspect", ref))
    return doc


def field(cnm, ref: str, template: str) -> str:
    return cnm("inspect", "-f", template, ref).strip()


def ip_on(cnm, ref: str, net: str) -> str:
    return field(cnm, ref, f'{{{{(index .NetworkSettings.Networks "{net}").IPAddress}}}}')


def status(cnm, ref: str) -> str:
    return field(cnm, ref, "{{.State.Status}}")


def wait_exited(cnm, ref: str) -> dict:
    """Poll until the container is no longer running (its supervisor noticed)."""
    wait_until(lambda: status(cnm, ref) == "exited", what=f"{ref} to exit")
    return inspect(cnm, ref)


def in_sandbox(cnm, ref: str, *cmd: str) -> str:
    """Run `cmd` on the host inside the container's network namespace, via its SandboxKey."""
    key = field(cnm, ref, "{{.NetworkSettings.SandboxKey}}")
    return subprocess.run(["nsenter", f"--net={key}", *cmd], capture_output=True, text=True,
                          check=True).stdout


def ifnames(ip_o_link: str) -> list[str]:
    """Interface names from `ip -o link` output ("2: eth0@if7: <...> ...")."""
    return [line.split(":")[1].strip().split("@")[0] for line in ip_o_link.splitlines()]


def addresses(ip_o_addr: str) -> dict[str, list[str]]:
    """{ifname: [CIDR, ...]} from `ip -o -4 addr` output."""
    found: dict[str, list[str]] = {}
    for line in ip_o_addr.splitlines():
        parts = line.split()
        found.setdefault(parts[1], []).append(parts[3])
    return found


def bridge_ports(cnm, net: str) -> list[str]:
    """The host-side interfaces enslaved to a network's bridge."""
    [doc] = json.loads(cnm("network", "inspect", net))
    bridge = doc["Options"].get("com.docker.network.bridge.name") or f"br-{doc['Id'][:12]}"
    out = subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True,
                         text=True, check=True).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


def pings(cnm, ref: str, *targets: str) -> list[str]:
    """The targets the container failed to ping (one echo each, 2 s reply deadline)."""
    script = ("for ip in \"$@\"; do ping -c1 -W2 \"$ip\" >/dev/null 2>&1 || echo \"$ip\"; "
              "done")
    return cnm("exec", ref, "sh", "-c", script, "sh", *targets).split()


def process_gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie waiting for its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def busybox_rootfs(path) -> str:
    """A busybox tree standing in for `alpine`: /bin with every applet, plus mount points."""
    bindir = path / "bin"
    bindir.mkdir(parents=True)
    shutil.copy("/bin/busybox", bindir / "busybox")
    # Installed from inside the tree so the links point at /bin/busybox, not the host path.
    subprocess.run(["chroot", str(path), "/bin/busybox", "--install", "-s", "/bin"], check=True)
    for name in ("proc", "sys", "dev", "etc", "tmp"):
        (path / name).mkdir()
    return str(path)


# -- lesson Task 1 ------------------------------------------------------------
def test_task1_two_containers_match_docker(cnm):
    net_id = cnm("network", "create", "cnm-net").strip()
    c1 = cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "3600").strip()
    c2 = cnm("run", "-d", "--name", "c2", "--network", "cnm-net", "sleep", "3600").strip()
    assert FULL_ID.fullmatch(c1) and FULL_ID.fullmatch(c2) and c1 != c2

    [net] = json.loads(cnm("network", "inspect", "cnm-net"))
    assert_same_shape(net, reference("task1-network-inspect-2containers.json")[0])
    assert set(net["Containers"]) == {c1, c2}
    assert net["Containers"][c1] == {
        "Name": "c1", "EndpointID": net["Containers"][c1]["EndpointID"],
        "MacAddress": "02:42:ac:12:00:02", "IPv4Address": "172.18.0.2/16", "IPv6Address": ""}
    assert net["Containers"][c2]["IPv4Address"] == "172.18.0.3/16"
    assert net["Containers"][c2]["MacAddress"] == "02:42:ac:12:00:03"

    doc = inspect(cnm, "c1")
    ref = reference("task1-inspect-c1.json")[0]
    assert list(doc) == list(ref)
    assert_same_shape(doc["State"], ref["State"])
    assert_same_shape(doc["Config"], ref["Config"])
    assert_same_shape(doc["NetworkSettings"], ref["NetworkSettings"])
    assert_same_shape(doc["NetworkSettings"]["Networks"]["cnm-net"],
                      ref["NetworkSettings"]["Networks"]["cnm-net"])
    for key in ("HostConfig", "GraphDriver"):
        assert list(doc[key]) == list(ref[key]), key
    assert doc["Id"] == c1 and doc["Name"] == "/c1"
    assert (doc["Path"], doc["Args"]) == ("sleep", ["3600"])
    state = doc["State"]
    assert state["Status"] == "running" and state["Running"] is True and state["Pid"] > 0
    assert state["ExitCode"] == 0 and state["FinishedAt"] == ZERO_TIME
    assert state["StartedAt"] != ZERO_TIME
    assert doc["Config"]["Hostname"] == c1[:12] and doc["Config"]["Cmd"] == ["sleep", "3600"]
    assert doc["HostConfig"]["NetworkMode"] == "cnm-net"
    assert doc["HostConfig"]["AutoRemove"] is False

    settings = doc["NetworkSettings"]
    assert FULL_ID.fullmatch(settings["SandboxID"])
    assert settings["SandboxKey"].endswith("/" + settings["SandboxID"][:12])
    # On a user-defined network the legacy top-level fields stay empty (Docker).
    assert (settings["IPAddress"], settings["Gateway"], settings["MacAddress"],
            settings["EndpointID"]) == ("", "", "", "")
    assert settings["Networks"]["cnm-net"] == {
        "IPAMConfig": None, "Links": None, "Aliases": [c1[:12]], "NetworkID": net_id,
        "EndpointID": net["Containers"][c1]["EndpointID"], "Gateway": "172.18.0.1",
        "IPAddress": "172.18.0.2", "IPPrefixLen": 16, "IPv6Gateway": "",
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": "02:42:ac:12:00:02",
        "DriverOpts": None}
    # The same template the lesson uses.
    template = ('{{(index .NetworkSettings.Networks "cnm-net").IPAddress}} '
                '{{(index .NetworkSettings.Networks "cnm-net").Gateway}} '
                '{{(index .NetworkSettings.Networks "cnm-net").MacAddress}}')
    assert field(cnm, "c2", template) == "172.18.0.3 172.18.0.1 02:42:ac:12:00:03"
    # The endpoints are real: two veths on the bridge, eth0 in each sandbox.
    assert len(bridge_ports(cnm, "cnm-net")) == 2
    assert addresses(in_sandbox(cnm, "c2", "ip", "-o", "-4", "addr")) == {
        "lo": ["127.0.0.1/8"], "eth0": ["172.18.0.3/16"]}


def test_default_bridge_fills_the_legacy_fields(cnm):
    d1 = cnm("run", "-d", "--name", "d1", "sleep", "3600").strip()
    settings = inspect(cnm, "d1")["NetworkSettings"]
    entry = settings["Networks"]["bridge"]
    assert entry["IPAddress"] == "172.17.0.2" and entry["Aliases"] is None
    assert settings["IPAddress"] == "172.17.0.2" and settings["IPPrefixLen"] == 16
    assert settings["Gateway"] == "172.17.0.1"
    assert settings["MacAddress"] == entry["MacAddress"] == "02:42:ac:11:00:02"
    assert settings["EndpointID"] == entry["EndpointID"] != ""
    assert field(cnm, "d1", "{{.HostConfig.NetworkMode}}") == "bridge"
    [net] = json.loads(cnm("network", "inspect", "bridge"))
    assert net["Containers"][d1]["IPv4Address"] == "172.17.0.2/16"
    assert bridge_ports(cnm, "bridge") != []


# -- lesson Task 5 ------------------------------------------------------------
def test_task5_create_start_disconnect(cnm):
    net_id = cnm("network", "create", "cnm-net").strip()
    c3 = cnm("create", "--name", "c3", "--network", "cnm-net", "sleep", "3600").strip()
    assert FULL_ID.fullmatch(c3)
    links_after_create = link_names()

    # Created: not in the network's Containers; the container shows a placeholder entry.
    [net] = json.loads(cnm("network", "inspect", "cnm-net"))
    assert_same_shape(net, reference("task5-network-inspect-after-create.json")[0])
    assert net["Containers"] == {}
    doc = inspect(cnm, "c3")
    ref = reference("task5-inspect-c3-created.json")[0]
    assert list(doc) == list(ref)
    assert doc["State"] == ref["State"]
    assert_same_shape(doc["NetworkSettings"], ref["NetworkSettings"])
    assert doc["NetworkSettings"] == ref["NetworkSettings"]  # all placeholders, no IDs
    assert bridge_ports(cnm, "cnm-net") == []
    assert cnm("ps", "--format", "{{.Names}}") == ""
    assert cnm("ps", "-a", "--format", "{{.Names}} {{.Status}}") == "c3 Created\n"

    # Started: listed with an address, a veth on the bridge.
    assert cnm("start", "c3") == "c3\n"
    [net] = json.loads(cnm("network", "inspect", "cnm-net"))
    assert_same_shape(net, reference("task5-network-inspect-after-start.json")[0])
    assert [(c["Name"], c["IPv4Address"]) for c in net["Containers"].values()] == [
        ("c3", "172.18.0.2/16")]
    entry = inspect(cnm, "c3")["NetworkSettings"]["Networks"]["cnm-net"]
    assert (entry["NetworkID"], entry["IPAddress"], entry["Aliases"]) == (
        net_id, "172.18.0.2", [c3[:12]])
    assert len(bridge_ports(cnm, "cnm-net")) == 1
    assert len(link_names() - links_after_create) == 1

    # Disconnected: gone from the network, still running with only lo.
    assert cnm("network", "disconnect", "cnm-net", "c3") == ""
    [net] = json.loads(cnm("network", "inspect", "cnm-net"))
    assert_same_shape(net, reference("task5-network-inspect-after-disconnect.json")[0])
    assert net["Containers"] == {}
    doc = inspect(cnm, "c3")
    assert doc["State"]["Status"] == "running"
    assert doc["NetworkSettings"]["Networks"] == {}
    assert doc["HostConfig"]["NetworkMode"] == "cnm-net"
    assert ifnames(in_sandbox(cnm, "c3", "ip", "-o", "link")) == ["lo"]
    assert cnm("exec", "c3", "ip", "-o", "link").count("\n") == 1
    wait_until(lambda: bridge_ports(cnm, "cnm-net") == [], what="the veth to go")
    assert link_names() == links_after_create

    # Reconnected while running: the same address back, as eth1 (indexes are not reused).
    cnm("network", "connect", "cnm-net", "c3")
    entry = inspect(cnm, "c3")["NetworkSettings"]["Networks"]["cnm-net"]
    assert (entry["IPAddress"], entry["IPAMConfig"], entry["DriverOpts"]) == (
        "172.18.0.2", {}, {})
    assert addresses(in_sandbox(cnm, "c3", "ip", "-o", "-4", "addr"))["eth1"] == [
        "172.18.0.2/16"]


def test_connect_and_disconnect_a_created_container(cnm):
    cnm("network", "create", "cnm-net")
    cnm("network", "create", "other-net")
    cnm("create", "--name", "cx", "--network", "cnm-net", "sleep", "3600")
    cnm("network", "connect", "other-net", "cx")
    assert field(cnm, "cx", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}") == \
        "cnm-net other-net"
    assert json.loads(cnm("network", "inspect", "other-net"))[0]["Containers"] == {}
    cnm("start", "cx")
    assert (ip_on(cnm, "cx", "cnm-net"), ip_on(cnm, "cx", "other-net")) == (
        "172.18.0.2", "172.19.0.2")
    assert set(addresses(in_sandbox(cnm, "cx", "ip", "-o", "-4", "addr"))) == {
        "lo", "eth0", "eth1"}
    cnm("stop", "-t", "1", "cx")
    cnm("network", "disconnect", "other-net", "cx")
    assert list(inspect(cnm, "cx")["NetworkSettings"]["Networks"]) == ["cnm-net"]


# -- lesson Task 6 ------------------------------------------------------------
def test_task6_connect_a_second_network(cnm):
    cnm("network", "create", "cnm-net")
    other_id = cnm("network", "create", "other-net").strip()
    c4 = cnm("run", "-d", "--name", "c4", "--network", "cnm-net", "sleep", "3600").strip()
    assert cnm("network", "connect", "other-net", "c4") == ""

    assert addresses(in_sandbox(cnm, "c4", "ip", "-o", "-4", "addr")) == {
        "lo": ["127.0.0.1/8"], "eth0": ["172.18.0.2/16"], "eth1": ["172.19.0.2/16"]}
    routes = in_sandbox(cnm, "c4", "ip", "-4", "route").splitlines()
    assert [r.split()[:5] for r in routes if r.startswith("default")] == [
        ["default", "via", "172.18.0.1", "dev", "eth0"]]
    assert any(r.startswith("172.19.0.0/16 dev eth1") for r in routes)

    doc = inspect(cnm, "c4")
    ref = reference("task6-inspect-c4.json")[0]
    assert_same_shape(doc["NetworkSettings"], ref["NetworkSettings"])
    nets = doc["NetworkSettings"]["Networks"]
    assert list(nets) == ["cnm-net", "other-net"]
    assert nets["other-net"]["NetworkID"] == other_id
    assert (nets["other-net"]["IPAddress"], nets["other-net"]["Gateway"],
            nets["other-net"]["MacAddress"]) == ("172.19.0.2", "172.19.0.1", "02:42:ac:13:00:02")
    assert nets["other-net"]["Aliases"] == [c4[:12]]
    assert nets["cnm-net"]["EndpointID"] != nets["other-net"]["EndpointID"]
    [net] = json.loads(cnm("network", "inspect", "other-net"))
    assert_same_shape(net, reference("task6-network-inspect-other-net.json")[0])
    assert net["Containers"][c4]["IPv4Address"] == "172.19.0.2/16"
    # /etc/hosts lists both addresses with the short ID, as Docker writes it.
    assert cnm("exec", "c4", "cat", "/etc/hosts") == (
        HOSTS_HEADER + f"172.18.0.2\t{c4[:12]}\n172.19.0.2\t{c4[:12]}\n")
    assert len(bridge_ports(cnm, "other-net")) == 1

    # Disconnect: eth1 goes; reconnect: it comes back as eth2.
    cnm("network", "disconnect", "other-net", "c4")
    assert set(addresses(in_sandbox(cnm, "c4", "ip", "-o", "-4", "addr"))) == {"lo", "eth0"}
    assert list(inspect(cnm, "c4")["NetworkSettings"]["Networks"]) == ["cnm-net"]
    assert cnm("exec", "c4", "cat", "/etc/hosts") == HOSTS_HEADER + f"172.18.0.2\t{c4[:12]}\n"
    cnm("network", "connect", "other-net", "c4")
    assert addresses(in_sandbox(cnm, "c4", "ip", "-o", "-4", "addr")) == {
        "lo": ["127.0.0.1/8"], "eth0": ["172.18.0.2/16"], "eth2": ["172.19.0.2/16"]}
    routes = in_sandbox(cnm, "c4", "ip", "-4", "route").splitlines()
    assert [r.split()[:5] for r in routes if r.startswith("default")] == [
        ["default", "via", "172.18.0.1", "dev", "eth0"]]


def test_disconnecting_the_first_network_moves_the_default_route(cnm):
    cnm("network", "create", "cnm-net")
    cnm("network", "create", "other-net")
    cnm("run", "-d", "--name", "c4", "--network", "cnm-net", "sleep", "3600")
    cnm("network", "connect", "other-net", "c4")
    cnm("network", "disconnect", "cnm-net", "c4")
    routes = in_sandbox(cnm, "c4", "ip", "-4", "route").splitlines()
    assert [r.split()[:5] for r in routes if r.startswith("default")] == [
        ["default", "via", "172.19.0.1", "dev", "eth1"]]


# -- namespaces, hostname and files -----------------------------------------------
def test_sandbox_is_reachable_by_key_and_by_pid(cnm):
    cnm("network", "create", "cnm-net")
    cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "3600")
    key = field(cnm, "c1", "{{.NetworkSettings.SandboxKey}}")
    pid = field(cnm, "c1", "{{.State.Pid}}")
    by_key = subprocess.run(["nsenter", f"--net={key}", "ip", "addr"], capture_output=True,
                            text=True, check=True).stdout
    by_pid = subprocess.run(["nsenter", "-t", pid, "-n", "ip", "addr"], capture_output=True,
                            text=True, check=True).stdout
    for out in (by_key, by_pid):
        assert re.search(r"^\d+: eth0@if\d+: <BROADCAST,MULTICAST,UP,LOWER_UP>", out, re.M), out
        assert "inet 172.18.0.2/16 brd 172.18.255.255 scope global eth0" in out
        assert "link/ether 02:42:ac:12:00:02" in out
    # IPv6 duplicate address detection may finish between the two looks.
    assert by_key.replace(" tentative", "") == by_pid.replace(" tentative", "")
    # State.Pid is the command itself, not a wrapper.
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"sleep", b"3600"]
    assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(key).st_ino


def test_hostname_hosts_and_resolv_conf_are_the_containers_own(cnm):
    cnm("network", "create", "cnm-net")
    host_name = socket.gethostname()
    with open("/etc/hosts", encoding="utf-8") as f:
        host_hosts = f.read()
    c1 = cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "3600").strip()
    cnm("run", "-d", "--name", "named", "--hostname", "myhost", "--network", "cnm-net",
        "--dns", "10.99.0.53", "--dns-search", "example.test", "--dns-option", "ndots:2",
        "--add-host", "db:10.1.2.3", "sleep", "3600")
    assert cnm("exec", "c1", "hostname") == c1[:12] + "\n"
    assert cnm("exec", "c1", "cat", "/etc/hostname") == c1[:12] + "\n"
    assert cnm("exec", "named", "hostname") == "myhost\n"
    assert cnm("exec", "named", "cat", "/etc/hostname") == "myhost\n"
    assert field(cnm, "named", "{{.Config.Hostname}}") == "myhost"
    assert cnm("exec", "c1", "cat", "/etc/hosts") == HOSTS_HEADER + f"172.18.0.2\t{c1[:12]}\n"
    assert cnm("exec", "named", "cat", "/etc/hosts") == (
        HOSTS_HEADER + "10.1.2.3\tdb\n172.18.0.3\tmyhost\n")
    assert cnm("exec", "named", "cat", "/etc/resolv.conf") == (
        "search example.test\nnameserver 127.0.0.11\noptions ndots:2\n")
    doc = inspect(cnm, "named")
    assert (doc["HostConfig"]["Dns"], doc["HostConfig"]["DnsSearch"],
            doc["HostConfig"]["DnsOptions"], doc["HostConfig"]["ExtraHosts"]) == (
        ["10.99.0.53"], ["example.test"], ["ndots:2"], ["db:10.1.2.3"])
    for path_key, inside in (("ResolvConfPath", "/etc/resolv.conf"),
                             ("HostsPath", "/etc/hosts"), ("HostnamePath", "/etc/hostname")):
        with open(doc[path_key], encoding="utf-8") as f:
            assert f.read() == cnm("exec", "named", "cat", inside)
    # The host's own files and host name are untouched.
    assert socket.gethostname() == host_name
    with open("/etc/hosts", encoding="utf-8") as f:
        assert f.read() == host_hosts
    # The process itself (not only `exec`) sees them: HOSTNAME and /etc/hostname.
    out = cnm("run", "--rm", "--network", "cnm-net", "--hostname", "fg", "sh", "-c",
              'echo "$HOSTNAME $(hostname) $(cat /etc/hostname)"')
    assert out == "fg fg fg\n"


def test_env_and_workdir(cnm):
    cnm("run", "-d", "--name", "e", "--network", "none", "-e", "A=1", "-w", "/tmp",
        "sleep", "3600")
    assert cnm("exec", "e", "sh", "-c", 'echo "$A $(pwd)"') == "1 /tmp\n"
    assert cnm("exec", "-e", "B=2", "-w", "/", "e", "sh", "-c", 'echo "$A$B $(pwd)"') == "12 /\n"
    assert field(cnm, "e", "{{json .Config.Env}} {{.Config.WorkingDir}}") == '["A=1"] /tmp'


# -- traffic ------------------------------------------------------------------
def test_two_containers_ping_each_other(cnm):
    cnm("network", "create", "cnm-net")
    cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "3600")
    cnm("run", "-d", "--name", "c2", "--network", "cnm-net", "sleep", "3600")
    assert pings(cnm, "c1", "172.18.0.3", "172.18.0.1") == []
    assert pings(cnm, "c2", "172.18.0.2") == []
    # And from the host, over the bridge.
    subprocess.run(["ping", "-c1", "-W2", "172.18.0.2"], check=True, capture_output=True)


def test_container_on_two_networks_reaches_both(cnm):
    cnm("network", "create", "cnm-net")
    cnm("network", "create", "other-net")
    cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "3600")
    cnm("run", "-d", "--name", "o1", "--network", "other-net", "sleep", "3600")
    cnm("run", "-d", "--name", "c4", "--network", "cnm-net", "sleep", "3600")
    cnm("network", "connect", "other-net", "c4")
    assert (ip_on(cnm, "c1", "cnm-net"), ip_on(cnm, "o1", "other-net")) == (
        "172.18.0.2", "172.19.0.2")
    assert pings(cnm, "c4", "172.18.0.2", "172.19.0.2") == []
    assert pings(cnm, "o1", ip_on(cnm, "c4", "other-net")) == []
    # Both starting with the two networks given to `run` works too.
    cnm("run", "-d", "--name", "both", "--network", "cnm-net", "--network", "other-net",
        "sleep", "3600")
    assert set(addresses(in_sandbox(cnm, "both", "ip", "-o", "-4", "addr"))) == {
        "lo", "eth0", "eth1"}
    assert pings(cnm, "both", "172.18.0.2", "172.19.0.2") == []


def test_thirty_concurrent_runs_get_distinct_reachable_addresses(cnm):
    cnm("network", "create", "cnm-net")
    cnm("run", "-d", "--name", "pinger", "--network", "cnm-net", "sleep", "3600")
    procs = [subprocess.Popen([*CNMCTL, "run", "-d", "--name", f"par{i}", "--network",
                               "cnm-net", "sleep", "3600"], env=cnm.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(30)]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert all(code == 0 for code, _, _ in results), results
    ids = [out.strip() for _, out, _ in results]
    assert len(set(ids)) == 30 and all(FULL_ID.fullmatch(i) for i in ids)
    names = [f"par{i}" for i in range(30)]
    ips = cnm("inspect", "-f", '{{(index .NetworkSettings.Networks "cnm-net").IPAddress}}',
              *names).split()
    assert len(set(ips)) == 30
    assert set(ips) == {f"172.18.0.{i}" for i in range(3, 33)}
    [net] = json.loads(cnm("network", "inspect", "cnm-net"))
    assert len(net["Containers"]) == 31
    assert len({c["MacAddress"] for c in net["Containers"].values()}) == 31
    assert len(bridge_ports(cnm, "cnm-net")) == 31
    assert pings(cnm, "pinger", *ips) == []
    # and the embedded DNS knows every one of them, by name
    resolved = dict(line.split()[::-1] for line in
                    cnm("exec", "pinger", "getent", "hosts", *names).splitlines())
    assert resolved == dict(zip(names, ips, strict=True))


# -- exits, logs, wait ----------------------------------------------------------
def test_exit_is_recorded_and_endpoint_released(cnm):
    cnm("network", "create", "cnm-net")
    links_before = link_names()
    ex = cnm("run", "-d", "--name", "ex", "--network", "cnm-net", "sh", "-c",
             "sleep 0.2; exit 3").strip()
    doc = wait_exited(cnm, "ex")
    state = doc["State"]
    assert (state["Status"], state["Running"], state["ExitCode"], state["Pid"]) == (
        "exited", False, 3, 0)
    assert state["FinishedAt"] != ZERO_TIME and state["StartedAt"] != ZERO_TIME
    assert doc["NetworkSettings"]["SandboxKey"] == "" and doc["NetworkSettings"]["SandboxID"] == ""
    # The entry stays, without endpoint or address (Docker's stopped container).
    entry = doc["NetworkSettings"]["Networks"]["cnm-net"]
    assert (entry["EndpointID"], entry["IPAddress"], entry["MacAddress"]) == ("", "", "")
    assert entry["NetworkID"] != "" and entry["Aliases"] == [ex[:12]]
    assert json.loads(cnm("network", "inspect", "cnm-net"))[0]["Containers"] == {}
    wait_until(lambda: link_names() == links_before, what="the veth to go")
    assert bridge_ports(cnm, "cnm-net") == []
    assert cnm("ps", "--format", "{{.Names}}") == ""
    assert re.fullmatch(r"ex Exited \(3\) .* ago\n",
                        cnm("ps", "-a", "--format", "{{.Names}} {{.Status}}"))
    # The address is free again: the next container gets it.
    cnm("run", "-d", "--name", "next", "--network", "cnm-net", "sleep", "3600")
    assert ip_on(cnm, "next", "cnm-net") == "172.18.0.2"
    # An exited container starts again, with a fresh sandbox.
    assert cnm("start", "ex") == "ex\n"
    assert wait_exited(cnm, "ex")["State"]["ExitCode"] == 3


def test_immediate_exit_and_auto_remove(cnm):
    cnm("network", "create", "cnm-net")
    links_before = link_names()
    cnm("run", "-d", "--name", "quick", "--network", "cnm-net", "sh", "-c", "exit 3")
    assert wait_exited(cnm, "quick")["State"]["ExitCode"] == 3
    gone = cnm("run", "-d", "--rm", "--name", "gone", "--network", "cnm-net", "true").strip()
    wait_until(lambda: cnm.run("inspect", "gone").code == 1, what="--rm to remove it")
    assert "gone" not in cnm("ps", "-a", "--format", "{{.Names}}").split()
    assert not os.path.exists(os.path.join(cnm.run_root, "containers", gone))
    wait_until(lambda: link_names() == links_before, what="the veths to go")
    assert json.loads(cnm("network", "inspect", "cnm-net"))[0]["Containers"] == {}


def test_wait_prints_exit_codes(cnm):
    cnm("run", "-d", "--name", "w1", "--network", "none", "sh", "-c", "sleep 0.3; exit 7")
    cnm("run", "-d", "--name", "w2", "--network", "none", "true")
    assert cnm("wait", "w1", "w2") == "7\n0\n"
    assert cnm("wait", "w1") == "7\n"  # already exited: at once
    result = cnm.run("wait", "nosuch")
    assert (result.code, result.err) == (1, "Error: No such container: nosuch\n")


def test_foreground_run_passes_output_and_exit_code(cnm):
    cnm("network", "create", "cnm-net")
    result = cnm.run("run", "--name", "fg", "--network", "cnm-net", "sh", "-c",
                     "echo out; echo err >&2; ip -o -4 addr show eth0; exit 5")
    assert result.code == 5
    lines = result.out.splitlines()
    assert lines[0] == "out" and "inet 172.18.0.2/16" in lines[1]
    assert result.err == "err\n"
    doc = inspect(cnm, "fg")
    assert (doc["State"]["Status"], doc["State"]["ExitCode"]) == ("exited", 5)
    assert json.loads(cnm("network", "inspect", "cnm-net"))[0]["Containers"] == {}
    assert cnm("logs", "fg") == "out\n" + lines[1] + "\n"
    # stdin is passed with -i.
    result = cnm.run("run", "--rm", "-i", "--network", "none", "cat", input="hello\n")
    assert (result.code, result.out) == (0, "hello\n")
    assert cnm.run("run", "--rm", "--network", "none", "false").code == 1


def test_logs_and_tail(cnm):
    cnm("run", "-d", "--name", "lg", "--network", "none", "sh", "-c",
        "echo one; echo two; echo oops >&2; echo three")
    wait_exited(cnm, "lg")
    result = cnm.run("logs", "lg")
    assert (result.code, result.out, result.err) == (0, "one\ntwo\nthree\n", "oops\n")
    # --tail counts lines of both streams (test_logs_restart.py checks their order)
    cnm("run", "-d", "--name", "lg2", "--network", "none", "sh", "-c",
        "echo one; echo two; echo three")
    wait_exited(cnm, "lg2")
    assert cnm("logs", "--tail", "1", "lg2") == "three\n"
    assert cnm("logs", "-n", "2", "lg2") == "two\nthree\n"
    assert cnm("logs", "--tail", "0", "lg2") == ""
    # -f follows a running container until it exits.
    cnm("run", "-d", "--name", "slow", "--network", "none", "sh", "-c",
        "echo a; sleep 0.5; echo b")
    assert cnm("logs", "-f", "slow") == "a\nb\n"


def test_logs_timestamps(cnm):
    """`logs -t`: each line with the time it was written, in Docker's RFC 3339 form,
    for a detached container (its supervisor stamps lines) and a foreground one."""
    before = time.time()
    cnm("run", "-d", "--name", "ts", "--network", "none", "sh", "-c",
        "echo first; echo warn >&2; sleep 0.3; echo second")
    wait_exited(cnm, "ts")
    cnm("run", "--name", "fg", "--network", "none", "sh", "-c", "echo shown; printf tail")
    after = time.time()
    for name, lines in (("ts", ["first", "second"]), ("fg", ["shown", "tail"])):
        result = cnm.run("logs", "-t", name)
        assert result.code == 0
        stamps = []
        for line, expected in zip(result.out.splitlines(), lines, strict=True):
            stamp, text = line.split(" ", 1)
            assert text == expected
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", stamp), stamp
            moment = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
            assert before - 1 <= moment <= after + 1
            stamps.append(moment)
        assert stamps == sorted(stamps)
    # The sleep between the two lines shows in their times; stderr is stamped too.
    first, second = (datetime.datetime.fromisoformat(line.split()[0].replace("Z", "+00:00"))
                     for line in cnm("logs", "-t", "ts").splitlines())
    assert (second - first).total_seconds() >= 0.25
    assert cnm.run("logs", "-t", "ts").err.endswith(" warn\n")


# -- stop, kill, restart, rm, exec ------------------------------------------------
def test_stop_kills_a_process_that_ignores_sigterm(cnm):
    cnm("network", "create", "cnm-net")
    links_before = link_names()
    cnm("run", "-d", "--name", "stub", "--network", "cnm-net", "sh", "-c",
        'trap "" TERM; sleep 100')
    assert cnm("stop", "-t", "1", "stub") == "stub\n"
    state = inspect(cnm, "stub")["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 137)
    # Nothing of it is left: no process in its namespace keeps the veth alive.
    wait_until(lambda: link_names() == links_before, what="the veth to go")
    assert cnm("stop", "stub") == "stub\n"  # stopping a stopped container is fine
    # Its address is handed out again, with no stale copy on the bridge.
    cnm("run", "-d", "--name", "next", "--network", "cnm-net", "sleep", "3600")
    assert ip_on(cnm, "next", "cnm-net") == "172.18.0.2"
    assert len(bridge_ports(cnm, "cnm-net")) == 1


# A process that handles SIGTERM (PID 1 of its namespace ignores a signal it has no
# handler for, as in Docker: `stop` then waits and SIGKILLs it).
COOPERATIVE = ["sh", "-c", "trap 'exit 143' TERM; sleep 100 & wait"]


def test_stop_of_a_cooperative_process_is_143(cnm):
    cnm("run", "-d", "--name", "s", "--network", "none", *COOPERATIVE)
    assert cnm("stop", "s") == "s\n"
    assert inspect(cnm, "s")["State"]["ExitCode"] == 143


def test_pid_1_without_a_handler_ignores_sigterm_and_stop_kills_it(cnm):
    cnm("run", "-d", "--name", "s", "--network", "none", "sleep", "100")
    assert cnm("stop", "-t", "1", "s") == "s\n"
    assert inspect(cnm, "s")["State"]["ExitCode"] == 137


def test_kill_with_a_signal(cnm):
    cnm("run", "-d", "--name", "k", "--network", "none", *COOPERATIVE)
    assert cnm("kill", "-s", "TERM", "k") == "k\n"
    assert wait_exited(cnm, "k")["State"]["ExitCode"] == 143
    cnm("run", "-d", "--name", "k9", "--network", "none", "sleep", "100")
    assert cnm("kill", "k9") == "k9\n"
    assert wait_exited(cnm, "k9")["State"]["ExitCode"] == 137
    line = cnm.fails("kill", "k9")
    assert "is not running" in line


def test_restart(cnm):
    cnm("network", "create", "cnm-net")
    cnm("run", "-d", "--name", "r", "--network", "cnm-net", "sleep", "100")
    old_pid = field(cnm, "r", "{{.State.Pid}}")
    old_started = field(cnm, "r", "{{.State.StartedAt}}")
    assert cnm("restart", "-t", "1", "r") == "r\n"
    doc = inspect(cnm, "r")
    assert doc["State"]["Status"] == "running"
    assert str(doc["State"]["Pid"]) != old_pid and doc["State"]["StartedAt"] != old_started
    assert ip_on(cnm, "r", "cnm-net") == "172.18.0.2"
    assert addresses(cnm("exec", "r", "ip", "-o", "-4", "addr"))["eth0"] == ["172.18.0.2/16"]
    assert len(bridge_ports(cnm, "cnm-net")) == 1
    # Restarting a stopped container starts it.
    cnm("stop", "-t", "1", "r")
    cnm("restart", "r")
    assert status(cnm, "r") == "running"


def test_rm(cnm):
    cnm("network", "create", "cnm-net")
    links_before = link_names()
    r1 = cnm("run", "-d", "--name", "r1", "--network", "cnm-net", "sleep", "100").strip()
    line = cnm.fails("rm", "r1")
    assert line == RUNNING_RM.format(r1)
    assert status(cnm, "r1") == "running"
    key = field(cnm, "r1", "{{.NetworkSettings.SandboxKey}}")
    pid = int(field(cnm, "r1", "{{.State.Pid}}"))
    assert cnm("rm", "-f", "r1") == "r1\n"
    assert cnm.run("inspect", "r1").code == 1
    assert not os.path.exists(key)
    assert not os.path.exists(os.path.join(cnm.run_root, "containers", r1))
    wait_until(lambda: process_gone(pid), what="the process to die")
    wait_until(lambda: link_names() == links_before, what="the veth to go")
    assert json.loads(cnm("network", "inspect", "cnm-net"))[0]["Containers"] == {}
    # Several at once, stopped and created; a missing one is reported and the rest removed.
    cnm("create", "--name", "a", "true")
    cnm("run", "-d", "--name", "b", "--network", "none", "true")
    wait_exited(cnm, "b")
    result = cnm.run("rm", "a", "nosuch", "b")
    assert (result.code, result.out, result.err) == (
        1, "a\nb\n", "Error: No such container: nosuch\n")
    assert cnm("ps", "-aq") == ""


def test_exec(cnm, tmp_path):
    cnm("network", "create", "cnm-net")
    c1 = cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "100").strip()
    assert cnm.run("exec", "c1", "sh", "-c", "exit 42").code == 42
    result = cnm.run("exec", "c1", "nosuchcommand")
    assert result.code == 127
    assert result.err.strip().splitlines() == [
        'Error: exec: "nosuchcommand": executable file not found in $PATH']
    # exec -d returns at once; the command runs inside the container.
    mark = tmp_path / "mark"
    assert cnm("exec", "-d", "c1", "sh", "-c", f"hostname > {mark}") == ""
    wait_until(lambda: mark.exists() and mark.read_text() == c1[:12] + "\n",
               what="exec -d to run")
    result = cnm.run("exec", "-i", "c1", "cat", input="piped\n")
    assert result.out == "piped\n"
    cnm("stop", "-t", "1", "c1")
    line = cnm.fails("exec", "c1", "true")
    assert line == f"Error: Container {c1} is not running"


# run's not-found line names the other reading of its first word (test_images.py).
NO_IMAGE = ("; no image nosuchcommand either: make one with `cnmctl import` (see "
            "tools/mkimage-busybox), or run a tree with --rootfs DIR")


def test_unknown_commands_exit_127(cnm):
    store_before = store_snapshot(cnm.root)
    links_before = link_names()
    result = cnm.run("run", "--network", "none", "nosuchcommand")
    assert result.code == 127
    assert result.err.splitlines() == [
        'Error: exec: "nosuchcommand": executable file not found in $PATH' + NO_IMAGE]
    result = cnm.run("run", "-d", "--name", "nx", "nosuchcommand", "arg")
    assert result.code == 127 and result.out == ""
    assert result.err.splitlines() == [
        'Error: exec: "nosuchcommand": executable file not found in $PATH' + NO_IMAGE]
    result = cnm.run("run", "--network", "none", "/etc/hostname")
    assert result.code == 126 and len(result.err.splitlines()) == 1
    # Nothing is left of them (cnm0 came up with the first use of the default bridge).
    assert {k: v for k, v in store_snapshot(cnm.root).items() if "containers" in k} == \
        {k: v for k, v in store_before.items() if "containers" in k}
    assert cnm("ps", "-aq") == ""
    assert link_names() - links_before <= {"cnm0"}


# -- --rootfs -------------------------------------------------------------------
def test_rootfs_busybox_tree(cnm, tmp_path):
    root = busybox_rootfs(tmp_path / "alpine")
    cnm("network", "create", "cnm-net")
    result = cnm.run("run", "--name", "bb", "--rootfs", root, "--network", "cnm-net",
                     "cat", "/etc/hostname")
    assert result.code == 0, result.err
    bb = field(cnm, "bb", "{{.Id}}")
    assert result.out == bb[:12] + "\n"
    out = cnm("run", "--rm", "--rootfs", root, "--network", "cnm-net", "ip", "addr")
    # bb exited, so its address is the first free one again.
    assert re.search(r"^\d+: eth0@if\d+: .*UP", out, re.M) and "inet 172.18.0.2/16" in out
    assert cnm("run", "--rm", "--rootfs", root, "--hostname", "alp", "--network", "none",
               "hostname") == "alp\n"
    # Detached, with exec into the tree; the host's files are not visible.
    cnm("run", "-d", "--name", "bbd", "--rootfs", root, "--network", "cnm-net", "sleep", "100")
    assert cnm("exec", "bbd", "ls", "/") == "bin\ndev\netc\nproc\nsys\ntmp\n"
    assert cnm("exec", "bbd", "cat", "/etc/hostname") == \
        field(cnm, "bbd", "{{.Config.Hostname}}") + "\n"
    assert pings(cnm, "bbd", "172.18.0.1") == []
    assert field(cnm, "bbd", "{{.Config.Image}}") == root
    # The tree only got empty mount points: the container's files were bind-mounted.
    etc = os.path.join(root, "etc")
    assert sorted(os.listdir(etc)) == ["hostname", "hosts", "resolv.conf"]
    assert all(os.path.getsize(os.path.join(etc, name)) == 0 for name in os.listdir(etc))


# -- ps and inspect ---------------------------------------------------------------
def test_ps_columns_and_options(cnm):
    cnm("network", "create", "cnm-net")
    c1 = cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "3600").strip()
    ex = cnm("run", "-d", "--name", "ex", "--network", "cnm-net", "sh", "-c",
             "exit 2").strip()
    wait_exited(cnm, "ex")
    lines = cnm("ps").splitlines()
    header = lines[0]
    assert re.split(r"\s{2,}", header.strip()) == [
        "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    assert header.startswith("CONTAINER ID   IMAGE ")
    assert len(lines) == 2
    row = lines[1]
    assert row.startswith(c1[:12] + "   host ")
    assert '"sleep 3600"' in row and "Up " in row and row.endswith("c1")
    # Columns line up with the header (Docker's tabwriter, 3 spaces of padding).
    for title, value in (("COMMAND", '"sleep 3600"'), ("NAMES", "c1")):
        assert header.index(title) == row.rindex(value)
    assert cnm("ps", "-q") == c1[:12] + "\n"
    assert cnm("ps", "-aq") == f"{ex[:12]}\n{c1[:12]}\n"  # newest first
    assert cnm("ps", "-aq", "--no-trunc") == f"{ex}\n{c1}\n"
    long_rows = cnm("ps", "-a", "--no-trunc").splitlines()
    assert long_rows[1].startswith(ex + "   host ") and '"sh -c exit 2"' in long_rows[1]
    assert cnm("ps", "-a", "-f", "name=c1", "--format", "{{.Names}}") == "c1\n"
    assert cnm("ps", "-f", "status=exited", "--format", "{{.Names}} {{.Status}}").startswith(
        "ex Exited (2) ")
    assert cnm("ps", "-a", "-f", "exited=2", "-q") == ex[:12] + "\n"
    assert cnm("ps", "-a", "-f", f"id={c1[:5]}", "--format", "{{.ID}}") == c1[:12] + "\n"
    assert cnm("ps", "-a", "-f", "network=cnm-net", "--format", "{{.Names}}") == "ex\nc1\n"
    assert cnm("ps", "-a", "--format", "{{.Names}}") == "ex\nc1\n"
    assert cnm("ps", "--format", "{{.Names}} {{.State}} {{.Networks}}") == \
        "c1 running cnm-net\n"
    table = cnm("ps", "--format", "table {{.Names}}\t{{.Status}}").splitlines()
    assert re.split(r"\s{2,}", table[0].strip()) == ["NAMES", "STATUS"]
    assert table[1].startswith("c1 ")


def test_inspect_by_name_prefix_and_type(cnm):
    net_id = cnm("network", "create", "cnm-net").strip()
    cid = cnm("run", "-d", "--name", "w1", "--network", "cnm-net", "sleep", "3600").strip()
    assert field(cnm, "w1", "{{.Id}}") == cid
    assert field(cnm, cid[:7], "{{.Name}}") == "/w1"
    assert field(cnm, cid, "{{.Name}}") == "/w1"
    assert cnm("inspect", "--type", "container", "-f", "{{.Name}}", "w1") == "/w1\n"
    assert cnm("inspect", "--type", "network", "-f", "{{.Id}}", "cnm-net") == net_id + "\n"
    # Without --type, containers and networks are both found, in order.
    assert cnm("inspect", "-f", "{{.Name}}", "w1", "cnm-net") == "/w1\ncnm-net\n"
    # "w1" cannot be a prefix of a (hex) network ID, so no network can match it.
    result = cnm.run("inspect", "--type", "network", "w1")
    assert result.code == 1 and result.out == "[]\n"
    assert len(result.err.splitlines()) == 1 and "w1" in result.err
    result = cnm.run("inspect", "nosuch")
    assert (result.code, result.out, result.err) == (1, "[]\n", "Error: No such object: nosuch\n")
    assert cnm("inspect", "-f", "{{.State.Pid}}", "w1").strip().isdigit()


# -- network modes ----------------------------------------------------------------
def test_network_host_none_and_container_modes(cnm):
    cnm("network", "create", "cnm-net")
    c1 = cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "3600").strip()
    host_links = link_names()
    out = cnm("run", "--rm", "--network", "host", "ip", "-o", "link")
    assert set(ifnames(out)) == host_links
    assert cnm("run", "--rm", "--network", "host", "hostname") == socket.gethostname() + "\n"

    out = cnm("run", "--name", "nn", "--network", "none", "ip", "-o", "link")
    assert ifnames(out) == ["lo"] and "UP" in out
    doc = inspect(cnm, "nn")
    assert doc["HostConfig"]["NetworkMode"] == "none"

    out = cnm("run", "--rm", "--network", "container:c1", "ip", "-o", "-4", "addr", "show",
              "eth0")
    assert addresses(out) == {"eth0": ["172.18.0.2/16"]}
    cnm("run", "-d", "--name", "joined", "--network", "container:c1", "sleep", "3600")
    assert field(cnm, "joined", "{{.HostConfig.NetworkMode}}") == "container:c1"
    assert pings(cnm, "joined", "172.18.0.1") == []
    # It shares c1's host name and files, as Docker does.
    assert cnm("exec", "joined", "hostname") == c1[:12] + "\n"
    assert field(cnm, "joined", "{{.Config.Hostname}}") == c1[:12]
    assert cnm("exec", "joined", "cat", "/etc/hosts") == cnm("exec", "c1", "cat", "/etc/hosts")
    line = cnm.fails("run", "--network", "container:nosuch", "true", code=125)
    assert "nosuch" in line
    # When c1 stops, the joined container keeps running, unplugged (only lo).
    links_before_c1 = link_names()
    cnm("stop", "-t", "1", "c1")
    assert status(cnm, "joined") == "running"
    assert ifnames(cnm("exec", "joined", "ip", "-o", "link")) == ["lo"]
    wait_until(lambda: bridge_ports(cnm, "cnm-net") == [], what="c1's veth to go")
    assert len(links_before_c1 - link_names()) == 1
    cnm("rm", "-f", "joined")


def test_stop_kills_leftovers_but_not_host_processes_in_the_sandbox(cnm):
    cnm("network", "create", "cnm-net")
    links_before = link_names()
    # A child the command started, and a process `exec` started: both die with c1.
    cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sh", "-c",
        "sleep 3601 & exec sleep 3600")
    cnm("exec", "-d", "c1", "sleep", "3603")
    key = field(cnm, "c1", "{{.NetworkSettings.SandboxKey}}")
    # A host process that only entered the network namespace survives it.
    visitor = subprocess.Popen(["nsenter", f"--net={key}", "sleep", "3602"])
    try:
        def sleepers() -> dict[str, int]:
            return {_cmdline(p)[1]: p for p in _pids_in_netns(key)
                    if _cmdline(p)[:1] == ["sleep"]}

        wait_until(lambda: sorted(sleepers()) == ["3600", "3601", "3602", "3603"],
                   what="the sleeps to start")
        inside = [pid for arg, pid in sleepers().items() if arg != "3602"]
        cnm("stop", "-t", "1", "c1")
        for pid in inside:
            wait_until(lambda pid=pid: process_gone(pid), what=f"{pid} to be killed")
        assert visitor.poll() is None
        # The visitor keeps the namespace, but the interface was unplugged.
        wait_until(lambda: link_names() == links_before, what="the veth to go")
        assert bridge_ports(cnm, "cnm-net") == []
    finally:
        visitor.kill()
        visitor.wait()


def _pids_in_netns(path: str) -> list[int]:
    target = os.stat(path).st_ino
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}/ns/net").st_ino == target:
                    found.append(int(entry))
            except OSError:
                continue
    return found


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode() for a in f.read().split(b"\0") if a]
    except OSError:
        return []


# -- bad input ---------------------------------------------------------------------
@pytest.fixture
def busy(cnm):
    """cnm-net with running c1 (.2), fixnet (10.88.0.0/24) with ipa at .10, a stopped one."""
    cnm("network", "create", "cnm-net")
    cnm("network", "create", "--subnet", "10.88.0.0/24", "fixnet")
    c1 = cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "3600").strip()
    cnm("run", "-d", "--name", "ipa", "--network", "fixnet", "--ip", "10.88.0.10",
        "sleep", "3600")
    stopped = cnm("run", "-d", "--name", "stopped", "--network", "cnm-net", "true").strip()
    wait_exited(cnm, "stopped")
    cnm("run", "-d", "--name", "d1", "sleep", "3600")  # the default bridge is up
    return {"c1": c1, "stopped": stopped}


def _run_root_state(cnm) -> dict[str, list[str]]:
    found = {}
    for sub in ("netns", "containers"):
        path = os.path.join(cnm.run_root, sub)
        found[sub] = sorted(os.listdir(path)) if os.path.isdir(path) else []
    return found


RUN = ["run", "-d"]
BAD_INPUTS = [
    ("missing network", [*RUN, "--network", "missing-net", "sleep", "1"], 125,
     "Error: network missing-net not found"),
    ("name in use", [*RUN, "--name", "c1", "--network", "cnm-net", "sleep", "1"], 125,
     "NAME_CONFLICT"),
    ("create name in use", ["create", "--name", "c1", "sleep", "1"], 1, "NAME_CONFLICT"),
    ("ip outside subnet", [*RUN, "--network", "fixnet", "--ip", "10.99.0.5", "sleep", "1"],
     125, "Error: Invalid address 10.99.0.5: It does not belong to any of this network's "
          "subnets"),
    ("ip in use", [*RUN, "--network", "fixnet", "--ip", "10.88.0.10", "sleep", "1"], 125,
     "Address already in use"),
    ("ip is the gateway", [*RUN, "--network", "fixnet", "--ip", "10.88.0.1", "sleep", "1"],
     125, "Address already in use"),
    ("ip malformed", [*RUN, "--network", "fixnet", "--ip", "10.88.0.300", "sleep", "1"], 125,
     "Error: invalid IPv4 address: 10.88.0.300"),
    ("ip on default bridge", [*RUN, "--network", "bridge", "--ip", "172.17.0.50", "sleep",
                              "1"], 125,
     "Error: user specified IP address is supported on user defined networks only"),
    ("alias on default bridge", [*RUN, "--network-alias", "x", "sleep", "1"], 125,
     "Error: network-scoped aliases are only supported for user-defined networks"),
    ("connect twice", ["network", "connect", "cnm-net", "c1"], 1,
     "Error: endpoint with name c1 already exists in network cnm-net"),
    ("connect ip in use", ["network", "connect", "--ip", "10.88.0.10", "fixnet", "c1"], 1,
     "Address already in use"),
    ("connect host", ["network", "connect", "host", "c1"], 1,
     "Error: container cannot be disconnected from host network or connected to host "
     "network"),
    ("connect missing network", ["network", "connect", "nosuchnet", "c1"], 1,
     "Error: network nosuchnet not found"),
    ("connect missing container", ["network", "connect", "cnm-net", "nosuch"], 1,
     "Error: No such container: nosuch"),
    ("disconnect not connected", ["network", "disconnect", "fixnet", "c1"], 1,
     "Error: container {c1} is not connected to network fixnet"),
    ("disconnect missing network", ["network", "disconnect", "nosuchnet", "c1"], 1,
     "Error: network nosuchnet not found"),
    ("rm running", ["rm", "c1"], 1, RUNNING_RM.format("{c1}")),
    ("exec stopped", ["exec", "stopped", "true"], 1,
     "Error: Container {stopped} is not running"),
    ("run unknown command", [*RUN, "--network", "cnm-net", "nosuchcommand"], 127,
     'exec: "nosuchcommand": executable file not found in $PATH'),
    ("exec unknown command", ["exec", "c1", "nosuchcommand"], 127,
     'Error: exec: "nosuchcommand": executable file not found in $PATH'),
    ("rootfs missing", [*RUN, "--rootfs", "/nonexistent/tree", "--network", "cnm-net",
                        "sleep", "1"], 125, "/nonexistent/tree"),
    ("host with ip", [*RUN, "--network", "host", "--ip", "172.18.0.9", "sleep", "1"], 125,
     "Error: user specified IP address is supported on user defined networks only"),
    ("dns not an ip", [*RUN, "--dns", "notanip", "sleep", "1"], 125,
     "Error: notanip is not an ip address"),
    ("two special modes", [*RUN, "--network", "host", "--network", "none", "sleep", "1"], 125,
     "Error: conflicting options: cannot attach both user-defined and non-user-defined "
     "network-modes"),
    ("special and user modes", [*RUN, "--network", "none", "--network", "cnm-net", "sleep",
                                "1"], 125,
     "Error: conflicting options: cannot attach both user-defined and non-user-defined "
     "network-modes"),
    ("hostname with container mode", [*RUN, "--network", "container:c1", "--hostname", "h",
                                      "sleep", "1"], 125,
     "Error: conflicting options: hostname and the network mode"),
    ("mac with host mode", [*RUN, "--network", "host", "--mac-address", "02:42:ac:12:00:09",
                            "sleep", "1"], 125,
     "Error: conflicting options: mac-address and the network mode"),
    ("bad name", [*RUN, "--name", "bad/name", "sleep", "1"], 125,
     "Invalid container name (bad/name)"),
    ("foreground missing network", ["run", "--network", "missing-net", "true"], 125,
     "Error: network missing-net not found"),
    ("foreground unknown command", ["run", "--network", "cnm-net", "nosuchcommand"], 127,
     'exec: "nosuchcommand": executable file not found in $PATH'),
    ("start missing", ["start", "nosuch"], 1, "Error: No such container: nosuch"),
]


@pytest.mark.parametrize(("args", "code", "message"), [b[1:] for b in BAD_INPUTS],
                         ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_changes_nothing(cnm, busy, args, code, message):
    store_before, links_before = store_snapshot(cnm.root), link_names()
    run_root_before = _run_root_state(cnm)
    line = cnm.fails(*args, code=code)
    if message == "NAME_CONFLICT":
        message = NAME_CONFLICT.format("c1", busy["c1"])
    message = message.format(**busy)
    assert line == message if message.startswith("Error: ") else message in line, line
    assert store_snapshot(cnm.root) == store_before
    assert link_names() == links_before
    assert _run_root_state(cnm) == run_root_before
    # The running containers are untouched.
    assert status(cnm, "c1") == "running" and ip_on(cnm, "c1", "cnm-net") == "172.18.0.2"


def test_failed_start_of_a_created_container_leaves_it_created(cnm):
    cnm("network", "create", "--subnet", "10.88.0.0/24", "fixnet")
    cnm("run", "-d", "--name", "ipa", "--network", "fixnet", "--ip", "10.88.0.10", "sleep", "60")
    cnm("create", "--name", "ipc", "--network", "fixnet", "--ip", "10.88.0.10", "sleep", "60")
    cnm("create", "--name", "nonet", "--network", "missing-net", "sleep", "60")
    store_before, links_before = store_snapshot(cnm.root), link_names()
    run_root_before = _run_root_state(cnm)
    assert cnm.fails("start", "ipc").endswith("Address already in use")
    assert cnm.fails("start", "nonet") == "Error: network missing-net not found"
    assert status(cnm, "ipc") == status(cnm, "nonet") == "created"
    assert store_snapshot(cnm.root) == store_before
    assert link_names() == links_before
    assert _run_root_state(cnm)["netns"] == run_root_before["netns"]


def test_sandbox_records_the_containers_joined_to_it(cnm):
    """The owner's teardown spares joined containers by this record, not by a scan."""
    cnm("network", "create", "cnm-net")
    cnm("run", "-d", "--name", "owner", "--network", "cnm-net", "sleep", "3600")
    j1 = cnm("run", "-d", "--name", "j1", "--network", "container:owner", "sleep", "3600")
    sandbox_id = field(cnm, "owner", "{{.NetworkSettings.SandboxID}}")

    def joined() -> list[str]:
        path = os.path.join(cnm.root, "sandboxes", f"{sandbox_id}.json")
        with open(path, encoding="utf-8") as f:
            return json.load(f)["joined"]

    assert joined() == [j1.strip()]
    cnm("rm", "-f", "j1")
    assert joined() == []
    assert status(cnm, "owner") == "running"


# -- legacy links ---------------------------------------------------------------
def test_link_on_the_default_bridge_writes_hosts_and_env(cnm):
    """As recorded (task4.txt): `--link d2` puts `IP  d2 SHORTID` in /etc/hosts; with
    an alias, `IP  ALIAS SHORTID NAME`; plus Docker's ALIAS_NAME and ALIAS_ENV_*."""
    d2 = cnm("run", "-d", "--name", "d2", "-e", "FOO=bar", "-e", "HOME=/x", "sleep",
             "3600").strip()
    cnm("run", "-d", "--name", "d3", "--link", "d2", "sleep", "3600")
    cnm("run", "-d", "--name", "d4", "--link", "d2:db-1", "sleep", "3600")
    hosts3 = cnm("exec", "d3", "cat", "/etc/hosts")
    assert hosts3.startswith(HOSTS_HEADER)
    assert hosts3[len(HOSTS_HEADER):].splitlines()[0] == f"172.17.0.2\td2 {d2[:12]}"
    assert f"172.17.0.2\tdb-1 {d2[:12]} d2\n" in cnm("exec", "d4", "cat", "/etc/hosts")
    assert cnm("exec", "d3", "getent", "hosts", "d2").split() == ["172.17.0.2", "d2", d2[:12]]
    assert cnm.run("exec", "d3", "ping", "-c1", "-W2", "d2").code == 0
    assert cnm.run("exec", "d2", "getent", "hosts", "d3").code == 2  # links go one way
    env = sorted(cnm("exec", "d4", "env").splitlines())
    assert [line for line in env if line.startswith("DB_1_")] == [
        "DB_1_ENV_FOO=bar", "DB_1_NAME=/d4/db-1"]  # HOME and PATH are not passed on
    out = cnm("run", "--rm", "--name", "once", "--link", "d2:db", "-e", "DB_ENV_FOO=mine",
              "env")
    assert sorted(line for line in out.splitlines() if line.startswith("DB_")) == [
        "DB_ENV_FOO=mine", "DB_NAME=/once/db"]  # the container's own -e wins
    assert field(cnm, "d4", "{{json .HostConfig.Links}}") == '["/d2:/d4/db-1"]'
    assert field(cnm, "d2", "{{json .HostConfig.Links}}") == "null"


def test_link_on_a_user_network_is_a_dns_alias_for_the_linker_only(cnm):
    cnm("network", "create", "cnm-net")
    cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "3600")
    cnm("run", "-d", "--name", "c2", "--network", "cnm-net", "--link", "c1:db", "sleep", "3600")
    cnm("run", "-d", "--name", "c3", "--network", "cnm-net", "sleep", "3600")
    assert cnm("exec", "c2", "getent", "hosts", "db").split() == ["172.18.0.2", "db"]
    assert cnm.run("exec", "c3", "getent", "hosts", "db").code == 2
    assert "172.18.0.2" not in cnm("exec", "c2", "cat", "/etc/hosts")


@pytest.mark.parametrize(("args", "message"), [
    (["--link", "nosuch"], "Error: could not get container for nosuch: No such container: nosuch"),
    (["--link", "made"], "Error: Cannot link to a non running container: /made AS /x/made"),
    (["--network", "host", "--link", "d2"], "Error: conflicting options: host type networking "
     "can't be used with links. This would result in undefined behavior"),
    (["--network", "container:d2", "--link", "d2"], "Error: conflicting options: container "
     "type network can't be used with links. This would result in undefined behavior"),
    (["--link", "u1"], "Error: Cannot link to /u1, as it does not belong to the default network"),
    (["--link", "d2:"], "Error: invalid link format: 'd2:' (NAME or NAME:ALIAS)"),
    (["--link", "d2:a:b"], "Error: invalid link format: 'd2:a:b' (NAME or NAME:ALIAS)"),
    (["--link", "d2:-bad"], "not a valid DNS name"),
])
def test_bad_links_are_refused_and_change_nothing(cnm, args, message):
    cnm("network", "create", "cnm-net")
    cnm("run", "-d", "--name", "d2", "sleep", "3600")
    cnm("run", "-d", "--name", "u1", "--network", "cnm-net", "sleep", "3600")
    cnm("create", "--name", "made", "sleep", "3600")
    store, links = store_snapshot(cnm.root), link_names()
    line = cnm.fails("run", "-d", "--name", "x", *args, "sleep", "1", code=125)
    assert message in line
    assert store_snapshot(cnm.root) == store and link_names() == links


def test_container_iface_prefix_names_the_interfaces_with_their_own_count(cnm):
    cnm("network", "create", "cnm-net")
    cnm("network", "create", "-o", "com.docker.network.container_iface_prefix=lan", "pfx-net")
    cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "3600")
    cnm("network", "connect", "pfx-net", "c1")
    assert ifnames(cnm("exec", "c1", "ip", "-o", "link")) == ["lo", "eth0", "lan0"]


def test_out_of_range_signal_and_bad_name_filter_are_one_line_answers(cnm):
    cnm("run", "-d", "--name", "sig", "--network", "none", "sleep", "3600")
    for value in ("999", "0"):
        assert cnm.fails("kill", "-s", value, "sig") == f"Error: invalid signal: {value}"
    assert status(cnm, "sig") == "running"
    assert cnm("ps", "-a", "-q", "-f", "name=[") == ""  # a bad regex matches nothing
    assert cnm("ps", "-a", "--format", "{{.Names}}", "-f", "name=^si") == "sig\n"
