"""Which names a sandbox may resolve through the embedded DNS, and to what.

Docker's rules (shared/reference/docker, edge-cases section 15): on every
DNS-enabled network a sandbox is attached to, each endpoint answers to its
container's name, its aliases (`--network-alias`, the 12-hex short ID, the
`--hostname`), and each of those followed by `.NETWORK`; names are
case-insensitive; an address's PTR is the container's name `.NETWORK`.
Nothing is visible across networks the asking sandbox is not on. The
default `bridge` network has no embedded DNS.
"""

from __future__ import annotations

from collections.abc import Iterable

from cnmctl.model import Endpoint, Network


def dns_enabled(net: Network) -> bool:
    """User-defined networks get the embedded DNS; `bridge`, `host`, `none` do not."""
    return not net.is_default_bridge and net.driver not in ("host", "null")


def endpoint_names(ep: Endpoint) -> list[str]:
    """The container's name first (it names the PTR answers), then its aliases."""
    return list(dict.fromkeys([ep.name, *ep.aliases]))


def visible_networks(own: Iterable[Endpoint], networks: dict[str, Network]) -> frozenset[str]:
    """The IDs of the DNS-enabled networks a sandbox with endpoints `own` is on: its
    view depends on nothing else, so sandboxes with the same set share one."""
    return frozenset(ep.network_id for ep in own
                     if ep.network_id in networks and dns_enabled(networks[ep.network_id]))


def sandbox_view(own: Iterable[Endpoint], everyone: Iterable[Endpoint],
                 networks: dict[str, Network], links: Iterable[tuple[str, str]] = ()
                 ) -> tuple[dict[str, list[str]], dict[str, str]]:
    """(name -> addresses, address -> PTR name) as seen from a sandbox whose
    endpoints are `own`, among all endpoints `everyone`. Names are lower-case
    and without a trailing dot; an alias shared by several containers lists
    every address. `links` are the sandbox's legacy links, (alias, container
    name): on a user network Docker resolves the alias for the linking
    container only, to the linked one's addresses on the networks they share."""
    visible = visible_networks(own, networks)
    records: dict[str, list[str]] = {}
    ptr: dict[str, str] = {}
    by_container: dict[str, list[str]] = {}  # container name -> its visible addresses
    for ep in everyone:
        if ep.network_id not in visible:
            continue
        network = networks[ep.network_id].name
        addresses = [cidr.split("/")[0] for cidr in (ep.ipv4, ep.ipv6) if cidr]
        by_container.setdefault(ep.name, []).extend(addresses)
        names = endpoint_names(ep)
        for name in names:
            for key in (name.lower(), f"{name}.{network}".lower()):
                bucket = records.setdefault(key, [])
                bucket.extend(a for a in addresses if a not in bucket)
        for address in addresses:
            ptr.setdefault(address, f"{names[0]}.{network}")
    for alias, name in links:
        bucket = records.setdefault(alias.lower(), [])
        bucket.extend(a for a in by_container.get(name, ()) if a not in bucket)
    return records, ptr
