"""Calling a plugin: JSON over HTTP POST, on a unix socket or TCP (Docker's
pkg/plugins/client.go), with every failure turned into one line naming the
plugin and the call.

Written by hand on http.client: Docker's protocol is a few POSTs, and no
well-kept Python library speaks it (requests-unixsocket would add two
dependencies for one connect()). Imported only by the plugin drivers.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time

from cnmctl.errors import CnmError, InvalidArgument
from cnmctl.linux import connect_unix
from cnmctl.plugins.discovery import PluginAddress, find

MIME = "application/vnd.docker.plugins.v1.2+json"
DEFAULT_TIMEOUT = 30.0  # Docker retries a plugin that does not answer for 30 s
MAX_ANSWER = 16 << 20  # bytes of an answer read at most


class PluginError(CnmError):
    """A call failed: the plugin's Err, no answer in time, a dead socket, a bad answer."""


class CallNotFound(PluginError):
    """The plugin answered 404: it does not implement that call (tolerated for some)."""


class PluginRefused(PluginError):
    """The plugin answered and refused: its Err (or Error), or an error status."""


class NoAnswer(PluginError):
    """The request was sent and no readable answer came back (none in time, the
    connection lost, too large, not JSON): the plugin may have acted on it."""


def call_timeout() -> float:
    """Seconds a call may take, connecting included (CNMCTL_PLUGIN_TIMEOUT, else 30)."""
    text = os.environ.get("CNMCTL_PLUGIN_TIMEOUT", "")
    try:
        value = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise InvalidArgument(f"invalid CNMCTL_PLUGIN_TIMEOUT {text!r}: expected seconds "
                              "from 0 to 3600")
    return value


class Plugin:
    """One plugin, found by name; `call` posts one request and decodes the answer."""

    def __init__(self, address: PluginAddress, timeout: float | None = None) -> None:
        self.address = address
        self.name = address.name
        self.timeout = call_timeout() if timeout is None else timeout
        self._implements: list[str] | None = None
        #: why the plugin could not be reached until a deadline ("" while it could)
        self._unreachable = ""

    def implements(self) -> list[str]:
        """What the plugin says it implements (Plugin.Activate), asked once."""
        if self._implements is None:
            answer = self.call("Plugin.Activate")
            kinds = answer.get("Implements")
            if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
                raise self._error("Plugin.Activate", "malformed answer: no Implements list",
                                  NoAnswer)
            self._implements = kinds
        return self._implements

    def call(self, method: str, payload: dict | None = None) -> dict:
        """POST /METHOD with `payload` (no body when None) and return the answer's
        JSON object. Raises CallNotFound for a 404, PluginError for anything else
        that is not a success; a connection refused is retried until the timeout,
        a request once sent never is (the plugin may have acted on it)."""
        if self._unreachable:  # waited for once already: a clean-up after it fails fast
            raise self._error(method, self._unreachable)
        body = b"" if payload is None else json.dumps(payload).encode()
        deadline = time.monotonic() + self.timeout
        status, data = self._post(method, body, deadline)
        return self._decode(method, status, data)

    # -- the wire --------------------------------------------------------------------
    def _post(self, method: str, body: bytes, deadline: float) -> tuple[int, bytes]:
        delay = 0.05
        while True:
            conn = self._connection(max(deadline - time.monotonic(), 0.001))
            try:
                conn.connect()
            except (ConnectionRefusedError, FileNotFoundError) as exc:
                conn.close()
                if time.monotonic() + delay >= deadline:
                    self._unreachable = f"cannot connect to {self.address.url}: {exc.strerror}"
                    raise self._error(method, self._unreachable) from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            except OSError as exc:
                conn.close()
                raise self._error(method, f"cannot connect to {self.address.url}: "
                                  f"{exc.strerror or exc}") from None
            try:
                conn.sock.settimeout(max(deadline - time.monotonic(), 0.001))
                conn.request("POST", f"/{method}", body=body,
                             headers={"Accept": MIME, "Content-Type": MIME})
                response = conn.getresponse()
                data = response.read(MAX_ANSWER + 1)
                return response.status, data
            except TimeoutError:
                raise self._error(method, f"no answer within {self.timeout:g} s",
                                  NoAnswer) from None
            except (OSError, http.client.HTTPException) as exc:
                raise self._error(method, f"connection lost: {exc or type(exc).__name__}",
                                  NoAnswer) \
                    from None
            finally:
                conn.close()

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        url = self.address.url
        scheme, _, rest = url.partition("://")
        if scheme == "unix":
            return _UnixConnection(rest, timeout)
        host = rest.split("/", 1)[0]
        if scheme == "https" or self.address.tls:
            return http.client.HTTPSConnection(host, timeout=timeout,
                                               context=_tls_context(self.address.tls))
        return http.client.HTTPConnection(host, timeout=timeout)

    def _decode(self, method: str, status: int, data: bytes) -> dict:
        if len(data) > MAX_ANSWER:
            raise self._error(method, f"answer larger than {MAX_ANSWER >> 20} MiB", NoAnswer)
        text = data.decode("utf-8", errors="replace").strip()
        if status == 404:
            raise CallNotFound(f'plugin "{self.name}": {method}: not implemented (404)')
        doc = _first_json(text)
        if status != 200:
            message = doc.get("Err") if isinstance(doc, dict) else None
            raise self._error(method, _one_line(str(message) if message else
                                                (text or f"HTTP status {status}")), PluginRefused)
        if not text:
            return {}
        if not isinstance(doc, dict):
            raise self._error(method, f"malformed answer: {_one_line(text)[:120]!r}", NoAnswer)
        # Network plugins say Err, IPAM plugins Error (libnetwork's two response structs).
        message = doc.get("Err") or doc.get("Error")
        if message:
            raise self._error(method, _one_line(str(message)), PluginRefused)
        return doc

    def _error(self, method: str, message: str,
               kind: type[PluginError] = PluginError) -> PluginError:
        return kind(f'plugin "{self.name}": {method}: {message}')


def _first_json(text: str) -> object:
    """The first JSON value of `text` (plugins built on go-plugins-helpers may send a
    second one after an error), or None."""
    try:
        return json.JSONDecoder().raw_decode(text)[0]
    except ValueError:
        return None


def _one_line(text: str) -> str:
    """A plugin's message as one printable line (it is echoed to a terminal)."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:500]


def _tls_context(tls: dict):
    import ssl

    context = ssl.create_default_context(cafile=tls.get("CAFile") or None)
    if tls.get("CertFile"):
        context.load_cert_chain(tls["CertFile"], tls.get("KeyFile") or None)
    if tls.get("InsecureSkipVerify") or not tls.get("CAFile"):  # Docker's rule
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _UnixConnection(http.client.HTTPConnection):
    """HTTP on a unix socket; the Host header is Docker's dummy name."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("plugin.moby.localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        sock.settimeout(self.timeout)
        try:
            connect_unix(sock, self.path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


_ACTIVE: dict[str, Plugin] = {}


def get(name: str, kind: str) -> Plugin:
    """Plugin `name`, found and activated, refused unless it implements `kind`
    ("NetworkDriver", "IpamDriver"); one per name and process."""
    plugin = _ACTIVE.get(name)
    if plugin is None:
        # kept before it answers: one that cannot be reached is waited for once
        plugin = _ACTIVE[name] = Plugin(find(name))
    if kind not in plugin.implements():
        raise PluginError(f'plugin "{name}" does not implement the requested driver ({kind})')
    return plugin
