"""Containers' records: `create`, names, requested networks, legacy links, and the
files a container sees.

A container's sandbox and endpoints exist only while it runs, as in Docker:
`start` builds them (lifecycle.py) and they are released when the process
exits, whoever notices first (its supervisor, `stop`, `rm -f`, the first
command after a reboot, liveness.py); connect.py hot-plugs networks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from cnmctl.engine.base import check_alias, check_name
from cnmctl.errors import Conflict, InvalidArgument, NotFound
from cnmctl.model import (
    Container,
    Network,
    Sandbox,
    new_id,
    now_rfc3339nano,
    split_link,
)
from cnmctl.store import Store
from cnmctl.validate import check_id

SPECIAL_MODES = ("host", "none")
USER_IP_ONLY = "user specified IP address is supported on user defined networks only"
ALIAS_ONLY = "network-scoped aliases are only supported for user-defined networks"


def _check_mode_conflicts(networks: list[str], *, hostname: str, mac: str, dns: list[str],
                          extra_hosts: list[str], publishing: bool, exposing: bool) -> None:
    """Refuse what Docker refuses with a shared network namespace: a container
    joined to another's (or the host's) cannot bring its own name, MAC,
    resolver settings or ports (runconfig's ErrConflict* messages). Publishing
    with --network none is refused too (Docker 20.10 accepts it and publishes
    nothing)."""
    joined = any(n.startswith("container:") for n in networks)
    conflicts = [
        (joined and hostname, "hostname and the network mode"),
        ((joined or "host" in networks) and mac, "mac-address and the network mode"),
        (joined and dns, "dns and the network mode"),
        (joined and extra_hosts, "custom host-to-IP mapping and the network mode"),
        (joined and publishing, "port publishing and the container type network mode"),
        (joined and exposing, "port exposing and the container type network mode"),
        (networks == ["none"] and publishing, "port publishing and the none network mode"),
    ]
    for conflict, what in conflicts:
        if conflict:
            raise InvalidArgument(f"conflicting options: {what}")


def _check_confinement(cap_add: list[str], cap_drop: list[str]) -> None:
    """--cap-add/--cap-drop names this kernel has (the daemon's message)."""
    from cnmctl.linux import permitted_caps
    from cnmctl.runtime.security import check

    try:
        check(cap_add, cap_drop, permitted_caps())
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None


class ContainerOps:
    """Mixed into Engine; relies on its store, run root and lookups."""

    store: Store
    run_root: str

    # -- paths --------------------------------------------------------------
    def container_dir(self, cid: str) -> str:
        """Where a container's resolv.conf, hosts, hostname and logs live."""
        return os.path.join(self.run_root, "containers", check_id(cid, "container"))

    def sandbox_key(self, sandbox_id: str) -> str:
        """The bind-mounted network namespace of a sandbox (its SandboxKey)."""
        return os.path.join(self.run_root, "netns", check_id(sandbox_id, "sandbox")[:12])

    # -- create -------------------------------------------------------------
    def create_container(self, argv: list[str], *, name: str | None = None,
                         networks: list[str] = (), ip: str = "", ip6: str = "",
                         aliases: list[str] = (), hostname: str = "", mac: str = "",
                         dns: list[str] = (), dns_search: list[str] = (),
                         dns_options: list[str] = (), extra_hosts: list[str] = (),
                         links: list[str] = (),
                         env: list[str] = (), workdir: str = "", rootfs: str = "",
                         auto_remove: bool = False, interactive: bool = False,
                         tty: bool = False, attached: bool = False,
                         port_bindings: dict[str, list[dict]] | None = None,
                         exposed_ports: list[str] = (), publish_all: bool = False,
                         restart_policy: tuple[str, int] = ("no", 0),
                         user: str = "", cap_add: list[str] = (), cap_drop: list[str] = (),
                         privileged: bool = False, read_only: bool = False,
                         check_networks: bool = False) -> Container:
        """`create`: validate and record a container; nothing is made in the kernel.

        `port_bindings` and `exposed_ports` are -p and --expose as ports.py
        parses them; with --network host the bindings are dropped (Docker warns
        that they are discarded). With `check_networks` (as `run` does) missing
        networks and bad addresses are refused now rather than at start, so a
        failed `run` leaves nothing.
        """
        from cnmctl.engine.restart import check_restart_policy

        if not argv:
            raise InvalidArgument("No command specified")
        check_restart_policy(*restart_policy)
        _check_mode_conflicts(list(networks), hostname=hostname, mac=mac, dns=list(dns),
                              extra_hosts=list(extra_hosts),
                              publishing=bool(port_bindings) or publish_all,
                              exposing=bool(exposed_ports))
        if rootfs and not os.path.isdir(rootfs):
            raise InvalidArgument(f"rootfs {rootfs} does not exist or is not a directory")
        _check_confinement(list(cap_add), list(cap_drop))
        mode, requested = self._requested_networks(list(networks) or ["bridge"], ip, ip6,
                                                   list(aliases), mac)
        if links and (mode == "host" or mode.startswith("container:")):
            kind = "host type networking" if mode == "host" else "container type network"
            raise InvalidArgument(f"conflicting options: {kind} can't be used with links. "
                                  "This would result in undefined behavior")
        cid = new_id()
        with self.transaction("create"):
            # IMAGE [COMMAND]: the first word is an image if it names one (under the
            # lock, so the image cannot go before the container is recorded).
            word = argv[0]
            image = self.image_for_command(word)
            if image is not None:
                if rootfs:
                    raise InvalidArgument(f"conflicting options: --rootfs and an image "
                                          f"({word}): a container runs in one or the other")
                argv, env, workdir, entrypoint = self.image_command(image, argv[1:], env,
                                                                    workdir)
            if read_only and not rootfs and image is None:
                # On the host's filesystem the root is the host's, whose mounts are not
                # the container's to freeze (/tmp, /run, /var would turn read-only).
                raise InvalidArgument("--read-only needs an image or --rootfs: a container "
                                      "on the host's filesystem has no root of its own")
            if name:
                self._reserve_name(name)
            else:
                name = self._generate_name()
            ctr = Container(
                id=cid, name=name, created=now_rfc3339nano(), path=argv[0], args=list(argv[1:]),
                hostname=hostname, network_mode=mode, networks=requested, dns=list(dns),
                dns_search=list(dns_search), dns_options=list(dns_options),
                extra_hosts=list(extra_hosts), env=list(env), workdir=workdir,
                rootfs=os.path.abspath(rootfs) if rootfs else "", auto_remove=auto_remove,
                interactive=interactive, tty=tty, attached=attached,
                exposed_ports=list(exposed_ports),
                port_bindings={} if mode == "host" else dict(port_bindings or {}),
                publish_all=publish_all, restart_policy=restart_policy[0],
                restart_max=restart_policy[1],
                user=user, cap_add=list(cap_add),
                cap_drop=list(cap_drop), privileged=privileged, read_only=read_only,
            )
            ctr.links = self._link_targets(links)
            if check_networks:
                self._check_requested(ctr)
            if image is not None:
                ctr.image, ctr.image_id, ctr.entrypoint = word, image.id, entrypoint
                self.make_layer(ctr)
            self.store.put("containers", cid, ctr.to_doc())
            self.store.put("container-names", name, {"id": cid})
        return ctr

    def rename_container(self, ref: str, new_name: str) -> None:
        """`rename`: the name index, the record and the container's endpoints (the
        names `network inspect` shows and the embedded DNS answers) in one
        transaction; the DNS helpers reload once it commits. /etc/hosts is left as
        it is, as Docker leaves it (it holds the host name, not the name)."""
        if not ref or not new_name:
            raise InvalidArgument("Neither old nor new names may be empty")
        new_name = new_name.removeprefix("/")
        with self.transaction("rename"):
            ctr = self.find_container(ref)
            if ctr.name == new_name:
                raise InvalidArgument("Renaming a container with the same name as its "
                                      "current name")
            try:
                self._reserve_name(new_name)
            except (Conflict, InvalidArgument) as exc:
                exc.args = (f"Error when allocating new name: {exc}",)
                raise
            owner = self.store.get("container-names", ctr.name)
            if owner is not None and owner["id"] == ctr.id:
                self.store.delete("container-names", ctr.name)
            ctr.name = new_name
            self.store.put("containers", ctr.id, ctr.to_doc())
            self.store.put("container-names", new_name, {"id": ctr.id})
            doc = self.store.get("sandboxes", ctr.sandbox_id) if ctr.sandbox_id else None
            if doc is not None and doc["container_id"] == ctr.id:
                for ep in self._sandbox_endpoints(Sandbox.from_doc(doc)):
                    ep.name = new_name
                    self.store.put("endpoints", ep.id, ep.to_doc())
                self._tx.then({"kind": "dns-reload"})

    def _reserve_name(self, name: str) -> None:
        """Refuse a name that is malformed or taken (Docker's messages)."""
        check_name(name, "container")
        owner = self.name_owner(name)
        if owner is not None:
            raise Conflict(
                f'Conflict. The container name "/{name}" is already in use by '
                f'container "{owner.id}". You have to remove (or rename) that '
                "container to be able to reuse that name."
            )

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
        from cnmctl.sandbox.files import hostname_of

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
            if self.name_owner(name) is None:
                return name
        return f"{random_name()}_{os.urandom(2).hex()}"

    def _file_paths(self, ctr: Container) -> dict[str, str]:
        """{path in the container: path on the host} of resolv.conf, hosts, hostname.

        A container joined with `--network container:NAME` shares NAME's files
        and takes its host name, as Docker does (the names in /etc/hosts are
        the network namespace's, which belongs to NAME).
        """
        from cnmctl.sandbox import files as sandbox_files

        folder = self.container_dir(ctr.id)
        if not os.path.isdir(folder):  # for the logs, in any mode; a new one goes on undo
            self._tx.created({"kind": "dir", "name": folder})
            os.makedirs(folder, mode=0o700, exist_ok=True)
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
        from cnmctl.sandbox import files as sandbox_files

        eps = self._sandbox_endpoints(sandbox) if sandbox else []
        dns_networks = self._dns_networks(self._networks_of(eps))
        if not ctr.network_mode.startswith("container:"):
            sandbox_files.write_files(self.container_dir(ctr.id), ctr, eps,
                                      embedded_dns=bool(dns_networks),
                                      link_hosts=self._link_hosts(ctr, linked))
        return dns_networks

