"""Published ports without root: the -p/--expose parser (Docker 20.10's grammar and
messages), inspect's shapes, `ps`'s PORTS column and the `port` command's lines."""

from __future__ import annotations

import pytest

from cnmctl.errors import InvalidArgument
from cnmctl.model import Container, new_id, now_rfc3339nano
from cnmctl.ports import (
    displayable_ports,
    natural_key,
    network_ports,
    parse_expose,
    parse_port_options,
    parse_publish,
    port_lines,
)
from cnmctl.views import ContainerRow, container_inspect


def _binding(port: str, ip: str = "") -> dict:
    return {"HostIp": ip, "HostPort": port}


@pytest.mark.parametrize("spec, expected", [
    ("80", [("80/tcp", _binding(""))]),
    ("8080:80", [("80/tcp", _binding("8080"))]),
    ("8080:80/udp", [("80/udp", _binding("8080"))]),
    ("8080:80/SCTP", [("80/sctp", _binding("8080"))]),
    ("80/", [("80/tcp", _binding(""))]),
    (":80", [("80/tcp", _binding(""))]),
    ("127.0.0.1:8080:80", [("80/tcp", _binding("8080", "127.0.0.1"))]),
    ("127.0.0.1::80", [("80/tcp", _binding("", "127.0.0.1"))]),
    ("[::1]:8080:80", [("80/tcp", _binding("8080", "::1"))]),
    ("[]:8080:80", [("80/tcp", _binding("8080"))]),
    ("08080:080", [("80/tcp", _binding("8080"))]),
    ("65535:1", [("1/tcp", _binding("65535"))]),
    ("8000-8002:80-82", [("80/tcp", _binding("8000")), ("81/tcp", _binding("8001")),
                         ("82/tcp", _binding("8002"))]),
    ("80-81", [("80/tcp", _binding("")), ("81/tcp", _binding(""))]),
    ("8000-8010:80", [("80/tcp", _binding("8000-8010"))]),
    ("8000-8000:80", [("80/tcp", _binding("8000"))]),
    ("10.0.0.1:8000-8001:80-81/udp", [("80/udp", _binding("8000", "10.0.0.1")),
                                      ("81/udp", _binding("8001", "10.0.0.1"))]),
    ("target=80,published=8080,protocol=udp", [("80/udp", _binding("8080"))]),
    ("target=80,mode=host", [("80/tcp", _binding(""))]),
])
def test_publish_forms(spec, expected):
    assert parse_publish(spec) == expected


