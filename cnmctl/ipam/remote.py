"""A Docker IPAM plugin behind the Ipam protocol (libnetwork's ipams/remote).

Each method is one ``/IpamDriver.*`` call with Docker's payload. What a plugin
answers is hostile input: every field is checked (types, lengths, CIDR
syntax, the family asked for, the subnet and address asked for) before the
engine sees it, and anything else becomes one line naming the plugin and the
call. The plugin keeps its state itself, so the engine records an undo step
for each request before making it (engine/addresses.py).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from cnmctl.ipam.allocator import parse_cidr
from cnmctl.ipam.api import GATEWAY_KEY, AllocatedPool, Capabilities, PoolRequest
from cnmctl.plugins.client import CallNotFound, NoAnswer, PluginError, PluginRefused

if TYPE_CHECKING:
    from cnmctl.ipam.api import IPAddress, IPInterface

MAX_TEXT = 512  # characters of a pool ID, address space or data value accepted
MAX_DATA = 64  # entries of a Data map accepted
# Characters of a PoolID refused but still given back by ReleasePool (JSON escapes
# whatever it holds); a longer one is not written to an intent: it stays with the plugin.
MAX_RELEASED_ID = 64 << 10
# How plugins say "I do not have that" when asked to release it: a release that
# finds nothing is done (a redone step, or a request the plugin never accepted).
_GONE = ("not found", "not allocated", "does not exist", "no such", "cannot find",
         "not in use", "already released", "unknown pool", "unknown address")


class Transport(Protocol):
    """What RemoteIpam needs of a plugin (plugins/client.py's Plugin; a fake in tests)."""

    name: str

    def call(self, method: str, payload: dict | None = None) -> dict:
        """POST one call; the answer's JSON object, or PluginError / CallNotFound."""
        ...


class BadAnswer(PluginError):
    """An answer that does not hold up; ``accepted`` is what the plugin gave all
    the same (a pool ID, an address: to release), or ""."""

    def __init__(self, message: str, accepted: str = "") -> None:
        super().__init__(message)
        self.accepted = accepted


def _said(exc: PluginError) -> str:
    """An error's message without its 'plugin "NAME": METHOD: ' prefix."""
    return str(exc).split(": ", 2)[-1]


def released_already(exc: PluginError) -> bool:
    """Whether a release's error is the plugin saying there was nothing to release
    (its own refusal, never the transport's: a plugin that could not be reached, or
    did not answer, let go of nothing we know of)."""
    return isinstance(exc, PluginRefused) and any(word in _said(exc).lower()
                                                  for word in _GONE)


def unanswered(exc: PluginError) -> bool:
    """Whether a request's error leaves open that the plugin did it: it was sent and
    no answer came back in time, or none that could be read."""
    return isinstance(exc, NoAnswer)


class RemoteIpam:
    """An IPAM plugin: Docker's six IpamDriver calls over a Transport."""

    external = True  # its state lives in the plugin, outside cnmctl's transaction

    def __init__(self, plugin: Transport) -> None:
        self.plugin = plugin
        self.name = plugin.name
        self._caps: Capabilities | None = None

    # -- the calls ------------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        """GetCapabilities, asked once; a plugin without it (404) has none."""
        if self._caps is None:
            try:
                answer = self.plugin.call("IpamDriver.GetCapabilities")
            except CallNotFound:
                answer = {}
            self._caps = Capabilities(
                requires_mac=self._flag(answer, "RequiresMACAddress", "GetCapabilities"),
                requires_replay=self._flag(answer, "RequiresRequestReplay", "GetCapabilities"))
        return self._caps

    def default_address_spaces(self) -> tuple[str, str]:
        """GetDefaultAddressSpaces: (local, global)."""
        method = "GetDefaultAddressSpaces"
        answer = self.plugin.call(f"IpamDriver.{method}")
        return (self._text(answer, "LocalDefaultAddressSpace", method),
                self._text(answer, "GlobalDefaultAddressSpace", method))

    def request_pool(self, req: PoolRequest) -> AllocatedPool:
        """RequestPool with the user's --subnet, --ip-range and --ipam-opt; the
        answer must be a pool of the family asked for, the very subnet asked for
        if one was, and a gateway in its data must lie in it."""
        method = "RequestPool"
        answer = self.plugin.call(f"IpamDriver.{method}", {
            "AddressSpace": req.address_space, "Pool": req.pool, "SubPool": req.sub_pool,
            "Options": dict(req.options or {}), "V6": req.v6})
        try:
            pool_id = self._text(answer, "PoolID", method, required=True)
        except BadAnswer as exc:  # a pool all the same: given back with the plugin's own ID
            raw = answer.get("PoolID")
            if isinstance(raw, str) and len(raw) <= MAX_RELEASED_ID:
                exc.accepted = raw
            raise
        try:
            return self._pool(req, pool_id, answer)
        except BadAnswer as exc:
            exc.accepted = pool_id
            raise

    def _pool(self, req: PoolRequest, pool_id: str, answer: dict) -> AllocatedPool:
        method = "RequestPool"
        text = self._text(answer, "Pool", method, required=True)
        try:
            pool = parse_cidr(text)[1]
        except ValueError:
            raise self._error(method, f"Pool {text!r} is not a CIDR subnet") from None
        if pool.version != (6 if req.v6 else 4):
            raise self._error(method, f"Pool {pool} is not an IPv{6 if req.v6 else 4} subnet")
        if req.pool and pool != ipaddress.ip_network(req.pool, strict=False):
            raise self._error(method, f"Pool {pool} is not the subnet asked for ({req.pool})")
        data = self._data(answer, method)
        if GATEWAY_KEY in data:
            gateway = self._interface(data[GATEWAY_KEY], method, "gateway")
            if gateway.ip not in pool:
                raise self._error(method, f"gateway {gateway.ip} is outside the pool {pool}")
            data[GATEWAY_KEY] = f"{gateway.ip}/{pool.prefixlen}"
        return AllocatedPool(pool_id, pool, data)

    def release_pool(self, pool_id: str) -> None:
        """ReleasePool."""
        self.plugin.call("IpamDriver.ReleasePool", {"PoolID": pool_id})

    def request_address(self, pool_id: str, preferred: str | IPAddress | None = None,
                        options: Mapping[str, str] | None = None) -> IPInterface:
        """RequestAddress (Options as Docker sends them: null when there are none);
        the answer must be an address in CIDR form, the one asked for if one was
        (the engine checks it lies in the pool: it knows the pool's subnet)."""
        method = "RequestAddress"
        answer = self.plugin.call(f"IpamDriver.{method}", {
            "PoolID": pool_id, "Address": str(preferred) if preferred else "",
            "Options": dict(options) if options else None})
        text = self._text(answer, "Address", method)
        if not text:
            raise self._error(method, "no address returned")
        address = self._interface(text, method, "Address")
        if preferred and address.ip != ipaddress.ip_address(str(preferred)):
            raise self._error(method, f"returned {address.ip}, not the address asked for "
                                      f"({preferred})", str(address.ip))
        try:
            self._data(answer, method)
        except BadAnswer as exc:
            exc.accepted = str(address.ip)
            raise
        return address

    def release_address(self, pool_id: str, address: str | IPAddress) -> None:
        """ReleaseAddress."""
        self.plugin.call("IpamDriver.ReleaseAddress", {"PoolID": pool_id,
                                                       "Address": str(address)})

    # -- checking answers --------------------------------------------------------------
    def _error(self, method: str, message: str, accepted: str = "") -> BadAnswer:
        return BadAnswer(f'plugin "{self.name}": IpamDriver.{method}: {message}', accepted)

    def _flag(self, answer: dict, key: str, method: str) -> bool:
        value = answer.get(key, False)
        if not isinstance(value, bool):
            raise self._error(method, f"malformed answer: {key} is not true or false")
        return value

    def _text(self, answer: dict, key: str, method: str, required: bool = False) -> str:
        value = answer.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str) or len(value) > MAX_TEXT or not value.isprintable():
            raise self._error(method, f"malformed answer: {key} is not a string of at most "
                                      f"{MAX_TEXT} printable characters")
        if required and not value:
            raise self._error(method, f"malformed answer: no {key}")
        return value

    def _data(self, answer: dict, method: str) -> dict[str, str]:
        data = answer.get("Data") or {}
        if not isinstance(data, dict) or len(data) > MAX_DATA or not all(
                isinstance(k, str) and isinstance(v, str) and len(k) <= MAX_TEXT
                and len(v) <= MAX_TEXT for k, v in data.items()):
            raise self._error(method, "malformed answer: Data is not a small map of strings")
        return dict(data)

    def _interface(self, text: str, method: str, what: str) -> IPInterface:
        """`text` as ADDRESS/LEN (Go's net.ParseCIDR: no bare address, no netmask)."""
        try:
            address, net = parse_cidr(text)
            return ipaddress.ip_interface((address, net.prefixlen))
        except ValueError:
            raise self._error(method, f"{what} {text!r} is not an address in CIDR form") \
                from None
