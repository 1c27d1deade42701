"""Published ports from the user's side, as far as they go without the firewall:
`-p`, `-P` and `--expose` recorded by `create` (inspect's PortBindings,
ExposedPorts, PublishAllPorts), refused with one line and nothing made, Docker's
host-mode warning, and `port`/`ps` for containers that publish nothing.
"""

from __future__ import annotations

import json

import pytest
from conftest import store_snapshot

RANGE = {"80/tcp": [{"HostIp": "", "HostPort": "8000"}],
         "81/tcp": [{"HostIp": "", "HostPort": "8001"}]}


def _inspect(cnm, ref: str) -> dict:
    [doc] = json.loads(cnm("inspect", ref))
    return doc


def test_create_records_bindings_exposed_ports_and_publish_all(cnm):
    cnm("create", "--name", "web", "-p", "8080:80", "-p", "127.0.0.1:5353:53/udp",
        "--publish=8000-8001:80-81", "-p", "9000-9010:90", "-p", "[::1]::7",
        "--expose", "443", "--expose", "6000-6001/udp", "-P", "sleep", "60")
    doc = _inspect(cnm, "web")
    assert doc["HostConfig"]["PortBindings"] == {
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
        "7/tcp": [{"HostIp": "::1", "HostPort": ""}],
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}, {"HostIp": "", "HostPort": "8000"}],
        "81/tcp": [{"HostIp": "", "HostPort": "8001"}],
        "90/tcp": [{"HostIp": "", "HostPort": "9000-9010"}],
    }
    assert list(doc["HostConfig"]["PortBindings"]) == ["53/udp", "7/tcp", "80/tcp", "81/tcp",
                                                       "90/tcp"]  # Go's map order
    assert doc["HostConfig"]["PublishAllPorts"] is True
    assert doc["Config"]["ExposedPorts"] == {
        "443/tcp": {}, "53/udp": {}, "6000/udp": {}, "6001/udp": {}, "7/tcp": {},
        "80/tcp": {}, "81/tcp": {}, "90/tcp": {}}
    assert doc["NetworkSettings"]["Ports"] == {}  # nothing is published until it runs
    assert cnm("inspect", "-f", "{{json .HostConfig.PortBindings}}", "web").strip() == \
        json.dumps(doc["HostConfig"]["PortBindings"], separators=(",", ":"))
    line = cnm("ps", "-a", "--format", "{{.Names}}|{{.Ports}}").strip()
    assert line == "web|"
    assert cnm.run("port", "web").out == ""


@pytest.mark.parametrize("flags", [["-p8000-8001:80-81"], ["--publish", "8000-8001:80-81"],
                                   ["--publish=8000-8001:80-81", "-t"]])
def test_both_argument_paths_read_publish_alike(cnm, flags):
    """`-p VALUE` is read without click, `-pVALUE` by click: the same record."""
    cnm("create", "--name", "r", *flags, "sleep", "60")
    assert _inspect(cnm, "r")["HostConfig"]["PortBindings"] == RANGE


def test_a_container_without_ports_shows_docker_s_empty_shapes(cnm):
    cnm("create", "--name", "plain", "sleep", "60")
    doc = _inspect(cnm, "plain")
    assert doc["HostConfig"]["PortBindings"] == {}
    assert doc["HostConfig"]["PublishAllPorts"] is False
    assert "ExposedPorts" not in doc["Config"]
    assert doc["NetworkSettings"]["Ports"] == {}


def test_exposed_ports_of_a_running_container(cnm):
    """Exposed but not published: null in NetworkSettings.Ports, `80/tcp` in ps,
    nothing from `port` (no firewall rule is involved)."""
    cnm("run", "-d", "--name", "exp", "--expose", "443", "--expose", "80-81", "sleep", "60")
    assert _inspect(cnm, "exp")["NetworkSettings"]["Ports"] == {
        "443/tcp": None, "80/tcp": None, "81/tcp": None}
    assert cnm("ps", "--format", "{{.Ports}}").strip() == "80-81/tcp, 443/tcp"
    result = cnm.run("port", "exp")
    assert (result.code, result.out, result.err) == (0, "", "")
    assert cnm.fails("port", "exp", "80") == "Error: No public port '80/tcp' published for exp"
    cnm("stop", "-t", "0", "exp")
    assert _inspect(cnm, "exp")["NetworkSettings"]["Ports"] == {}


