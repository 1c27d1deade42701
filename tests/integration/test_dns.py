"""The embedded DNS as a user meets it: `cnmctl run`, then real resolver clients inside
the containers (glibc's getent, nslookup, dig, busybox, ping).

The suite's namespace has a stub "outside" resolver at 192.0.2.53 (tests/stub-resolver.sh):
known.example -> 10.9.8.7, NXDOMAIN for every other name. It stands for the host's resolver.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket

import pytest
from conftest import link_names, store_snapshot, wait_until
from dnslib import DNSRecord
from fake_dns import FakeUpstream

from cnmctl.dns import control

STUB = "192.0.2.53"
STUB_KNOWN = "10.9.8.7"


def dig(cnm, ctr: str, *args: str) -> str:
    """dig inside the container, through its resolv.conf (127.0.0.11 on user networks)."""
    return cnm.run("exec", ctr, "dig", "+time=3", "+tries=1", *args).out


def short(cnm, ctr: str, *args: str) -> list[str]:
    return dig(cnm, ctr, "+short", *args).split()


def status(cnm, ctr: str, *args: str) -> str:
    out = dig(cnm, ctr, *args)
    for line in out.splitlines():
        if "status:" in line:
            return line.split("status:")[1].split(",")[0].strip()
    return f"no reply: {out}"


def helper_pid(cnm, network: str) -> int:
    net_id = cnm("network", "inspect", "-f", "{{.Id}}", network).strip()
    with open(control.helper_paths(net_id, cnm.run_root)["pid"], encoding="utf-8") as f:
        return int(f.read())


def alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def lab(cnm):
    """Task 4's set-up: c1, c2 on cnm-net (172.18/16), d1, d2 on the default bridge."""
    cnm("network", "create", "cnm-net")
    for name in ("c1", "c2"):
        cnm("run", "-d", "--name", name, "--network", "cnm-net", "sleep", "3600")
    for name in ("d1", "d2"):
        cnm("run", "-d", "--name", name, "sleep", "3600")
    return cnm


def test_resolv_conf_user_network_and_default_bridge(lab):
    assert lab("exec", "c2", "cat", "/etc/resolv.conf") == (
        "nameserver 127.0.0.11\noptions ndots:0\n")
    assert lab("exec", "d1", "cat", "/etc/resolv.conf") == f"nameserver {STUB}\n"
    lab("run", "-d", "--name", "opts", "--network", "cnm-net", "--dns", STUB,
        "--dns-search", "example.test", "--dns-option", "timeout:1", "sleep", "3600")
    assert lab("exec", "opts", "cat", "/etc/resolv.conf") == (
        "search example.test\nnameserver 127.0.0.11\noptions timeout:1 ndots:0\n")


def test_resolver_clients_find_containers_by_name(lab):
    c1_ip = lab("inspect", "-f", '{{(index .NetworkSettings.Networks "cnm-net").IPAddress}}',
                "c1").strip()
    assert c1_ip == "172.18.0.2"
    assert lab("exec", "c2", "getent", "hosts", "c1").split() == ["172.18.0.2", "c1"]
    out = lab("exec", "c2", "nslookup", "c1")
    assert "Server:\t\t127.0.0.11" in out and "Address: 172.18.0.2" in out
    out = lab("exec", "c2", "busybox", "nslookup", "c1")
    assert "Address: 172.18.0.2" in out
    assert short(lab, "c2", "@127.0.0.11", "c1") == ["172.18.0.2"]
    assert short(lab, "c2", "+tcp", "c1") == ["172.18.0.2"]
    assert short(lab, "c2", "-x", "172.18.0.2") == ["c1.cnm-net."]
    assert short(lab, "c2", "C1.CNM-NET") == ["172.18.0.2"]
    assert short(lab, "c1", "c2") == ["172.18.0.3"]  # and the other way round
    ping = lab.run("exec", "c2", "ping", "-c1", "-W2", "c1")
    assert ping.code == 0 and "1 received" in ping.out, ping.out + ping.err
    full = dig(lab, "c2", "c1")
    # Docker's flags (no AA) and TTL, as recorded
    assert "flags: qr rd ra;" in full and "c1.\t\t\t600\tIN\tA\t172.18.0.2" in full


