"""The only module that talks netlink: rtnetlink messages built on pyroute2's
message bases, over a plain socket.

Why not pyroute2.IPRoute: `import pyroute2` runs the package's __init__,
which imports nearly every submodule (asyncio, ndb, ipdb...) and costs about
0.17 s, several times a whole `network create`. pyroute2's `nlmsg`/`nla`
classes encode and decode netlink messages and attributes; this module
imports only those (skipping the package __init__), declares the three
message layouts it uses, and sends them over a blocking AF_NETLINK socket:
the request/acknowledge loop below is the only hand-written netlink code.

Netlink errors are translated into cnmctl errors here, in one place, and each
message names the step that failed.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import ipaddress
import os
import socket
import struct
import sys
import types
from collections.abc import Iterator

from cnmctl.errors import CnmError, Conflict, KernelError, NotFound


def _import_without_package_init():
    """Import pyroute2's message modules without running the package __init__ (see
    the module docstring): a bare `pyroute2` namespace stands in for the package
    while they import, and is taken away again, so that a later `import pyroute2`
    elsewhere in the process gets the real package (which then finds these
    submodules already loaded)."""
    if "pyroute2" in sys.modules:
        import pyroute2.netlink as netlink_module
        import pyroute2.netlink.rtnl as rtnl_module

        return netlink_module, rtnl_module
    spec = importlib.util.find_spec("pyroute2")
    package = types.ModuleType("pyroute2")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    sys.modules["pyroute2"] = package
    try:
        import pyroute2.netlink as netlink_module
        import pyroute2.netlink.rtnl as rtnl_module
    finally:
        del sys.modules["pyroute2"]
    return netlink_module, rtnl_module


_nl, _rtnl_consts = _import_without_package_init()
NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP = _nl.NLM_F_ACK, _nl.NLM_F_CREATE, _nl.NLM_F_DUMP
NLM_F_EXCL, NLM_F_REQUEST = _nl.NLM_F_EXCL, _nl.NLM_F_REQUEST
NLMSG_DONE, NLMSG_ERROR = _nl.NLMSG_DONE, _nl.NLMSG_ERROR
nla, nlmsg = _nl.nla, _nl.nlmsg
RTM_DELLINK, RTM_GETADDR, RTM_GETLINK = (_rtnl_consts.RTM_DELLINK, _rtnl_consts.RTM_GETADDR,
                                         _rtnl_consts.RTM_GETLINK)
RTM_GETROUTE, RTM_NEWADDR = _rtnl_consts.RTM_GETROUTE, _rtnl_consts.RTM_NEWADDR
RTM_NEWLINK, RTM_NEWROUTE = _rtnl_consts.RTM_NEWLINK, _rtnl_consts.RTM_NEWROUTE

IFF_UP = 0x1


# The message layouts cnmctl sends and reads, declared on pyroute2's nlmsg/nla
# bases, which do all encoding and decoding. pyroute2's own ifinfmsg module
# also loads its 15 link-type plugins at import: with ifaddrmsg and rtmsg that
# is about 26 ms per process, more than the rest of `network rm`. Only the
# attributes below are decoded; replies' other attributes are skipped.

_IFINFOMSG = (("family", "B"), ("__align", "x"), ("ifi_type", "H"), ("index", "i"),
              ("flags", "I"), ("change", "I"))


class ifinfmsg(nlmsg):  # noqa: N801 - pyroute2's naming for message classes
    """struct ifinfomsg with the link attributes cnmctl uses."""

    prefix = "IFLA_"
    fields = _IFINFOMSG
    nla_map = ((1, "IFLA_ADDRESS", "l2addr"), (3, "IFLA_IFNAME", "asciiz"),
               (4, "IFLA_MTU", "uint32"), (10, "IFLA_MASTER", "uint32"),
               (18, "IFLA_LINKINFO", "linkinfo"), (20, "IFLA_IFALIAS", "asciiz"),
               (28, "IFLA_NET_NS_FD", "uint32"))

    class linkinfo(nla):  # noqa: N801
        """IFLA_LINKINFO: the link kind and, for a veth, its peer."""

        prefix = "IFLA_INFO_"
        nla_map = ((1, "IFLA_INFO_KIND", "asciiz"), (2, "IFLA_INFO_DATA", "veth_data"),
                   (4, "IFLA_INFO_SLAVE_KIND", "asciiz"),
                   (5, "IFLA_INFO_SLAVE_DATA", "brport_data"))

        class brport_data(nla):  # noqa: N801
            """A bridge port's settings (IFLA_BRPORT_*): only isolation."""

            nla_map = ((33, "IFLA_BRPORT_ISOLATED", "uint8"),)

        class veth_data(nla):  # noqa: N801
            nla_map = ((1, "VETH_INFO_PEER", "peer"),)

            class peer(nla):  # noqa: N801
                """The peer: an ifinfomsg header and its own attributes."""

                prefix = "IFLA_"
                fields = _IFINFOMSG
                nla_map = ((1, "IFLA_ADDRESS", "l2addr"), (3, "IFLA_IFNAME", "asciiz"),
                           (4, "IFLA_MTU", "uint32"), (28, "IFLA_NET_NS_FD", "uint32"))


