"""Container verbs: create, start, stop, kill, rm, exited, connect, disconnect.

A container's sandbox and endpoints exist only while it runs, as in Docker:
`start` builds them (addresses from IPAM, interfaces through the driver),
and they are released when the process exits, whoever notices first (the
container's supervisor, `stop`, `rm -f`, or the first command after a reboot).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator

from cnmctl.engine.base import check_alias, check_name
from cnmctl.errors import CnmError, Conflict, Forbidden, InvalidArgument, NotFound
from cnmctl.model import (
    Container,
    Endpoint,
    Network,
    Sandbox,
    new_id,
    now_rfc3339nano,
    split_link,
)
from cnmctl.store import JsonStore

SPECIAL_MODES = ("host", "none")
USER_IP_ONLY = "user specified IP address is supported on user defined networks only"
ALIAS_ONLY = "network-scoped aliases are only supported for user-defined networks"


def mac_from_ip(ipv4: str) -> str:
    """Docker's legacy MAC scheme: 02:42 followed by the four IPv4 bytes."""
    return "02:42:" + ":".join(f"{int(b):02x}" for b in ipv4.split("."))


def random_mac() -> str:
    """A random locally administered unicast MAC (for endpoints without IPv4)."""
    raw = bytearray(os.urandom(6))
    raw[0] = (raw[0] & 0xFE) | 0x02
    return ":".join(f"{b:02x}" for b in raw)


def _check_mode_conflicts(networks: list[str], *, hostname: str, mac: str, dns: list[str],
                          extra_hosts: list[str]) -> None:
    """Refuse what Docker refuses with a shared network namespace: a container
    joined to another's (or the host's) cannot bring its own name, MAC or
    resolver settings (runconfig's ErrConflict* messages)."""
    joined = any(n.startswith("container:") for n in networks)
    conflicts = [
        (joined and hostname, "hostname"),
        ((joined or "host" in networks) and mac, "mac-address"),
        (joined and dns, "dns"),
        (joined and extra_hosts, "custom host-to-IP mapping"),
    ]
    for conflict, what in conflicts:
        if conflict:
            raise InvalidArgument(f"conflicting options: {what} and the network mode")