def test_default_bridge_has_no_names(lab):
    """As recorded: getent fails, nslookup gets the upstream's NXDOMAIN, ping says
    bad address; by IP the default bridge still works."""
    result = lab.run("exec", "d1", "getent", "hosts", "d2")
    assert result.code == 2 and result.out == ""
    out = lab.run("exec", "d1", "nslookup", "d2")
    assert out.code == 1 and f"Server:\t\t{STUB}" in out.out and "NXDOMAIN" in out.out
    assert lab.run("exec", "d1", "busybox", "ping", "-c1", "-W2", "d2").code != 0
    assert lab.run("exec", "d1", "ping", "-c1", "-W2", "172.17.0.3").code == 0
    # and a user-network container cannot resolve default-bridge ones
    assert status(lab, "c2", "d1") == "NXDOMAIN"


def test_names_aliases_ids_and_hostnames(lab):
    dn1 = lab("run", "-d", "--name", "dn1", "--network", "cnm-net", "--network-alias", "web",
              "--network-alias", "api", "--hostname", "myhost", "sleep", "3600").strip()
    for name in ("dn1", "web", "api", "myhost", dn1[:12], "dn1.cnm-net", "web.cnm-net", "DN1"):
        assert short(lab, "c2", name) == ["172.18.0.4"], name
    for name in (dn1[:8], "dn1.other-net"):  # (the full ID is no DNS label: 64 > 63)
        assert status(lab, "c2", name) == "NXDOMAIN", name
    assert short(lab, "c2", "-x", "172.18.0.4") == ["dn1.cnm-net."]
    assert status(lab, "c2", "-x", "172.18.0.200") == "NXDOMAIN"


def test_shared_alias_answers_every_address_rotated(lab):
    lab("run", "-d", "--name", "w1", "--network", "cnm-net", "--network-alias", "web",
        "sleep", "3600")
    lab("run", "-d", "--name", "w2", "--network", "cnm-net", "--network-alias", "web",
        "sleep", "3600")
    orders = {tuple(short(lab, "c1", "web")) for _ in range(6)}
    assert {frozenset(order) for order in orders} == {frozenset({"172.18.0.4", "172.18.0.5"})}
    assert len(orders) == 2  # rotated


def test_alias_clashing_with_a_name_answers_both(lab):
    """An alias equal to another container's name: both addresses, as Docker does."""
    lab("run", "-d", "--name", "imposter", "--network", "cnm-net", "--network-alias", "c1",
        "sleep", "3600")
    assert sorted(short(lab, "c2", "c1")) == ["172.18.0.2", "172.18.0.4"]


def test_ipv6_network_answers_aaaa(cnm):
    cnm("network", "create", "--ipv6", "--subnet", "fd00:db8:1::/64", "v6net")
    cnm("run", "-d", "--name", "v6a", "--network", "v6net", "sleep", "3600")
    cnm("run", "-d", "--name", "v6b", "--network", "v6net", "sleep", "3600")
    six = cnm("inspect", "-f", '{{(index .NetworkSettings.Networks "v6net").GlobalIPv6Address}}',
              "v6a").strip()
    assert short(cnm, "v6b", "AAAA", "v6a") == [six]
    assert short(cnm, "v6b", "-x", six) == ["v6a.v6net."]