class ifinfreply(nlmsg):  # noqa: N801
    """A link as the kernel reports it: index (a field), name, master, kind and
    alias. Kept apart from ifinfmsg because a bridge's IFLA_INFO_DATA is no veth data."""

    prefix = "IFLA_"
    fields = _IFINFOMSG
    nla_map = ((3, "IFLA_IFNAME", "asciiz"), (10, "IFLA_MASTER", "uint32"),
               (18, "IFLA_LINKINFO", "linkinfo"), (20, "IFLA_IFALIAS", "asciiz"))

    class linkinfo(nla):  # noqa: N801
        """IFLA_LINKINFO: only the kind."""

        prefix = "IFLA_INFO_"
        nla_map = ((1, "IFLA_INFO_KIND", "asciiz"),)


class ifaddrmsg(nlmsg):  # noqa: N801
    """struct ifaddrmsg with the address attributes cnmctl uses."""

    prefix = "IFA_"
    fields = (("family", "B"), ("prefixlen", "B"), ("flags", "B"), ("scope", "B"),
              ("index", "I"))
    nla_map = ((1, "IFA_ADDRESS", "ipaddr"), (2, "IFA_LOCAL", "ipaddr"),
               (4, "IFA_BROADCAST", "ipaddr"))


class rtmsg(nlmsg):  # noqa: N801
    """struct rtmsg with the route attributes cnmctl uses."""

    prefix = "RTA_"
    fields = (("family", "B"), ("dst_len", "B"), ("src_len", "B"), ("tos", "B"),
              ("table", "B"), ("proto", "B"), ("scope", "B"), ("type", "B"),
              ("flags", "I"))
    nla_map = ((1, "RTA_DST", "ipaddr"), (4, "RTA_OIF", "uint32"),
               (5, "RTA_GATEWAY", "ipaddr"), (15, "RTA_TABLE", "uint32"))


NETLINK_ROUTE = 0
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RTN_UNICAST = 1
IFA_F_NODAD = 0x02  # no duplicate address detection: IPv6 usable at once
_HEADER = struct.Struct("=LHHLL")  # nlmsghdr: length, type, flags, seq, pid
_REPLY_CLASS = {RTM_NEWLINK: ifinfreply, RTM_NEWADDR: ifaddrmsg, RTM_NEWROUTE: rtmsg}


class NetlinkFailure(Exception):
    """The kernel answered a request with an error code."""

    def __init__(self, code: int) -> None:
        super().__init__(code, os.strerror(code))
        self.code = code


