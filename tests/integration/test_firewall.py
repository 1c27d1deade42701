"""The firewall with real traffic: published ports, masquerade, isolation,
--internal, enable_icc=false; between namespaces the test makes only.

"Outside" is a namespace of the test's own, wired to the suite's namespace (the
host) by a veth: 198.51.100.2 there, 198.51.100.1 on the host, routed both ways.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest
from conftest import wait_until

HOST_IP, OUTSIDE_IP = "198.51.100.1", "198.51.100.2"
HTTP_GET = ("import sys, urllib.request; "
            "print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode().strip())")
UDP_ECHO_SERVER = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                   "s.bind(('0.0.0.0', 53))\n"
                   "while True:\n data, peer = s.recvfrom(100); s.sendto(b'echo ' + data, peer)")
UDP_ASK = ("import socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
           "s.settimeout(1); s.sendto(b'hi', (sys.argv[1], int(sys.argv[2]))); "
           "print(s.recv(100).decode())")
ACCEPT_ONE = ("import socket; s = socket.socket(); "
              "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
              "s.bind(('0.0.0.0', 9000)); s.listen(); s.settimeout(20); "
              "c, peer = s.accept(); print(peer[0])")


class Outside:
    """A namespace standing for another machine, routed to the host."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(["unshare", "--net", "sleep", "infinity"])
        wait_until(lambda: os.readlink(f"/proc/{self.proc.pid}/ns/net")
                   != os.readlink("/proc/self/ns/net"), what="the outside namespace")
        pid = str(self.proc.pid)
        for cmd in (["ip", "link", "add", "vout", "type", "veth", "peer", "name", "vin"],
                    ["ip", "link", "set", "vin", "netns", pid],
                    ["ip", "addr", "add", f"{HOST_IP}/24", "dev", "vout"],
                    ["ip", "link", "set", "vout", "up"]):
            subprocess.run(cmd, check=True)
        for cmd in (["ip", "addr", "add", f"{OUTSIDE_IP}/24", "dev", "vin"],
                    ["ip", "link", "set", "vin", "up"], ["ip", "link", "set", "lo", "up"],
                    ["ip", "route", "add", "default", "via", HOST_IP]):
            self.run(*cmd, check=True)

    def run(self, *cmd: str, check: bool = False, timeout: float = 30):
        return subprocess.run(["nsenter", "-t", str(self.proc.pid), "-n", *cmd],
                              capture_output=True, text=True, check=check, timeout=timeout)

    def close(self) -> None:
        self.proc.kill()  # its namespace, and the veth with it, go with the process
        self.proc.wait()
        subprocess.run(["ip", "link", "del", "vout"], capture_output=True)


@pytest.fixture
def outside():
    out = Outside()
    yield out
    out.close()


def ip_of(cnm, ctr: str, net: str) -> str:
    return cnm("inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{net}").IPAddress}}}}',
               ctr).strip()


def gateway_of(cnm, net: str) -> str:
    return cnm("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
               net).strip()


def reaches(cnm, ctr: str, ip: str) -> bool:
    """One ping from the container to `ip` gets an answer."""
    return cnm.run("exec", ctr, "ping", "-c", "1", "-W", "1", ip).code == 0


def http_get(url: str, *prefix: str) -> str:
    result = subprocess.run([*prefix, "python3", "-c", HTTP_GET, url], capture_output=True,
                            text=True, timeout=30)
    return result.stdout.strip() if result.returncode == 0 else f"failed: {result.stderr[-200:]}"


def serve_http(cnm, tmp_path, name: str, *options: str) -> None:
    """A web server (busybox httpd) in container `name`, answering its name."""
    www = tmp_path / f"www-{name}"
    www.mkdir()
    (www / "index.html").write_text(f"hello from {name}\n")
    cnm("run", "-d", "--name", name, *options, "busybox", "httpd", "-f", "-p", "80",
        "-h", str(www))
    pid = cnm("inspect", "-f", "{{.State.Pid}}", name).strip()
    wait_until(lambda: listening(pid, 80), what="httpd listening")


def listening(pid: str, port: int) -> bool:
    """The namespace of process `pid` has a TCP socket listening on `port` (v4 or v6)."""
    for name in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{name}", encoding="ascii") as f:
            if any(line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A"
                   for line in f.readlines()[1:]):
                return True
    return False


def table() -> list[dict]:
    out = subprocess.run(["nft", "-j", "list", "table", "inet", "cnmctl"], capture_output=True,
                         text=True)
    if out.returncode != 0:
        return []
    rules = [o["rule"] for o in json.loads(out.stdout)["nftables"] if "rule" in o]
    return [{"rule": {k: v for k, v in r.items() if k != "handle"}} for r in rules]


