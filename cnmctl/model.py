"""The CNM objects, each mapping one-to-one to a store document.

| object    | kernel form                                   |
|-----------|-----------------------------------------------|
| Network   | a Linux bridge (bridge driver), nothing (host, null) |
| Endpoint  | a veth pair: host side on the bridge, peer in the sandbox |
| Sandbox   | a network namespace bind-mounted at its key path |
| Container | a process inside the sandbox                  |
| Image     | a root filesystem folder in the store (`import`) |
"""

from __future__ import annotations

import copy
import os
import time

# Names as Docker validates container names; cnmctl applies the same rule to
# networks because they become file names and kernel-visible strings.
NAME_PATTERN = r"[a-zA-Z0-9][a-zA-Z0-9_.-]*"
NAME_MAX = 64

PREDEFINED_NETWORKS = ("bridge", "host", "none")


def new_id() -> str:
    """A random 64-hex object ID, as Docker makes them."""
    return os.urandom(32).hex()


def now_rfc3339nano() -> str:
    """The current UTC time in Go's RFC3339Nano form (trailing zeros trimmed)."""
    ns = time.time_ns()
    seconds, frac = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{frac:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


def go_time_string(rfc3339: str) -> str:
    """RFC3339Nano UTC text -> Go's time.String() form used by `network ls`."""
    date, _, clock = rfc3339.rstrip("Z").partition("T")
    return f"{date} {clock} +0000 UTC"


def rfc3339_to_ns(stamp: str) -> int:
    """Inverse of now_rfc3339nano()."""
    import calendar

    whole, _, frac = stamp.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1_000_000_000 + int((frac or "0").ljust(9, "0")[:9])


_REQUIRED = object()


class _Document:
    """A record whose fields are its annotated class attributes (default = the value).

    Hand-written rather than @dataclass: dataclasses imports `inspect` and
    generates code per class, about 12 ms that every command, `inspect -f`
    included, would pay at start-up.
    """

    _fields: tuple[tuple[str, object], ...] = ()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls._fields = tuple((name, cls.__dict__.get(name, _REQUIRED))
                            for name in cls.__annotations__)

    def __init__(self, **values: object) -> None:
        for name, default in self._fields:
            if name in values:
                value = values.pop(name)
            elif default is _REQUIRED:
                raise TypeError(f"{type(self).__name__}() needs {name}")
            else:  # a fresh copy of a mutable default for each object
                value = copy.copy(default)
            setattr(self, name, value)
        if values:
            raise TypeError(f"{type(self).__name__}() got unknown fields {sorted(values)}")

    @classmethod
    def field_names(cls) -> list[str]:
        """The record's fields, in order."""
        return [name for name, _default in cls._fields]

    @classmethod
    def from_doc(cls, doc: dict):
        """Build the object from a store document, ignoring unknown keys."""
        return cls(**{name: doc[name] for name, _default in cls._fields if name in doc})

    def to_doc(self) -> dict:
        """The store document for this object (a deep copy)."""
        return copy.deepcopy({name: getattr(self, name) for name, _default in self._fields})

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_doc() == self.to_doc()

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name, _d in self._fields)
        return f"{type(self).__name__}({inner})"


class Network(_Document):
    """A group of endpoints that a driver connects."""

    id: str
    name: str
    driver: str
    created: str
    scope: str = "local"
    ipam_driver: str = "default"
    ipam_options: dict[str, str] | None = {}
    ipam_config: list[dict] = []
    # An IPAM plugin's pools: [{"id", "subnet", "addresses": [gateway and aux it gave]}]
    ipam_pools: list[dict] = []
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = False
    options: dict[str, str] = {}
    labels: dict[str, str] = {}
    # Driver-private state, e.g. the bridge's kernel name and fixed MAC.
    driver_data: dict = {}

    @property
    def created_ns(self) -> int:
        """Creation time in Unix nanoseconds."""
        return rfc3339_to_ns(self.created)

    @property
    def predefined(self) -> bool:
        """True for `bridge`, `host` and `none`, which cannot be removed."""
        return self.name in PREDEFINED_NETWORKS

    @property
    def is_default_bridge(self) -> bool:
        """True for the default `bridge` network (no DNS, no user addresses)."""
        return self.options.get("com.docker.network.bridge.default_bridge") == "true"

    def gateway_interfaces(self) -> list[str]:
        """Each subnet's gateway in CIDR form: the configured one, else the first host."""
        import ipaddress

        result = []
        for cfg in self.ipam_config:
            subnet = ipaddress.ip_network(cfg["Subnet"], strict=False)
            gateway = cfg.get("Gateway") or str(subnet.network_address + 1)
            result.append(f"{gateway}/{subnet.prefixlen}")
        return result


