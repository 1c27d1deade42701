"""Docker-shaped documents built from model objects, for inspect, ls and --format.

Key names, order and nesting follow Docker 20.10's API output exactly (the
reference recordings in shared/reference/docker), since scripts index into them.
"""

from __future__ import annotations

from cnmctl.model import Endpoint, Network, go_time_string


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
    """One `network ls` row: the fields and methods `--format` templates use."""

    def __init__(self, net: Network, truncate: bool = True) -> None:
        self._net = net
        self.ID = net.id[:12] if truncate else net.id
        self.Name = net.name
        self.Driver = net.driver
        self.Scope = net.scope
        self.IPv6 = "true" if net.enable_ipv6 else "false"
        self.Internal = "true" if net.internal else "false"
        self.Labels = ",".join(f"{k}={v}" for k, v in sorted(net.labels.items()))
        self.CreatedAt = go_time_string(net.created)

    def Label(self, key: str) -> str:  # noqa: N802 - Docker's template method name
        """The value of one label, or empty."""
        return self._net.labels.get(key, "")

    def json_object(self) -> dict:
        """`--format json` / `{{json .}}`: every field as a string, keys sorted."""
        return {
            "CreatedAt": self.CreatedAt,
            "Driver": self.Driver,
            "ID": self.ID,
            "IPv6": self.IPv6,
            "Internal": self.Internal,
            "Labels": self.Labels,
            "Name": self.Name,
            "Scope": self.Scope,
        }