class Rtnl:
    """A blocking rtnetlink socket in the namespace it was opened in."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def _send(self, msg, msg_type: int, flags: int) -> int:
        self.seq += 1
        msg["header"]["type"] = msg_type
        msg["header"]["flags"] = NLM_F_REQUEST | flags
        msg["header"]["sequence_number"] = self.seq
        msg.encode()
        self.sock.send(msg.data)
        return self.seq

    def _replies(self, seq: int) -> Iterator[tuple[int, bytes, int]]:
        """(type, buffer, offset) of each reply to request `seq` until it is done."""
        while True:
            data = self.sock.recv(1 << 20)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, msg_type, _flags, msg_seq, _pid = _HEADER.unpack_from(data, offset)
                if msg_seq == seq:
                    if msg_type == NLMSG_DONE:
                        return
                    if msg_type == NLMSG_ERROR:
                        (code,) = struct.unpack_from("=i", data, offset + _HEADER.size)
                        if code:
                            raise NetlinkFailure(-code)
                        return
                    yield msg_type, data, offset
                offset += (length + 3) & ~3

    def request(self, msg, msg_type: int, flags: int = 0) -> None:
        """Send a request and wait for the kernel's acknowledgement."""
        for _ in self._replies(self._send(msg, msg_type, flags | NLM_F_ACK)):
            pass

    def dump(self, msg, msg_type: int) -> list:
        """Send a dump request; the decoded replies."""
        found = []
        for reply_type, data, offset in self._replies(self._send(msg, msg_type, NLM_F_DUMP)):
            cls = _REPLY_CLASS.get(reply_type)
            if cls is not None:
                reply = cls(data, offset=offset)
                reply.decode()
                found.append(reply)
        return found

    # -- links ----------------------------------------------------------------
    def index(self, ifname: str) -> int | None:
        """The index of a link by name, or None."""
        msg = ifinfmsg()
        msg["attrs"] = [("IFLA_IFNAME", ifname)]
        try:
            for reply_type, data, offset in self._replies(
                    self._send(msg, RTM_GETLINK, NLM_F_ACK)):
                if reply_type == RTM_NEWLINK:
                    reply = ifinfreply(data, offset=offset)
                    reply.decode()
                    return reply["index"]
        except NetlinkFailure as exc:
            if exc.code == errno.ENODEV:
                return None
            raise
        return None

    def link_add(self, ifname: str, kind: str, *, mac: str = "", mtu: int = 0,
                 info_data: list | None = None, index: int = 0) -> None:
        """RTM_NEWLINK: create a link of `kind` (with ifindex `index` if not 0)."""
        msg = ifinfmsg()
        msg["index"] = index
        attrs = [("IFLA_IFNAME", ifname)]
        if mac:
            attrs.append(("IFLA_ADDRESS", mac))
        if mtu:
            attrs.append(("IFLA_MTU", mtu))
        linkinfo = [("IFLA_INFO_KIND", kind)]
        if info_data:
            linkinfo.append(("IFLA_INFO_DATA", {"attrs": info_data}))
        attrs.append(("IFLA_LINKINFO", {"attrs": linkinfo}))
        msg["attrs"] = attrs
        self.request(msg, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)

    def link_set(self, index: int, *, up: bool | None = None, master: int | None = None,
                 alias: str = "", isolated: bool = False, mac: str = "",
                 netns_fd: int | None = None, ifname: str = "") -> None:
        """RTM_NEWLINK on an existing link: state, master, alias (the kernel takes
        IFLA_IFALIAS only on a link that exists) and/or, on a bridge port, isolation
        (it reaches only non-isolated ports and the bridge itself: `ip link set PORT
        type bridge_slave isolated on`; only once enslaved, so not with `master`)."""
        msg = ifinfmsg()
        msg["index"] = index
        if up is not None:
            msg["change"] = IFF_UP
            msg["flags"] = IFF_UP if up else 0
        attrs = []
        if netns_fd is not None:  # moved there, renamed `ifname` on arrival if given
            attrs.append(("IFLA_NET_NS_FD", netns_fd))
        if ifname:
            attrs.append(("IFLA_IFNAME", ifname))
        if mac:
            attrs.append(("IFLA_ADDRESS", mac))
        if master is not None:
            attrs.append(("IFLA_MASTER", master))
        if alias:
            attrs.append(("IFLA_IFALIAS", alias))
        if isolated:
            data = {"attrs": [("IFLA_BRPORT_ISOLATED", 1)]}
            attrs.append(("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_SLAVE_KIND", "bridge"),
                                                      ("IFLA_INFO_SLAVE_DATA", data)]}))
        msg["attrs"] = attrs
        self.request(msg, RTM_NEWLINK)

    def link_del(self, index: int) -> None:
        """RTM_DELLINK."""
        msg = ifinfmsg()
        msg["index"] = index
        self.request(msg, RTM_DELLINK)

    def links(self) -> list:
        """Every link (decoded ifinfmsg)."""
        return self.dump(ifinfmsg(), RTM_GETLINK)

    # -- addresses and routes --------------------------------------------------
    def addr_add(self, index: int, cidr: str) -> None:
        """RTM_NEWADDR: add an address (CIDR) to a link; IPv4 with its broadcast."""
        iface = ipaddress.ip_interface(cidr)
        msg = ifaddrmsg()
        msg["index"] = index
        msg["prefixlen"] = iface.network.prefixlen
        address = str(iface.ip)
        if iface.version == 4:
            msg["family"] = socket.AF_INET
            msg["attrs"] = [("IFA_LOCAL", address), ("IFA_ADDRESS", address),
                            ("IFA_BROADCAST", str(iface.network.broadcast_address))]
        else:
            msg["family"] = socket.AF_INET6
            msg["flags"] = IFA_F_NODAD
            msg["attrs"] = [("IFA_ADDRESS", address)]
        self.request(msg, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL)

    def addresses(self) -> list:
        """Every address (decoded ifaddrmsg)."""
        return self.dump(ifaddrmsg(), RTM_GETADDR)

    def route_add(self, dst: str, gateway: str, oif: int) -> None:
        """RTM_NEWROUTE in the main table via `gateway` on link `oif`; with no
        gateway, straight out of `oif` (scope link, as `ip route add DST dev IF`)."""
        network = ipaddress.ip_network(dst)
        msg = rtmsg()
        msg["family"] = socket.AF_INET if network.version == 4 else socket.AF_INET6
        msg["dst_len"] = network.prefixlen
        msg["table"] = RT_TABLE_MAIN
        msg["proto"] = RTPROT_BOOT
        msg["scope"] = RT_SCOPE_UNIVERSE if gateway else RT_SCOPE_LINK
        msg["type"] = RTN_UNICAST
        attrs = [("RTA_GATEWAY", gateway)] if gateway else []
        attrs.append(("RTA_OIF", oif))
        if network.prefixlen:
            attrs.append(("RTA_DST", str(network.network_address)))
        msg["attrs"] = attrs
        self.request(msg, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL)

    def routes(self, family: int) -> list:
        """Every route of an address family (decoded rtmsg)."""
        msg = rtmsg()
        msg["family"] = family
        return self.dump(msg, RTM_GETROUTE)