@pytest.mark.parametrize("verb", ["create", "run"])
@pytest.mark.parametrize("flags, message", [
    (["-p", "abc"], "Error: Invalid containerPort: abc"),
    (["-p", "70000:80"], "Error: Invalid hostPort: 70000"),
    (["-p", "80/xyz"], "Error: Invalid proto: xyz"),
    (["-p", "8000-8002:80-81"],
     "Error: Invalid ranges specified for container and host Ports: 80-81 and 8000-8002"),
    (["-p", "1.2.3.300:80:80"], "Error: Invalid ip address: 1.2.3.300"),
    (["-p", "0"], "Error: Invalid containerPort: 0"),
    (["-p", "80\n"], "Error: invalid --publish value '80\\n': control characters are not "
                     "allowed"),
    (["--expose", "80:80"], "Error: invalid port format for --expose: 80:80"),
    (["--expose", "x"], 'Error: invalid range format for --expose: x, error: '
                        'strconv.ParseUint: parsing "x": invalid syntax'),
    (["-p", "8080:80", "--expose", "99999"],
     'Error: invalid range format for --expose: 99999, error: strconv.ParseUint: parsing '
     '"99999": value out of range'),
])
def test_bad_ports_are_refused_with_125_and_nothing_made(cnm, verb, flags, message):
    cnm("create", "--name", "keep", "sleep", "60")
    listing = cnm("ps", "-a", "--no-trunc")
    store = store_snapshot(cnm.root)
    detach = ["-d"] if verb == "run" else []
    assert cnm.fails(verb, *detach, "--name", "new", *flags, "sleep", "60",
                     code=125) == message
    assert cnm("ps", "-a", "--no-trunc") == listing
    assert store_snapshot(cnm.root) == store


@pytest.mark.parametrize("verb", ["create", "run"])
@pytest.mark.parametrize("mode, flags, message", [
    ("none", ["-p", "80"], "port publishing and the none network mode"),
    ("none", ["-P"], "port publishing and the none network mode"),
    ("container:keep", ["-p", "8080:80"], "port publishing and the container type network "
                                          "mode"),
    ("container:keep", ["-P"], "port publishing and the container type network mode"),
    ("container:keep", ["--expose", "80"], "port exposing and the container type network "
                                           "mode"),
])
def test_ports_conflict_with_none_and_container_modes(cnm, verb, mode, flags, message):
    cnm("run", "-d", "--name", "keep", "sleep", "60")
    listing = cnm("ps", "-a", "--no-trunc")
    detach = ["-d"] if verb == "run" else []
    code = 125 if verb == "run" else 1  # Docker's daemon refuses it: 1 from create
    assert cnm.fails(verb, *detach, "--network", mode, *flags, "sleep", "60",
                     code=code) == f"Error: conflicting options: {message}"
    assert cnm("ps", "-a", "--no-trunc") == listing


def test_none_mode_takes_exposed_ports(cnm):
    cnm("create", "--name", "quiet", "--network", "none", "--expose", "80", "sleep", "60")
    assert _inspect(cnm, "quiet")["Config"]["ExposedPorts"] == {"80/tcp": {}}


WARNING = "WARNING: Published ports are discarded when using host network mode\n"


def test_host_mode_warns_and_discards_published_ports(cnm):
    result = cnm.run("create", "--name", "h1", "--network", "host", "-p", "8080:80",
                     "sleep", "60")
    assert result.code == 0 and result.err == WARNING, result
    assert len(result.out.split()) == 1  # the ID, on stdout
    doc = _inspect(cnm, "h1")
    assert doc["HostConfig"]["PortBindings"] == {}
    assert doc["Config"]["ExposedPorts"] == {"80/tcp": {}}

    result = cnm.run("run", "--rm", "--network", "host", "-p", "80", "echo", "hi")
    assert (result.code, result.out, result.err) == (0, "hi\n", WARNING)
    result = cnm.run("run", "-d", "--name", "h2", "--net", "host", "-p", "80", "sleep", "60")
    assert result.code == 0 and result.err == WARNING, result
    assert cnm.run("port", "h2").out == ""


def test_host_mode_without_bindings_does_not_warn(cnm):
    result = cnm.run("create", "--network", "host", "-P", "--expose", "80", "sleep", "60")
    assert result.code == 0 and result.err == "", result


def test_host_mode_warns_only_when_the_container_is_made(cnm):
    cnm("create", "--name", "taken", "sleep", "60")
    assert cnm.fails("create", "--name", "taken", "--network", "host", "-p", "80",
                     "sleep", "60").startswith("Error: Conflict.")


def test_port_errors(cnm):
    cnm("create", "--name", "c1", "-p", "8080:80", "sleep", "60")
    assert cnm.fails("port", "nosuch") == "Error: No such container: nosuch"
    assert cnm.fails("port", "c1", "80") == "Error: No public port '80/tcp' published for c1"
    assert cnm.fails("port", "c1", "53/udp") == \
        "Error: No public port '53/udp' published for c1"
    assert cnm.fails("port", "c1", "x") == \
        'Error: invalid port (x): strconv.ParseUint: parsing "x": invalid syntax'
    assert cnm.fails("port", code=125).startswith("Error: Missing argument")