class Endpoint(_Document):
    """A network interface joining one sandbox to one network."""

    id: str
    network_id: str
    container_id: str
    name: str  # the container's name, as Docker names endpoints
    mac: str = ""
    ipv4: str = ""  # CIDR form, e.g. 172.18.0.2/16
    ipv6: str = ""
    gateway: str = ""
    ipv6_gateway: str = ""
    aliases: list[str] = []
    ifname: str = ""  # inside the sandbox: eth0, eth1, ...
    host_ifname: str = ""  # host side of the veth
    # a remote plugin's link (its SrcName) moved in: given back under this name on unplug
    src_name: str = ""
    external: bool = False  # external connectivity programmed: it carries the default route


class Sandbox(_Document):
    """A network namespace holding a container's endpoints."""

    id: str
    key: str  # path of the bind-mounted namespace
    container_id: str
    endpoint_ids: list[str] = []
    # next interface number per name prefix ("eth"): not reused, eth2 after eth1 left
    if_counters: dict[str, int] = {}
    joined: list[str] = []  # running containers started with --network container:OWNER


def split_link(link: str) -> tuple[str, str]:
    """A recorded --link, "NAME:ALIAS", as (NAME, ALIAS)."""
    name, _, alias = link.partition(":")
    return name, alias


class Container(_Document):
    """A process run inside a sandbox, with the networks it asked for."""

    id: str
    name: str
    created: str
    path: str
    args: list[str] = []
    status: str = "created"  # created, running, restarting (a back-off), exited
    paused: bool = False  # running, its processes frozen in cgroup cnmctl/<id> (pause.py)
    pid: int = 0
    pid_start_time: int = 0  # with pid, identifies the process across pid reuse
    supervisor_pid: int = 0  # the process that records the exit (sh, or `run` itself)
    exit_code: int = 0
    error: str = ""
    started_at: str = "0001-01-01T00:00:00Z"
    finished_at: str = "0001-01-01T00:00:00Z"
    hostname: str = ""
    network_mode: str = "bridge"
    # network name or ID as given -> {"ip", "ip6", "aliases", "mac"} as requested, plus
    # "connected": True once added by `network connect`
    networks: dict[str, dict] = {}
    dns: list[str] = []
    dns_search: list[str] = []
    dns_options: list[str] = []
    extra_hosts: list[str] = []
    links: list[str] = []  # legacy --link, each "NAME:ALIAS"
    env: list[str] = []
    workdir: str = ""
    rootfs: str = ""
    auto_remove: bool = False
    # -p as asked (HostConfig.PortBindings): "80/tcp" -> [{"HostIp": "", "HostPort": "8080"}];
    # HostPort may be "", a port, or a range "8000-8010" to pick one from
    port_bindings: dict[str, list[dict]] = {}
    exposed_ports: list[str] = []  # "80/tcp", from --expose and -p (Config.ExposedPorts)
    publish_all: bool = False  # -P: every exposed port on an ephemeral host port
    # while running, the bindings in effect (what the firewall publishes), each
    # {"port": "80/tcp", "host_ip": "0.0.0.0", "host_port": 8080}
    ports: list[dict] = []
    interactive: bool = False  # -i: stdin kept open
    tty: bool = False  # -t: a terminal, held by the shim
    attached: bool = False  # made by `run` in the foreground or `create` (Config.Attach*)
    sandbox_id: str = ""
    # --restart (engine/restart.py): "no" ("" if given empty), "always", "unless-stopped"
    # or "on-failure" with at most restart_max restarts (0: no limit)
    restart_policy: str = "no"
    restart_max: int = 0
    restart_count: int = 0  # restarts since the last start by hand
    manually_stopped: bool = False  # stop, kill, rm -f: no restart at the next exit
    backoff_ms: int = 0  # Docker's restart delay: 100 ms, doubled per restart, at most 1 min
    # while restarting: the process waiting out the back-off (pid and start time)
    waiter_pid: int = 0
    waiter_start: int = 0
    image: str = ""  # the image as `run` was given it (Config.Image); "" for a host command
    image_id: str = ""  # its 64-hex ID; the container's root is an overlay on its folder
    entrypoint: list[str] = []  # the image's, the start of [path, *args]
    user: str = ""  # -u, as given: NAME|UID[:GROUP|GID], looked up in the root at start
    cap_add: list[str] = []  # --cap-add/--cap-drop as given (HostConfig.CapAdd/CapDrop)
    cap_drop: list[str] = []
    privileged: bool = False
    read_only: bool = False  # --read-only: the image or --rootfs root mounted read-only

    @property
    def state(self) -> str:
        """Docker's State.Status: created, running, paused or exited."""
        return "paused" if self.paused and self.status == "running" else self.status


class Image(_Document):
    """A root filesystem imported from a tarball: a folder in the store that
    containers mount read-only under their own writable layer."""

    id: str  # 64 hex: the sha256 of its configuration, as Docker's image IDs
    created: str
    repo_tags: list[str] = []  # familiar `name:tag`, e.g. alpine:latest
    comment: str = ""
    config: dict = {}  # Docker's Config: Env, Cmd, Entrypoint, WorkingDir, Labels...
    diff_id: str = ""  # sha256 of the uncompressed tarball (RootFS.Layers)
    size: int = 0  # bytes of its regular files
    architecture: str = ""
    os: str = "linux"
    last_tag_time: str = ""
