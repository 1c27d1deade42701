"""A sandbox's files: the resolv.conf, hosts and hostname a container sees.

They live under the run root and are bind-mounted over /etc inside the
container's own mount namespace. Updates rewrite them in place (same inode),
because a bind mount keeps pointing at the inode it was made with.
"""

from __future__ import annotations

import os

from cnmctl.model import Container, Endpoint

HOSTS_HEADER = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)
FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")
EMBEDDED_DNS = "127.0.0.11"


def hostname_of(ctr: Container) -> str:
    """--hostname, else the 12-character ID (Docker's default)."""
    return ctr.hostname or ctr.id[:12]


def endpoint_aliases(ctr: Container, requested: list[str]) -> list[str]:
    """The DNS aliases of an endpoint on a user-defined network, as Docker lists
    them in NetworkSettings.Networks[NET].Aliases: the requested ones, the
    12-character ID, then --hostname (each once)."""
    names = [*requested, ctr.id[:12], *([ctr.hostname] if ctr.hostname else [])]
    return list(dict.fromkeys(names))


def hosts_text(ctr: Container, endpoints: list[Endpoint], link_hosts: list[str] = ()) -> str:
    """/etc/hosts as Docker writes it: localhost lines, --add-host and legacy link
    lines, then own addresses."""
    lines = [HOSTS_HEADER]
    for extra in ctr.extra_hosts:
        name, _, ip = extra.replace("=", ":", 1).partition(":")
        lines.append(f"{ip}\t{name}\n")
    lines.extend(link_hosts)
    names = hostname_of(ctr)
    for ep in endpoints:
        for cidr in (ep.ipv4, ep.ipv6):
            if cidr:
                lines.append(f"{cidr.split('/')[0]}\t{names}\n")
    return "".join(lines)


HOST_RESOLV_CONF = "/etc/resolv.conf"
# systemd-resolved's view of the real upstreams, used when the host's resolv.conf
# names only its stub listener (Docker's resolvconf.Path does the same).
SYSTEMD_RESOLV_CONF = "/run/systemd/resolve/resolv.conf"
SYSTEMD_STUB = "127.0.0.53"


def _read_resolv_conf(path: str) -> tuple[list[str], list[str], list[str]]:
    servers, search, options = [], [], []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 2 or parts[0].startswith(("#", ";")):
                    continue
                if parts[0] == "nameserver" and _is_address(parts[1].split("%")[0]):
                    servers.append(parts[1])
                elif parts[0] in ("search", "domain"):
                    search = parts[1:]
                elif parts[0] == "options":
                    options.extend(parts[1:])
    except OSError:
        pass
    return servers, search, options


def _is_address(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def host_resolvers(path: str = HOST_RESOLV_CONF, systemd_path: str = SYSTEMD_RESOLV_CONF
                   ) -> tuple[list[str], list[str], list[str]]:
    """The host's nameservers (IP addresses, an IPv6 one maybe with its %zone), search
    domains and options. When the only nameserver is systemd-resolved's stub
    127.0.0.53, they come from systemd-resolved's own file of real upstreams, as
    Docker reads them."""
    found = _read_resolv_conf(path)
    if found[0] == [SYSTEMD_STUB] and os.path.exists(systemd_path):
        return _read_resolv_conf(systemd_path)
    return found


def resolv_text(ctr: Container, embedded_dns: bool = False) -> str:
    """resolv.conf as Docker writes it. On a user-defined network: the embedded
    DNS (127.0.0.11, which forwards other names to --dns or the host's servers)
    and `ndots:0` unless an ndots option is given. Otherwise --dns or the host's
    servers, loopback ones dropped (they are unreachable from the sandbox)."""
    servers, search, options = host_resolvers()
    if ctr.network_mode != "host":
        servers = [s for s in servers if not s.startswith(("127.", "::1"))] or list(
            FALLBACK_NAMESERVERS)
    servers = ctr.dns or servers
    search = ctr.dns_search or search
    options = ctr.dns_options or options
    if embedded_dns:
        # Docker's rebuildDNS keeps IPv6 servers after the embedded one (it forwards
        # over IPv4 only in 20.10); IPv4 ones are reached through the helper.
        servers = [EMBEDDED_DNS, *(server for server in servers if ":" in server)]
        if not any(option.startswith("ndots:") for option in options):
            options = [*options, "ndots:0"]
    # Docker's order (libnetwork's resolvconf.Build): search, nameservers, options.
    text = "search " + " ".join(search) + "\n" if search and search != ["."] else ""
    text += "".join(f"nameserver {s}\n" for s in servers)
    if options:
        text += "options " + " ".join(options) + "\n"
    return text


def _write_in_place(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.truncate()


# (path in the container, file name in the container's folder)
FILES = (("/etc/resolv.conf", "resolv.conf"), ("/etc/hosts", "hosts"),
         ("/etc/hostname", "hostname"))


def write_files(folder: str, ctr: Container, endpoints: list[Endpoint],
                embedded_dns: bool = False, link_hosts: list[str] = ()) -> None:
    """Write the container's resolv.conf, hosts and hostname into `folder`."""
    texts = {"resolv.conf": resolv_text(ctr, embedded_dns),
             "hosts": hosts_text(ctr, endpoints, link_hosts),
             "hostname": hostname_of(ctr) + "\n"}
    for _inside, name in FILES:
        _write_in_place(os.path.join(folder, name), texts[name])
