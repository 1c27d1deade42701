"""The embedded DNS helper (cnmctl.dns.server), driven through cnmctl.dns.control.

No cnmctl CLI: each test writes a tiny store itself, makes two sandbox namespaces,
and runs a fake upstream DNS server on 127.0.0.1 in the test's own namespace.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import struct
import subprocess

import pytest
from conftest import wait_until
from dnslib import EDNS0, DNSRecord
from fake_dns import FakeUpstream

from cnmctl.dns import control
from cnmctl.errors import KernelError
from cnmctl.linux import create_netns, delete_netns, in_netns
from cnmctl.model import Endpoint, Network, Sandbox, new_id
from cnmctl.store.jsonstore import JsonStore

KNOWN_ADDRESS = "10.9.8.7"


class World:
    """A store with one network, two sandboxes (c1, c2) and a running helper."""

    def __init__(self, tmp_path) -> None:
        self.root = str(tmp_path / "lib")
        self.run_root = str(tmp_path / "run")
        self.store = JsonStore(self.root)
        self.net = Network(id=new_id(), name="cnm-net", driver="bridge", created="x")
        self.keys: list[str] = []
        self.cids: dict[str, str] = {}
        with self.store.lock():
            self.store.initialise()
            self.store.put("networks", self.net.id, self.net.to_doc())
        self.add("c1", "172.18.0.2/16", ["web"], str(tmp_path / "netns" / "sb1"), make_ns=True)
        self.add("c2", "172.18.0.3/16", [], str(tmp_path / "netns" / "sb2"), make_ns=True)
        self.upstream = FakeUpstream({"known.example.": KNOWN_ADDRESS})
        self.upstreams = [f"127.0.0.1:{self.upstream.port}"]

    def add(self, name: str, cidr: str, aliases: list[str], key: str, make_ns: bool) -> None:
        cid = new_id()
        self.cids[name] = cid
        ep = Endpoint(id=new_id(), network_id=self.net.id, container_id=cid, name=name,
                      ipv4=cidr, aliases=[*aliases, cid[:12]], ifname="eth0")
        sb = Sandbox(id=new_id(), key=key, container_id=cid, endpoint_ids=[ep.id])
        if make_ns:
            create_netns(key)
            self.keys.append(key)
            subprocess.run(["nsenter", f"--net={key}", "ip", "link", "set", "lo", "up"],
                           check=True)
        with self.store.lock():
            self.store.put("endpoints", ep.id, ep.to_doc())
            self.store.put("sandboxes", sb.id, sb.to_doc())

    def start(self) -> None:
        control.ensure_helper(self.net.id, self.root, self.run_root, upstreams=self.upstreams)

    def request(self, line: str) -> str:
        return control.request(self.net.id, self.run_root, line)

    def attach_all(self) -> None:
        for key in self.keys:
            assert self.request(f"attach {key}") == "ok"

    @property
    def paths(self) -> dict[str, str]:
        return control.helper_paths(self.net.id, self.run_root)

    def pid(self) -> int:
        with open(self.paths["pid"], encoding="utf-8") as f:
            return int(f.read())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            control.stop_helper(self.net.id, self.run_root)
        self.upstream.stop()
        for key in self.keys:
            delete_netns(key)


def dig(key: str, *args: str) -> str:
    out = subprocess.run(["nsenter", f"--net={key}", "dig", "@127.0.0.11", "+time=2",
                          "+tries=2", *args], capture_output=True, text=True, timeout=30)
    return out.stdout


def short(key: str, *args: str) -> list[str]:
    return dig(key, "+short", *args).split()


def gone(pid: int) -> bool:
    """True once pid no longer runs (reaped, or a zombie we reap now)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def listening(key: str) -> str:
    """`ss` lines for port 53 sockets in the namespace at key."""
    out = subprocess.run(["nsenter", f"--net={key}", "ss", "-Hlnut", "sport", "=", ":53"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.fixture
def world(tmp_path):
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)  # the upstream's 127.0.0.1
    w = World(tmp_path)
    try:
        w.start()
        w.attach_all()
        yield w
    finally:
        w.close()


def test_names_addresses_and_aliases(world):
    sb1, sb2 = world.keys
    assert short(sb1, "c2") == ["172.18.0.3"]
    assert short(sb2, "c1") == ["172.18.0.2"]
    assert short(sb1, "+tcp", "c2") == ["172.18.0.3"]
    assert short(sb1, "c2.cnm-net") == ["172.18.0.3"]
    assert short(sb2, "WEB") == ["172.18.0.2"]
    assert short(sb2, "+tcp", "wEb.CNM-net") == ["172.18.0.2"]
    assert short(sb2, world.cids["c1"][:12]) == ["172.18.0.2"]
    assert short(sb1, "-x", "172.18.0.3") == ["c2.cnm-net."]
    assert short(sb2, "-x", "172.18.0.2") == ["c1.cnm-net."]
    assert short(sb2, "+tcp", "-x", "172.18.0.2") == ["c1.cnm-net."]
    assert short(sb1, "c2", "AAAA") == []
    assert "status: NOERROR" in dig(sb1, "c2", "AAAA")


def test_unknown_names_are_forwarded(world):
    sb1, sb2 = world.keys
    assert short(sb1, "known.example") == [KNOWN_ADDRESS]
    assert short(sb2, "+tcp", "KNOWN.example") == [KNOWN_ADDRESS]
    assert "status: NXDOMAIN" in dig(sb1, "nothing.example")
    assert "status: NXDOMAIN" in dig(sb1, "+tcp", "nothing.example")
    assert world.upstream.queries >= 4


def test_no_upstream_answering_gives_servfail(tmp_path):
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    w = World(tmp_path)
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
    dead.bind(("127.0.0.1", 0))
    w.upstreams = [f"127.0.0.1:{dead.getsockname()[1]}"]
    try:
        w.start()
        w.attach_all()
        out = dig(w.keys[0], "+time=8", "+tries=1", "nothing.example")
        assert "status: SERVFAIL" in out
        assert "nothing.example." in out.split("QUESTION SECTION:")[1]
        assert short(w.keys[0], "c2") == ["172.18.0.3"]
    finally:
        dead.close()
        w.close()


def test_silent_upstream_fails_over_to_the_next(tmp_path):
    # Queries in flight together time out together, in order, and each goes on to the
    # next upstream; the replies reach the client with its own IDs.
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    w = World(tmp_path)
    silent = FakeUpstream({}, silent=True)
    w.upstreams = [f"127.0.0.1:{silent.port}", f"127.0.0.1:{w.upstream.port}"]
    try:
        w.start()
        w.attach_all()
        with in_netns(w.keys[0]):
            client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with client:
            client.settimeout(8)
            client.connect(("127.0.0.11", 53))
            asked = {}
            for name in ("one.example", "known.example", "two.example"):
                q = DNSRecord.question(name)
                asked[q.header.id] = name
                client.send(q.pack())
            replies = [DNSRecord.parse(client.recv(512)) for _ in asked]
        assert {r.header.id: str(r.q.qname).rstrip(".") for r in replies} == asked
        for r in replies:
            want = [KNOWN_ADDRESS] if str(r.q.qname) == "known.example." else []
            assert [str(rr.rdata) for rr in r.rr] == want
        names = sorted(f"{name}." for name in asked.values())
        assert sorted(silent.seen) == names and sorted(w.upstream.seen) == names
    finally:
        silent.stop()
        w.close()


def test_reload_and_detach(world, tmp_path):
    sb1, sb2 = world.keys
    assert "status: NXDOMAIN" in dig(sb1, "c3")
    world.add("c3", "172.18.0.4/16", ["db"], str(tmp_path / "netns" / "sb3"), make_ns=False)
    assert world.request("reload") == "ok"
    assert short(sb1, "c3") == ["172.18.0.4"]
    assert short(sb2, "db") == ["172.18.0.4"]
    assert short(sb1, "-x", "172.18.0.4") == ["c3.cnm-net."]

    assert "127.0.0.11:53" in listening(sb2)
    assert world.request(f"detach {sb2}") == "ok"
    wait_until(lambda: listening(sb2) == "", timeout=10.0, what="sb2's port 53 sockets to close")
    assert "127.0.0.11:53" in listening(sb1)
    assert short(sb1, "c2") == ["172.18.0.3"]
    # Attach again: served again.
    assert world.request(f"attach {sb2}") == "ok"
    assert short(sb2, "c1") == ["172.18.0.2"]


def test_namespace_deleted_without_detach_is_dropped_at_reload(world):
    """As if cnmctl were killed between forgetting a sandbox and telling the helper:
    the helper's sockets would keep the namespace (and its veths) alive forever."""
    sb1, sb2 = world.keys
    held = os.open(sb2, os.O_RDONLY)  # our own handle, to look inside afterwards
    try:
        delete_netns(sb2)
        inside = f"/proc/{os.getpid()}/fd/{held}"
        assert "127.0.0.11:53" in listening(inside)
        assert world.request("reload") == "ok"
        assert listening(inside) == ""  # the helper closed its sockets in there
    finally:
        os.close(held)
    with open(world.paths["log"], encoding="utf-8") as f:
        assert f"detached {sb2} (its namespace is gone)" in f.read()
    assert short(sb1, "c2") == ["172.18.0.3"]  # the others are still served


def test_control_errors(world, tmp_path):
    with pytest.raises(KernelError, match="attach"):
        world.request(f"attach {tmp_path}/no-such-namespace")
    with pytest.raises(KernelError, match="unknown request"):
        world.request("frobnicate")
    with pytest.raises(KernelError):
        control.request(new_id(), world.run_root, "ping")  # no helper for that network
    assert world.request("ping") == "ok"
    assert world.request(f"attach {world.keys[0]}") == "ok"  # twice: still fine
    assert short(world.keys[0], "c2") == ["172.18.0.3"]


def test_killed_helper_is_started_again(world):
    sb1, _sb2 = world.keys
    old = world.pid()
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: gone(old), timeout=10.0, what="the killed helper to die")
    with pytest.raises(KernelError):
        world.request("ping")
    world.start()
    assert world.pid() != old
    world.attach_all()
    assert short(sb1, "c2") == ["172.18.0.3"]
    assert short(sb1, "known.example") == [KNOWN_ADDRESS]
    world.start()  # alive: nothing to do
    assert world.request("ping") == "ok"


