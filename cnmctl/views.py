"""Docker-shaped documents built from model objects, for inspect, ls and --format.

Key names, order and nesting follow Docker 20.10's API output exactly (the
reference recordings in shared/reference/docker), since scripts index into them.
"""

from __future__ import annotations

from cnmctl.model import Container, Endpoint, Network, go_time_string, split_link
from cnmctl.ports import (
    displayable_ports,
    exposed_ports_view,
    network_ports,
    port_bindings_view,
)
from cnmctl.runtime.security import MASKED_PATHS, READONLY_PATHS


def network_inspect(net: Network, endpoints: list[Endpoint]) -> dict:
    """The `network inspect` object of one network."""
    containers = {
        ep.container_id: {
            "Name": ep.name,
            "EndpointID": ep.id,
            "MacAddress": ep.mac,
            "IPv4Address": ep.ipv4,
            "IPv6Address": ep.ipv6,
        }
        for ep in sorted(endpoints, key=lambda e: e.container_id)
    }
    return {
        "Name": net.name,
        "Id": net.id,
        "Created": net.created,
        "Scope": net.scope,
        "Driver": net.driver,
        "EnableIPv6": net.enable_ipv6,
        "IPAM": {
            "Driver": net.ipam_driver,
            "Options": net.ipam_options,
            "Config": net.ipam_config,
        },
        "Internal": net.internal,
        "Attachable": net.attachable,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers,
        "Options": net.options,
        "Labels": net.labels,
    }


class NetworkRow:
    """One `network ls` row: the fields and methods `--format` templates use.

    Attributes are set in sorted order because `{{json .}}` writes them in
    that order, as Docker does.
    """

    def __init__(self, net: Network, truncate: bool = True) -> None:
        self._net = net
        fields = {
            "CreatedAt": go_time_string(net.created),
            "Driver": net.driver,
            "ID": net.id[:12] if truncate else net.id,
            "IPv6": "true" if net.enable_ipv6 else "false",
            "Internal": "true" if net.internal else "false",
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(net.labels.items())),
            "Name": net.name,
            "Scope": net.scope,
        }
        self.__dict__.update(fields)

    def Label(self, key: str) -> str:  # noqa: N802 - Docker's template method name
        """The value of one label, or empty."""
        return self._net.labels.get(key, "")


LOG_DRIVER = "cnmctl-file"  # HostConfig.LogConfig.Type, and `info`'s Logging Driver

# HostConfig fields cnmctl has no use for, with the values Docker shows for a
# plain `docker run`, so that scripts indexing into them find what they expect.
_HOSTCONFIG_DEFAULTS = {
    "VolumeDriver": "", "VolumesFrom": None, "CapAdd": None, "CapDrop": None,
    "CgroupnsMode": "host", "GroupAdd": None, "IpcMode": "private", "Cgroup": "",
    "Links": None, "OomScoreAdj": 0, "PidMode": "", "Privileged": False,
    "PublishAllPorts": False, "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "",
    "UsernsMode": "", "ShmSize": 67108864, "Runtime": "cnmctl", "ConsoleSize": [0, 0],
    "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "",
    "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": None,
    "BlkioDeviceWriteBps": None, "BlkioDeviceReadIOps": None, "BlkioDeviceWriteIOps": None,
    "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
    "CpusetCpus": "", "CpusetMems": "", "Devices": [], "DeviceCgroupRules": None,
    "DeviceRequests": None, "KernelMemory": 0, "KernelMemoryTCP": 0, "MemoryReservation": 0,
    "MemorySwap": 0, "MemorySwappiness": None, "OomKillDisable": False, "PidsLimit": None,
    "Ulimits": None, "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0,
    "IOMaximumBandwidth": 0,
}


# Those of them Docker lists before Dns (the rest come after ExtraHosts).
_HOSTCONFIG_BEFORE_DNS = ("VolumeDriver", "VolumesFrom", "CapAdd", "CapDrop", "CgroupnsMode")


def _endpoint_settings(req: dict | None, ep: Endpoint | None, network_id: str,
                       aliases: list[str] | None) -> dict:
    """One entry of NetworkSettings.Networks (empty placeholders until the container runs)."""
    ipam = None
    if req and (req.get("ip") or req.get("ip6")):
        ipam = {k: v for k, v in (("IPv4Address", req.get("ip")),
                                  ("IPv6Address", req.get("ip6"))) if v}
    elif req and req.get("connected"):
        ipam = {}
    ipv4, _, plen4 = (ep.ipv4 if ep else "").partition("/")
    ipv6, _, plen6 = (ep.ipv6 if ep else "").partition("/")
    return {
        "IPAMConfig": ipam,
        "Links": None,
        "Aliases": aliases or None,
        "NetworkID": network_id,
        "EndpointID": ep.id if ep else "",
        "Gateway": ep.gateway if ep else "",
        "IPAddress": ipv4,
        "IPPrefixLen": int(plen4 or 0),
        "IPv6Gateway": ep.ipv6_gateway if ep else "",
        "GlobalIPv6Address": ipv6,
        "GlobalIPv6PrefixLen": int(plen6 or 0),
        "MacAddress": ep.mac if ep else "",
        "DriverOpts": {} if req and req.get("connected") else None,
    }


