"""Published ports: the host ports a starting container gets, checked before any
rule exists; and the firewall step of every command that changes the table.

A container's `port_bindings` (what `-p` asked) and, with `-P`, its exposed ports
become `ports` at start: concrete host addresses and ports, each pointing at the
container's address on the network that publishes them (the first bridge
network it joined that is not --internal, the one its default route leaves by).
The firewall (firewall/ruleset.py) turns `ports` into DNAT rules; nothing
listens on the host, the kernel does all of it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from cnmctl.errors import Conflict

if TYPE_CHECKING:
    from cnmctl.model import Container, Sandbox

FIREWALL_STEP = {"kind": "firewall"}
# Docker's range for ports chosen by the daemon (libnetwork portallocator)
EPHEMERAL_FIRST, EPHEMERAL_LAST = 49153, 65535


class PortOps:
    """Mixed into Engine; relies on its store, transactions and lookups."""

    def firewall_changed(self) -> None:
        """The open transaction changes what cnmctl's table holds: write it anew
        once committed (a step, redone after a crash)."""
        self._tx.then(FIREWALL_STEP)

    @staticmethod
    def require_firewall() -> None:
        """Refuse, before anything changes, a command that needs libnftables where it
        is not installed."""
        from cnmctl.firewall.apply import require

        require()

    @staticmethod
    def firewall_blockers() -> str:
        """One line naming the other firewalls that would drop the traffic of cnmctl's
        networks (a FORWARD policy drop of Docker's or firewalld's), and what to do;
        "" if there are none."""
        from cnmctl.firewall import coexist

        found = coexist.scan()
        return f"{'; '.join(found)}: {coexist.advice()}" if found else ""

    def firewall_listing(self) -> tuple[str | None, str]:
        """`system firewall`: cnmctl's table as nft prints it (None if the kernel has
        none), and what is wrong with it ("" if it is the one the store implies)."""
        from cnmctl.firewall import apply, sync

        with self.store.lock():
            return apply.listing(), sync.drift(self.store)

    def _publish(self, ctr: Container, sandbox: Sandbox | None) -> list[dict]:
        """The bindings the starting container gets; Docker's error for a host port
        another container has, or another program holds."""
        wanted = wanted_bindings(ctr)
        if not wanted or sandbox is None or sandbox.container_id != ctr.id:
            return []
        publisher = self._publishing_endpoint(sandbox)
        if publisher is None:  # only --internal networks: nothing reaches it from outside
            return []
        ep, net = publisher
        default_ip = net.driver_data.get("host_binding_ipv4") or "0.0.0.0"
        taken = self._published_elsewhere(ctr.id)
        ports = []
        for port, host_ip, host_port in wanted:
            proto = port.split("/")[1]
            host_ip = host_ip or default_ip
            candidates = _candidates(host_port)
            chosen = next((c for c in candidates
                           if not _unavailable(taken, proto, host_ip, c)), None)
            if chosen is None:
                # One port asked: why it is not free; a range: Docker's message for it.
                why = (_unavailable(taken, proto, host_ip, candidates[0])
                       if len(candidates) == 1 else
                       f"Bind for {host_ip}:{host_port or 0} failed: port is already allocated")
                raise Conflict(f"driver failed programming external connectivity on endpoint "
                               f"{ctr.name} ({ep.id}): {why}")
            taken.setdefault((proto, chosen), []).append(host_ip)
            ports.append({"port": port, "host_ip": host_ip, "host_port": chosen,
                          "ip": ep.ipv4.split("/")[0], "network": net.id})
        return ports

    def _publishing_endpoint(self, sandbox: Sandbox):
        """(endpoint, network) publishing the sandbox's ports: its first endpoint on a
        network with external connectivity, not --internal, with an IPv4 address."""
        eps = self._sandbox_endpoints(sandbox)
        for ep, net in zip(eps, self._networks_of(eps), strict=True):
            if (net is not None and ep.ipv4 and not net.internal
                    and self._driver(net).capabilities().external_connectivity):
                return ep, net
        return None

    def _published_elsewhere(self, cid: str) -> dict[tuple[str, int], list[str]]:
        """(proto, host port) -> host addresses, of every other running container."""
        from cnmctl.model import Container

        taken: dict[tuple[str, int], list[str]] = {}
        for doc in self.store.list("containers"):
            other = Container.from_doc(doc)
            if other.id == cid or other.status != "running":
                continue
            for binding in other.ports:
                key = (binding["port"].split("/")[1], binding["host_port"])
                taken.setdefault(key, []).append(binding["host_ip"])
        return taken


def wanted_bindings(ctr: Container) -> list[tuple[str, str, str]]:
    """(container port "80/tcp", host IP, host port or range) for each binding to
    make: those asked with -p, then with -P every other exposed port."""
    wanted = [(port, b.get("HostIp", ""), b.get("HostPort", ""))
              for port in sorted(ctr.port_bindings, key=_port_order)
              for b in ctr.port_bindings[port]]
    if ctr.publish_all:
        wanted += [(port, "", "") for port in sorted(ctr.exposed_ports, key=_port_order)
                   if port not in ctr.port_bindings]
    return wanted


def _port_order(port: str) -> tuple[int, str]:
    """"80/tcp" -> (80, "tcp"): ports by number, as Docker lists them."""
    number, _, proto = port.partition("/")
    return int(number), proto


def _candidates(host_port: str) -> range:
    """The host ports to try: the one asked, each of a range, or Docker's ephemeral range."""
    if not host_port:
        return range(EPHEMERAL_FIRST, EPHEMERAL_LAST + 1)
    first, _, last = host_port.partition("-")
    return range(int(first), int(last or first) + 1)


def _unavailable(taken: dict[tuple[str, int], list[str]], proto: str, host_ip: str,
                 port: int) -> str:
    """Docker's reason the host port cannot be published, "" if it can: another
    running container publishes it on an overlapping address, or a program holds it."""
    if any(ip == host_ip or "0.0.0.0" in (ip, host_ip) for ip in taken.get((proto, port), ())):
        return f"Bind for {host_ip}:{port} failed: port is already allocated"
    problem = _bind_problem(proto, host_ip, port)
    if problem:
        return f"Error starting userland proxy: listen {proto}4 {host_ip}:{port}: bind: {problem}"
    return ""


def _bind_problem(proto: str, host_ip: str, port: int) -> str:
    """Why a program could not bind the host port ("" if it can): another program
    has it, or the address is not the host's. Docker's proxy would bind it; cnmctl
    only checks, then publishes in the kernel."""
    import errno
    import socket  # here: 6-9 ms that every command importing the engine would pay

    kind, number = {"tcp": (socket.SOCK_STREAM, socket.IPPROTO_TCP),
                    "udp": (socket.SOCK_DGRAM, socket.IPPROTO_UDP),
                    "sctp": (socket.SOCK_SEQPACKET, socket.IPPROTO_SCTP)}[proto]
    try:
        sock = socket.socket(socket.AF_INET, kind, number)
    except OSError:  # no SCTP in this kernel: nothing can hold the port either
        return ""
    with sock:
        if proto == "tcp":  # as Go's net.Listen does: a port in TIME_WAIT is free
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host_ip, port))
        except OSError as exc:
            return os.strerror(exc.errno or errno.EINVAL).lower()
    return ""


