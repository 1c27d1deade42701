"""Published ports: `-p`, `-P` and `--expose` read as Docker's CLI reads them, and
the views of a container's ports (inspect's maps, `ps`'s PORTS, `port`'s lines).

Pure: no root, no kernel, no store. The grammar and the messages are those of
Docker 20.10 (go-connections' nat package and docker/cli's run options), except
that port 0, a range with more than one dash and an unknown protocol in
`--expose` are refused (Docker takes host port 0 as any free port, reads
`1-2-3` as `1-2` and records `80/xyz`). Publishing itself (host ports chosen at start, the
firewall's rules) is not here: a running container's `ports` say what is in
effect.
"""

from __future__ import annotations

import re

from cnmctl.errors import InvalidArgument
from cnmctl.model import Container
from cnmctl.validate import check_text, parse_ip

PROTOCOLS = ("tcp", "udp", "sctp")
PORT_MAX = 65535
# Network modes without an endpoint of their own: nothing is published there and
# inspect shows no ports, as for Docker's host and null drivers.
NO_ENDPOINT_MODES = ("host", "none")


def parse_port_options(publish, expose) -> tuple[dict[str, list[dict]], list[str]]:
    """`-p` and `--expose` values: (HostConfig.PortBindings, Config.ExposedPorts),
    keys like "80/tcp". Every `-p` port is exposed too; InvalidArgument on the
    first bad value, with Docker's message."""
    bindings: dict[str, list[dict]] = {}
    exposed: list[str] = []
    for spec in publish:
        for key, binding in parse_publish(spec):
            bindings.setdefault(key, []).append(binding)
            if key not in exposed:
                exposed.append(key)
    for value in expose:
        exposed.extend(key for key in parse_expose(value) if key not in exposed)
    return bindings, exposed


def parse_publish(spec: str) -> list[tuple[str, dict]]:
    """One `-p` value, `[IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]` (ports may be
    ranges) or the long form `target=80,published=8080,protocol=udp`: a
    ("80/tcp", {"HostIp", "HostPort"}) pair per container port."""
    check_text(spec, "--publish value")
    raw = _long_syntax(spec) if "=" in spec else spec
    parts = raw.split(":")
    container = parts[-1]
    host_port = parts[-2] if len(parts) > 1 else ""
    ip = ":".join(parts[:-2])
    container, proto = _split_proto(container)
    if ip:
        ip = _host_ip(ip)
    if not container:
        raise InvalidArgument(f"No port specified: {raw}<empty>")
    bounds = _port_range(container)
    if bounds is None:
        raise InvalidArgument(f"Invalid containerPort: {container}")
    first, last = bounds
    host_first = host_last = 0
    if host_port:
        host_bounds = _port_range(host_port)
        if host_bounds is None:
            raise InvalidArgument(f"Invalid hostPort: {host_port}")
        host_first, host_last = host_bounds
        # A host range for a single container port is a range to pick one from.
        if last - first != host_last - host_first and last != first:
            raise InvalidArgument("Invalid ranges specified for container and host Ports: "
                                  f"{container} and {host_port}")
    if proto.lower() not in PROTOCOLS:
        raise InvalidArgument(f"Invalid proto: {proto}")
    pairs = []
    for offset in range(last - first + 1):
        host = str(host_first + offset) if host_port else ""
        if first == last and host_first != host_last:
            host += f"-{host_last}"
        pairs.append((f"{first + offset}/{proto.lower()}", {"HostIp": ip, "HostPort": host}))
    return pairs


def parse_expose(value: str) -> list[str]:
    """One `--expose` value, `PORT[/PROTO]` or `START-END[/PROTO]`: its keys."""
    check_text(value, "--expose value")
    if ":" in value:
        raise InvalidArgument(f"invalid port format for --expose: {value}")
    port, proto = _split_proto(value)
    if not port:
        raise InvalidArgument(f"invalid range format for --expose: {value}, error: "
                              "Empty string specified for ports")
    bounds = _port_range(port)
    if bounds is None:
        raise InvalidArgument(f"invalid range format for --expose: {value}, error: "
                              f"{_range_error(port)}")
    if proto.lower() not in PROTOCOLS:
        raise InvalidArgument(f"Invalid proto: {proto}")
    return [f"{number}/{proto.lower()}" for number in range(bounds[0], bounds[1] + 1)]