class ContainerOps:
    """Mixed into Engine; relies on its store, run root and lookups."""

    store: JsonStore
    run_root: str

    # -- paths --------------------------------------------------------------
    def container_dir(self, cid: str) -> str:
        """Where a container's resolv.conf, hosts, hostname and logs live."""
        return os.path.join(self.run_root, "containers", cid)

    def sandbox_key(self, sandbox_id: str) -> str:
        """The bind-mounted network namespace of a sandbox (its SandboxKey)."""
        return os.path.join(self.run_root, "netns", sandbox_id[:12])

    # -- create -------------------------------------------------------------
    def create_container(self, argv: list[str], *, name: str | None = None,
                         networks: list[str] = (), ip: str = "", ip6: str = "",
                         aliases: list[str] = (), hostname: str = "", mac: str = "",
                         dns: list[str] = (), dns_search: list[str] = (),
                         dns_options: list[str] = (), extra_hosts: list[str] = (),
                         links: list[str] = (),
                         env: list[str] = (), workdir: str = "", rootfs: str = "",
                         auto_remove: bool = False, interactive: bool = False,
                         check_networks: bool = False) -> Container:
        """`create`: validate and record a container; nothing is made in the kernel.

        With `check_networks` (as `run` does) missing networks and bad addresses
        are refused now rather than at start, so a failed `run` leaves nothing.
        """
        if not argv:
            raise InvalidArgument("no command given: cnmctl runs host commands, not images")
        _check_mode_conflicts(list(networks), hostname=hostname, mac=mac, dns=list(dns),
                              extra_hosts=list(extra_hosts))
        if rootfs and not os.path.isdir(rootfs):
            raise InvalidArgument(f"rootfs {rootfs} does not exist or is not a directory")
        mode, requested = self._requested_networks(list(networks) or ["bridge"], ip, ip6,
                                                   list(aliases), mac)
        if links and (mode == "host" or mode.startswith("container:")):
            kind = "host type networking" if mode == "host" else "container type network"
            raise InvalidArgument(f"conflicting options: {kind} can't be used with links. "
                                  "This would result in undefined behavior")
        cid = new_id()
        with self.store.lock():
            if name:
                check_name(name, "container")
                owner = self.store.get("container-names", name)
                if owner is not None:
                    raise Conflict(
                        f'Conflict. The container name "/{name}" is already in use by '
                        f'container "{owner["id"]}". You have to remove (or rename) that '
                        "container to be able to reuse that name."
                    )
            else:
                name = self._generate_name()
            ctr = Container(
                id=cid, name=name, created=now_rfc3339nano(), path=argv[0], args=list(argv[1:]),
                hostname=hostname, network_mode=mode, networks=requested, dns=list(dns),
                dns_search=list(dns_search), dns_options=list(dns_options),
                extra_hosts=list(extra_hosts), env=list(env), workdir=workdir,
                rootfs=os.path.abspath(rootfs) if rootfs else "", auto_remove=auto_remove,
                interactive=interactive,
            )
            ctr.links = self._link_targets(links)
            if check_networks:
                self._check_requested(ctr)
            self.store.put("containers", cid, ctr.to_doc())
            self.store.put("container-names", name, {"id": cid})
        return ctr

    def _requested_networks(self, networks: list[str], ip: str, ip6: str, aliases: list[str],
                            mac: str) -> tuple[str, dict]:
        """The network mode and the per-network requests of `--network` etc."""
        special = [n for n in networks if n in SPECIAL_MODES or n.startswith("container:")]
        if special and len(networks) > 1:
            raise InvalidArgument(
                "conflicting options: cannot attach both user-defined and non-user-defined "
                "network-modes"
            )
        mode = networks[0]
        if mode.startswith("container:") and not mode[len("container:"):]:
            raise InvalidArgument(f"invalid network mode: invalid container format {mode}")
        if special:
            if ip or ip6:
                raise InvalidArgument(USER_IP_ONLY)
            if aliases:
                raise InvalidArgument(ALIAS_ONLY)
            return mode, {}
        if (ip or ip6 or aliases or mac) and len(networks) > 1:
            raise InvalidArgument("--ip, --ip6, --mac-address and --network-alias apply to "
                                  "a single --network; use `network connect` for more")
        for alias in aliases:
            check_alias(alias)
        requested: dict[str, dict] = {}
        for i, net in enumerate(networks):
            if net in requested:
                raise InvalidArgument(f"network {net} given twice")
            requested[net] = {"ip": ip if i == 0 else "", "ip6": ip6 if i == 0 else "",
                              "aliases": aliases if i == 0 else [],
                              "mac": mac if i == 0 else ""}
        return mode, requested

    def _check_requested(self, ctr: Container) -> None:
        """Refuse networks that do not exist and addresses IPAM would refuse."""
        for net, req in self._requested(ctr):
            self._check_request(net, req["ip"], req["ip6"], req["aliases"])
        if ctr.network_mode.startswith("container:"):
            self._peer_container(ctr)

    def _link_targets(self, links: list[str]) -> list[str]:
        """--link NAME[:ALIAS] as "NAME:ALIAS", NAME the linked container's own name;
        it must exist now (Docker's check at create)."""
        targets = []
        for link in links:
            ref, _, alias = link.partition(":")
            child = self._link_child(ref)
            check_alias(alias or child.name)
            targets.append(f"{child.name}:{alias or child.name}")
        return targets

    def linked(self, ctr: Container, strict: bool = True) -> list[tuple[Container, str]]:
        """(linked container, alias) for each --link. Strict (at start) each must be
        running; otherwise (for `exec` and /etc/hosts) the ones that are not are left out."""
        from cnmctl.runtime import process

        found = []
        bridge_id = self.find_network("bridge").id
        on_bridge = strict and self._on_default_bridge(ctr)
        for name, alias in map(split_link, ctr.links):
            try:
                child = self._link_child(name)
            except NotFound:
                if not strict:
                    continue
                raise
            if child.status != "running" or not process.alive(child.pid, child.pid_start_time):
                if not strict:
                    continue
                raise Conflict(f"Cannot link to a non running container: /{child.name} AS "
                               f"/{ctr.name}/{alias}")
            if on_bridge and not self._bridge_address(child, bridge_id):
                raise InvalidArgument(f"Cannot link to /{child.name}, as it does not belong "
                                      "to the default network")
            found.append((child, alias))
        return found

    def _on_default_bridge(self, ctr: Container) -> bool:
        return any(net.is_default_bridge for net in self.resolve_networks(ctr.networks).values())

    def _bridge_address(self, ctr: Container, bridge_id: str) -> str:
        """The container's IPv4 address on the default bridge (`bridge_id`), or ""."""
        doc = self.store.get("sandboxes", ctr.sandbox_id) if ctr.sandbox_id else None
        if doc is None:
            return ""
        for ep in self._sandbox_endpoints(Sandbox.from_doc(doc)):
            if ep.network_id == bridge_id and ep.ipv4:
                return ep.ipv4.split("/")[0]
        return ""

    def _link_hosts(self, ctr: Container,
                    linked: list[tuple[Container, str]] | None = None) -> list[str]:
        """/etc/hosts lines of the legacy links on the default bridge, as Docker writes
        them: `IP  ALIAS HOSTNAME [NAME]`; a linked container gone since is left out.
        `linked`: the links as `start` just resolved them, else looked up again."""
        from cnmctl.sandbox import hostname_of

        if not ctr.links or not self._on_default_bridge(ctr):
            return []
        lines = []
        bridge_id = self.find_network("bridge").id
        for child, alias in self.linked(ctr, strict=False) if linked is None else linked:
            address = self._bridge_address(child, bridge_id)
            if address:
                names = [alias, hostname_of(child), *([child.name] if alias != child.name else [])]
                lines.append(f"{address}\t{' '.join(names)}\n")
        return lines

    def _link_child(self, ref: str) -> Container:
        try:
            return self.find_container(ref)
        except NotFound:
            raise NotFound(f"could not get container for {ref}: No such container: "
                           f"{ref}") from None

    @staticmethod
    def link_env(ctr: Container, linked: list[tuple[Container, str]]) -> list[str]:
        """Docker's legacy link variables: ALIAS_NAME=/NAME/ALIAS and ALIAS_ENV_* with
        the linked container's -e variables (its own -e still win)."""
        env = []
        for child, alias in linked:
            prefix = alias.upper().replace("-", "_").replace(".", "_")
            env.append(f"{prefix}_NAME=/{ctr.name}/{alias}")
            for item in child.env:
                key, _, value = item.partition("=")
                if key not in ("HOME", "PATH"):
                    env.append(f"{prefix}_ENV_{key}={value}")
        return env

    def _check_request(self, net: Network, ip: str, ip6: str, aliases: list[str]) -> None:
        """Refuse what the network cannot take: addresses or aliases on the default
        bridge, and addresses IPAM would refuse (allocated and dropped, so the
        error is exactly the one start would raise)."""
        if net.is_default_bridge and (ip or ip6):
            raise InvalidArgument(USER_IP_ONLY)
        if net.is_default_bridge and aliases:
            raise InvalidArgument(ALIAS_ONLY)
        if ip or ip6:
            allocators = self._load_ipam(net)
            for text in (ip, ip6):
                if text:
                    self._allocate_static(allocators, text)

    def _network_for_start(self, ref: str) -> Network:
        try:
            return self.find_network(ref)
        except NotFound:
            raise NotFound(f"network {ref} not found") from None

    def _requested(self, ctr: Container) -> Iterator[tuple[Network, dict]]:
        """(network, request) for each network the container asked for, in order;
        NotFound on reaching one that does not exist."""
        nets = self.resolve_networks(ctr.networks)
        for name, req in ctr.networks.items():
            if name not in nets:
                raise NotFound(f"network {name} not found")
            yield nets[name], req

    def _generate_name(self) -> str:
        from cnmctl.engine.names import random_name

        for _ in range(100):
            name = random_name()
            if self.store.get("container-names", name) is None:
                return name
        return f"{random_name()}_{os.urandom(2).hex()}"

    # -- IPAM state -----------------------------------------------------------
    def _load_ipam(self, net: Network) -> list:
        from cnmctl.ipam.default import SubnetAllocator

        doc = self.store.get("ipam", net.id) or {"subnets": []}
        return [SubnetAllocator.from_doc(d) for d in doc["subnets"]]

    def _save_ipam(self, net: Network, allocators: list) -> None:
        self.store.put("ipam", net.id, {"subnets": [a.to_doc() for a in allocators]})

    @staticmethod
    def _allocate_static(allocators: list, text: str):
        import ipaddress

        try:
            wanted = ipaddress.ip_address(text)
        except ValueError:
            family = "IPv6" if ":" in text else "IPv4"
            raise InvalidArgument(f"invalid {family} address: {text}") from None
        for alloc in allocators:
            if alloc.subnet.version == wanted.version and wanted in alloc.subnet:
                return alloc, alloc.allocate(text)
        raise InvalidArgument(
            f"Invalid address {text}: It does not belong to any of this network's subnets"
        )

    def _allocate(self, net: Network, ep: Endpoint, ip: str, ip6: str) -> None:
        """Fill `ep`'s addresses and gateways from the network's IPAM state."""
        allocators = self._load_ipam(net)
        chosen = {}
        for text in (ip, ip6):
            if text:
                alloc, addr = self._allocate_static(allocators, text)
                chosen[alloc.subnet.version] = (alloc, addr)
        for alloc in allocators:
            version = alloc.subnet.version
            if version not in chosen:
                chosen[version] = (alloc, alloc.allocate())
        for version, (alloc, addr) in chosen.items():
            cidr = f"{addr}/{alloc.subnet.prefixlen}"
            if version == 4:
                ep.ipv4, ep.gateway = cidr, str(alloc.gateway)
            else:
                ep.ipv6, ep.ipv6_gateway = cidr, str(alloc.gateway)
        self._save_ipam(net, allocators)

    def _release(self, net: Network | None, ep: Endpoint) -> None:
        if net is None:
            return
        allocators = self._load_ipam(net)
        for cidr in (ep.ipv4, ep.ipv6):
            if cidr:
                for alloc in allocators:
                    alloc.release(cidr.split("/")[0])
        self._save_ipam(net, allocators)

    # -- endpoints ----------------------------------------------------------
    def _attach(self, ctr: Container, sandbox: Sandbox, net: Network, req: dict,
                ifname: str, default_route: bool) -> Endpoint:
        """Make one endpoint: address from IPAM, interface from the driver, record."""
        if net.driver in ("host", "null"):
            raise Forbidden(
                "container cannot be disconnected from host network or connected to host network"
                if net.driver == "host" else
                "container cannot be connected to multiple networks with one of the networks "
                "in private (none) mode"
            )
        from cnmctl.sandbox import endpoint_aliases

        aliases = []
        if not net.is_default_bridge:
            aliases = endpoint_aliases(ctr, req.get("aliases", []))
        ep = Endpoint(id=new_id(), network_id=net.id, container_id=ctr.id, name=ctr.name,
                      aliases=aliases, ifname=ifname)
        self._allocate(net, ep, req.get("ip", ""), req.get("ip6", ""))
        try:
            ep.mac = req.get("mac") or (mac_from_ip(ep.ipv4.split("/")[0]) if ep.ipv4
                                        else random_mac())
            self._driver(net).join(net, ep, sandbox.key,
                                   default_route=default_route and not net.internal)
            self.store.put("endpoints", ep.id, ep.to_doc())
        except BaseException:
            self._release(net, ep)
            raise
        return ep

    @staticmethod
    def _next_ifname(sandbox: Sandbox, net: Network) -> str:
        """eth0, eth1, ... (or the network's container_iface_prefix and its own count,
        as Docker keeps one per prefix), never reusing an index within a sandbox's
        life: eth2 after eth1 left."""
        prefix = net.driver_data.get("iface_prefix") or "eth"
        index = sandbox.if_counters.get(prefix, 0)
        sandbox.if_counters[prefix] = index + 1
        return f"{prefix}{index}"

    def _sandbox_endpoints(self, sandbox: Sandbox) -> list[Endpoint]:
        eps = []
        for ep_id in sandbox.endpoint_ids:
            doc = self.store.get("endpoints", ep_id)
            if doc:
                eps.append(Endpoint.from_doc(doc))
        return eps

    # -- start --------------------------------------------------------------
    def start_container(self, ref: str, *, foreground: bool = False, stdio=None):
        """`start`: build the sandbox and endpoints, then start the process.

        Returns the container (detached) or the running process handle
        (foreground). Everything made is undone if a step fails.
        """
        from cnmctl.runtime import process

        with self.store.lock():
            ctr = self.find_container(ref)
            if self.reap_lost(ctr):  # its old sandbox released first (liveness.py)
                ctr = self.find_container(ctr.id)
            if ctr.status == "running" and process.alive(ctr.pid, ctr.pid_start_time):
                return ctr if not foreground else None
            undo: list = []
            self.ensure_kernel()
            linked = self.linked(ctr) if ctr.links else []
            # Start the process first, held at a gate: its interpreter start-up
            # then overlaps with building the sandbox.
            sandbox_id = new_id()
            files = self._file_paths(ctr)
            launch = process.launch(self, ctr, self._netns_for(ctr, sandbox_id), files,
                                    foreground=foreground, stdio=stdio,
                                    extra_env=self.link_env(ctr, linked))
            dns_networks: list[Network] = []
            try:
                sandbox = self._build_sandbox(ctr, undo, sandbox_id)
                dns_networks = self._write_files(ctr, sandbox, linked)
                if dns_networks and sandbox.container_id == ctr.id:
                    undo.append(lambda: self.dns_detach(sandbox.key, dns_networks))
                    self.dns_attach(sandbox, dns_networks)
                started = launch.go()
            except BaseException:
                launch.cancel()
                for action in reversed(undo):
                    with contextlib.suppress(Exception):
                        action()
                if dns_networks:  # after the store forgot them: no helper keeps the names
                    with contextlib.suppress(Exception):
                        self.dns_reload()
                raise
            ctr.status, ctr.pid, ctr.pid_start_time = "running", started.pid, started.start_time
            ctr.supervisor_pid = started.supervisor_pid
            ctr.started_at, ctr.exit_code, ctr.error = now_rfc3339nano(), 0, ""
            ctr.sandbox_id = sandbox.id if sandbox else ""
            self.store.put("containers", ctr.id, ctr.to_doc())
        return started if foreground else ctr

    def _netns_for(self, ctr: Container, sandbox_id: str) -> str:
        """The namespace the process will join: its own sandbox's, the peer's, or none."""
        if ctr.network_mode == "host":
            return ""
        if ctr.network_mode.startswith("container:"):
            peer = self._peer_container(ctr)
            return Sandbox.from_doc(self.store.get("sandboxes", peer.sandbox_id)).key
        return self.sandbox_key(sandbox_id)

    def _build_sandbox(self, ctr: Container, undo: list, sandbox_id: str) -> Sandbox | None:
        """The namespace and one endpoint per requested network (none for host mode)."""
        from cnmctl import linux, netlink

        mode = ctr.network_mode
        if mode == "host":
            return None
        if mode.startswith("container:"):
            peer = self._peer_container(ctr)
            sandbox = Sandbox.from_doc(self.store.get("sandboxes", peer.sandbox_id))
            self._set_joined(sandbox, ctr.id, True)
            undo.append(lambda: self._set_joined(sandbox, ctr.id, False))
            return sandbox
        nets = list(self._requested(ctr))
        sandbox = Sandbox(id=sandbox_id, key=self.sandbox_key(sandbox_id), container_id=ctr.id)
        linux.create_netns(sandbox.key)
        undo.append(lambda: linux.delete_netns(sandbox.key))
        netlink.loopback_up(sandbox.key)
        undo.append(lambda: self.store.delete("sandboxes", sandbox.id))
        for i, (net, req) in enumerate(nets):
            ep = self._attach(ctr, sandbox, net, req, self._next_ifname(sandbox, net),
                              default_route=i == 0)
            sandbox.endpoint_ids.append(ep.id)
            undo.append(lambda ep=ep, net=net: self._drop_endpoint(net, ep))
            # Unplug explicitly on rollback: a namespace's veths otherwise vanish
            # only when the kernel gets round to cleaning the namespace up.
            undo.append(lambda ep=ep, net=net: self._driver(net).leave(net, ep, sandbox.key))
        self.store.put("sandboxes", sandbox.id, sandbox.to_doc())
        return sandbox

    def _set_joined(self, sandbox: Sandbox, cid: str, joined: bool) -> None:
        """Record (or forget) a container sharing the sandbox, so that the owner's
        teardown spares its processes without scanning every container."""
        sandbox.joined = [c for c in sandbox.joined if c != cid] + ([cid] if joined else [])
        self.store.put("sandboxes", sandbox.id, sandbox.to_doc())

    def _drop_endpoint(self, net: Network | None, ep: Endpoint) -> None:
        """Forget an endpoint and free its addresses (its interface goes with the sandbox)."""
        self._release(net, ep)
        self.store.delete("endpoints", ep.id)

    def _peer_container(self, ctr: Container) -> Container:
        peer = self.find_container(ctr.network_mode[len("container:"):])
        if peer.status != "running" or not peer.sandbox_id:
            raise Conflict(f"cannot join network of a non running container: {peer.id}")
        return peer

    def _file_paths(self, ctr: Container) -> dict[str, str]:
        """{path in the container: path on the host} of resolv.conf, hosts, hostname.

        A container joined with `--network container:NAME` shares NAME's files
        and takes its host name, as Docker does (the names in /etc/hosts are
        the network namespace's, which belongs to NAME).
        """
        from cnmctl import sandbox as sandbox_files

        folder = self.container_dir(ctr.id)
        os.makedirs(folder, mode=0o700, exist_ok=True)  # for the logs, in any mode
        if ctr.network_mode.startswith("container:"):
            peer = self._peer_container(ctr)
            ctr.hostname = sandbox_files.hostname_of(peer)
            folder = self.container_dir(peer.id)
        return {inside: os.path.join(folder, name) for inside, name in sandbox_files.FILES}

    def _write_files(self, ctr: Container, sandbox: Sandbox | None,
                     linked: list[tuple[Container, str]] | None = None) -> list[Network]:
        """Write the container's own resolv.conf, hosts and hostname (bind-mounted
        over /etc); a `container:` container uses its peer's. Returns the
        sandbox's DNS-enabled networks: with any, resolv.conf names 127.0.0.11."""
        from cnmctl import sandbox as sandbox_files

        eps = self._sandbox_endpoints(sandbox) if sandbox else []
        dns_networks = self._dns_networks(self._networks_of(eps))
        if not ctr.network_mode.startswith("container:"):
            sandbox_files.write_files(self.container_dir(ctr.id), ctr, eps,
                                      embedded_dns=bool(dns_networks),
                                      link_hosts=self._link_hosts(ctr, linked))
        return dns_networks

    # -- exit, stop, kill, rm -------------------------------------------------
    def container_exited(self, cid: str, exit_code: int, expected_pid: int = 0) -> None:
        """Record an exit and release the sandbox; idempotent (several may notice)."""
        with self.store.lock():
            doc = self.store.get("containers", cid)
            if doc is None:
                return
            ctr = Container.from_doc(doc)
            if ctr.status != "running" or (expected_pid and ctr.pid != expected_pid):
                return
            self._teardown(ctr)
            ctr.status, ctr.exit_code, ctr.pid, ctr.pid_start_time = "exited", exit_code, 0, 0
            ctr.finished_at = now_rfc3339nano()
            if ctr.auto_remove:
                self._forget(ctr)
            else:
                self.store.put("containers", ctr.id, ctr.to_doc())

    def _teardown(self, ctr: Container) -> None:
        """Release the endpoints and delete the sandbox (its veths vanish with it)."""
        from cnmctl import linux

        sandbox_doc = self.store.get("sandboxes", ctr.sandbox_id) if ctr.sandbox_id else None
        if sandbox_doc and sandbox_doc["container_id"] == ctr.id:
            sandbox = Sandbox.from_doc(sandbox_doc)
            eps = self._sandbox_endpoints(sandbox)
            endpoints = list(zip(self._networks_of(eps), eps, strict=True))
            if self._evict(ctr, sandbox):
                # Someone stays in the namespace (a container sharing it, an
                # nsenter from the host): unplug the interfaces explicitly, as
                # they would otherwise outlive the endpoints.
                for net, ep in endpoints:
                    if net is not None:
                        with contextlib.suppress(CnmError):
                            self._driver(net).leave(net, ep, sandbox.key)
            dns_networks = self._dns_networks(net for net, _ep in endpoints)
            for net, ep in endpoints:
                self._drop_endpoint(net, ep)
            if dns_networks:
                # After the store forgot the names, before the namespace goes:
                # the helpers' sockets in it would keep it (and its veths) alive.
                with contextlib.suppress(CnmError):
                    self.dns_detach(sandbox.key, dns_networks)
            linux.delete_netns(sandbox.key)
            self.store.delete("sandboxes", sandbox.id)
        elif sandbox_doc and ctr.id in sandbox_doc.get("joined", ()):
            self._set_joined(Sandbox.from_doc(sandbox_doc), ctr.id, False)
        ctr.sandbox_id = ""

    def _evict(self, ctr: Container, sandbox: Sandbox) -> bool:
        """Kill what the container left running in its sandbox; True if other
        processes (containers joined with container:NAME, host processes that
        entered only its network namespace) remain in it."""
        from cnmctl.runtime import process

        keep = {process.namespace_of(f"/proc/{os.getpid()}/ns/mnt")}
        for cid in sandbox.joined:
            doc = self.store.get("containers", cid)
            if doc and doc["id"] != ctr.id and doc["sandbox_id"] == sandbox.id and doc["pid"]:
                keep.add(process.namespace_of(f"/proc/{doc['pid']}/ns/mnt"))
        keep.discard(None)
        return process.evict(sandbox.key, keep)

    def _forget(self, ctr: Container) -> None:
        import shutil

        self.store.delete("containers", ctr.id)
        owner = self.store.get("container-names", ctr.name)
        if owner is not None and owner["id"] == ctr.id:
            self.store.delete("container-names", ctr.name)
        shutil.rmtree(self.container_dir(ctr.id), ignore_errors=True)

    def stop_container(self, ref: str, timeout: float = 10.0, sig: int = signal.SIGTERM) -> str:
        """`stop`: the signal, then SIGKILL after `timeout` seconds; waits for the exit."""
        from cnmctl.runtime import process

        ctr = self.find_container(ref)
        if ctr.status != "running" or self.reap_lost(ctr):  # liveness.py
            return ctr.id
        if process.alive(ctr.pid, ctr.pid_start_time):
            process.signal_and_wait(ctr.pid, ctr.pid_start_time, sig, timeout)
        self._await_exit(ctr, 128 + signal.SIGKILL)
        return ctr.id

    def _await_exit(self, ctr: Container, fallback_code: int) -> None:
        """Give the supervisor a moment to record the exit; do it ourselves if it is gone."""
        from cnmctl.runtime import process

        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            doc = self.store.get("containers", ctr.id)
            if doc is None or doc["status"] != "running" or doc["pid"] != ctr.pid:
                return
            if not process.supervised(ctr):
                break
            time.sleep(0.01)
        self.container_exited(ctr.id, fallback_code, expected_pid=ctr.pid)

    def kill_container(self, ref: str, sig: int) -> str:
        """`kill`: send a signal to the container's process."""
        from cnmctl.runtime import process

        ctr = self.find_container(ref)
        if ctr.status != "running" or not process.alive(ctr.pid, ctr.pid_start_time):
            raise Conflict(f"Cannot kill container: {ref}: Container {ctr.id} is not running")
        os.kill(ctr.pid, sig)
        if sig == signal.SIGKILL:
            process.signal_and_wait(ctr.pid, ctr.pid_start_time, 0, 5.0)
            self._await_exit(ctr, 128 + signal.SIGKILL)
        return ctr.id

    def remove_container(self, ref: str, force: bool = False) -> Container:
        """`rm`: refuse a running container unless `force`, which kills it first."""
        from cnmctl.runtime import process

        ctr = self.find_container(ref)
        if ctr.status == "running" and process.alive(ctr.pid, ctr.pid_start_time):
            if not force:
                raise Conflict(
                    f"You cannot remove a running container {ctr.id}. Stop the container "
                    "before attempting removal or force remove"
                )
            process.signal_and_wait(ctr.pid, ctr.pid_start_time, signal.SIGKILL, 5.0)
        with self.store.lock():
            doc = self.store.get("containers", ctr.id)
            if doc is None:
                return ctr
            ctr = Container.from_doc(doc)
            if ctr.status == "running":
                self._teardown(ctr)
            self._forget(ctr)
        return ctr

    # -- connect / disconnect -------------------------------------------------
    def connect(self, net_ref: str, ctr_ref: str, ip: str = "", ip6: str = "",
                aliases: list[str] = ()) -> None:
        """`network connect`: record the request; hot-plug it when the container runs."""
        from cnmctl import netlink

        for alias in aliases:
            check_alias(alias)
        with self.store.lock():
            net = self._network_for_start(net_ref)
            ctr = self.find_container(ctr_ref)
            if ctr.network_mode in SPECIAL_MODES or ctr.network_mode.startswith("container:"):
                raise Forbidden("container sharing network namespace with another container "
                                "or host cannot be connected to any other network")
            if net.is_default_bridge:
                self._check_request(net, ip, ip6, aliases)  # Docker's messages, first
            if net.name in ctr.networks or any(other.id == net.id for other in
                                               self.resolve_networks(ctr.networks).values()):
                raise Conflict(f"endpoint with name {ctr.name} already exists in network "
                               f"{net.name}")
            req = {"ip": ip, "ip6": ip6, "aliases": list(aliases), "mac": "", "connected": True}
            if ctr.status == "running" and ctr.sandbox_id:
                self.ensure_kernel()
                sandbox = Sandbox.from_doc(self.store.get("sandboxes", ctr.sandbox_id))
                had_default = bool(netlink.default_routes(sandbox.key))
                ep = self._attach(ctr, sandbox, net, req, self._next_ifname(sandbox, net),
                                  default_route=not had_default)
                sandbox.endpoint_ids.append(ep.id)
                self.store.put("sandboxes", sandbox.id, sandbox.to_doc())
                dns_networks = self._dns_networks([net])
                try:
                    self.dns_attach(sandbox, dns_networks)
                except BaseException:
                    with contextlib.suppress(CnmError):
                        self._driver(net).leave(net, ep, sandbox.key)
                    self._drop_endpoint(net, ep)
                    sandbox.endpoint_ids.remove(ep.id)
                    self.store.put("sandboxes", sandbox.id, sandbox.to_doc())
                    with contextlib.suppress(Exception):
                        self.dns_detach(sandbox.key, dns_networks)
                    raise
            else:
                self._check_request(net, ip, ip6, [])
            ctr.networks[net.name] = req
            self.store.put("containers", ctr.id, ctr.to_doc())
            if ctr.status == "running" and ctr.sandbox_id:
                self._write_files(ctr, sandbox)

    def disconnect(self, net_ref: str, ctr_ref: str) -> None:
        """`network disconnect`: unplug the interface, keep a default route if one is left."""
        from cnmctl import netlink

        with self.store.lock():
            net = self._network_for_start(net_ref)
            ctr = self.find_container(ctr_ref)
            resolved = self.resolve_networks(ctr.networks)
            names = [n for n in ctr.networks
                     if n == net.name or (n in resolved and resolved[n].id == net.id)]
            if not names:
                raise NotFound(f"container {ctr.id} is not connected to network {net.name}")
            if ctr.status == "running" and ctr.sandbox_id:
                sandbox = Sandbox.from_doc(self.store.get("sandboxes", ctr.sandbox_id))
                eps = self._sandbox_endpoints(sandbox)
                leaving = [e for e in eps if e.network_id == net.id]
                for ep in leaving:
                    self._driver(net).leave(net, ep, sandbox.key)
                    self._drop_endpoint(net, ep)
                    sandbox.endpoint_ids.remove(ep.id)
                self.store.put("sandboxes", sandbox.id, sandbox.to_doc())
                if leaving:
                    self.dns_detach(sandbox.key, self._dns_networks([net]))
                if not netlink.default_routes(sandbox.key):
                    self._restore_default_route(sandbox)
            for name in names:
                del ctr.networks[name]
            self.store.put("containers", ctr.id, ctr.to_doc())
            if ctr.status == "running" and ctr.sandbox_id:
                self._write_files(ctr, sandbox)

    def _restore_default_route(self, sandbox: Sandbox) -> None:
        """After the default route's interface left, route via the next routable network."""
        from cnmctl import netlink

        for ep in self._sandbox_endpoints(sandbox):
            doc = self.store.get("networks", ep.network_id)
            if ep.gateway and doc and not doc.get("internal"):
                netlink.add_default_route(sandbox.key, ep.ifname, ep.gateway)
                return