def comments() -> list[str]:
    return [o["rule"].get("comment", "") for o in table()]


def test_published_ports_reach_from_outside_loopback_and_other_containers(cnm, outside,
                                                                          tmp_path):
    cnm("network", "create", "cnm-net")
    serve_http(cnm, tmp_path, "web", "-p", "8080:80")
    cnm("run", "-d", "--name", "echo", "-p", "5353:53/udp", "python3", "-c", UDP_ECHO_SERVER)
    url = f"http://{HOST_IP}:8080/"
    # another machine, TCP and UDP
    assert outside.run("python3", "-c", HTTP_GET, url).stdout.strip() == "hello from web"
    wait_until(lambda: outside.run("python3", "-c", UDP_ASK, HOST_IP, "5353").stdout.strip()
               == "echo hi", what="the UDP echo through the published port")
    # the host itself, on its own address and on 127.0.0.1
    assert http_get(url) == "hello from web"
    assert http_get("http://127.0.0.1:8080/") == "hello from web"
    # a container on the same bridge (hairpin) and one on another network
    for net in ("bridge", "cnm-net"):
        got = cnm.run("run", "--rm", "--network", net, "python3", "-c", HTTP_GET, url)
        assert got.out.strip() == "hello from web", (net, got.err)
    assert cnm("port", "web") == "80/tcp -> 0.0.0.0:8080\n"
    # rm takes the rule away: nothing answers any more
    cnm("rm", "-f", "web")
    assert not [c for c in comments() if c.startswith("container web")]
    assert http_get(url).startswith("failed")


def test_a_port_bound_to_one_address_and_ephemeral_ports(cnm, outside, tmp_path):
    serve_http(cnm, tmp_path, "local", "-p", "127.0.0.1:8081:80")
    assert http_get("http://127.0.0.1:8081/") == "hello from local"
    assert outside.run("python3", "-c", HTTP_GET, f"http://{HOST_IP}:8081/").returncode != 0
    serve_http(cnm, tmp_path, "any", "-p", "80")
    [binding] = json.loads(cnm("inspect", "-f", "{{json .NetworkSettings.Ports}}",
                               "any"))["80/tcp"]
    assert binding == {"HostIp": "0.0.0.0", "HostPort": "49153"}
    assert http_get(f"http://{HOST_IP}:49153/") == "hello from any"
    assert "0.0.0.0:49153->80/tcp" in cnm("ps", "--format", "{{.Names}} {{.Ports}}")


def test_outbound_connections_leave_with_the_hosts_address(cnm, outside):
    cnm("network", "create", "cnm-net")
    cnm("network", "create", "-o", "com.docker.network.bridge.enable_ip_masquerade=false",
        "nonat")
    outside.run("ip", "route", "add", "172.16.0.0/12", "via", HOST_IP, check=True)
    for net, expected in (("cnm-net", HOST_IP), ("bridge", HOST_IP), ("nonat", None)):
        listener = subprocess.Popen(["nsenter", "-t", str(outside.proc.pid), "-n", "python3",
                                     "-c", ACCEPT_ONE], stdout=subprocess.PIPE, text=True)
        wait_until(lambda: outside.run("ss", "-Htln", "sport", "= :9000").stdout.strip(),
                   what="the outside listener")
        cnm("run", "--rm", "--name", "client", "--network", net, "python3", "-c",
            f"import socket; socket.create_connection(('{OUTSIDE_IP}', 9000), timeout=5)")
        peer = listener.communicate(timeout=30)[0].strip()
        if expected:
            assert peer == expected, net
        else:  # no masquerade: the container's own address
            assert peer.startswith("172.") and peer != HOST_IP, peer


def test_networks_are_isolated_with_forwarding_on(cnm):
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write("1\n")
    cnm("network", "create", "n1")
    cnm("network", "create", "n2")
    for name, net in (("a", "n1"), ("b", "n2"), ("d", "bridge")):
        cnm("run", "-d", "--name", name, "--network", net, "sleep", "600")
    b_ip, a_ip = ip_of(cnm, "b", "n2"), ip_of(cnm, "a", "n1")
    assert not reaches(cnm, "a", b_ip)
    assert not reaches(cnm, "b", a_ip)
    assert not reaches(cnm, "d", a_ip)
    assert not reaches(cnm, "a", ip_of(cnm, "d", "bridge"))
    cnm("network", "connect", "n2", "a")
    assert reaches(cnm, "a", b_ip)
    assert reaches(cnm, "a", a_ip)
    assert not reaches(cnm, "d", b_ip)
    with open("/proc/sys/net/ipv4/ip_forward", encoding="ascii") as f:
        assert f.read().strip() == "1"