@pytest.mark.parametrize("spec, message", [
    ("abc", "Invalid containerPort: abc"),
    ("8080:abc", "Invalid containerPort: abc"),
    ("0", "Invalid containerPort: 0"),
    ("70000", "Invalid containerPort: 70000"),
    ("+80", "Invalid containerPort: +80"),
    (" 80", "Invalid containerPort:  80"),
    ("8_0", "Invalid containerPort: 8_0"),
    ("٨٠", "Invalid containerPort: ٨٠"),
    ("9" * 5000, "Invalid containerPort: " + "9" * 5000),
    ("82-80", "Invalid containerPort: 82-80"),
    ("80-", "Invalid containerPort: 80-"),
    ("1-2-3", "Invalid containerPort: 1-2-3"),
    ("70000:80", "Invalid hostPort: 70000"),
    ("0:80", "Invalid hostPort: 0"),
    ("x:80", "Invalid hostPort: x"),
    ("80/xyz", "Invalid proto: xyz"),
    ("8080:80/tcp/udp", "Invalid proto: tcp/udp"),
    ("8000-8002:80-81", "Invalid ranges specified for container and host Ports: 80-81 and "
                        "8000-8002"),
    ("8080:80-81", "Invalid ranges specified for container and host Ports: 80-81 and 8080"),
    ("", "No port specified: <empty>"),
    ("/udp", "No port specified: /udp<empty>"),
    ("8080:", "No port specified: 8080:<empty>"),
    ("1.2.3:80:80", "Invalid ip address: 1.2.3"),
    ("localhost:80:80", "Invalid ip address: localhost"),
    ("fe80::1%eth0:80:80", "Invalid ip address fe80::1%eth0: address fe80::1%eth0:: too "
                           "many colons in address"),
    ("[fe80::1%eth0]:80:80", "Invalid ip address: fe80::1%eth0"),
    ("::1:8080:80", "Invalid ip address ::1: address ::1:: too many colons in address"),
    ("[::1:8080:80", "Invalid ip address [::1: address [::1:: missing ']' in address"),
    ("[::1]x:8080:80", "Invalid ip address [::1]x: address [::1]x:: missing port in address"),
    ("[::1]:5:8080:80", "Invalid ip address [::1]:5: address [::1]:5:: too many colons in "
                        "address"),
    ("[[::1]:8080:80", "Invalid ip address [[::1]: address [[::1]:: unexpected '[' in "
                       "address"),
    ("a]b:8080:80", "Invalid ip address a]b: address a]b:: unexpected ']' in address"),
    ("published=8080", "No port specified: 8080:/tcp<empty>"),
    ("target=80,oops", "invalid publish opts format (should be name=value but got 'oops')"),
    ("80\n", "invalid --publish value '80\\n': control characters are not allowed"),
    ("1.2.3.4\x1b:80:80", "invalid --publish value '1.2.3.4\\x1b:80:80': control characters "
                          "are not allowed"),
])
def test_publish_errors(spec, message):
    with pytest.raises(InvalidArgument) as exc:
        parse_publish(spec)
    assert str(exc.value) == message


@pytest.mark.parametrize("value, expected", [
    ("80", ["80/tcp"]),
    ("80/udp", ["80/udp"]),
    ("80/TCP", ["80/tcp"]),
    ("8000-8002/udp", ["8000/udp", "8001/udp", "8002/udp"]),
    ("65535", ["65535/tcp"]),
])
def test_expose_forms(value, expected):
    assert parse_expose(value) == expected


@pytest.mark.parametrize("value, message", [
    ("80:80", "invalid port format for --expose: 80:80"),
    ("abc", 'invalid range format for --expose: abc, error: strconv.ParseUint: parsing '
            '"abc": invalid syntax'),
    ("70000", 'invalid range format for --expose: 70000, error: strconv.ParseUint: parsing '
              '"70000": value out of range'),
    ("0", "invalid range format for --expose: 0, error: port 0 is not allowed"),
    ("82-80", "invalid range format for --expose: 82-80, error: Invalid range specified for "
              "the Port: 82-80"),
    ("80-", 'invalid range format for --expose: 80-, error: strconv.ParseUint: parsing "": '
            'invalid syntax'),
    ("", "invalid range format for --expose: , error: Empty string specified for ports"),
    ("/udp", "invalid range format for --expose: /udp, error: Empty string specified for "
             "ports"),
    ("80/xyz", "Invalid proto: xyz"),
    ("80\t", "invalid --expose value '80\\t': control characters are not allowed"),
])
def test_expose_errors(value, message):
    with pytest.raises(InvalidArgument) as exc:
        parse_expose(value)
    assert str(exc.value) == message


def test_options_expose_every_published_port_once():
    bindings, exposed = parse_port_options(
        ["8080:80", "127.0.0.1:8081:80", "9000-9001:90-91/udp"], ["80", "443", "90/udp"])
    assert bindings == {
        "80/tcp": [_binding("8080"), _binding("8081", "127.0.0.1")],
        "90/udp": [_binding("9000")],
        "91/udp": [_binding("9001")],
    }
    assert exposed == ["80/tcp", "90/udp", "91/udp", "443/tcp"]
    assert parse_port_options([], []) == ({}, [])


def _ctr(status: str = "running", mode: str = "bridge", **fields) -> Container:
    now = now_rfc3339nano()
    return Container(id=new_id(), name="web", created=now, started_at=now, path="sleep",
                     args=["60"], status=status, network_mode=mode,
                     networks={} if mode in ("host", "none") else {mode: {}}, **fields)