def test_sigterm_and_stop_clean_up(world):
    pid = world.pid()
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: gone(pid), timeout=10.0, what="the helper to exit on SIGTERM")
    assert not os.path.exists(world.paths["sock"])
    assert not os.path.exists(world.paths["pid"])
    for key in world.keys:
        assert listening(key) == ""
    world.start()
    world.attach_all()
    pid = world.pid()
    control.stop_helper(world.net.id, world.run_root)
    assert gone(pid)
    assert not os.path.exists(world.paths["sock"])
    assert not os.path.exists(world.paths["pid"])
    control.stop_helper(world.net.id, world.run_root)  # stopping twice is fine


def _queries() -> list[bytes]:
    names = ["c1", "c2", "web", "known.example", "nothing.example", "c2.cnm-net"]
    base = []
    for name in names:
        for qtype in ("A", "AAAA", "PTR", "MX", "ANY"):
            base.append(DNSRecord.question(name, qtype).pack())
    base.append(DNSRecord.question("3.0.18.172.in-addr.arpa", "PTR").pack())
    rec = DNSRecord.question("c1", "A")
    rec.add_ar(EDNS0(udp_len=4096))
    base.append(rec.pack())
    return base


def _mutate(rng: random.Random, packet: bytes) -> bytes:
    data = bytearray(packet)
    choice = rng.randrange(9)
    if choice == 6:  # a compression loop: the question's name points at itself
        return bytes(data[:12]) + b"\xc0\x0c" + b"\x00\x01\x00\x01"
    if choice == 7:  # bad labels: too long, running past the end, odd bytes
        label = rng.choice([bytes([64]) + b"a" * 64, bytes([200]) + b"ab",
                            b"\x03\xff\x00.\x00", b"\x05ab"])
        return bytes(data[:12]) + label + b"\x00\x00\x01\x00\x01"
    if choice == 8:  # a pointer into the header, or past the end
        return bytes(data[:12]) + rng.choice([b"\xc0\x02", b"\xff\xff"]) + b"\x00\x01\x00\x01"
    if choice == 0:
        return rng.randbytes(rng.randrange(0, 600))
    if choice == 1:
        return bytes(data[:rng.randrange(0, len(data) + 1)])
    if choice == 2:
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if choice == 3:
        data[2] |= 0x80  # a "response": must never be answered or forwarded
        return bytes(data)
    if choice == 4:  # counts set high
        data[4:12] = rng.randbytes(8)
        return bytes(data)
    return bytes(data) + rng.randbytes(rng.randrange(1, 64))