def _aliases(ctr: Container, req: dict, ep: Endpoint | None, net: Network | None,
             started: bool) -> list[str] | None:
    """NetworkSettings.Networks[NET].Aliases as Docker shows it: none on the default
    bridge; the endpoint's while it exists; a stopped container, or a created one
    connected with `network connect`, keeps the full list (requested, short ID,
    hostname); one only created with --network shows just what was requested."""
    from cnmctl.sandbox.files import endpoint_aliases

    if net is None or net.is_default_bridge:
        return None
    if ep is not None:
        return ep.aliases
    if started or req.get("connected"):
        return endpoint_aliases(ctr, req.get("aliases", []))
    return req.get("aliases") or None


def _graph_driver(ctr: Container, layers: tuple[str, str] | None) -> dict:
    """GraphDriver: the overlay of a container of an image (its image's folder, its
    own layer), else the folder it runs in."""
    if layers is None:
        return {"Data": {"MergedDir": ctr.rootfs or "/"}, "Name": "cnmctl-rootfs"}
    lower, layer = layers
    return {"Data": {"LowerDir": lower, "MergedDir": f"{layer}/merged",
                     "UpperDir": f"{layer}/diff", "WorkDir": f"{layer}/work"},
            "Name": "overlay"}


def container_inspect(ctr: Container, endpoints: list[Endpoint], networks: dict[str, Network],
                      sandbox_key: str, folder: str,
                      layers: tuple[str, str] | None = None) -> dict:
    """The `inspect` object of one container, in Docker 20.10's shape.

    `networks` maps each requested network name to its Network (missing if it
    was removed meanwhile); `endpoints` are the live ones of a running container;
    `layers`, for a container of an image, its image's folder and its own layer.
    """
    by_network = {ep.network_id: ep for ep in endpoints}
    settings = {}
    for name, req in ctr.networks.items():
        net = networks.get(name)
        ep = by_network.get(net.id) if net else None
        started = ctr.status != "created"
        settings[name] = _endpoint_settings(req, ep, net.id if net and started else "",
                                            _aliases(ctr, req, ep, net, started))
    default = next((ep for ep in endpoints if networks.get("bridge")
                    and ep.network_id == networks["bridge"].id), None)
    legacy = _endpoint_settings(None, default, "", None)
    running = ctr.status == "running"
    restarting = ctr.status == "restarting"  # Docker counts a back-off as running
    return {
        "Id": ctr.id,
        "Created": ctr.created,
        "Path": ctr.path,
        "Args": ctr.args,
        "State": {
            "Status": ctr.state,
            "Running": running or restarting,
            "Paused": running and ctr.paused,
            "Restarting": restarting,
            "OOMKilled": False,
            "Dead": False,
            "Pid": ctr.pid if running else 0,
            "ExitCode": ctr.exit_code,
            "Error": ctr.error,
            "StartedAt": ctr.started_at,
            "FinishedAt": ctr.finished_at,
        },
        "Image": f"sha256:{ctr.image_id}" if ctr.image_id else "",
        "ResolvConfPath": f"{folder}/resolv.conf",
        "HostnamePath": f"{folder}/hostname",
        "HostsPath": f"{folder}/hosts",
        "LogPath": f"{folder}/container.log",
        "Name": "/" + ctr.name,
        "RestartCount": ctr.restart_count,
        "Driver": "",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": {
            "Binds": None,
            "ContainerIDFile": "",
            "LogConfig": {"Type": LOG_DRIVER, "Config": {}},
            "NetworkMode": ctr.network_mode,
            "PortBindings": port_bindings_view(ctr),
            "RestartPolicy": {"Name": ctr.restart_policy,
                              "MaximumRetryCount": ctr.restart_max},
            "AutoRemove": ctr.auto_remove,
            **{k: _HOSTCONFIG_DEFAULTS[k] for k in _HOSTCONFIG_BEFORE_DNS},
            "Dns": ctr.dns,
            "DnsOptions": ctr.dns_options,
            "DnsSearch": ctr.dns_search,
            "ExtraHosts": ctr.extra_hosts or None,
            **{k: v for k, v in _HOSTCONFIG_DEFAULTS.items() if k not in _HOSTCONFIG_BEFORE_DNS},
            # these in the defaults' place (Docker's order)
            "CapAdd": ctr.cap_add or None,
            "CapDrop": ctr.cap_drop or None,
            "Links": [f"/{name}:/{ctr.name}/{alias}"
                      for name, alias in map(split_link, ctr.links)] or None,
            "Privileged": ctr.privileged,
            "PublishAllPorts": ctr.publish_all,
            "ReadonlyRootfs": ctr.read_only,
            # Docker records none for a privileged container
            "MaskedPaths": None if ctr.privileged else list(MASKED_PATHS),
            "ReadonlyPaths": None if ctr.privileged else list(READONLY_PATHS),
        },
        "GraphDriver": _graph_driver(ctr, layers),
        "Mounts": [],
        "Config": {
            "Hostname": ctr.hostname or ctr.id[:12],
            "Domainname": "",
            "User": ctr.user,
            "AttachStdin": ctr.interactive and ctr.attached,
            "AttachStdout": ctr.attached,
            "AttachStderr": ctr.attached,
            **({"ExposedPorts": exposed_ports_view(ctr)} if ctr.exposed_ports else {}),
            "Tty": ctr.tty,
            "OpenStdin": ctr.interactive,
            "StdinOnce": ctr.interactive and ctr.attached,
            "Env": ctr.env or None,
            "Cmd": [ctr.path, *ctr.args][len(ctr.entrypoint):] or None,
            "Image": image_name(ctr),
            "Volumes": None,
            "WorkingDir": ctr.workdir,
            "Entrypoint": ctr.entrypoint or None,
            "OnBuild": None,
            "Labels": {},
        },
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": ctr.sandbox_id if running else "",
            "HairpinMode": False,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Ports": network_ports(ctr),
            "SandboxKey": sandbox_key if running else "",
            "SecondaryIPAddresses": None,
            "SecondaryIPv6Addresses": None,
            "EndpointID": legacy["EndpointID"],
            "Gateway": legacy["Gateway"],
            "GlobalIPv6Address": legacy["GlobalIPv6Address"],
            "GlobalIPv6PrefixLen": legacy["GlobalIPv6PrefixLen"],
            "IPAddress": legacy["IPAddress"],
            "IPPrefixLen": legacy["IPPrefixLen"],
            "IPv6Gateway": legacy["IPv6Gateway"],
            "MacAddress": legacy["MacAddress"],
            "Networks": settings,
        },
    }