@contextlib.contextmanager
def _rtnl(step: str, netns: str | None = None) -> Iterator[Rtnl]:
    """An rtnetlink socket (opened inside `netns` if given); errors name `step`."""
    try:
        if netns:
            from cnmctl.linux import in_netns  # ctypes: only for sandbox sockets

            with in_netns(netns):
                rtnl = Rtnl()
        else:
            rtnl = Rtnl()
    except FileNotFoundError:
        raise KernelError(f"{step}: no network namespace at {netns}") from None
    except OSError as exc:
        raise KernelError(f"{step}: cannot open a netlink socket: {exc.strerror}") from exc
    try:
        yield rtnl
    except NetlinkFailure as exc:
        raise _translate(step, exc) from exc
    finally:
        rtnl.close()


def _translate(step: str, exc: NetlinkFailure) -> Exception:
    message = f"{step}: {os.strerror(exc.code)}"
    if exc.code == errno.EEXIST:
        return Conflict(message)
    if exc.code == errno.ENODEV:
        return NotFound(message)
    return KernelError(message)


def _require(rtnl: Rtnl, ifname: str, step: str) -> int:
    index = rtnl.index(ifname)
    if index is None:
        raise NotFound(f"{step}: no interface {ifname}")
    return index


# -- what drivers and sandboxes call -------------------------------------------

