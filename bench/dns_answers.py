"""Micro-benchmark: AnswerTable.answer against dnslib's own parse+build, same run.

Run as `.venv/bin/python bench/dns_answers.py [calls]`. No root needed. The
ratio is what matters; absolute figures depend on the machine.
"""

from __future__ import annotations

import sys
import time

from dnslib import EDNS0, QTYPE, RR, A, DNSRecord

from cnmctl.dns.answers import AnswerTable


def rate(fn, query: bytes, calls: int) -> float:
    """Calls per second of fn(query), best of three runs."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(calls):
            fn(query)
        best = min(best, time.perf_counter() - start)
    return calls / best


def dnslib_answer(query: bytes) -> bytes:
    """What a dnslib-based resolver does per query: parse, build, pack."""
    req = DNSRecord.parse(query)
    reply = req.reply()
    reply.add_answer(RR(req.q.qname, QTYPE.A, rdata=A("172.18.0.2"), ttl=600))
    return reply.pack()


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    records = {f"c{i}": [f"172.18.{i // 250}.{i % 250 + 2}"] for i in range(200)}
    records["c1"] = ["172.18.0.2"]
    records["c1.cnm-net"] = ["172.18.0.2"]
    records["web"] = ["172.18.0.3", "172.18.0.4", "172.18.0.5"]
    table = AnswerTable(records, {"172.18.0.2": "c1.cnm-net"})
    edns = DNSRecord.question("c1.cnm-net", "A")
    edns.add_ar(EDNS0(udp_len=1232))
    cases = [
        ("A c1", bytes(DNSRecord.question("c1", "A").pack())),
        ("A WEB (3, rotating)", bytes(DNSRecord.question("WEB", "A").pack())),
        ("A c1.cnm-net + EDNS0", bytes(edns.pack())),
        ("PTR 2.0.18.172", bytes(DNSRecord.question("2.0.18.172.in-addr.arpa", "PTR").pack())),
        ("A unknown (None)", bytes(DNSRecord.question("example.com", "A").pack())),
    ]
    base_query = cases[0][1]
    dnslib_calls = max(calls // 20, 1000)
    base = rate(dnslib_answer, base_query, dnslib_calls)
    print(f"dnslib parse+build: {base:12,.0f} calls/s  ({1e6 / base:6.2f} us/call)")
    for label, query in cases:
        assert table.answer(query) is not None or "unknown" in label
        fast = rate(table.answer, query, calls)
        print(
            f"answer {label:22} {fast:12,.0f} calls/s  ({1e6 / fast:6.2f} us/call)"
            f"  x{fast / base:5.1f} vs dnslib"
        )


if __name__ == "__main__":
    main()