def test_names_follow_run_stop_rm_connect_disconnect_at_once(lab):
    """A name resolves when the command returns and stops when it returns: no waiting."""
    lab("run", "-d", "--name", "c3", "--network", "cnm-net", "sleep", "3600")
    assert short(lab, "c1", "c3") == ["172.18.0.4"]
    lab("stop", "-t", "0", "c3")
    assert status(lab, "c1", "c3") == "NXDOMAIN"
    lab("start", "c3")
    assert short(lab, "c1", "c3") == ["172.18.0.4"]
    lab("network", "disconnect", "cnm-net", "c3")
    assert status(lab, "c1", "c3") == "NXDOMAIN"
    lab("network", "connect", "--alias", "late", "cnm-net", "c3")
    assert short(lab, "c1", "late") == ["172.18.0.4"]
    lab("rm", "-f", "c3")
    assert status(lab, "c1", "c3") == "NXDOMAIN"
    assert status(lab, "c1", "late") == "NXDOMAIN"
    # a container whose process ends (its supervisor records the exit): gone once
    # `wait` returns
    # (a SIGTERM handler: PID 1 of its PID namespace ignores signals it has none for)
    lab("run", "-d", "--name", "brief", "--network", "cnm-net", "sh", "-c",
        "trap 'exit 143' TERM; sleep 3600 & wait")
    assert short(lab, "c1", "brief") == ["172.18.0.4"]
    lab("kill", "-s", "TERM", "brief")
    assert lab("wait", "brief").strip() == "143"
    assert status(lab, "c1", "brief") == "NXDOMAIN"
    # a container that queries the moment it starts (run in the foreground)
    out = lab("run", "--rm", "--name", "quick", "--network", "cnm-net", "getent", "hosts",
              "quick")
    assert out.split()[0] == "172.18.0.4"


def test_two_networks_and_isolation(lab):
    lab("network", "create", "other-net")
    lab("run", "-d", "--name", "o1", "--network", "other-net", "sleep", "3600")
    lab("run", "-d", "--name", "c4", "--network", "cnm-net", "sleep", "3600")
    lab("network", "connect", "other-net", "c4")
    assert lab("exec", "c4", "cat", "/etc/resolv.conf").startswith("nameserver 127.0.0.11\n")
    for _ in range(4):  # both helpers serve c4's sandbox; whichever answers knows both
        assert short(lab, "c4", "o1") == ["172.19.0.2"]
        assert short(lab, "c4", "c1") == ["172.18.0.2"]
        assert short(lab, "c4", "c4.other-net") == ["172.19.0.3"]
    assert status(lab, "o1", "c1") == "NXDOMAIN"  # not on cnm-net
    assert status(lab, "c1", "o1") == "NXDOMAIN"
    assert short(lab, "o1", "c4") == ["172.19.0.3"]
    assert short(lab, "c1", "c4") == ["172.18.0.4"]


def test_default_bridge_container_connected_to_a_user_network(lab):
    lab("network", "connect", "cnm-net", "d1")
    assert lab("exec", "d1", "cat", "/etc/resolv.conf") == (
        "nameserver 127.0.0.11\noptions ndots:0\n")
    assert short(lab, "d1", "c1") == ["172.18.0.2"]
    assert short(lab, "c1", "d1") == ["172.18.0.4"]
    lab("network", "disconnect", "cnm-net", "d1")
    assert lab("exec", "d1", "cat", "/etc/resolv.conf") == f"nameserver {STUB}\n"


def test_forwarding_to_host_resolvers_and_container_dns(lab):
    # The host's resolver (the stub), asked from the host's namespace.
    assert short(lab, "c1", "known.example") == [STUB_KNOWN]
    assert status(lab, "c1", "unknown-name.example") == "NXDOMAIN"
    # --dns: that container's unknown names go to its own servers, in order.
    mine = FakeUpstream({"*": "10.20.30.40"}, address="127.0.0.2", port=53)
    try:
        lab("run", "-d", "--name", "own", "--network", "cnm-net", "--dns", "127.0.0.3",
            "--dns", "127.0.0.2", "sleep", "3600")
        assert short(lab, "own", "+time=6", "anything.example") == ["10.20.30.40"]
        assert short(lab, "own", "c1") == ["172.18.0.2"]  # container names still ours
        assert short(lab, "c1", "anything.example") == []  # others still use the host's
        assert "anything.example." in mine.seen
    finally:
        mine.stop()


