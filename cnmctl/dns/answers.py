"""Answers to containers' DNS queries for the names of one view.

The embedded DNS helper (Docker's 127.0.0.11) hands every raw query to
`AnswerTable.answer`, which returns the raw response, or None when the name is
not ours (the caller forwards the query upstream) or the packet is to be dropped.

Docker's rules, as recorded: A/AAAA for names have TTL 600, flags QR RD RA (no AA), and
rotate when a name has several addresses; a known name asked for a type it has
no data for (AAAA when only IPv4, MX, TXT...) gets NOERROR with no answers; PTR
for a container address gives `NAME.NETWORK.`; names are case-insensitive and the
response echoes the question as asked. UDP responses fit 512 bytes, or the EDNS0
payload size the query advertises; when they do not, the TC bit is set and the
answers left out, so the client retries over TCP.

Speed: dnslib's parse+build costs tens of microseconds per query, so common
queries are answered from responses built ahead of time (lazily, with dnslib, and
cached) and patched per query: the ID and the question bytes are copied from the
query (so the client's letter case is echoed) and RD is set from it. The query
is parsed with a few byte operations. Anything unusual goes to a slow path that
parses with dnslib. A query seen recently (the same bytes after the ID, as a client
asking the same name again sends) skips even those: its response head is kept,
so it costs one dictionary lookup.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Iterator
from itertools import cycle, repeat

__all__ = ["AnswerTable"]

T_A = 1
T_PTR = 12
T_AAAA = 28
T_OPT = 41
T_ANY = 255
_OTHER = 0  # cache key for every type we hold no data for: they share one NODATA body

_KNOWN_TYPES = frozenset((T_A, T_PTR, T_AAAA, T_ANY))
_MAX_ROTATIONS = 16  # prebuilt orders per (name, type); more addresses rotate in steps
_OUR_UDP = 4096  # the payload size we advertise in our OPT record
# Recent distinct queries kept with their response heads, then forgotten all at once; only
# queries up to _SEEN_QUERY_MAX bytes (ordinary ones are under 100): a few hundred kB at most.
_SEEN_MAX = 256
_SEEN_QUERY_MAX = 512
_NO_BODY = repeat(b"")  # the "rotations" of a truncated response: nothing after the head
_TCP_MAX = 65535

_FORMERR = 1
_SERVFAIL = 2
_NOTIMP = 4
_BADVERS = 16  # extended RCODE (RFC 6891): upper 8 bits go in the OPT record

# QDCOUNT=1 ANCOUNT=0 NSCOUNT=0 ARCOUNT=0 or 1: the only counts the fast path takes.
_COUNTS_PLAIN = b"\x00\x01\x00\x00\x00\x00\x00\x00"
_COUNTS_EDNS = b"\x00\x01\x00\x00\x00\x00\x00\x01"
_CLASS_IN = b"\x00\x01"
_OPT_TYPE = b"\x00\x29"


def _wire_name(name: str) -> bytes | None:
    """The lower-case wire form of a dotted name, or None if it is not a valid name."""
    name = name.strip().rstrip(".").lower()
    if not name:
        return None
    out = bytearray()
    for label in name.split("."):
        raw = label.encode("utf-8")
        if not 0 < len(raw) < 64:
            return None
        out.append(len(raw))
        out += raw
    out.append(0)
    return bytes(out) if len(out) <= 255 else None


def _labels(wire: bytes) -> tuple[bytes, ...]:
    """The labels of an uncompressed wire name."""
    labels = []
    i = 0
    while wire[i]:
        n = wire[i]
        labels.append(wire[i + 1 : i + 1 + n])
        i += n + 1
    return tuple(labels)


class _Entry:
    """Prebuilt response for one (name, type, EDNS or not): everything but ID and question."""

    __slots__ = ("bodies", "body_len", "hdr", "tc_hdr", "tc_body")

    def __init__(self, bodies: list[bytes], hdr: tuple, tc_hdr: tuple, tc_body: bytes):
        self.bodies = cycle(bodies)  # rotations, served round-robin
        self.body_len = len(bodies[0])  # every rotation has the same length
        self.hdr = hdr  # header bytes 2..12 indexed by the query's RD bit
        self.tc_hdr = tc_hdr  # the same with TC set and no answers
        self.tc_body = tc_body  # our OPT record, or nothing


def _header_tail(rd: int, ancount: int, arcount: int, tc: bool = False, rcode: int = 0) -> bytes:
    """Header bytes 2..12 of a response: QR, RA, and RD as given (no AA: Docker sets none)."""
    flags = 0x8000 | 0x0080 | (rd << 8) | (0x0200 if tc else 0) | rcode
    return struct.pack("!HHHHH", flags, 1, ancount, 0, arcount)


class AnswerTable:
    """Answers for one view (the names a given sandbox may see)."""

    def __init__(self, records: dict[str, list[str]], ptr: dict[str, str], ttl: int = 600):
        """`records`: lower-case name without trailing dot -> IP address strings (v4 and/or
        v6). `ptr`: IP address string -> target name without trailing dot. Entries that are
        not valid names or addresses are ignored (no query can reach them)."""
        self.ttl = ttl
        # wire name (lower case) -> (IPv4 addresses, IPv6 addresses, PTR target wire name)
        data: dict[bytes, tuple[tuple[str, ...], tuple[str, ...], bytes | None]] = {}
        for name, addrs in records.items():
            wire = _wire_name(name)
            if wire is None:
                continue
            v4: list[str] = []
            v6: list[str] = []
            for addr in addrs:
                try:
                    ip = ipaddress.ip_address(addr.strip())
                except ValueError:
                    continue
                (v4 if ip.version == 4 else v6).append(str(ip))
            old4, old6, _ = data.get(wire, ((), (), None))
            data[wire] = (old4 + tuple(v4), old6 + tuple(v6), None)
        for addr, target in ptr.items():
            try:
                rev = ipaddress.ip_address(addr.strip()).reverse_pointer
            except ValueError:
                continue
            wire, twire = _wire_name(rev), _wire_name(target)
            if wire is None or twire is None:
                continue
            old4, old6, _ = data.get(wire, ((), (), None))
            data[wire] = (old4, old6, twire)
        self._data = data
        # (wire name, type or _OTHER, EDNS?) -> _Entry, built on first use
        self._cache: dict[tuple[bytes, int, bool], _Entry] = {}
        # (query after its ID, max_udp) -> (response after its ID up to the answers, the
        # entry's rotations): the response depends on nothing else. Bounded, because the
        # letter case, flags and EDNS fields of a query are the client's to vary.
        self._seen: dict[tuple[bytes, int | None], tuple[bytes, Iterator[bytes]]] = {}

    # -- the hot path ---------------------------------------------------------------

    #: called with a traceback when answering fails (the helper logs it)
    on_error: Callable[[str], None] | None = None

    def answer(self, query: bytes, max_udp: int | None = 512) -> bytes | None:
        """The response bytes for a raw query; None when the name is not ours (the
        caller forwards it if it is a well-formed query, else drops it); SERVFAIL when
        answering failed inside: a container's name must never be asked upstream.
        max_udp=None means TCP (no 512 limit, up to 65535)."""
        # A query is untrusted bytes from any container; one odd packet must not take
        # the helper down (or leave a thread dead).
        try:
            if type(query) is not bytes:
                query = bytes(query)  # bytearray/memoryview: hashable, immutable slices
            seen = self._seen.get((query[2:], max_udp))
            if seen is not None:
                return query[:2] + seen[0] + next(seen[1])
            return self._answer(query, max_udp)
        except Exception:
            if self.on_error is not None:
                import traceback

                self.on_error(f"internal error answering a query (SERVFAIL):\n"
                              f"{traceback.format_exc().rstrip()}")
            return error_reply(bytes(query[:12]).ljust(12, b"\0"), _SERVFAIL)

    def _answer(self, q: bytes, max_udp: int | None) -> bytes | None:
        n = len(q)
        # QR=0 and opcode QUERY; one question and at most one additional record.
        if n < 17 or q[2] & 0xF8:
            return self._slow(q, max_udp)
        counts = q[4:12]
        if counts == _COUNTS_PLAIN:
            edns = False
        elif counts == _COUNTS_EDNS:
            edns = True
        else:
            return self._slow(q, max_udp)
        # QNAME: length-prefixed labels; a compression pointer (or junk) goes slow.
        qend = question_end(q)
        if qend is None:
            return self._slow(q, max_udp)
        end = qend - 4
        if end - 12 > 255 or q[end + 2 : qend] != _CLASS_IN:
            return self._slow(q, max_udp)
        qtype = (q[end] << 8) | q[end + 1]
        if edns:
            # The one additional record must be an OPT record, version 0, ending the packet.
            if (
                n < qend + 11
                or q[qend]
                or q[qend + 1 : qend + 3] != _OPT_TYPE
                or q[qend + 6]
                or qend + 11 + ((q[qend + 9] << 8) | q[qend + 10]) != n
            ):
                return self._slow(q, max_udp)
            if max_udp is None:
                limit = _TCP_MAX
            else:
                payload = (q[qend + 3] << 8) | q[qend + 4]
                limit = 512 if payload < 512 else _OUR_UDP if payload > _OUR_UDP else payload
        else:
            if qend != n:
                return self._slow(q, max_udp)
            limit = _TCP_MAX if max_udp is None else max_udp
        key = (q[12:end].lower(), qtype if qtype in _KNOWN_TYPES else _OTHER, edns)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._build(*key)
            if entry is None:
                return None
        rd = q[2] & 1
        if qend + entry.body_len > limit:
            head, bodies = entry.tc_hdr[rd] + q[12:qend] + entry.tc_body, _NO_BODY
        else:
            head, bodies = entry.hdr[rd] + q[12:qend], entry.bodies
        if n <= _SEEN_QUERY_MAX:
            if len(self._seen) >= _SEEN_MAX:
                self._seen.clear()
            # The entry's own rotations, shared: a name's round-robin goes on either way.
            self._seen[(q[2:], max_udp)] = (head, bodies)
        return q[:2] + head + next(bodies)

    # -- building prebuilt responses ---------------------------------------------------

    def _build(self, wire: bytes, qtype: int, edns: bool) -> _Entry | None:
        """Build (and cache) the responses for a name we hold, or None if it is not ours."""
        data = self._data.get(wire)
        if data is None:
            return None
        from dnslib import AAAA, EDNS0, PTR, RR, A, DNSHeader, DNSLabel, DNSQuestion, DNSRecord

        v4, v6, target = data
        groups: list[list[tuple[int, object]]] = []
        if qtype in (T_A, T_ANY) and v4:
            groups.append([(T_A, A(ip)) for ip in v4])
        if qtype in (T_AAAA, T_ANY) and v6:
            groups.append([(T_AAAA, AAAA(ip)) for ip in v6])
        if qtype in (T_PTR, T_ANY) and target is not None:
            groups.append([(T_PTR, PTR(DNSLabel(_labels(target))))])
        longest = max((len(g) for g in groups), default=1)
        k = min(longest, _MAX_ROTATIONS)
        label = DNSLabel(_labels(wire))
        qlen = len(wire) + 4
        bodies = []
        for r in range(k):
            shift = r * longest // k
            rec = DNSRecord(DNSHeader(id=0, qr=1, ra=1), q=DNSQuestion(label, qtype or T_A))
            for group in groups:
                s = shift % len(group)
                for rtype, rdata in group[s:] + group[:s]:
                    rec.add_answer(RR(label, rtype, rdata=rdata, ttl=self.ttl))
            if edns:
                rec.add_ar(EDNS0(udp_len=_OUR_UDP))
            # Names in the answers compress to offset 12, the question, whose length is
            # the same in every query for this name: the body is valid after any question.
            bodies.append(rec.pack()[12 + qlen :])
        ancount = sum(len(g) for g in groups)
        arcount = 1 if edns else 0
        tc_body = bodies[0][len(bodies[0]) - 11 :] if edns else b""
        entry = _Entry(
            bodies,
            (_header_tail(0, ancount, arcount), _header_tail(1, ancount, arcount)),
            (_header_tail(0, 0, arcount, tc=True), _header_tail(1, 0, arcount, tc=True)),
            tc_body,
        )
        self._cache[(wire, qtype, edns)] = entry
        return entry

    # -- everything unusual -------------------------------------------------------------

    def _slow(self, q: bytes, max_udp: int | None) -> bytes | None:
        """Queries the fast path does not take: parse with dnslib."""
        if len(q) < 12:
            return None
        if q[2] & 0x80:
            return None  # a response, not a query: never answer it (no reflection loops)
        if (q[2] >> 3) & 0xF:
            return error_reply(q, _NOTIMP)
        from dnslib import DNSRecord

        try:
            rec = DNSRecord.parse(q)
        except Exception:
            return error_reply(q, _FORMERR)
        if len(rec.questions) != 1:
            return error_reply(q, _FORMERR)
        question = rec.questions[0]
        if question.qclass not in (1, T_ANY):
            return None  # CHAOS and the like: not ours
        labels = question.qname.label
        if any(not 0 < len(lb) < 64 for lb in labels):
            return error_reply(q, _FORMERR)
        asked = b"".join(bytes((len(lb),)) + lb for lb in labels) + b"\x00"
        if len(asked) > 255:
            return error_reply(q, _FORMERR)
        opts = [rr for rr in rec.ar if rr.rtype == T_OPT]
        if len(opts) > 1:
            return error_reply(q, _FORMERR)
        edns = bool(opts)
        qtype = question.qtype
        key = (asked.lower(), qtype if qtype in _KNOWN_TYPES else _OTHER, edns)
        entry = self._cache.get(key) or self._build(*key)
        if entry is None:
            return None
        if edns and (opts[0].ttl >> 16) & 0xFF:
            # EDNS version we do not speak: BADVERS, told in our OPT record (RFC 6891).
            return (
                q[:2]
                + _header_tail(q[2] & 1, 0, 1)[:-8]
                + b"\x00\x00\x00\x00\x00\x00\x00\x01"
                + b"\x00\x00\x29"
                + struct.pack("!HBBHH", _OUR_UDP, _BADVERS >> 4, 0, 0, 0)
            )
        if max_udp is None:
            limit = _TCP_MAX
        elif edns:
            limit = min(max(opts[0].rclass, 512), _OUR_UDP)
        else:
            limit = max_udp
        asked_q = asked + struct.pack("!HH", qtype, question.qclass)
        rd = q[2] & 1
        if 12 + len(asked_q) + entry.body_len > limit:
            return q[:2] + entry.tc_hdr[rd] + asked_q + entry.tc_body
        return q[:2] + entry.hdr[rd] + asked_q + next(entry.bodies)


def error_reply(q: bytes, rcode: int, qend: int = 12) -> bytes:
    """An error response: ID, opcode and RD copied from the query; QR, RA; the
    question kept when `qend` (its end, from question_end) is given."""
    flags = 0x8000 | ((q[2] & 0x79) << 8) | 0x0080 | rcode
    return q[:2] + struct.pack("!HHHHH", flags, 1 if qend > 12 else 0, 0, 0, 0) + q[12:qend]


def question_end(q: bytes) -> int | None:
    """Offset just past the first question of a message (an uncompressed name of
    labels of at most 63 bytes), or None."""
    n = len(q)
    if n < 17:
        return None
    i = 12
    while True:
        if i >= n:
            return None
        length = q[i]
        if not length:
            break
        if length > 63:
            return None
        i += length + 1
    end = i + 5
    return end if end <= n else None