def _long_syntax(spec: str) -> str:
    """`target=80,published=8080,protocol=udp` in the short form (`8080:80/udp`),
    as docker/cli converts it; other keys (`mode`) are ignored, as there."""
    params = {"protocol": "tcp"}
    for param in spec.split(","):
        key, sep, value = param.partition("=")
        if not sep:
            raise InvalidArgument("invalid publish opts format (should be name=value but "
                                  f"got '{param}')")
        params[key] = value
    return f"{params.get('published', '')}:{params.get('target', '')}/{params['protocol']}"


def _split_proto(text: str) -> tuple[str, str]:
    """"80/udp" -> ("80", "udp"); no protocol (or an empty one) means tcp."""
    port, _, proto = text.partition("/")
    return (port, proto or "tcp") if port else ("", "")


def _host_ip(text: str) -> str:
    """The host IP of a `-p` value, brackets stripped (`[::1]`), as Go's
    net.SplitHostPort (of the IP and a colon) and net.ParseIP read it."""
    ip, problem = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            problem = "missing ']' in address"
        elif end + 1 < len(text):
            problem = "too many colons" if text[end + 1] == ":" else "missing port"
            problem += " in address"
        elif "[" in text[1:]:
            problem = "unexpected '[' in address"
        ip = text[1:end]
    elif ":" in text:
        problem = "too many colons in address"
    elif "[" in text or "]" in text:
        problem = f"unexpected '{'[' if '[' in text else ']'}' in address"
    if problem:
        raise InvalidArgument(f"Invalid ip address {text}: address {text}:: {problem}")
    if ip and parse_ip(ip) is None:  # `[]` is no address at all: any, as in Go
        raise InvalidArgument(f"Invalid ip address: {ip}")
    return ip


def _port_range(text: str) -> tuple[int, int] | None:
    """"80" or "8000-8010" as (first, last), each 1-65535 and first <= last; else None."""
    bounds = text.split("-", 1)
    if any(_uint16_error(part) for part in bounds):
        return None
    first, last = int(bounds[0]), int(bounds[-1])
    return (first, last) if 0 < first <= last else None


def _uint16_error(text: str) -> str:
    """Why Go's strconv.ParseUint(text, 10, 16) fails, or "" if it does not."""
    if not re.fullmatch(r"[0-9]+", text):
        return f'strconv.ParseUint: parsing "{text}": invalid syntax'
    if len(text.lstrip("0")) > 5 or int(text) > PORT_MAX:  # no huge int() of hostile input
        return f'strconv.ParseUint: parsing "{text}": value out of range'
    return ""


def _range_error(text: str) -> str:
    """Why `_port_range` refused `text`, in Go's words (strconv's, or nat's)."""
    for part in text.split("-", 1):
        problem = _uint16_error(part) or ("port 0 is not allowed" if int(part) == 0 else "")
        if problem:
            return problem
    return f"Invalid range specified for the Port: {text}"


# -- views -----------------------------------------------------------------------

def port_bindings_view(ctr: Container) -> dict[str, list[dict]]:
    """HostConfig.PortBindings: the `-p` bindings as asked, keys in Go's order."""
    return {key: [dict(b) for b in ctr.port_bindings[key]] for key in sorted(ctr.port_bindings)}


def exposed_ports_view(ctr: Container) -> dict[str, dict]:
    """Config.ExposedPorts: {"80/tcp": {}, ...} (empty when none: the key is omitted)."""
    return {key: {} for key in sorted(ctr.exposed_ports)}


