"""The per-network embedded DNS helper: Docker's 127.0.0.11 for cnmctl's sandboxes.

    python -m cnmctl.dns.server --network ID --root STORE --run-root RUN [--upstream IP[:PORT]]...

One single-threaded `selectors` loop serves every sandbox attached through the control
socket (protocol in cnmctl.dns.control). For each attached sandbox the helper enters
its namespace just long enough to create a UDP and a TCP socket bound to
127.0.0.11:53 (SO_REUSEADDR + SO_REUSEPORT, so the helper of another network the
sandbox is on can bind the same port; the kernel spreads queries between them and each
answers for every network the sandbox is on), then serves them from its own namespace.

Names of the sandbox's view are answered by AnswerTable; other queries are forwarded
over UDP, from the helper's own namespace, to the sandbox container's `--dns`
servers, else the helper's upstreams (in order, 2 s each, then SERVFAIL), and the
reply is relayed with the client's ID restored. A sandbox whose networks are all
`--internal` gets SERVFAIL at once: nothing it asks leaves through the helper.
Queries that arrived over TCP are forwarded the same way (over UDP) and the reply is
sent back on the TCP connection; a reply the upstream truncated stays truncated.

Speed: UDP is the hot path. Each ready socket is drained (up to UDP_BATCH datagrams)
before the loop waits again; names are answered from AnswerTable's prebuilt responses;
forwarded queries wait in one dict that is also their timeout queue, so an answered
one costs nothing more. bench/dns_perf.py measures it with dnsperf against dnsmasq.

Every per-packet and per-connection handler is wrapped: bad input is logged (rate
limited) and dropped, never fatal. SIGTERM/SIGINT or `stop` exit cleanly, removing the
control socket and pid file.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import ipaddress
import os
import selectors
import signal
import socket
import struct
import sys
import time
import traceback

from cnmctl.dns.answers import AnswerTable, error_reply, question_end
from cnmctl.dns.control import helper_paths
from cnmctl.dns.records import sandbox_view, visible_networks
from cnmctl.errors import CnmError
from cnmctl.linux import in_netns
from cnmctl.model import Endpoint, Network, Sandbox, split_link
from cnmctl.runtime.process import alive, namespace_of
from cnmctl.sandbox.files import EMBEDDED_DNS, host_resolvers
from cnmctl.store import open_store

DNS_PORT = 53
FORWARD_TIMEOUT = 2.0  # per upstream, then the next one, then SERVFAIL
SERVFAIL = 2  # the RCODE a client gets when no upstream answers
MAX_PENDING = 4096  # forwarded queries awaiting a reply; beyond it: SERVFAIL at once
ID_BATCH = 1024  # upstream query IDs drawn from the kernel's CSPRNG per getrandom call
UDP_BATCH = 256  # datagrams per readiness event, so one flooded socket cannot starve others
TCP_IDLE = 10.0  # a TCP connection silent this long is closed
TCP_MAX_IN = 64 * 1024  # bytes a TCP connection may send in all; more closes it
TCP_MAX_OUT = 256 * 1024  # unread replies a TCP client may leave queued
MAX_TCP_CONNS = 256  # beyond it the least recently active connection is closed
CONTROL_MAX_LINE = 4096



# -- logging -----------------------------------------------------------------------

class _Log:
    """Lines on stderr (the log file), with a budget so a flood cannot fill the disk."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.window = 0.0
        self.count = 0
        self.suppressed = 0

    def __call__(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        with contextlib.suppress(Exception):
            sys.stderr.write(f"{stamp} dns[{self.tag}] {message}\n")
            sys.stderr.flush()

    def error(self, message: str) -> None:
        """A per-packet problem: at most 20 lines per minute, then a count."""
        now = time.monotonic()
        if now - self.window > 60:
            if self.suppressed:
                self(f"({self.suppressed} similar messages suppressed)")
            self.window, self.count, self.suppressed = now, 0, 0
        self.count += 1
        if self.count <= 20:
            self(message)
        else:
            self.suppressed += 1


# -- DNS bytes ----------------------------------------------------------------------

def forwardable(q: bytes) -> int | None:
    """For a standard query with one well-formed question, the end of that question."""
    if len(q) < 17 or q[2] & 0xF8 or q[4:6] != b"\x00\x01":
        return None  # a response, another opcode, or not exactly one question
    return question_end(q)


def parse_upstream(text: str) -> tuple[int, tuple]:
    """`IP`, `IP:PORT`, `[IPv6]:PORT` or bare IPv6 -> (family, socket address)."""
    text = text.strip()
    port = DNS_PORT
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            port = int(rest.lstrip(":"))
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = int(port_text)
    else:
        host = text
    ip = ipaddress.ip_address(host)
    if not 0 < port < 65536:
        raise ValueError(f"bad port in {text!r}")
    if ip.version == 4:
        return socket.AF_INET, (str(ip), port)
    return socket.AF_INET6, (str(ip), port, 0, 0)


def _host_upstreams() -> list[tuple[int, tuple]]:
    """The host's nameservers as upstreams (any IPv6 %zone dropped: we forward by
    address)."""
    return [parse_upstream(server.split("%")[0]) for server in host_resolvers()[0]]


# -- state ----------------------------------------------------------------------------

class _Attached:
    """One sandbox served: its sockets in its namespace and its answers (None
    until the first query after a change: tables are built lazily)."""

    __slots__ = ("key", "ns", "udp", "tcp", "table", "upstreams")

    def __init__(self, key: str, ns: tuple[int, int], udp: socket.socket,
                 tcp: socket.socket) -> None:
        self.key, self.ns, self.udp, self.tcp = key, ns, udp, tcp
        self.table: AnswerTable | None = None
        # Where its other names go, set with the table: the container's --dns,
        # else the helper's; none when all its networks are --internal.
        self.upstreams: list[tuple[int, tuple]] = []


class _TcpConn:
    __slots__ = ("sock", "sb", "buf", "out", "received", "last", "closed", "events")

    def __init__(self, sock: socket.socket, sb: _Attached, now: float) -> None:
        self.sock = sock
        self.sb = sb
        self.buf = bytearray()
        self.out = bytearray()
        self.received = 0
        self.last = now
        self.closed = False
        self.events = selectors.EVENT_READ


class _Control:
    __slots__ = ("sock", "buf")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""


class _Pending:
    """A query forwarded upstream, awaiting its reply."""

    __slots__ = ("query", "qend", "udp", "addr", "conn", "upstreams", "attempt", "upstream",
                 "deadline")

    def __init__(self, query: bytes, qend: int, udp: socket.socket | None, addr: object,
                 conn: _TcpConn | None, upstreams: list[tuple[int, tuple]]) -> None:
        self.query = query
        self.qend = qend
        self.udp = udp  # reply through this sandbox socket to addr...
        self.addr = addr
        self.conn = conn  # ...or on this TCP connection
        self.upstreams = upstreams  # tried in order
        self.attempt = 0
        self.upstream: tuple = ()
        self.deadline = 0.0  # when the current attempt is given up


class Helper:
    """The event loop and everything it serves."""

    def __init__(self, network_id: str, root: str, run_root: str,
                 upstreams: list[str] | None, log: _Log) -> None:
        """`upstreams`: where names no container has go, unless a container has its
        own --dns; None for the host's resolvers, read again at every reload."""
        self.paths = helper_paths(network_id, run_root)
        self.log = log
        self.store = open_store(root)
        self.follow_host = upstreams is None
        self.upstreams = ([parse_upstream(u) for u in upstreams] if upstreams is not None
                          else _host_upstreams())
        self.sel = selectors.DefaultSelector()
        self.attached: dict[str, _Attached] = {}
        # The store as last read; dropped by `reload`, read again at the next query.
        self.loaded: tuple | None = None
        # Tables by (visible networks, legacy links) (see _build); dropped likewise.
        self.tables: dict[tuple, AnswerTable] = {}
        AnswerTable.on_error = log.error
        # Whether each container's names may be answered, as last checked; dropped likewise.
        self.answerable: dict[str, bool] = {}
        # Running containers whose names a table holds, by ID: (pid, start time, pidfd).
        # Their pidfds are in the loop: an exit drops the tables at once (see _answerable).
        self.watched: dict[str, tuple[int, int, int]] = {}
        self.conns: dict[int, _TcpConn] = {}  # by fd, least recently active first
        # Forwarded queries by the ID sent upstream. Every attempt is inserted when sent,
        # with the same timeout, so the dict's own order is deadline order: it is the
        # timeout queue too, and an answered query leaves it (and memory) at once.
        self.pending: dict[int, _Pending] = {}
        self.forwarders: dict[int, socket.socket] = {}
        self.ids: list[int] = []  # unused random upstream query IDs
        self.running = True
        self.control: socket.socket | None = None

    # -- set-up / tear-down --------------------------------------------------------------
    def open_control(self) -> None:
        path = self.paths["sock"]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # stale: we hold the pid lock, so no live helper owns it
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)  # umask 077 makes it 0600 from the start
        os.chmod(path, 0o600)
        sock.listen(64)
        sock.setblocking(False)
        self.control = sock
        self.sel.register(sock, selectors.EVENT_READ, (self._on_control_accept, sock))

    def forwarder(self, family: int) -> socket.socket:
        """The socket queries of an address family are forwarded from. It lives in
        the helper's own namespace (the host's), so a host-local resolver works."""
        fwd = self.forwarders.get(family)
        if fwd is None:
            fwd = socket.socket(family, socket.SOCK_DGRAM)
            fwd.setblocking(False)
            self.forwarders[family] = fwd
            self.sel.register(fwd, selectors.EVENT_READ, (self._on_upstream, fwd))
        return fwd

    def close(self) -> None:
        for key in list(self.attached):
            with contextlib.suppress(Exception):
                self._detach(key)
        if self.control is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.paths["sock"])
            self.control.close()
        for fwd in self.forwarders.values():
            fwd.close()
        for cid in list(self.watched):
            self._unwatch(cid)
        self.sel.close()

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        while self.running:
            now = time.monotonic()
            timeout = 1.0
            if self.pending:
                first = next(iter(self.pending.values()))
                timeout = min(timeout, max(0.0, first.deadline - now))
            if self.conns:
                oldest = next(iter(self.conns.values()))
                timeout = min(timeout, max(0.0, oldest.last + TCP_IDLE - now))
            for key, mask in self.sel.select(timeout):
                handler, obj = key.data
                try:
                    handler(obj, mask)
                except Exception:
                    self.log.error(f"handler {handler.__name__} failed:\n"
                                   f"{traceback.format_exc().rstrip()}")
            now = time.monotonic()
            try:
                self._expire(now)
                self._close_idle(now)
            except Exception:
                self.log.error(f"timer handling failed:\n{traceback.format_exc().rstrip()}")

    # -- control ------------------------------------------------------------------------------
    def _on_control_accept(self, sock: socket.socket, _mask: int) -> None:
        for _ in range(64):
            try:
                conn, _addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            conn.setblocking(False)
            self.sel.register(conn, selectors.EVENT_READ, (self._on_control_read, _Control(conn)))

    def _on_control_read(self, ctl: _Control, _mask: int) -> None:
        data = _recv(ctl.sock, 4096)
        if data is None:
            return
        if not data:
            self._close_control(ctl)
            return
        ctl.buf += data
        while b"\n" in ctl.buf:
            line, ctl.buf = ctl.buf.split(b"\n", 1)
            reply = self._command(line.decode("utf-8", "replace").strip())
            try:
                ctl.sock.settimeout(1.0)  # blocking, with a deadline, for this reply
                ctl.sock.sendall(reply.encode() + b"\n")
                ctl.sock.setblocking(False)
            except OSError:
                self._close_control(ctl)
                return
            if not self.running:
                self._close_control(ctl)
                return
        if len(ctl.buf) > CONTROL_MAX_LINE:
            self._close_control(ctl)

    def _close_control(self, ctl: _Control) -> None:
        with contextlib.suppress(Exception):
            self.sel.unregister(ctl.sock)
        ctl.sock.close()

    def _command(self, line: str) -> str:
        verb, _, arg = line.partition(" ")
        arg = arg.strip()
        try:
            if verb == "ping" and not arg:
                return "ok"
            if verb == "stop" and not arg:
                self.log("stop requested")
                self.running = False
                return "ok"
            if verb == "reload" and not arg:
                self._reload()
                return "ok"
            if verb == "attach" and arg:
                self._attach(arg)
                return "ok"
            if verb == "detach" and arg:
                self._detach(arg)
                self._reload()
                return "ok"
            return f"error unknown request {line[:80]!r}"
        except OSError as exc:
            message = f"{verb} {arg}: {exc.strerror or exc}"
        except Exception as exc:
            message = f"{verb} {arg}: {type(exc).__name__}: {exc}"
        self.log(message)
        return "error " + message.replace("\n", " ")

    # -- sandboxes ----------------------------------------------------------------------------
    def _load(self) -> tuple[list[Endpoint], dict[str, Network], list[Sandbox]]:
        def each(kind: str, cls):
            for doc in self.store.list(kind):
                try:
                    yield cls.from_doc(doc)
                except Exception:
                    self.log.error(f"skipping a malformed {kind} document")

        if self.follow_host:
            # The host's resolvers may have changed (a laptop joining another network):
            # like Docker, which reads them at each container start, follow them.
            self.upstreams = _host_upstreams()
        endpoints = list(each("endpoints", Endpoint))
        networks = {net.id: net for net in each("networks", Network)}
        return endpoints, networks, list(each("sandboxes", Sandbox))

    def _build(self, sb: _Attached, loaded: tuple) -> None:
        """Fill the sandbox's table and upstreams from the store as loaded."""
        endpoints, networks, sandboxes = loaded
        own_ids: set[str] = set()
        container_ids = []
        for sandbox in sandboxes:
            if sandbox.key == sb.key:
                own_ids.update(sandbox.endpoint_ids)
                container_ids.append(sandbox.container_id)
        own = [ep for ep in endpoints if ep.id in own_ids]
        containers = [self.store.get("containers", cid) or {} for cid in container_ids]
        links = tuple(sorted((alias, name) for doc in containers
                             for name, alias in map(split_link, doc.get("links", ()))))
        # Sandboxes on the same networks (and legacy links, rare) see the same names: one
        # table serves them all, so one network builds one table per change, not one per
        # sandbox.
        view = (visible_networks(own, networks), links)
        table = self.tables.get(view)
        if table is None:
            visible = view[0]
            live = [ep for ep in endpoints
                    if ep.network_id in visible and self._answerable(ep.container_id)]
            table = self.tables[view] = AnswerTable(*sandbox_view(own, live, networks, links))
        sb.table = table
        sb.upstreams = self._upstreams_for(own, networks, containers)

    def _upstreams_for(self, own: list[Endpoint], networks: dict[str, Network],
                       containers: list[dict]) -> list[tuple[int, tuple]]:
        """The container's --dns servers, else the helper's; none if every network
        of the sandbox is --internal (Docker's embedded DNS does not forward then)."""
        nets = [networks[ep.network_id] for ep in own if ep.network_id in networks]
        if nets and all(net.internal for net in nets):
            return []
        for doc in containers:
            cid = doc.get("id", "")
            servers = doc.get("dns") or []
            if servers:
                parsed = []
                for server in servers:
                    try:
                        parsed.append(parse_upstream(server))
                    except ValueError:
                        self.log.error(f"container {cid[:12]}: bad --dns {server!r} ignored")
                return parsed
        return self.upstreams

    def _reload(self) -> None:
        """Forget every table: each is rebuilt, from one fresh read of the store,
        at its sandbox's next query. A start that changes the names therefore
        costs O(sandboxes) flag clears here, not a rebuild of every table.
        `attach` and `detach` reload too: they come with a change of the store.

        Sandboxes whose namespace is no longer at their path are dropped on the
        way: one deleted without a `detach` (a cnmctl killed half-way) would
        otherwise be kept alive, with its veths, by our sockets in it."""
        for key, sb in list(self.attached.items()):
            if namespace_of(key) != sb.ns:
                self._detach(key, "its namespace is gone")
        self.loaded = None
        self.tables = {}
        self.answerable = {}
        for sb in self.attached.values():
            sb.table = None

    # -- containers' liveness -------------------------------------------------------------------
    def _answerable(self, cid: str) -> bool:
        """False if the container is recorded running but its process is gone (killed
        with its supervisor, say, so that no one recorded the exit): its endpoints are
        still in the store, but its names must not be answered. Checked once per
        change of the store."""
        known = self.answerable.get(cid)
        if known is None:
            known = self.answerable[cid] = self._check_container(cid)
        return known

    def _check_container(self, cid: str) -> bool:
        """Whether the container's names may be answered (see _answerable); a running
        one's process is watched through a pidfd from now on."""
        try:
            doc = self.store.get("containers", cid)
        except CnmError as exc:  # a corrupt document: answer as its endpoints say
            self.log.error(f"container {cid[:12]}: {exc}")
            return True
        if not isinstance(doc, dict) or doc.get("status") != "running" or not doc.get("pid"):
            # Not started yet (`start` attaches the sandbox before its process runs),
            # or gone: its endpoints say what there is to answer.
            return True
        try:
            pid, started = int(doc["pid"]), int(doc.get("pid_start_time") or 0)
        except (TypeError, ValueError):
            self.log.error(f"container {cid[:12]}: malformed pid {doc['pid']!r}")
            return True
        watch = self.watched.get(cid)
        if watch is not None and watch[:2] == (pid, started):
            return alive(pid, started)
        if watch is not None:
            self._unwatch(cid)  # the container was started again since
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return False
        except OSError as exc:  # out of descriptors, say: answer it, unwatched
            self.log.error(f"container {cid[:12]}: cannot watch pid {pid}: {exc}")
            return alive(pid, started)
        if not alive(pid, started):  # gone, or the pid was reused
            os.close(fd)
            return False
        self.watched[cid] = (pid, started, fd)
        self.sel.register(fd, selectors.EVENT_READ, (self._on_container_exit, cid))
        return True

    def _on_container_exit(self, cid: str, _mask: int) -> None:
        """A watched container's process exited: forget every table, so its names
        are no longer answered even if no one records the exit."""
        self._unwatch(cid)
        self.log(f"container {cid[:12]} exited: its names are no longer answered")
        self._reload()

    def _unwatch(self, cid: str) -> None:
        _pid, _started, fd = self.watched.pop(cid)
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(fd)
        os.close(fd)

    def table_for(self, sb: _Attached) -> AnswerTable:
        """The sandbox's answers, built on first use after a change."""
        if sb.table is None:
            if self.loaded is None:
                self.loaded = self._load()
            self._build(sb, self.loaded)
        return sb.table

    def _attach(self, key: str) -> None:
        st = os.stat(key)
        ns = (st.st_dev, st.st_ino)
        # The store changed with this sandbox; this also drops an entry for a former
        # namespace at the same path, so one still here is this very namespace.
        self._reload()
        if key in self.attached:
            return
        udp = tcp = None
        try:
            with in_netns(key):
                udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                for sock in (udp, tcp):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                    sock.setblocking(False)
                    sock.bind((EMBEDDED_DNS, DNS_PORT))
                tcp.listen(128)
        except BaseException:
            for sock in (udp, tcp):
                if sock is not None:
                    sock.close()
            raise
        sb = _Attached(key, ns, udp, tcp)
        self.attached[key] = sb
        self.sel.register(udp, selectors.EVENT_READ, (self._on_udp, sb))
        self.sel.register(tcp, selectors.EVENT_READ, (self._on_tcp_accept, sb))
        self.log(f"attached {key}")

    def _detach(self, key: str, why: str = "") -> None:
        sb = self.attached.pop(key, None)
        if sb is None:
            return
        for sock in (sb.udp, sb.tcp):
            with contextlib.suppress(Exception):
                self.sel.unregister(sock)
            sock.close()
        for conn in [c for c in self.conns.values() if c.sb is sb]:
            self._close_conn(conn)
        self.log(f"detached {key}" + (f" ({why})" if why else ""))

    # -- UDP ------------------------------------------------------------------------------------
    def _on_udp(self, sb: _Attached, _mask: int) -> None:
        # The hot path. Drains up to UDP_BATCH datagrams; the selector is level-triggered,
        # so the rest comes at the next turn, after the other sockets and the timers had
        # theirs. Socket methods and the table's `answer` are bound once per batch, not
        # looked up per datagram (nothing in a batch can change the table).
        sock = sb.udp
        recvfrom, sendto = sock.recvfrom, sock.sendto
        answer = None
        for _ in range(UDP_BATCH):
            try:
                query, addr = recvfrom(65535)
            except OSError:
                return  # drained (BlockingIOError), or the socket failed
            try:
                if answer is None:
                    answer = self.table_for(sb).answer
                reply = answer(query, 512)
                if reply is not None:
                    try:  # noqa: SIM105 - contextlib.suppress adds ~0.3 us, as much as answer
                        sendto(reply, addr)
                    except OSError:
                        pass  # a full buffer or a vanished client loses this reply only
                else:
                    qend = forwardable(query)
                    if qend is not None:
                        self._forward(_Pending(query, qend, sock, addr, None, sb.upstreams))
            except Exception:
                self.log.error(f"UDP query failed:\n{traceback.format_exc().rstrip()}")

    @staticmethod
    def _sendto(sock: socket.socket, data: bytes, addr: object) -> None:
        # A full buffer or a vanished client loses this reply only; the client retries.
        try:  # noqa: SIM105 - once per forwarded query; contextlib.suppress adds ~0.3 us
            sock.sendto(data, addr)
        except OSError:
            pass

    # -- TCP ------------------------------------------------------------------------------------
    def _on_tcp_accept(self, sb: _Attached, _mask: int) -> None:
        for _ in range(64):
            try:
                sock, _addr = sb.tcp.accept()
            except OSError:
                return  # none left (BlockingIOError), or the socket failed
            sock.setblocking(False)
            if len(self.conns) >= MAX_TCP_CONNS:
                self._close_conn(next(iter(self.conns.values())))
            conn = _TcpConn(sock, sb, time.monotonic())
            self.conns[sock.fileno()] = conn
            self.sel.register(sock, selectors.EVENT_READ, (self._on_tcp, conn))

    def _on_tcp(self, conn: _TcpConn, mask: int) -> None:
        if conn.closed:
            return
        if mask & selectors.EVENT_WRITE:
            self._flush(conn)
            if conn.closed:
                return
        if not mask & selectors.EVENT_READ:
            return
        data = _recv(conn.sock, 65536)
        if data is None:
            return
        if not data:
            self._close_conn(conn)
            return
        conn.received += len(data)
        if conn.received > TCP_MAX_IN:
            self._close_conn(conn)
            return
        self._touch(conn)
        conn.buf += data
        buf = conn.buf
        while len(buf) >= 2 and not conn.closed:
            size = (buf[0] << 8) | buf[1]
            if size < 12:
                self._close_conn(conn)  # no DNS message is that short: garbage
                return
            if len(buf) < 2 + size:
                break
            query = bytes(buf[2:2 + size])
            del buf[:2 + size]
            try:
                reply = self.table_for(conn.sb).answer(query, None)
                if reply is not None:
                    self._tcp_send(conn, reply)
                else:
                    qend = forwardable(query)
                    if qend is not None:
                        self._forward(_Pending(query, qend, None, None, conn,
                                                conn.sb.upstreams))
            except Exception:
                self.log.error(f"TCP query failed:\n{traceback.format_exc().rstrip()}")

    def _touch(self, conn: _TcpConn) -> None:
        conn.last = time.monotonic()
        fd = conn.sock.fileno()
        self.conns[fd] = self.conns.pop(fd, conn)  # to the most recent end

    def _tcp_send(self, conn: _TcpConn, message: bytes) -> None:
        if conn.closed or len(message) > 65535:
            return
        conn.out += struct.pack("!H", len(message)) + message
        if len(conn.out) > TCP_MAX_OUT:
            self._close_conn(conn)
            return
        self._flush(conn)

    def _flush(self, conn: _TcpConn) -> None:
        if conn.out:
            try:
                sent = conn.sock.send(conn.out)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._close_conn(conn)
                return
            del conn.out[:sent]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.out else 0)
        if events != conn.events:
            conn.events = events
            self.sel.modify(conn.sock, events, (self._on_tcp, conn))

    def _close_conn(self, conn: _TcpConn) -> None:
        if conn.closed:
            return
        conn.closed = True
        with contextlib.suppress(Exception):
            self.sel.unregister(conn.sock)
        with contextlib.suppress(Exception):
            self.conns.pop(conn.sock.fileno(), None)
        conn.sock.close()

    def _close_idle(self, now: float) -> None:
        while self.conns:
            conn = next(iter(self.conns.values()))
            if conn.last + TCP_IDLE > now:
                return
            self._close_conn(conn)

    # -- forwarding ---------------------------------------------------------------------------
    def _reply(self, pending: _Pending, message: bytes) -> None:
        if pending.conn is not None:
            self._tcp_send(pending.conn, message)
        elif pending.udp is not None and pending.udp.fileno() >= 0:
            self._sendto(pending.udp, message, pending.addr)

    def _forward(self, pending: _Pending) -> None:
        """Send to the upstream numbered pending.attempt, else the next...; else SERVFAIL."""
        if len(self.pending) >= MAX_PENDING:
            self._reply(pending, error_reply(pending.query, SERVFAIL, pending.qend))
            return
        while pending.attempt < len(pending.upstreams):
            family, addr = pending.upstreams[pending.attempt]
            new_id = self._new_id()
            while new_id in self.pending:
                new_id = self._new_id()
            try:
                self.forwarder(family).sendto(struct.pack("!H", new_id) + pending.query[2:],
                                               addr)
            except OSError as exc:
                self.log.error(f"forwarding to {addr[0]}:{addr[1]}: {exc.strerror or exc}")
                pending.attempt += 1
                continue
            pending.upstream = addr
            pending.deadline = time.monotonic() + FORWARD_TIMEOUT
            self.pending[new_id] = pending
            return
        self._reply(pending, error_reply(pending.query, SERVFAIL, pending.qend))

    def _new_id(self) -> int:
        # Unpredictable (the kernel's CSPRNG, as secrets uses), so that an off-path host
        # cannot forge upstream replies; drawn ID_BATCH at a time, one getrandom call
        # per 1024 forwards rather than a secrets.randbits call (~0.6 us) per forward.
        ids = self.ids
        if not ids:
            ids.extend(memoryview(os.urandom(2 * ID_BATCH)).cast("H"))
        return ids.pop()

    def _expire(self, now: float) -> None:
        pending_by_id = self.pending
        while pending_by_id:
            new_id, pending = next(iter(pending_by_id.items()))
            if pending.deadline > now:
                return  # and so are all that follow
            del pending_by_id[new_id]
            pending.attempt += 1
            self._forward(pending)

    def _on_upstream(self, sock: socket.socket, _mask: int) -> None:
        recvfrom, relay = sock.recvfrom, self._relay  # bound once per batch
        for _ in range(UDP_BATCH):
            try:
                data, addr = recvfrom(65535)
            except OSError:
                return  # drained (BlockingIOError), or the socket failed
            try:
                relay(data, addr)
            except Exception:
                self.log.error(f"upstream reply failed:\n{traceback.format_exc().rstrip()}")

    def _relay(self, data: bytes, addr: tuple) -> None:
        if len(data) < 12 or not data[2] & 0x80:
            return
        new_id = (data[0] << 8) | data[1]
        pending = self.pending.get(new_id)
        if pending is None or addr[:2] != pending.upstream[:2]:
            return  # late, unknown, or from somewhere we did not ask: drop
        question = pending.query[12:pending.qend]
        if data[4:6] != b"\x00\x01" or data[12:12 + len(question)].lower() != question.lower():
            return  # not the answer to our question: keep waiting for the real one
        del self.pending[new_id]
        self._reply(pending, pending.query[:2] + data[2:])