def test_internal_reaches_gateway_and_host_but_nothing_beyond(cnm, outside):
    cnm("network", "create", "--internal", "int-net")
    cnm("run", "-d", "--name", "i1", "--network", "int-net", "sleep", "600")
    gateway = gateway_of(cnm, "int-net")
    routes = cnm("exec", "i1", "ip", "-j", "route")
    assert {"dst": "default", "gateway": gateway} in [
        {k: r.get(k) for k in ("dst", "gateway")} for r in json.loads(routes)]
    assert reaches(cnm, "i1", gateway)
    assert reaches(cnm, "i1", HOST_IP)
    assert not reaches(cnm, "i1", OUTSIDE_IP)
    assert "network int-net (internal): nothing leaves" in comments()
    assert not [c for c in comments() if "int-net" in c and "outgoing" in c]  # no masquerade


def test_icc_false_blocks_containers_but_not_the_gateway_or_outside(cnm, outside):
    cnm("network", "create", "-o", "com.docker.network.bridge.enable_icc=false", "noicc")
    cnm("network", "create", "icc")
    for name, net in (("x1", "noicc"), ("x2", "noicc"), ("y1", "icc"), ("y2", "icc")):
        cnm("run", "-d", "--name", name, "--network", net, "sleep", "600")
    assert not reaches(cnm, "x1", ip_of(cnm, "x2", "noicc"))
    assert reaches(cnm, "x1", gateway_of(cnm, "noicc"))
    assert reaches(cnm, "x1", OUTSIDE_IP)
    assert reaches(cnm, "y1", ip_of(cnm, "y2", "icc"))  # the default: they talk


def test_ports_taken_are_refused_before_anything_changes(cnm, tmp_path):
    cnm("run", "-d", "--name", "first", "-p", "8080:80", "sleep", "600")
    before = cnm("ps", "-a", "-q")
    line = cnm.fails("run", "-d", "--name", "second", "-p", "8080:80", "sleep", "600",
                     code=125)
    assert line.startswith("Error: driver failed programming external connectivity on "
                           "endpoint second (")
    assert line.endswith("Bind for 0.0.0.0:8080 failed: port is already allocated")
    holder = subprocess.Popen(["python3", "-c", "import socket, time; s = socket.socket(); "
                               "s.bind(('0.0.0.0', 9999)); s.listen(); time.sleep(60)"])
    try:
        wait_until(lambda: subprocess.run(["ss", "-Htln", "sport", "= :9999"],
                                          capture_output=True, text=True).stdout.strip(),
                   what="the other program's socket")
        line = cnm.fails("run", "-d", "--name", "third", "-p", "9999:80", "sleep", "600",
                         code=125)
        assert line.endswith("Error starting userland proxy: listen tcp4 0.0.0.0:9999: bind: "
                             "address already in use")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert cnm("ps", "-a", "-q") == before
    assert [c for c in comments() if c.startswith("container ")] == [
        "container first: 0.0.0.0:8080->80/tcp"]
    # a created container that cannot start stays as it was
    cnm("create", "--name", "later", "-p", "8080:80", "sleep", "600")
    cnm.fails("start", "later")
    assert cnm("inspect", "-f", "{{.State.Status}}", "later") == "created\n"


def test_foreign_tables_are_untouched_and_nothing_is_left_behind(cnm, tmp_path):
    foreign = """table ip filter {
    chain FORWARD {
        type filter hook forward priority 10; policy accept;
        counter
    }
}
table inet other {
    set blocked {
        type ipv4_addr
        elements = { 192.0.2.9 }
    }
    chain input {
        type filter hook input priority 5; policy accept;
        ip saddr @blocked drop
    }
}
"""
    subprocess.run(["nft", "-f", "-"], input=foreign, text=True, check=True)

    def foreign_tables():
        out = subprocess.run(["nft", "-j", "list", "ruleset"], capture_output=True, text=True,
                             check=True).stdout
        return [o for o in json.loads(out)["nftables"]
                if next(iter(o.values())).get("table", next(iter(o.values())).get("name"))
                in ("filter", "other") and "metainfo" not in o]
    try:
        before = foreign_tables()
        cnm("network", "create", "cnm-net")
        with_network = table()
        serve_http(cnm, tmp_path, "web", "--network", "cnm-net", "-p", "8080:80")
        cnm("run", "-d", "--name", "plain", "-p", "53/udp", "sleep", "600")
        assert len(table()) > len(with_network)
        cnm("rm", "-f", "web", "plain")
        cnm("network", "rm", "cnm-net")
        # only the default bridge's rules (and the jumps to `published`) are left
        assert comments() and all(c.startswith(("network bridge:", "published ports:"))
                                  for c in comments())
        assert foreign_tables() == before
    finally:
        subprocess.run(["nft", "delete", "table", "ip", "filter"], check=False)
        subprocess.run(["nft", "delete", "table", "inet", "other"], check=False)


