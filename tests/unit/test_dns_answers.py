"""AnswerTable: prebuilt DNS answers for container names, patched per query."""

from __future__ import annotations

import random
import struct

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord, EDNSOption

from cnmctl.dns import answers
from cnmctl.dns.answers import AnswerTable

ALIAS40 = [f"10.1.0.{i}" for i in range(1, 41)]


def table_args() -> tuple[dict, dict]:
    return (
        {
            "c1": ["172.18.0.2"],
            "c1.cnm-net": ["172.18.0.2"],
            "078782e4a209": ["172.18.0.2"],
            "c6": ["172.19.0.2", "fd00:1::2"],
            "web": ["172.18.0.3", "172.18.0.4", "172.18.0.5"],
            "big": ALIAS40,
        },
        {"172.18.0.2": "c1.cnm-net", "fd00:1::2": "c6.v6net"},
    )


@pytest.fixture
def table() -> AnswerTable:
    return AnswerTable(*table_args())


def ask(table: AnswerTable, name: str, qtype: str = "A", max_udp: int | None = 512, **kw):
    q = DNSRecord.question(name, qtype)
    for attr, value in kw.items():
        setattr(q.header, attr, value)
    raw = table.answer(bytes(q.pack()), max_udp)
    return q, (None if raw is None else DNSRecord.parse(raw))


def addrs(resp: DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in resp.rr]


def test_a_for_a_name(table):
    q, r = ask(table, "c1")
    assert r.header.qr == 1 and r.header.aa == 0 and r.header.ra == 1
    assert r.header.rcode == RCODE.NOERROR
    assert r.header.id == q.header.id
    assert addrs(r) == ["172.18.0.2"]
    assert r.rr[0].ttl == 600 and r.rr[0].rtype == QTYPE.A
    assert str(r.q.qname) == "c1." and r.q.qtype == QTYPE.A


def test_name_dot_network_and_container_id(table):
    assert addrs(ask(table, "c1.cnm-net")[1]) == ["172.18.0.2"]
    assert addrs(ask(table, "078782e4a209.")[1]) == ["172.18.0.2"]


def test_aaaa_absent_is_noerror_empty(table):
    _, r = ask(table, "c1", "AAAA")
    assert r.header.rcode == RCODE.NOERROR and r.rr == [] and r.header.aa == 0
    assert r.q.qtype == QTYPE.AAAA


def test_aaaa_present(table):
    _, r = ask(table, "c6", "AAAA")
    assert addrs(r) == ["fd00:1::2"] and r.rr[0].rtype == QTYPE.AAAA
    assert addrs(ask(table, "c6", "A")[1]) == ["172.19.0.2"]


def test_mx_and_other_types_empty(table):
    for qtype in ("MX", "TXT", "SRV"):
        _, r = ask(table, "c1", qtype)
        assert r.header.rcode == RCODE.NOERROR and r.rr == []
        assert r.q.qtype == getattr(QTYPE, qtype)


def test_any_gives_addresses(table):
    _, r = ask(table, "c6", "ANY")
    assert sorted(addrs(r)) == ["172.19.0.2", "fd00:1::2"]


def test_case_is_echoed(table):
    _, r = ask(table, "C1")
    assert str(r.q.qname) == "C1."
    assert str(r.rr[0].rname) == "C1."
    assert addrs(r) == ["172.18.0.2"]
    _, r = ask(table, "c1.CNM-Net")
    assert str(r.q.qname) == "c1.CNM-Net." and str(r.rr[0].rname) == "c1.CNM-Net."


def test_rotation(table):
    seen = [addrs(ask(table, "web")[1]) for _ in range(3)]
    assert all(sorted(s) == ["172.18.0.3", "172.18.0.4", "172.18.0.5"] for s in seen)
    assert {s[0] for s in seen} == {"172.18.0.3", "172.18.0.4", "172.18.0.5"}
    assert addrs(ask(table, "web")[1]) == seen[0]  # round-robin comes back