def test_fuzz_keeps_helper_alive(world):
    sb1, sb2 = world.keys
    pid = world.pid()
    rng = random.Random(1234)
    base = _queries()
    with in_netns(sb1):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setblocking(False)
    with udp:
        for i in range(100_000):
            packet = _mutate(rng, base[i % len(base)])
            with contextlib.suppress(OSError):
                udp.sendto(packet, ("127.0.0.11", 53))
            if i % 256 == 0:  # drain replies so our buffer does not just fill
                with contextlib.suppress(OSError):
                    while True:
                        udp.recv(65535)

    # TCP: garbage streams, split messages, huge or tiny lengths, abrupt closes, and
    # some connections left open and silent while others are served.
    idle = []
    sent = 0
    for conn_no in range(300):
        with in_netns(sb1 if conn_no % 2 else sb2):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(5)
        sock.connect(("127.0.0.11", 53))
        sock.setblocking(False)
        for _ in range(10):
            kind = rng.randrange(4)
            packet = _mutate(rng, rng.choice(base))
            if kind == 0:
                data = struct.pack("!H", len(packet)) + packet
            elif kind == 1:
                data = rng.randbytes(rng.randrange(1, 300))
            elif kind == 2:
                data = struct.pack("!H", rng.randrange(65536)) + packet
            else:
                data = struct.pack("!H", len(packet)) + packet[: len(packet) // 2]
            sent += 1
            try:
                sock.send(data)
            except OSError:
                break
        with contextlib.suppress(OSError):
            while sock.recv(65535):
                pass
        if conn_no % 30 == 0:
            idle.append(sock)
        else:
            sock.close()
    assert sent >= 2000

    # TCP, well framed: 100,000 mutated messages, up to 200 to a connection, so every
    # one reaches the parser (each connection stays under the helper's per-connection cap).
    framed = conn_no = answered = 0
    while framed < 100_000:
        conn_no += 1
        with in_netns(sb1 if conn_no % 2 else sb2):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(5)
        sock.connect(("127.0.0.11", 53))
        stream = bytearray()
        for _ in range(200):
            packet = _mutate(rng, rng.choice(base))[:300]
            if len(packet) >= 12:  # shorter is no DNS message: it ends the connection
                stream += struct.pack("!H", len(packet)) + packet
                framed += 1
        with contextlib.suppress(OSError):
            sock.sendall(stream)
            sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65535):  # replies, until the helper closes its side
                answered += len(chunk)
        sock.close()
    assert answered > 100_000  # the mutated messages that were still queries got answers

    assert world.request("ping") == "ok"
    assert world.pid() == pid
    assert short(sb1, "c2") == ["172.18.0.3"]
    assert short(sb2, "+tcp", "c1") == ["172.18.0.2"]
    assert short(sb1, "known.example") == [KNOWN_ADDRESS]
    for sock in idle:
        sock.close()
    assert not gone(pid)