def _published(*bindings: tuple[str, int]) -> list[dict]:
    return [{"port": port, "host_ip": "0.0.0.0", "host_port": host} for port, host in bindings]


def test_inspect_shapes_of_a_container_without_ports():
    doc = container_inspect(_ctr(), [], {}, "", "/run/x")
    assert doc["HostConfig"]["PortBindings"] == {}
    assert doc["HostConfig"]["PublishAllPorts"] is False
    assert "ExposedPorts" not in doc["Config"]  # omitempty, as in Docker's recordings
    assert doc["NetworkSettings"]["Ports"] == {}


def test_inspect_shapes_of_a_running_container_with_ports():
    ctr = _ctr(port_bindings={"80/tcp": [_binding("8080")], "53/udp": [_binding("", "10.0.0.1")]},
               exposed_ports=["80/tcp", "53/udp", "443/tcp"], publish_all=True,
               ports=_published(("80/tcp", 8080)) + [
                   {"port": "53/udp", "host_ip": "10.0.0.1", "host_port": 32768}])
    doc = container_inspect(ctr, [], {}, "", "/run/x")
    host = doc["HostConfig"]
    assert host["PortBindings"] == {"53/udp": [_binding("", "10.0.0.1")],
                                    "80/tcp": [_binding("8080")]}
    assert list(host["PortBindings"]) == ["53/udp", "80/tcp"]  # Go's map order
    assert host["PublishAllPorts"] is True
    keys = list(host)
    assert keys.index("Privileged") < keys.index("PublishAllPorts") < keys.index("ReadonlyRootfs")
    config = doc["Config"]
    assert config["ExposedPorts"] == {"443/tcp": {}, "53/udp": {}, "80/tcp": {}}
    keys = list(config)
    assert keys.index("AttachStderr") + 1 == keys.index("ExposedPorts") == keys.index("Tty") - 1
    ports = doc["NetworkSettings"]["Ports"]
    assert ports == {"443/tcp": None, "53/udp": [_binding("32768", "10.0.0.1")],
                     "80/tcp": [_binding("8080", "0.0.0.0")]}
    assert list(ports) == ["443/tcp", "53/udp", "80/tcp"]


@pytest.mark.parametrize("status, mode", [("created", "bridge"), ("exited", "bridge"),
                                          ("running", "host"), ("running", "none"),
                                          ("running", "container:abc")])
def test_no_network_ports_unless_running_on_an_endpoint_of_its_own(status, mode):
    ctr = _ctr(status, mode, exposed_ports=["80/tcp"],
               port_bindings={"80/tcp": [_binding("8080")]})
    assert network_ports(ctr) == {}


def _ports_of(exposed=(), published=()) -> str:
    return displayable_ports(network_ports(_ctr(exposed_ports=list(exposed),
                                                ports=_published(*published))))


@pytest.mark.parametrize("exposed, published, text", [
    ((), (), ""),
    (["80/tcp"], [("80/tcp", 8080)], "0.0.0.0:8080->80/tcp"),
    (["80/tcp"], (), "80/tcp"),
    (["80/tcp", "81/tcp", "82/tcp"], (), "80-82/tcp"),
    (["80/tcp", "81/tcp", "83/tcp"], (), "80-81/tcp, 83/tcp"),
    (["53/udp", "53/tcp"], (), "53/tcp, 53/udp"),
    (["80/tcp", "443/tcp"], [("80/tcp", 8080)], "443/tcp, 0.0.0.0:8080->80/tcp"),
    (["3306/tcp", "33060/tcp"], [("3306/tcp", 3306)], "0.0.0.0:3306->3306/tcp, 33060/tcp"),
    (["8000/tcp", "8001/tcp", "8002/tcp"],
     [("8000/tcp", 8000), ("8001/tcp", 8001), ("8002/tcp", 8002)],
     "0.0.0.0:8000-8002->8000-8002/tcp"),
    # Docker collapses only ports published on their own number.
    (["80/tcp", "81/tcp", "82/tcp"], [("80/tcp", 8000), ("81/tcp", 8001), ("82/tcp", 8002)],
     "0.0.0.0:8000->80/tcp, 0.0.0.0:8001->81/tcp, 0.0.0.0:8002->82/tcp"),
    (["80/tcp"], [("80/tcp", 8080), ("80/tcp", 8081)],
     "0.0.0.0:8080->80/tcp, 0.0.0.0:8081->80/tcp"),
])
def test_ps_ports_column(exposed, published, text):
    assert _ports_of(exposed, published) == text