def test_ptr_v4_and_v6(table):
    _, r = ask(table, "2.0.18.172.in-addr.arpa", "PTR")
    assert [str(rr.rdata) for rr in r.rr] == ["c1.cnm-net."]
    assert r.rr[0].ttl == 600 and r.header.aa == 0
    rev6 = "2.0.0.0." + "0." * 20 + "1.0.0.0.0.0.d.f.ip6.arpa"
    _, r = ask(table, rev6, "PTR")
    assert [str(rr.rdata) for rr in r.rr] == ["c6.v6net."]
    # Upper case in a reverse name is echoed, too.
    _, r = ask(table, "2.0.18.172.IN-ADDR.ARPA", "PTR")
    assert str(r.q.qname) == "2.0.18.172.IN-ADDR.ARPA." and len(r.rr) == 1


def test_unknown_name_is_not_ours(table):
    assert ask(table, "nope")[1] is None
    assert ask(table, "c1.other-net")[1] is None
    assert ask(table, "example.com", "AAAA")[1] is None
    assert ask(table, "9.9.18.172.in-addr.arpa", "PTR")[1] is None


def test_edns_query_gets_opt(table):
    q = DNSRecord.question("c1", "A")
    q.add_ar(EDNS0(udp_len=1232))
    r = DNSRecord.parse(table.answer(bytes(q.pack())))
    assert addrs(r) == ["172.18.0.2"]
    assert len(r.ar) == 1 and r.ar[0].rtype == QTYPE.OPT and r.ar[0].rclass == 4096
    _, plain = ask(table, "c1")
    assert plain.ar == []


def test_udp_truncation_and_tcp(table):
    _, r = ask(table, "big")
    assert r.header.tc == 1 and r.rr == [] and r.header.rcode == RCODE.NOERROR
    assert str(r.q.qname) == "big."
    _, r = ask(table, "big", max_udp=None)
    assert r.header.tc == 0 and sorted(addrs(r)) == sorted(ALIAS40)


def test_edns_payload_size_avoids_truncation(table):
    q = DNSRecord.question("BIG", "A")
    q.add_ar(EDNS0(udp_len=1232))
    r = DNSRecord.parse(table.answer(bytes(q.pack())))
    assert r.header.tc == 0 and len(r.rr) == 40 and str(r.rr[0].rname) == "BIG."
    q = DNSRecord.question("big", "A")
    q.add_ar(EDNS0(udp_len=600))  # 40 A records need more than 600 bytes
    r = DNSRecord.parse(table.answer(bytes(q.pack())))
    assert r.header.tc == 1 and r.rr == [] and r.ar[0].rtype == QTYPE.OPT


def test_id_and_rd(table):
    for qid, rd in ((0, 0), (1, 1), (0xBEEF, 0), (0xFFFF, 1)):
        q, r = ask(table, "c1", id=qid, rd=rd)
        assert r.header.id == qid and r.header.rd == rd


def raw_query(name: str, qtype: str = "A", udp_len: int | None = None, rd: int = 1,
              padding: int = 0) -> bytes:
    q = DNSRecord.question(name, qtype)
    q.header.rd = rd
    if udp_len is not None:
        q.add_ar(EDNS0(udp_len=udp_len, opts=[EDNSOption(12, b"\x00" * padding)]
                       if padding else []))
    return bytes(q.pack())


@pytest.mark.parametrize(
    ("query", "max_udp"),
    [
        (raw_query("c1"), 512),
        (raw_query("C1.cnm-NET", udp_len=1232), 512),
        (raw_query("c1", "MX", rd=0), 512),
        (raw_query("2.0.18.172.in-addr.arpa", "PTR"), 512),
        (raw_query("big"), 512),  # truncated
        (raw_query("big", udp_len=600), 512),  # truncated, with our OPT record
        (raw_query("web"), None),  # rotating, over TCP
        (raw_query("big"), None),
    ],
    ids=["a", "edns-case", "mx-nord", "ptr", "tc", "tc-edns", "tcp-rotating", "tcp-big"],
)
def test_repeated_query_answers_as_the_first_did(table, query, max_udp):
    # A query seen before is answered from its kept response head: with its own ID,
    # and rotation going on as it would have. The reference: a twin table that forgets
    # the heads before every query, so it always builds the answer from the query.
    twin = AnswerTable(*table_args())
    for i in range(20):
        again = struct.pack("!H", i * 997) + query[2:]
        got = table.answer(again, max_udp)
        twin._seen.clear()
        assert got == twin.answer(again, max_udp)
        assert got[:2] == again[:2]
    assert len(table._seen) == 1


