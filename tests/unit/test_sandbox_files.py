"""The resolv.conf a container gets, and how the host's resolvers are read."""

from __future__ import annotations

import pytest

from cnmctl.model import Container
from cnmctl.sandbox import files as sandbox


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_host_resolvers_reads_servers_search_and_options(tmp_path):
    path = write(tmp_path, "resolv.conf", (
        "# a comment\n; another\nnameserver 10.0.0.53\nnameserver not-an-ip\n"
        "nameserver fe80::1%eth0\nsearch a.example b.example\noptions edns0\n"
        "options trust-ad\n"))
    assert sandbox.host_resolvers(path, str(tmp_path / "none")) == (
        ["10.0.0.53", "fe80::1%eth0"], ["a.example", "b.example"], ["edns0", "trust-ad"])


def test_host_resolvers_missing_file_is_empty(tmp_path):
    assert sandbox.host_resolvers(str(tmp_path / "absent")) == ([], [], [])


@pytest.mark.parametrize(("host", "systemd_exists", "expected"), [
    ("nameserver 127.0.0.53\nsearch lan\n", True, ["192.0.2.1", "192.0.2.2"]),
    ("nameserver 127.0.0.53\n", False, ["127.0.0.53"]),
    ("nameserver 127.0.0.53\nnameserver 10.0.0.1\n", True, ["127.0.0.53", "10.0.0.1"]),
    ("nameserver 127.0.0.1\n", True, ["127.0.0.1"]),
])
def test_systemd_resolved_stub_is_looked_through(tmp_path, host, systemd_exists, expected):
    """Docker's rule: only a lone 127.0.0.53 sends it to systemd-resolved's upstreams."""
    path = write(tmp_path, "resolv.conf", host)
    systemd = str(tmp_path / "systemd-resolv.conf")
    if systemd_exists:
        write(tmp_path, "systemd-resolv.conf", "nameserver 192.0.2.1\nnameserver 192.0.2.2\n")
    assert sandbox.host_resolvers(path, systemd)[0] == expected


@pytest.fixture
def host(monkeypatch):
    """Pretend the host's resolvers are these."""
    def use(servers, search=(), options=()):
        monkeypatch.setattr(sandbox, "host_resolvers",
                            lambda: (list(servers), list(search), list(options)))
    return use


def ctr(**fields) -> Container:
    return Container(id="a" * 64, name="c1", created="x", path="sleep", **fields)


def test_default_bridge_gets_host_servers_without_loopback(host):
    host(["127.0.0.53", "10.0.0.53"], ["lan"], ["edns0"])
    assert sandbox.resolv_text(ctr()) == "search lan\nnameserver 10.0.0.53\noptions edns0\n"
    host(["127.0.0.1"])
    assert sandbox.resolv_text(ctr()) == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_host_mode_keeps_loopback_servers(host):
    host(["127.0.0.53"])
    assert sandbox.resolv_text(ctr(network_mode="host")) == "nameserver 127.0.0.53\n"


def test_user_network_names_the_embedded_dns(host):
    host(["10.0.0.53"], ["lan"], ["edns0"])
    assert sandbox.resolv_text(ctr(), embedded_dns=True) == (
        "search lan\nnameserver 127.0.0.11\noptions edns0 ndots:0\n")
    text = sandbox.resolv_text(ctr(dns=["10.9.9.9"], dns_search=["x.test"],
                                   dns_options=["ndots:3"]), embedded_dns=True)
    assert text == "search x.test\nnameserver 127.0.0.11\noptions ndots:3\n"


def test_user_network_keeps_ipv6_servers_after_the_embedded_dns(host):
    host(["10.0.0.53", "2001:db8::53", "::1"])
    assert sandbox.resolv_text(ctr(), embedded_dns=True) == (
        "nameserver 127.0.0.11\nnameserver 2001:db8::53\noptions ndots:0\n")


def test_dns_flags_override_the_host(host):
    host(["10.0.0.53"], ["lan"])
    text = sandbox.resolv_text(ctr(dns=["10.9.9.9"], dns_search=["."]))
    assert text == "nameserver 10.9.9.9\n"  # `--dns-search .` means no search line
