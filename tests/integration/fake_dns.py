"""A fake upstream DNS server for tests: a UDP socket served by a thread."""

from __future__ import annotations

import socket
import threading

from dnslib import QTYPE, RCODE, RR, A, DNSRecord


class FakeUpstream:
    """Answers A queries for the names in `answers` (lower case, trailing dot) with
    their address, or every A query with `answers["*"]`; NXDOMAIN otherwise. With
    `silent`, it records queries and never replies (an upstream that is down)."""

    def __init__(self, answers: dict[str, str], address: str = "127.0.0.1", port: int = 0,
                 silent: bool = False) -> None:
        self.answers = answers
        self.silent = silent
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, port))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.seen: list[str] = []
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def queries(self) -> int:
        """How many queries arrived."""
        return len(self.seen)

    def _serve(self) -> None:
        while not self.stopping:
            try:
                data, addr = self.sock.recvfrom(65535)
                query = DNSRecord.parse(data)
            except Exception:  # timeouts, and garbage a test may send: keep serving
                continue
            name = str(query.q.qname).lower()
            self.seen.append(name)
            if self.silent:
                continue
            reply = query.reply()
            address = self.answers.get(name, self.answers.get("*"))
            if address and query.q.qtype == QTYPE.A:
                reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A(address), ttl=60))
            else:
                reply.header.rcode = RCODE.NXDOMAIN
            self.sock.sendto(reply.pack(), addr)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.stopping = True
        self.thread.join(5)
        self.sock.close()