def test_kept_queries_are_bounded(table):
    for size in range(512, 512 + 3 * answers._SEEN_MAX):
        r = DNSRecord.parse(table.answer(raw_query("c1", udp_len=size)))
        assert addrs(r) == ["172.18.0.2"]
        assert len(table._seen) <= answers._SEEN_MAX
    table._seen.clear()
    long_query = raw_query("c1", udp_len=1232, padding=600)
    assert len(long_query) > answers._SEEN_QUERY_MAX
    assert addrs(DNSRecord.parse(table.answer(long_query))) == ["172.18.0.2"]
    assert not table._seen  # answered, not kept


def test_two_questions_formerr(table):
    q = DNSRecord.question("c1", "A")
    raw = bytearray(q.pack())
    raw[4:6] = b"\x00\x02"
    raw += b"\xc0\x0c\x00\x01\x00\x01"  # second question: a pointer to the first name
    r = DNSRecord.parse(table.answer(bytes(raw)))
    assert r.header.rcode == RCODE.FORMERR and r.header.id == q.header.id


def test_slow_path_still_answers(table):
    # Trailing bytes after the question, and class ANY: dnslib parses, answer as usual.
    q = DNSRecord.question("C1", "A")
    r = DNSRecord.parse(table.answer(bytes(q.pack()) + b"\x00\x00"))
    assert addrs(r) == ["172.18.0.2"] and str(r.q.qname) == "C1." and r.header.id == q.header.id
    q = DNSRecord.question("c1", "A", "*")
    r = DNSRecord.parse(table.answer(bytes(q.pack())))
    assert addrs(r) == ["172.18.0.2"] and r.q.qclass == 255


def test_opcode_and_responses(table):
    q = DNSRecord.question("c1", "A")
    q.header.opcode = 2
    r = DNSRecord.parse(table.answer(bytes(q.pack())))
    assert r.header.rcode == RCODE.NOTIMP and r.header.id == q.header.id
    q = DNSRecord.question("c1", "A")
    q.header.qr = 1
    assert table.answer(bytes(q.pack())) is None


def test_class_chaos_not_ours(table):
    q = DNSRecord.question("version.bind", "TXT", "CH")
    assert table.answer(bytes(q.pack())) is None


def header(qid=0x1234, flags=0x0100, qd=1, an=0, ns=0, ar=0) -> bytes:
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        b"\x12\x34\x01",
        b"\x12\x34\x01\x00\x00",
        header(),
        header() + b"\x02c1",  # name cut short
        header() + b"\x02c1\x00",  # no type and class
        header() + b"\x02c1\x00\x00\x01",  # no class
        header() + b"\xc0\x0c\x00\x01\x00\x01",  # pointer loop in the question
        header() + b"\xc0\xff\x00\x01\x00\x01",  # pointer out of range
        header() + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01",  # label type 01
        header(qd=65535) + b"\x02c1\x00\x00\x01\x00\x01",
        header(qd=0),
        header(ar=1) + b"\x02c1\x00\x00\x01\x00\x01\x00\x00\x29",  # OPT cut short
        header(ar=1) + b"\x02c1\x00\x00\x01\x00\x01\x00\x00\x29\x10\x00\x00\x00\x00\x00\xff\xff",
        bytes(range(256)),
        b"\xff" * 600,
    ],
)
def test_malformed_never_raises(table, packet):
    out = table.answer(packet)
    assert out is None or isinstance(out, bytes)
    if out is not None and len(packet) >= 12:
        assert out[:2] == packet[:2]
    out = table.answer(packet, None)
    assert out is None or isinstance(out, bytes)