def network_ports(ctr: Container) -> dict[str, list[dict] | None]:
    """NetworkSettings.Ports: while running, each exposed port (null when not
    published) with the host addresses it is published on; {} otherwise, and in
    host, none and container: modes, which have no endpoint of their own."""
    if ctr.status != "running" or _shares_namespace(ctr):
        return {}
    found: dict[str, list[dict] | None] = {key: None for key in ctr.exposed_ports}
    for binding in ctr.ports:
        key = binding["port"]
        found[key] = [*(found.get(key) or []),
                      {"HostIp": binding["host_ip"], "HostPort": str(binding["host_port"])}]
    return {key: found[key] for key in sorted(found)}


def _shares_namespace(ctr: Container) -> bool:
    mode = ctr.network_mode
    return mode in NO_ENDPOINT_MODES or mode.startswith("container:")


def join_host_port(host: str, port: str) -> str:
    """Go's net.JoinHostPort: an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def displayable_ports(ports: dict[str, list[dict] | None]) -> str:
    """`ps`'s PORTS text, docker/cli's DisplayablePorts: sorted by container port,
    host IP, host port, protocol; runs of ports published on the same port number
    (or exposed only) collapse into ranges, `0.0.0.0:80-81->80-81/tcp`, `80-82/tcp`;
    a port published on another number is listed on its own, after those."""
    entries = []
    for key, bindings in ports.items():
        number, _, proto = key.partition("/")
        if not bindings:
            entries.append((int(number), "", 0, proto))
        for binding in bindings or ():
            entries.append((int(number), binding["HostIp"], int(binding["HostPort"]), proto))
    groups: dict[str, list[int]] = {}  # key -> [first, last], in the order first seen
    result, mappings = [], []
    for private, ip, public, proto in sorted(entries):
        key = proto
        if ip:
            if public != private:
                mappings.append(f"{join_host_port(ip, str(public))}->{private}/{proto}")
                continue
            key = f"{ip}/{proto}"
        group = groups.get(key)
        if group is not None and private == group[1] + 1:
            group[1] = private
            continue
        if group is not None:  # a gap: the run so far is done
            result.append(_form_group(key, *group))
        groups[key] = [private, private]
    result.extend(_form_group(key, first, last) for key, (first, last) in groups.items())
    return ", ".join(result + mappings)


def _form_group(key: str, first: int, last: int) -> str:
    ip, _, proto = key.rpartition("/")
    numbers = str(first) if first == last else f"{first}-{last}"
    if ip:
        numbers = f"{join_host_port(ip, numbers)}->{numbers}"
    return f"{numbers}/{proto}"


def port_lines(ports: dict[str, list[dict] | None], ref: str,
               private: str | None = None) -> list[str]:
    """The `port` command's lines: `80/tcp -> 0.0.0.0:8080` for every published
    binding, or for PRIVATE_PORT[/PROTO] just its host addresses; in natural
    order (numbers by value), as docker/cli sorts them."""
    if private is None:
        lines = [f"{key} -> {join_host_port(b['HostIp'], b['HostPort'])}"
                 for key, bindings in ports.items() for b in bindings or ()]
        return sorted(lines, key=natural_key)
    number, _, proto = private.partition("/")
    proto = proto or "tcp"
    problem = _uint16_error(number)
    if problem:
        raise InvalidArgument(f"invalid port ({number}): {problem}")
    bindings = ports.get(f"{int(number)}/{proto}")  # 080 is 80, as Docker 20.10 reads it
    if not bindings:
        raise InvalidArgument(f"No public port '{number}/{proto}' published for {ref}")
    return sorted((join_host_port(b["HostIp"], b["HostPort"]) for b in bindings),
                  key=natural_key)


def natural_key(text: str) -> list[tuple]:
    """A sort key for fvbommel/sortorder's NaturalLess: runs of digits compare by
    value (then fewer leading zeros first) and sort before any other character."""
    key = []
    for digits, other in re.findall(r"([0-9]+)|([^0-9])", text):
        if digits:
            stripped = digits.lstrip("0")
            key.append((0, len(stripped), stripped, len(digits) - len(stripped)))
        else:
            key.append((1, other))
    return key