def test_no_upstream_answering_gives_servfail(lab):
    silent = FakeUpstream({}, address="127.0.0.4", port=53, silent=True)
    try:
        lab("run", "-d", "--name", "lonely", "--network", "cnm-net", "--dns", "127.0.0.4",
            "sleep", "3600")
        assert status(lab, "lonely", "+time=8", "nowhere.example") == "SERVFAIL"
        assert silent.seen == ["nowhere.example."]
    finally:
        silent.stop()


def test_internal_network_resolves_members_but_forwards_nothing(cnm):
    cnm("network", "create", "--internal", "int-net")
    cnm("run", "-d", "--name", "i1", "--network", "int-net", "sleep", "3600")
    cnm("run", "-d", "--name", "i2", "--network", "int-net", "sleep", "3600")
    assert short(cnm, "i1", "i2") == ["172.18.0.3"]
    assert status(cnm, "i1", "known.example") == "SERVFAIL"


def test_helper_lifecycle_and_sigkill_recovery(lab):
    pid = helper_pid(lab, "cnm-net")
    assert alive(pid)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not alive(pid), what="the helper to die")
    # The next command that needs it starts it again, serving every sandbox.
    assert short(lab, "c2", "c1") == ["172.18.0.2"]
    new_pid = helper_pid(lab, "cnm-net")
    assert new_pid != pid and alive(new_pid)
    assert short(lab, "c1", "c2") == ["172.18.0.3"]
    # Killed again: `run` on the network restarts it too, for old and new sandboxes.
    os.kill(new_pid, signal.SIGKILL)
    wait_until(lambda: not alive(new_pid), what="the helper to die")
    lab("run", "-d", "--name", "c3", "--network", "cnm-net", "sleep", "3600")
    paths = control.helper_paths(lab("network", "inspect", "-f", "{{.Id}}", "cnm-net").strip(),
                                 lab.run_root)
    with open(paths["pid"], encoding="utf-8") as f:
        third = int(f.read())
    lab("rm", "-f", "c1", "c2", "c3")
    # Removing the network stops its helper and removes its socket and pid file.
    lab("network", "rm", "cnm-net")
    wait_until(lambda: not alive(third), what="the helper to stop")
    assert not os.path.exists(paths["sock"]) and not os.path.exists(paths["pid"])


def test_default_bridge_only_starts_no_helper(cnm):
    cnm("run", "-d", "--name", "d1", "sleep", "3600")
    assert control.running_helpers(cnm.run_root) == []


def test_rm_leaves_no_namespace_held_by_the_helper(lab):
    """The helper's sockets in a sandbox would keep its namespace (and veth) alive:
    `rm` detaches them first, so the host side of the veth is gone when rm returns."""
    key = lab("inspect", "-f", "{{.NetworkSettings.SandboxKey}}", "c1").strip()
    assert os.path.exists(key)
    before = link_names()
    lab("rm", "-f", "c1")
    wait_until(lambda: len(link_names()) == len(before) - 1, what="c1's veth to go")


@pytest.mark.parametrize("alias", ["-bad", "bad-", "a..b", "a" * 64, "with space", "ok.-x",
                                   "a.", "9" * 300])
def test_alias_must_be_a_dns_name(lab, alias):
    store, links = store_snapshot(lab.root), link_names()
    err = lab.fails("run", "-d", "--network", "cnm-net", "--network-alias", alias,
                    "sleep", "1", code=125)
    assert "network alias" in err
    err = lab.fails("network", "connect", "--alias", alias, "cnm-net", "d1")
    assert "network alias" in err
    assert store_snapshot(lab.root) == store and link_names() == links  # nothing changed


