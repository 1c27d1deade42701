"""plugins/client.py: how a plugin's answers are decoded, and how a silent, dead or
babbling plugin becomes one line naming the plugin and the call. The answers come
from a real unix socket served by a thread (no root needed)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from cnmctl.plugins.client import CallNotFound, Plugin, PluginError, PluginRefused
from cnmctl.plugins.discovery import PluginAddress


def _plugin(path: str, timeout: float = 2.0) -> Plugin:
    return Plugin(PluginAddress("p", f"unix://{path}", {}), timeout)


@pytest.fixture
def serve(tmp_path):
    """serve(status, body) -> a Plugin whose every call gets that raw answer; the
    requests seen are in .requests."""
    servers = []

    def start(status: int, body: bytes, delay: float = 0.0) -> Plugin:
        path = str(tmp_path / f"p{len(servers)}.sock")
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(path)
        listener.listen()
        requests: list[bytes] = []

        def loop() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                with conn:
                    data = conn.recv(65536)
                    requests.append(data)
                    time.sleep(delay)
                    head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n\r\n"
                    # a client that gave up (a timeout test) has closed its end
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        conn.sendall(head.encode() + body)

        threading.Thread(target=loop, daemon=True).start()
        servers.append(listener)
        plugin = _plugin(path)
        plugin.requests = requests
        return plugin

    yield start
    for listener in servers:
        listener.close()


@pytest.mark.parametrize("status, body", [
    (200, b'{"Err": "no such network"}'),  # the protocol doc's way
    (500, b'{"Err": "no such network"}'),  # go-plugins-helpers' way
    (200, b'{"Error": "no such network"}'),  # IPAM's response struct
    # go-plugins-helpers forgets a return after the error: a second JSON value follows
    (500, b'{"Err": "no such network"}\nnull\n'),
    (200, b'{"Err": "no such network"}{"Interface": {}}'),
])
def test_a_refusal_is_one_line_naming_plugin_and_call(serve, status, body):
    plugin = serve(status, body)
    with pytest.raises(PluginRefused) as info:
        plugin.call("NetworkDriver.CreateNetwork", {"NetworkID": "x"})
    assert str(info.value) == 'plugin "p": NetworkDriver.CreateNetwork: no such network'


def test_an_error_status_without_err_gives_its_body(serve):
    with pytest.raises(PluginRefused, match=r'^plugin "p": M: bad request: missing field$'):
        serve(400, b"bad request:\nmissing field").call("M")


def test_404_is_not_implemented(serve):
    with pytest.raises(CallNotFound, match='"p": NetworkDriver.AllocateNetwork: not impl'):
        serve(404, b"404 page not found").call("NetworkDriver.AllocateNetwork")


def test_success_and_the_request_sent(serve):
    plugin = serve(200, b'{"Scope": "local"}')
    assert plugin.call("NetworkDriver.GetCapabilities") == {"Scope": "local"}
    assert serve(200, b"").call("M", {}) == {}
    request = plugin.requests[0].decode()
    assert request.startswith("POST /NetworkDriver.GetCapabilities HTTP/1.1\r\n")
    assert "Accept: application/vnd.docker.plugins.v1.2+json" in request
    assert "Host: plugin.moby.localhost" in request


@pytest.mark.parametrize("body", [b"{not json", b'["a list"]', b"\x1b[31m"])
def test_garbage_is_a_malformed_answer(serve, body):
    with pytest.raises(PluginError, match=r'^plugin "p": M: malformed answer') as info:
        serve(200, body).call("M")
    assert "\x1b" not in str(info.value)  # a plugin's bytes never reach the terminal raw


def test_a_silent_plugin_times_out(serve):
    plugin = serve(200, b"{}", delay=3)
    plugin.timeout = 0.3
    started = time.monotonic()
    with pytest.raises(PluginError, match=r'^plugin "p": NetworkDriver.Join: no answer within'):
        plugin.call("NetworkDriver.Join", {})
    assert time.monotonic() - started < 2


def test_a_dead_plugin_is_waited_for_once(tmp_path):
    dead = tmp_path / "dead.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(dead))
    listener.close()  # the socket file stays, nobody listens: connection refused
    plugin = _plugin(str(dead), timeout=0.4)
    started = time.monotonic()
    with pytest.raises(PluginError, match=r'^plugin "p": NetworkDriver.Leave: cannot connect'):
        plugin.call("NetworkDriver.Leave", {})
    assert time.monotonic() - started >= 0.3  # retried until the deadline, as Docker does
    started = time.monotonic()
    with pytest.raises(PluginError, match=r"NetworkDriver.DeleteEndpoint: cannot connect"):
        plugin.call("NetworkDriver.DeleteEndpoint", {})
    assert time.monotonic() - started < 0.1  # then at once: its clean-ups fail fast


def test_a_plugin_that_does_not_implement_network_driver(serve, monkeypatch):
    from cnmctl.plugins import client

    plugin = serve(200, b'{"Implements": ["VolumeDriver"]}')
    monkeypatch.setattr(client, "find", lambda name: plugin.address)
    with pytest.raises(PluginError, match='"p" does not implement the requested driver'):
        client.get("p", "NetworkDriver")