def image_name(ctr: Container) -> str:
    """Config.Image and ps's IMAGE: the image as given, else the --rootfs folder or
    `host` (the host's filesystem)."""
    return ctr.image or ctr.rootfs or "host"


def human_duration(seconds: float) -> str:
    """Docker's go-units HumanDuration: 'Less than a second', '3 minutes', ..."""
    if seconds < 1:
        return "Less than a second"
    if seconds < 2:
        return "1 second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)  # Go's int(d.Hours() + 0.5): halves round up
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


class ContainerRow:
    """One `ps` row: the fields `--format` templates use (sorted, as for NetworkRow)."""

    def __init__(self, ctr: Container, networks: dict[str, Network], truncate: bool = True) -> None:
        import time

        from cnmctl.model import rfc3339_to_ns

        self._ctr = ctr
        self._network_ids = {n.id for n in networks.values() if n.name in ctr.networks}
        now = time.time()
        command = " ".join([ctr.path, *ctr.args])
        if truncate and len(command) > 20:
            command = command[:19] + "…"
        running_for = human_duration(now - rfc3339_to_ns(ctr.created) / 1e9)
        if ctr.status == "running":
            status = "Up " + human_duration(now - rfc3339_to_ns(ctr.started_at) / 1e9)
            if ctr.paused:
                status += " (Paused)"
        elif ctr.status in ("exited", "restarting"):
            ago = human_duration(now - rfc3339_to_ns(ctr.finished_at) / 1e9)
            status = f"{ctr.status.title()} ({ctr.exit_code}) {ago} ago"
        else:
            status = "Created"
        fields = {
            "Command": f'"{command}"',
            "CreatedAt": running_for + " ago",
            "ID": ctr.id[:12] if truncate else ctr.id,
            "Image": image_name(ctr),
            "Labels": "",
            "Mounts": "",
            "Names": ctr.name,
            "Networks": ",".join(ctr.networks) or ctr.network_mode,
            "Ports": displayable_ports(network_ports(ctr)),
            "RunningFor": running_for,
            "Size": "",
            "State": ctr.state,
            "Status": status,
        }
        self.__dict__.update(fields)

    def matches(self, filters: dict[str, list[str]]) -> bool:
        """`ps -f`: same key ORs, different keys AND."""
        from cnmctl.filters import filter_matches

        ctr = self._ctr
        tests = {
            "id": lambda v: ctr.id.startswith(v),
            "name": lambda v: filter_matches(v, ctr.name),  # a bad regex matches nothing
            "status": lambda v: ctr.state == v,
            "network": lambda v: v in ctr.networks or any(i.startswith(v)
                                                          for i in self._network_ids),
            "exited": lambda v: ctr.status == "exited" and str(ctr.exit_code) == v,
        }
        return all(any(tests[key](v) for v in values) for key, values in filters.items())