def test_ps_ports_with_other_host_addresses():
    ports = {"80/tcp": [_binding("80", "127.0.0.1"), _binding("80", "0.0.0.0")],
             "81/tcp": [_binding("81", "127.0.0.1")], "90/tcp": [_binding("9090", "::1")]}
    assert displayable_ports(ports) == ("0.0.0.0:80->80/tcp, 127.0.0.1:80-81->80-81/tcp, "
                                        "[::1]:9090->90/tcp")


def test_ps_row_shows_ports_while_running_only():
    fields = {"exposed_ports": ["80/tcp"], "ports": _published(("80/tcp", 8080))}
    assert ContainerRow(_ctr(**fields), {}).Ports == "0.0.0.0:8080->80/tcp"
    assert ContainerRow(_ctr("created", exposed_ports=["80/tcp"]), {}).Ports == ""


PORTS = {"10/tcp": [_binding("10010", "0.0.0.0")], "443/tcp": None,
         "53/udp": [_binding("5353", "0.0.0.0")],
         "80/tcp": [_binding("8081", "127.0.0.1"), _binding("8080", "0.0.0.0")],
         "9/tcp": [_binding("9009", "0.0.0.0")]}


def test_port_lists_every_binding_in_natural_order():
    assert port_lines(PORTS, "web") == [
        "9/tcp -> 0.0.0.0:9009",
        "10/tcp -> 0.0.0.0:10010",
        "53/udp -> 0.0.0.0:5353",
        "80/tcp -> 0.0.0.0:8080",
        "80/tcp -> 127.0.0.1:8081",
    ]
    assert port_lines({}, "web") == []
    assert port_lines({"80/tcp": None}, "web") == []


@pytest.mark.parametrize("private, lines", [
    ("80", ["0.0.0.0:8080", "127.0.0.1:8081"]),
    ("80/tcp", ["0.0.0.0:8080", "127.0.0.1:8081"]),
    ("53/udp", ["0.0.0.0:5353"]),
    ("080", ["0.0.0.0:8080", "127.0.0.1:8081"]),
])
def test_port_of_one_private_port(private, lines):
    assert port_lines(PORTS, "web", private) == lines


@pytest.mark.parametrize("private, message", [
    ("81", "No public port '81/tcp' published for web"),
    ("53", "No public port '53/tcp' published for web"),
    ("081", "No public port '081/tcp' published for web"),
    ("443", "No public port '443/tcp' published for web"),
    ("80/udp", "No public port '80/udp' published for web"),
    ("abc", 'invalid port (abc): strconv.ParseUint: parsing "abc": invalid syntax'),
    ("/tcp", 'invalid port (): strconv.ParseUint: parsing "": invalid syntax'),
    ("80-81", 'invalid port (80-81): strconv.ParseUint: parsing "80-81": invalid syntax'),
    ("70000", 'invalid port (70000): strconv.ParseUint: parsing "70000": value out of range'),
])
def test_port_errors(private, message):
    with pytest.raises(InvalidArgument) as exc:
        port_lines(PORTS, "web", private)
    assert str(exc.value) == message


def test_natural_order():
    words = ["a10", "a9", "a09", "a", "b1", "a9x", "9", "x"]
    assert sorted(words, key=natural_key) == ["9", "a", "a9", "a9x", "a09", "a10", "b1", "x"]