# -- entry point -----------------------------------------------------------------------

def _recv(sock: socket.socket, size: int) -> bytes | None:
    """What a non-blocking socket has: data, b"" at its end or on an error,
    None when nothing is ready yet."""
    try:
        return sock.recv(size)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""


def _lock_pid_file(path: str) -> int | None:
    """Hold an exclusive flock on the pid file (the helper's liveness token) and write
    our pid; None if another live helper holds it."""
    deadline = time.monotonic() + 1.0
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)
            continue
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # removed by an exiting helper between our open and our lock
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd


def _raise_fd_limit(log: _Log) -> None:
    """Two sockets per sandbox, a pidfd per watched container and up to MAX_TCP_CONNS
    connections: a full /24 comes near the usual soft limit of 1,024 descriptors, so
    take the hard limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError) as exc:
            log.error(f"cannot raise the descriptor limit from {soft}: {exc}")


def _terminate(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnmctl.dns.server",
                                     description="cnmctl's embedded DNS helper for one network")
    parser.add_argument("--network", required=True, help="network ID")
    parser.add_argument("--root", required=True, help="store root")
    parser.add_argument("--run-root", required=True, help="run root (RUN/dns holds our files)")
    parser.add_argument("--upstream", action="append", default=[],
                        help="IP[:PORT] to forward other names to (repeatable); "
                             "default: the host's nameservers (/etc/resolv.conf, or "
                             "systemd-resolved's upstreams behind its 127.0.0.53 stub), "
                             "read again at every reload")
    args = parser.parse_args(argv)

    os.umask(0o077)
    os.chdir("/")
    log = _Log(args.network[:12])
    _raise_fd_limit(log)
    paths = helper_paths(args.network, args.run_root)
    os.makedirs(os.path.dirname(paths["pid"]), mode=0o700, exist_ok=True)
    try:
        helper = Helper(args.network, args.root, args.run_root, args.upstream or None, log)
    except ValueError as exc:
        log(f"bad upstream: {exc}")
        return 2
    pid_fd = _lock_pid_file(paths["pid"])
    if pid_fd is None:
        log("another helper for this network is running; exiting")
        return 1
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        helper.open_control()
        shown = ", ".join(f"{a[0]}:{a[1]}" for _f, a in helper.upstreams) or "none"
        log(f"started, pid {os.getpid()}, upstreams {shown}")
        helper.run()
    finally:
        # Ignore further signals so the clean-up is not interrupted half-way.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with contextlib.suppress(Exception):
            helper.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(paths["pid"])
        os.close(pid_fd)
        log("exited")
    return 0


if __name__ == "__main__":
    sys.exit(main())