def test_two_helpers_share_a_sandbox(world, tmp_path):
    """c1's sandbox also joins other-net: both helpers bind 127.0.0.11:53 there and
    whichever gets a query answers for both networks."""
    sb1, sb2 = world.keys
    other = Network(id=new_id(), name="other-net", driver="bridge", created="x")
    c1_second = Endpoint(id=new_id(), network_id=other.id, container_id=world.cids["c1"],
                         name="c1", ipv4="172.19.0.2/16", ifname="eth1")
    c4 = Endpoint(id=new_id(), network_id=other.id, container_id=new_id(), name="c4",
                  ipv4="172.19.0.4/16")
    with world.store.lock():
        world.store.put("networks", other.id, other.to_doc())
        for ep in (c1_second, c4):
            world.store.put("endpoints", ep.id, ep.to_doc())
        for doc in world.store.list("sandboxes"):
            if doc["key"] == sb1:
                doc["endpoint_ids"].append(c1_second.id)
                world.store.put("sandboxes", doc["id"], doc)
        c4_sandbox = Sandbox(id=new_id(), key=str(tmp_path / "netns" / "sb4"),
                             container_id=c4.container_id, endpoint_ids=[c4.id])
        world.store.put("sandboxes", c4_sandbox.id, c4_sandbox.to_doc())
    assert world.request("reload") == "ok"
    try:
        control.ensure_helper(other.id, world.root, world.run_root, upstreams=world.upstreams)
        assert control.request(other.id, world.run_root, f"attach {sb1}") == "ok"
        assert listening(sb1).count("127.0.0.11:53") == 4  # UDP and TCP, twice
        for _ in range(8):  # new source ports each time: both sockets get some
            assert short(sb1, "c4") == ["172.19.0.4"]
            assert short(sb1, "c2") == ["172.18.0.3"]
            assert short(sb1, "+tcp", "c4.other-net") == ["172.19.0.4"]
            assert short(sb1, "known.example") == [KNOWN_ADDRESS]
        assert short(sb1, "-x", "172.19.0.4") == ["c4.other-net."]
        # c2's sandbox is not on other-net: c4 is not visible there.
        assert "status: NXDOMAIN" in dig(sb2, "c4")
        control.stop_helper(other.id, world.run_root)
        assert listening(sb1).count("127.0.0.11:53") == 2
        assert short(sb1, "c4") == ["172.19.0.4"]  # the first helper still answers
    finally:
        control.stop_helper(other.id, world.run_root)
