"""The default IPAM's building blocks: Go-compatible address parsing and the
per-subnet allocator (lowest free address first, from a bitmap).

Pure Python over plain data: nothing here touches the kernel or the store.
The engine persists what :meth:`SubnetAllocator.to_doc` returns as JSON and
rebuilds it with ``from_doc``.

Error texts follow Docker (moby/moby and docker/cli) word for word where
Docker has one, so scripts written against ``docker`` keep working.
"""

from __future__ import annotations

import binascii
import ipaddress
from collections.abc import Callable, Mapping
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from cnmctl.errors import CnmError, Conflict, InvalidArgument

IPNetwork = IPv4Network | IPv6Network
IPAddress = IPv4Address | IPv6Address

# Docker's texts (libnetwork ipamapi / docker cli create.go / daemon).
MSG_IN_USE = "Address already in use"
MSG_NO_ADDRESSES = "No available addresses on this pool"
MSG_POOL_OVERLAP = "Pool overlaps with other one on this address space"
MSG_POOLS_EXHAUSTED = "all predefined address pools have been fully subnetted"
MSG_OVERLAPPING_SUBNETS = "multiple overlapping subnet configuration is not supported"
MSG_NEED_SUBNET = "every ip-range or gateway must have a corresponding subnet"

#: Dynamic allocation uses a bitmap over at most this many addresses of the
#: pool (range).  2**20 bits is 128 KiB at worst, which bounds both memory and
#: the JSON document, while being far more than any host will ever run.
WINDOW_BITS = 1 << 20


# --------------------------------------------------------------------------
# parsing helpers
# --------------------------------------------------------------------------


def parse_cidr(text: str) -> tuple[IPAddress, IPNetwork]:
    """Parse ``ADDR/LEN`` the way Go's ``net.ParseCIDR`` does.

    Returns the address as written and the masked network.  Stricter than
    ``ipaddress.ip_network``: a bare address, a netmask suffix
    (``/255.255.0.0``) or an IPv6 zone are not CIDR notation.
    Raises ValueError.
    """
    addr_text, sep, plen_text = text.partition("/")
    if not sep or not plen_text.isdigit() or not plen_text.isascii() or "%" in addr_text:
        raise ValueError(text)
    if len(plen_text) > 1 and plen_text[0] == "0":
        raise ValueError(text)
    addr = ipaddress.ip_address(addr_text)
    plen = int(plen_text)
    if plen > addr.max_prefixlen:
        raise ValueError(text)
    return addr, ipaddress.ip_network((addr, plen), strict=False)


def parse_ip(text: str) -> IPAddress:
    """Parse a plain IP address (no prefix, no zone).  Raises ValueError."""
    if "%" in text:
        raise ValueError(text)
    return ipaddress.ip_address(text)


def _parse_network(text: str, what: str, bad_text: str) -> IPNetwork:
    """Parse a --subnet or --ip-range value; host bits are refused, not masked away.

    Docker keeps "10.1.2.3/24" verbatim and then shows no gateway: a trap for
    users, so refuse it and say what was probably meant.
    """
    try:
        addr, net = parse_cidr(text)
    except ValueError:
        raise InvalidArgument(bad_text) from None
    if addr != net.network_address:
        raise InvalidArgument(f"invalid {what} {text}: it has host bits set (did you mean {net}?)")
    return net


def parse_subnet(text: str) -> IPNetwork:
    """Parse a ``--subnet`` value."""
    return _parse_network(text, "subnet", f"Invalid subnet {text} : invalid CIDR address: {text}")


def parse_range(text: str) -> IPNetwork:
    """Parse an ``--ip-range`` value."""
    return _parse_network(text, "ip-range", f"invalid CIDR address: {text}")


def _ip_arg(value: IPAddress | str, message: Callable[[str], str]) -> IPAddress:
    """An address argument given as object or text; bad text raises
    InvalidArgument with ``message(text)``."""
    if not isinstance(value, str):
        return value
    try:
        return parse_ip(value)
    except ValueError:
        raise InvalidArgument(message(value)) from None