def test_system_check_finds_a_missing_or_changed_table_and_fix_writes_it(cnm):
    cnm("run", "-d", "--name", "web", "-p", "8080:80", "sleep", "600")
    good = table()
    assert "container web: 0.0.0.0:8080->80/tcp" in cnm("system", "firewall")
    subprocess.run(["nft", "delete", "table", "inet", "cnmctl"], check=True)
    result = cnm.run("system", "check")
    assert result.code == 1
    assert result.out == ("firewall table inet cnmctl: missing; --fix will write it as the "
                          "store implies\n")
    assert cnm.fails("system", "firewall").startswith("Error: cnmctl's firewall table")
    cnm("system", "check", "--fix")
    assert table() == good
    subprocess.run(["nft", "add", "rule", "inet", "cnmctl", "forward", "accept"], check=True)
    assert "differs from the one the store implies" in cnm.run("system", "check").out
    assert "Warning: this table differs" in cnm.run("system", "firewall").err
    cnm("system", "check", "--fix")
    assert table() == good
    assert cnm.run("system", "check").code == 0


def test_a_reboot_loses_the_table_and_the_first_command_writes_it(cnm):
    from cnmctl.engine.base import BOOT_MARKER

    cnm("network", "create", "cnm-net")
    good = table()
    subprocess.run(["nft", "delete", "table", "inet", "cnmctl"], check=True)
    os.unlink(os.path.join(cnm.run_root, BOOT_MARKER))
    cnm("network", "create", "other")
    assert [o for o in table() if "network other:" not in o["rule"]["comment"]] == good


def test_without_libnftables_networks_and_ports_are_refused_with_one_line(cnm):
    cnm("network", "ls")  # the store exists
    # libnftables as on a host without the nftables package: an empty file where the
    # library is, in a mount namespace of the command's own
    ldconfig = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    library = os.path.realpath(next(line.split("=> ")[1] for line in ldconfig.splitlines()
                                    if "libnftables.so.1 " in line))
    before = cnm("network", "ls", "-q"), cnm("ps", "-a", "-q")
    for args in (["network", "create", "n1"],
                 ["run", "-d", "--name", "w", "-p", "8080:80", "sleep", "60"]):
        argv = ["unshare", "--mount", "sh", "-c",
                'mount --bind /dev/null "$0" && exec "$@"', library, *cnm_argv(), *args]
        result = subprocess.run(argv, env=cnm.env, capture_output=True, text=True)
        assert result.returncode != 0
        assert result.stderr.strip().splitlines() == [
            "Error: libnftables not found: cnmctl's firewall needs it (install the Debian "
            "package nftables)"], result.stderr
    assert (cnm("network", "ls", "-q"), cnm("ps", "-a", "-q")) == before


def cnm_argv() -> list[str]:
    from conftest import CNMCTL

    return CNMCTL


def test_a_forward_policy_drop_elsewhere_is_named_at_network_create_and_check(cnm):
    subprocess.run(["nft", "-f", "-"], check=True, text=True, input=(
        "table ip filter {\n chain FORWARD {\n  type filter hook forward priority 0; "
        "policy drop;\n }\n}\n"))
    try:
        result = cnm.run("network", "create", "cnm-net")
        assert result.code == 0
        [line] = result.err.splitlines()
        assert line.startswith("Warning: table ip filter, chain FORWARD: policy drop")
        assert "Coexisting with other firewalls" in line
        check = cnm.run("system", "check")
        assert check.code == 0 and check.out == ""
        assert check.err.splitlines() == [line]
    finally:
        subprocess.run(["nft", "delete", "table", "ip", "filter"], check=True)
    assert cnm.run("network", "create", "other").err == ""


def test_a_networks_host_binding_address_and_ipv6_forwarding(cnm, tmp_path):
    cnm("network", "create", "--ipv6", "-o",
        "com.docker.network.bridge.host_binding_ipv4=127.0.0.1", "local-net")
    serve_http(cnm, tmp_path, "web", "--network", "local-net", "-p", "8082:80")
    assert cnm("port", "web", "80") == "127.0.0.1:8082\n"
    assert http_get("http://127.0.0.1:8082/") == "hello from web"
    with open("/proc/sys/net/ipv6/conf/all/forwarding", encoding="ascii") as f:
        assert f.read().strip() == "1"