def create_bridge(name: str, mac: str, mtu: int, addresses: list[str], alias: str = "") -> None:
    """Create a bridge with a fixed MAC and MTU, add `addresses` (CIDR), set it up.
    `alias` (IFLA_IFALIAS) marks it as cnmctl's, so a repair can tell its own.

    The MAC is set at creation so the bridge never adopts a port's MAC (which
    would change whenever a container leaves and break neighbours' ARP caches).
    On failure the half-made bridge is removed.
    """
    step = f"create bridge {name}"
    with _rtnl(step) as rtnl:
        rtnl.link_add(name, "bridge", mac=mac, mtu=mtu)
        try:
            index = _require(rtnl, name, step)
            for cidr in addresses:
                rtnl.addr_add(index, cidr)
            rtnl.link_set(index, up=True, alias=alias)
        except BaseException as exc:
            _remove_half_made(rtnl, rtnl.index(name), exc)
            raise


def _remove_half_made(rtnl: Rtnl, index: int | None, exc: BaseException) -> None:
    """Delete a link that a failed step half made; if that fails too, the error the
    user sees (`exc`, one line) says so as well."""
    if index is None:
        return
    try:
        rtnl.link_del(index)
    except (NetlinkFailure, OSError) as undo:
        if isinstance(exc, CnmError):
            exc.args = (f"{exc}; removing the half-made link failed too: {undo}",)
        else:
            exc.add_note(f"removing the half-made link failed too: {undo}")


def delete_link(name: str) -> None:
    """Delete a link by name; a link that is already gone is not an error."""
    with _rtnl(f"delete link {name}") as rtnl:
        index = rtnl.index(name)
        if index is None:
            return
        try:
            rtnl.link_del(index)
        except NetlinkFailure as exc:
            if exc.code != errno.ENODEV:
                raise


def host_links() -> list[tuple[str, str, str, str]]:
    """(name, kind, master's name, alias) of every link in this namespace."""
    with _rtnl("list links") as rtnl:
        msgs = rtnl.links()
    names = {msg["index"]: msg.get_attr("IFLA_IFNAME") for msg in msgs}
    found = []
    for msg in msgs:
        info = msg.get_attr("IFLA_LINKINFO")
        kind = (info.get_attr("IFLA_INFO_KIND") if info else None) or ""
        found.append((msg.get_attr("IFLA_IFNAME"), kind,
                      names.get(msg.get_attr("IFLA_MASTER"), ""),
                      msg.get_attr("IFLA_IFALIAS") or ""))
    return found


def link_exists(name: str) -> bool:
    """True if a link of that name exists in this namespace."""
    with _rtnl(f"look up link {name}") as rtnl:
        return rtnl.index(name) is not None