def as_network(value: object) -> IPNetwork:
    """Accept a network, an address (as a host prefix) or CIDR text."""
    if isinstance(value, IPv4Network | IPv6Network):
        return value
    if isinstance(value, IPv4Address | IPv6Address):
        return ipaddress.ip_network(value)
    return ipaddress.ip_network(str(value), strict=False)


def _usable_count(net: IPNetwork) -> int:
    """Addresses left once the network (and IPv4 broadcast) address are out."""
    return net.num_addresses - (2 if net.version == 4 else 1)


def _check_big_enough(net: IPNetwork) -> None:
    """A subnet must hold a gateway plus at least one container."""
    if _usable_count(net) < 2:
        raise Conflict(f"failed to allocate gateway (): {MSG_NO_ADDRESSES}")


def default_gateway(subnet: IPNetwork | str) -> IPAddress:
    """The gateway IPAM picks when none is given: the first host address.

    Raises Conflict (Docker's text) for subnets too small for a gateway and
    one container (IPv4 /31 and /32, IPv6 /127 and /128).
    """
    net = as_network(subnet)
    _check_big_enough(net)
    return net.network_address + 1


# --------------------------------------------------------------------------
# address allocation
# --------------------------------------------------------------------------


class SubnetAllocator:
    """Address allocation for one subnet of one network, as plain data.

    Addresses are handed out lowest free first (Docker: .2, .3, ...; a freed
    address is reused at once).  Never handed out: the network address, the
    IPv4 broadcast address, the gateway, aux addresses.  Dynamic allocations
    come from ``ip_range`` when set; static ones may be anywhere in the subnet.

    Representation.  Offsets are counted from the subnet's network address.
    The *window* is the first ``WINDOW_BITS`` offsets of the dynamic pool
    (the IP range, or the whole subnet); its state is one Python int used as
    a bitmap (bit i = offset ``base + i`` taken, reserved addresses included),
    so finding the lowest free address is a handful of big-int operations
    done in C, whatever the occupancy: no Python loop over used addresses.
    IPv6 /64s (2**64 addresses) cannot have a full bitmap, and lowest-first
    allocation never leaves the window in practice; so addresses outside it
    (static requests only, e.g. ``--ip6 fd00::dead:beef``) live in a small
    set instead.  Past the window, dynamic allocation fails with a clear error.
    """

    __slots__ = (
        "subnet",
        "gateway",
        "ip_range",
        "aux_addresses",
        "_base",
        "_size",
        "_bits",
        "_reserved_mask",
        "_reserved_far",
        "_far",
    )

    def __init__(
        self,
        subnet: IPNetwork | str,
        gateway: IPAddress | str | None = None,
        ip_range: IPNetwork | str | None = None,
        aux_addresses: Mapping[str, IPAddress | str] | None = None,
    ) -> None:
        """Set up an empty allocator.

        ``gateway`` defaults to the first host address.  Raises
        InvalidArgument when the gateway, range or an aux address lies
        outside the subnet, and Conflict (Docker's texts) when the subnet is
        too small or the gateway/an aux address is not reservable.
        """
        net = subnet if isinstance(subnet, IPv4Network | IPv6Network) else parse_subnet(subnet)
        self.subnet: IPNetwork = net
        if gateway is None or gateway == "":
            gw = default_gateway(net)
        else:
            gw = _ip_arg(gateway, lambda t: f"invalid gateway address: {t}")
            if gw.version != net.version or gw not in net:
                raise InvalidArgument(f"no matching subnet for gateway {gw}")
            if self._is_edge(int(gw) - int(net.network_address)):
                raise Conflict(f"failed to allocate gateway ({gw}): {MSG_IN_USE}")
            _check_big_enough(net)
        self.gateway: IPAddress = gw

        rng = None
        if ip_range is not None and ip_range != "":
            rng = ip_range if not isinstance(ip_range, str) else parse_range(ip_range)
            if rng.version != net.version or not rng.subnet_of(net):
                raise InvalidArgument(f"no matching subnet for range {rng}")
        self.ip_range: IPNetwork | None = rng

        pool = rng or net
        self._base = int(pool.network_address) - int(net.network_address)
        self._size = min(pool.num_addresses, WINDOW_BITS)
        self._reserved_mask = 0
        self._reserved_far: set[int] = set()
        self._far: set[int] = set()

        # Reserve what must never be handed out; aux clashes are Docker's
        # "failed to allocate secondary ip address" errors.
        self._reserve(0)
        if net.version == 4:
            self._reserve(net.num_addresses - 1)
        self._reserve(self._offset(gw))
        self.aux_addresses: dict[str, IPAddress] = {}
        for name, value in (aux_addresses or {}).items():
            ip = _ip_arg(
                value, lambda t, n=name: f"invalid aux-address: {n}={t} (expected NAME=IP)"
            )
            if ip.version != net.version or ip not in net:
                raise InvalidArgument(f"no matching subnet for aux-address {ip}")
            off = self._offset(ip)
            if self._is_reserved(off):
                raise Conflict(
                    f"failed to allocate secondary ip address ({name}:{ip}): {MSG_IN_USE}"
                )
            self._reserve(off)
            self.aux_addresses[name] = ip
        self._bits = self._reserved_mask

    # -- construction from inspect config / stored state -------------------

    @classmethod
    def from_config(cls, cfg: Mapping) -> SubnetAllocator:
        """Build an empty allocator from an ``IPAM.Config`` entry (as
        returned by :func:`parse_ipam_config`)."""
        return cls(
            cfg["Subnet"],
            gateway=cfg.get("Gateway") or None,
            ip_range=cfg.get("IPRange") or None,
            aux_addresses=cfg.get("AuxiliaryAddresses") or None,
        )

    def to_config(self) -> dict:
        """The ``IPAM.Config`` entry for inspect (gateway always filled)."""
        cfg: dict = {"Subnet": str(self.subnet)}
        if self.ip_range is not None:
            cfg["IPRange"] = str(self.ip_range)
        cfg["Gateway"] = str(self.gateway)
        if self.aux_addresses:
            cfg["AuxiliaryAddresses"] = {k: str(v) for k, v in self.aux_addresses.items()}
        return cfg

    def to_doc(self) -> dict:
        """JSON-serialisable state: the configuration plus the used set as a
        base64 little-endian bitmap over the window (reserved bits left out)
        and the rare out-of-window static addresses as text."""
        used = self._bits & ~self._reserved_mask
        raw = used.to_bytes((used.bit_length() + 7) // 8, "little")
        doc: dict = {
            "subnet": str(self.subnet),
            "gateway": str(self.gateway),
            "bitmap": binascii.b2a_base64(raw, newline=False).decode("ascii"),
        }
        if self.ip_range is not None:
            doc["ip_range"] = str(self.ip_range)
        if self.aux_addresses:
            doc["aux"] = {k: str(v) for k, v in self.aux_addresses.items()}
        if self._far:
            doc["sparse"] = [str(self._address(off)) for off in sorted(self._far)]
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping) -> SubnetAllocator:
        """Rebuild an allocator from :meth:`to_doc`'s output.

        Raises CnmError when the document is damaged (bits outside the
        window or on reserved addresses, addresses outside the subnet).
        """
        try:
            alloc = cls(
                doc["subnet"],
                gateway=doc.get("gateway") or None,
                ip_range=doc.get("ip_range") or None,
                aux_addresses=doc.get("aux") or None,
            )
            used = int.from_bytes(
                binascii.a2b_base64(doc.get("bitmap", ""), strict_mode=True), "little"
            )
            far = [alloc._offset(parse_ip(text)) for text in doc.get("sparse", ())]
        except KeyError as exc:
            raise CnmError(f"corrupt IPAM state: missing {exc}") from None
        except (TypeError, ValueError, binascii.Error) as exc:
            raise CnmError(f"corrupt IPAM state: {exc}") from None
        if used >> alloc._size or used & alloc._reserved_mask:
            raise CnmError(f"corrupt IPAM state for {alloc.subnet}: bad bitmap")
        alloc._bits |= used
        for off in far:
            if not 0 <= off < alloc.subnet.num_addresses or alloc._in_window(off):
                raise CnmError(f"corrupt IPAM state for {alloc.subnet}: bad sparse entry")
            alloc._far.add(off)
        return alloc

    # -- allocation ----------------------------------------------------------

    def allocate(self, requested: str | IPAddress | None = None) -> IPAddress:
        """Take ``requested`` (static) or the lowest free address of the
        dynamic pool, and return it.

        Raises InvalidArgument for malformed text or an address outside the
        subnet, Conflict ``Address already in use`` for a taken or reserved
        address, Conflict ``No available addresses on this pool`` when the
        pool is exhausted.
        """
        if requested is None or requested == "":
            bits = self._bits
            # Lowest zero bit: ~x & (x + 1) isolates it; all in C, O(words).
            idx = (~bits & (bits + 1)).bit_length() - 1
            if idx >= self._size:
                if self._size < (self.ip_range or self.subnet).num_addresses:
                    raise Conflict(
                        f"{MSG_NO_ADDRESSES} (cnmctl hands out at most "
                        f"{self._size} dynamic addresses per subnet)"
                    )
                raise Conflict(MSG_NO_ADDRESSES)
            self._bits = bits | (1 << idx)
            return self._address(self._base + idx)

        addr = self._parse_request(requested)
        off = self._offset(addr)
        if self._in_window(off):
            bit = 1 << (off - self._base)
            if self._bits & bit:
                raise Conflict(MSG_IN_USE)
            self._bits |= bit
        else:
            if off in self._far or off in self._reserved_far:
                raise Conflict(MSG_IN_USE)
            self._far.add(off)
        return addr

    def release(self, addr: str | IPAddress) -> bool:
        """Give ``addr`` back.  Idempotent: a free, reserved or foreign
        address is ignored.  Returns whether an allocation was freed."""
        if not self.is_allocated(addr):
            return False
        off = self._offset(parse_ip(addr) if isinstance(addr, str) else addr)
        if self._in_window(off):
            self._bits &= ~(1 << (off - self._base))
        else:
            self._far.discard(off)
        return True

    def is_allocated(self, addr: str | IPAddress) -> bool:
        """Whether ``addr`` is currently handed out (reserved ones are not)."""
        try:
            ip = parse_ip(addr) if isinstance(addr, str) else addr
        except ValueError:
            return False
        if ip.version != self.subnet.version or ip not in self.subnet:
            return False
        off = self._offset(ip)
        if self._in_window(off):
            bit = 1 << (off - self._base)
            return bool(self._bits & bit) and not self._reserved_mask & bit
        return off in self._far

    def in_use_count(self) -> int:
        """Number of allocated addresses (gateway and reserved ones excluded)."""
        return (self._bits & ~self._reserved_mask).bit_count() + len(self._far)

    def __repr__(self) -> str:
        rng = f" range={self.ip_range}" if self.ip_range is not None else ""
        return (
            f"<SubnetAllocator {self.subnet} gw={self.gateway}{rng} in_use={self.in_use_count()}>"
        )

    # -- internals -----------------------------------------------------------

    def _parse_request(self, requested: str | IPAddress) -> IPAddress:
        if isinstance(requested, str):
            try:
                addr = parse_ip(requested)
            except ValueError:
                fam = "IPv6" if ":" in requested else "IPv4"
                raise InvalidArgument(f"invalid {fam} address: {requested}") from None
        else:
            addr = requested
        if addr.version != self.subnet.version or addr not in self.subnet:
            # Docker's daemon text (`docker run` adds a final ".").
            raise InvalidArgument(
                f"Invalid address {addr}: It does not belong to any of this network's subnets"
            )
        return addr

    def _offset(self, ip: IPAddress) -> int:
        return int(ip) - int(self.subnet.network_address)

    def _address(self, off: int) -> IPAddress:
        return self.subnet.network_address + off

    def _in_window(self, off: int) -> bool:
        return 0 <= off - self._base < self._size

    def _is_edge(self, off: int) -> bool:
        """Network address, or IPv4 broadcast address."""
        return off == 0 or (self.subnet.version == 4 and off == self.subnet.num_addresses - 1)

    def _is_reserved(self, off: int) -> bool:
        if self._in_window(off):
            return bool(self._reserved_mask >> (off - self._base) & 1)
        return off in self._reserved_far

    def _reserve(self, off: int) -> None:
        if self._in_window(off):
            self._reserved_mask |= 1 << (off - self._base)
        else:
            self._reserved_far.add(off)