def test_slow_and_greedy_tcp_clients_do_not_block_others(lab):
    """One client stalls half-way through a length prefix, another pipelines thousands
    of queries and never reads its replies: everyone else is still answered."""

    from cnmctl.linux import in_netns

    key = lab("inspect", "-f", "{{.NetworkSettings.SandboxKey}}", "c2").strip()
    query = DNSRecord.question("c1", "A").pack()
    framed = len(query).to_bytes(2, "big") + query
    with in_netns(key):
        stalled = socket.create_connection(("127.0.0.11", 53), timeout=5)
        greedy = socket.create_connection(("127.0.0.11", 53), timeout=5)
    with stalled, greedy:
        stalled.sendall(framed[:1])
        greedy.setblocking(False)
        sent = 0
        with contextlib.suppress(BlockingIOError, ConnectionError):
            for _ in range(3000):  # stops early if the helper stops reading us
                greedy.send(framed)
                sent += 1
        assert sent > 0
        for _ in range(3):
            assert short(lab, "c2", "+tcp", "c1") == ["172.18.0.2"]
            assert short(lab, "c2", "c1") == ["172.18.0.2"]
            assert short(lab, "c1", "+tcp", "c2") == ["172.18.0.3"]


def test_large_answer_truncated_over_udp_then_retried_over_tcp(cnm):
    """14 dual-stack containers behind one alias: 28 records do not fit 512 bytes."""
    cnm("network", "create", "--ipv6", "--subnet", "fd00:db8:2::/64", "big-net")
    for i in range(14):
        cnm("run", "-d", "--name", f"m{i}", "--network", "big-net", "--network-alias", "many",
            "sleep", "3600")
    truncated = dig(cnm, "m0", "+notcp", "+noedns", "+ignore", "ANY", "many")
    assert "flags: qr tc rd ra;" in truncated and "ANSWER: 0," in truncated
    retried = dig(cnm, "m0", "+notcp", "+noedns", "ANY", "many")
    assert "Truncated, retrying in TCP mode" in retried and "ANSWER: 28," in retried
    assert "(TCP)" in retried
    # A client offering a big EDNS0 buffer gets everything over UDP at once.
    fits = dig(cnm, "m0", "+notcp", "+bufsize=4096", "ANY", "many")
    assert "ANSWER: 28," in fits and "(UDP)" in fits and "Truncated" not in fits


def test_network_prune_stops_the_helpers_of_the_networks_it_removes(cnm):
    cnm("network", "create", "pruned")
    cnm("run", "-d", "--name", "p1", "--network", "pruned", "sleep", "3600")
    pid = helper_pid(cnm, "pruned")
    cnm("rm", "-f", "p1")
    assert alive(pid)  # an empty network keeps its helper until the network goes
    assert "pruned" in cnm("network", "prune", "-f").split()
    wait_until(lambda: not alive(pid), what="the helper to stop")
    assert control.running_helpers(cnm.run_root) == []


def test_helper_follows_changes_of_the_host_resolvers(lab):
    """The host's resolvers change (a laptop moving to another network): names are
    forwarded to the new ones from the next change of the network on, as Docker
    reads them at each container start."""
    assert short(lab, "c1", "known.example") == [STUB_KNOWN]
    with open("/etc/resolv.conf", encoding="utf-8") as f:
        saved = f.read()
    moved = FakeUpstream({"*": "10.44.44.44"}, address="127.0.0.5", port=53)
    try:
        with open("/etc/resolv.conf", "w", encoding="utf-8") as f:
            f.write("nameserver 127.0.0.5\n")
        lab("run", "-d", "--name", "late", "--network", "cnm-net", "sleep", "3600")
        assert short(lab, "c1", "known.example") == ["10.44.44.44"]
        assert short(lab, "c1", "late") == ["172.18.0.4"]  # container names: still ours
    finally:
        with open("/etc/resolv.conf", "w", encoding="utf-8") as f:
            f.write(saved)
        moved.stop()