def host_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Subnets the host already uses: its interface addresses and routes.

    Default pools overlapping these are skipped (Docker skips on-link routes;
    cnmctl skips routes via gateways too, the usual VPN clash).
    """
    found: list = []
    with _rtnl("read host addresses and routes") as rtnl:
        for msg in rtnl.addresses():
            address = msg.get_attr("IFA_ADDRESS")
            if address:
                found.append(ipaddress.ip_interface(f"{address}/{msg['prefixlen']}").network)
        for family in (socket.AF_INET, socket.AF_INET6):
            for msg in rtnl.routes(family):
                dst = msg.get_attr("RTA_DST")
                if (dst and msg["dst_len"] > 0
                        and msg.get_attr("RTA_TABLE", msg["table"]) == RT_TABLE_MAIN):
                    found.append(ipaddress.ip_network(f"{dst}/{msg['dst_len']}", strict=False))
    return [n for n in found if not n.is_loopback and not n.is_link_local]


def plug_veth(host_ifname: str, bridge: str, sandbox_key: str, ifname: str, mac: str,
              mtu: int, isolated: bool = False) -> None:
    """Create a veth pair whose peer is born inside the sandbox as `ifname`.

    Making the peer directly in the namespace (IFLA_NET_NS_FD) costs about
    1 ms; creating it on the host and moving it costs about 22 ms. The host
    side is enslaved to `bridge` (an isolated port if `isolated`) and brought up.
    """
    step = f"create veth {host_ifname} for {ifname}"
    with _rtnl(step) as rtnl:
        master = _require(rtnl, bridge, step)
        # Number the pair as if both ends had been made on the host (peer N, host
        # side N+1), as Docker's moved veths are: `ip link`/`bridge link` name a
        # peer in another namespace by its index, and a fresh sandbox's eth0
        # would otherwise be index 2, which on the host is some other link.
        # if_nameindex (libc) rather than a decoded link dump: it stays cheap
        # with hundreds of veths on the host.
        peer_index = max(index for index, _name in socket.if_nameindex()) + 1
        ns_fd = os.open(sandbox_key, os.O_RDONLY | os.O_CLOEXEC)
        try:
            peer = {"index": peer_index,
                    "attrs": [("IFLA_IFNAME", ifname), ("IFLA_ADDRESS", mac),
                              ("IFLA_MTU", mtu), ("IFLA_NET_NS_FD", ns_fd)]}
            rtnl.link_add(host_ifname, "veth", mtu=mtu, index=peer_index + 1,
                          info_data=[("VETH_INFO_PEER", peer)])
        finally:
            os.close(ns_fd)
        index = peer_index + 1  # the kernel gives the index asked for, or fails
        try:
            if isolated:  # a port setting: once enslaved, as it comes up
                rtnl.link_set(index, master=master)
                rtnl.link_set(index, up=True, isolated=True)
            else:
                rtnl.link_set(index, master=master, up=True)  # enslaved, then up: one message
        except BaseException as exc:
            _remove_half_made(rtnl, index, exc)
            raise


def configure_interface(sandbox_key: str, ifname: str, addresses: list[str],
                        routes: list[tuple[str, str]], mac: str = "") -> None:
    """Inside the sandbox: give `ifname` its MAC (if given) and addresses, bring it
    up and add `routes` as (destination CIDR, gateway or "" for on-link) pairs."""
    step = f"configure {ifname} in {sandbox_key}"
    with _rtnl(step, sandbox_key) as rtnl:
        index = _require(rtnl, ifname, step)
        if mac:
            rtnl.link_set(index, mac=mac)
        for cidr in addresses:
            rtnl.addr_add(index, cidr)
        rtnl.link_set(index, up=True)
        for dst, gateway in routes:
            rtnl.route_add(dst, gateway, index)


LOOPBACK_INDEX = 1  # `lo` is the first link of every network namespace


def loopback_up(sandbox_key: str) -> None:
    """Bring up `lo` in a new sandbox."""
    step = f"bring up lo in {sandbox_key}"
    with _rtnl(step, sandbox_key) as rtnl:
        rtnl.link_set(LOOPBACK_INDEX, up=True)


def add_default_route(sandbox_key: str, ifname: str, gateway: str) -> None:
    """Route the sandbox's default traffic via `gateway` on `ifname`."""
    dst = "::/0" if ":" in gateway else "0.0.0.0/0"
    step = f"add default route in {sandbox_key}"
    with _rtnl(step, sandbox_key) as rtnl:
        rtnl.route_add(dst, gateway, _require(rtnl, ifname, step))


def remove_interface(sandbox_key: str, ifname: str) -> None:
    """Delete an interface inside the sandbox (a veth's peer goes with it)."""
    with _rtnl(f"delete {ifname} in {sandbox_key}", sandbox_key) as rtnl:
        index = rtnl.index(ifname)
        if index is not None:
            rtnl.link_del(index)


def default_routes(sandbox_key: str) -> list[tuple[str, str]]:
    """The sandbox's default routes as (interface name, gateway)."""
    with _rtnl(f"read routes in {sandbox_key}", sandbox_key) as rtnl:
        names = {msg["index"]: msg.get_attr("IFLA_IFNAME") for msg in rtnl.links()}
        found = []
        for family in (socket.AF_INET, socket.AF_INET6):
            for msg in rtnl.routes(family):
                gateway = msg.get_attr("RTA_GATEWAY")
                if msg["dst_len"] == 0 and gateway and msg["table"] == RT_TABLE_MAIN:
                    found.append((names.get(msg.get_attr("RTA_OIF")), gateway))
        return found