def test_malformed_with_header_is_formerr(table):
    for packet in (header() + b"\x02c1", header(qd=65535) + b"\x02c1\x00\x00\x01\x00\x01"):
        r = DNSRecord.parse(table.answer(packet))
        assert r.header.rcode == RCODE.FORMERR and r.header.id == 0x1234 and r.header.qr == 1
    assert table.answer(b"\x12\x34\x01\x00\x00") is None


def test_edns_bad_version(table):
    q = DNSRecord.question("c1", "A")
    q.add_ar(EDNS0(udp_len=1232, version=1))
    r = DNSRecord.parse(table.answer(bytes(q.pack())))
    assert r.rr == [] and r.ar[0].rtype == QTYPE.OPT and (r.ar[0].ttl >> 24) == 1


def test_fuzz(table):
    rng = random.Random(1)
    seeds = []
    for name, qtype in (("c1", "A"), ("WEB", "A"), ("c6", "AAAA"), ("big", "A"), ("x", "MX")):
        seeds.append(bytes(DNSRecord.question(name, qtype).pack()))
        q = DNSRecord.question(name, qtype)
        q.add_ar(EDNS0(udp_len=rng.choice((0, 512, 1232, 65535))))
        seeds.append(bytes(q.pack()))
    seeds.append(bytes(DNSRecord.question("2.0.18.172.in-addr.arpa", "PTR").pack()))
    answered = 0
    for i in range(20_000):
        kind = i % 4
        if kind == 0:
            packet = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 80)))
        else:
            buf = bytearray(rng.choice(seeds))
            for _ in range(rng.randrange(1, 6)):
                op = rng.randrange(4)
                if op == 0 and buf:
                    buf[rng.randrange(len(buf))] = rng.getrandbits(8)
                elif op == 1 and buf:
                    del buf[rng.randrange(len(buf)) :]
                elif op == 2:
                    buf.insert(rng.randrange(len(buf) + 1), rng.getrandbits(8))
                elif buf:
                    pos = rng.randrange(len(buf))
                    buf[pos : pos + 2] = rng.choice((b"\xc0\x0c", b"\x00\x00", b"\xff\xff"))
            packet = bytes(buf)
        max_udp = None if i % 7 == 0 else 512
        out = table.answer(packet, max_udp)
        assert out is None or isinstance(out, bytes)
        if out is not None:
            assert len(out) <= (65535 if max_udp is None else 4096)
            DNSRecord.parse(out)  # whatever we send is well-formed
            answered += 1
    assert answered > 1000  # the mutations reach the answering code, not only the guards
    q, r = ask(table, "C1")
    assert addrs(r) == ["172.18.0.2"] and r.header.id == q.header.id and str(r.q.qname) == "C1."
    assert sorted(addrs(ask(table, "web")[1])) == ["172.18.0.3", "172.18.0.4", "172.18.0.5"]


def test_an_internal_error_is_servfail_never_a_forward(monkeypatch):
    """A bug in the answer path must not send a container's name to the host's resolver:
    the query gets SERVFAIL (and the helper's log the traceback), never None."""
    table = AnswerTable({}, {})
    errors = []
    monkeypatch.setattr(answers.AnswerTable, "on_error", errors.append)

    def broken(self, q, max_udp):
        raise RuntimeError("a bug")

    monkeypatch.setattr(answers.AnswerTable, "_answer", broken)
    query = DNSRecord.question("c1", "A").pack()
    reply = table.answer(query, 512)
    assert reply is not None
    parsed = DNSRecord.parse(reply)
    assert parsed.header.id == DNSRecord.parse(query).header.id
    assert parsed.header.rcode == 2 and parsed.header.qr == 1
    assert len(errors) == 1 and "RuntimeError: a bug" in errors[0]
