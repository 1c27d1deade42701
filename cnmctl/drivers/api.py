"""The driver interface (v2), after libnetwork's driverapi.

The engine calls a driver at fixed points of a network's and an endpoint's
life; each hook's docstring says when. Drivers decide, the sandbox layer
(cnmctl/sandbox/) applies: `join` returns a JoinInfo saying what to plug into
the sandbox, and never touches the sandbox itself. Drivers never touch the
store. Typed options come out of `validate`, before any kernel change, so a
bad `-o` changes nothing. A new driver is one module here plus one line in
drivers/__init__.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnmctl.errors import InvalidArgument

if TYPE_CHECKING:
    from cnmctl.model import Endpoint, Network


class Capabilities:
    """What a driver is (libnetwork's driverapi.Capability, plus what cnmctl asks)."""

    def __init__(self, scope: str = "local", needs_ipam: bool = True,
                 external_connectivity: bool = False, connectivity_scope: str = "") -> None:
        #: "local" (this host's store) or "global" (a shared store, multi-host)
        self.scope = scope
        #: whether endpoints get addresses from IPAM (and so interfaces at all)
        self.needs_ipam = needs_ipam
        #: whether the driver programs connectivity beyond the host (NAT, ports)
        self.external_connectivity = external_connectivity
        #: how far its endpoints reach (libnetwork's ConnectivityScope); defaults to scope
        self.connectivity_scope = connectivity_scope or scope


class JoinInfo:
    """What the sandbox layer plugs for an endpoint (libnetwork's JoinInfo).

    kind "veth": a veth pair, `host_ifname` enslaved to `master` on the host,
    its peer born in the sandbox under the name the engine chose (eth0, ...),
    with `mac`, `mtu` and `addresses` (CIDR).
    kind "macvlan" or "ipvlan": a child of the host's link `parent`, born in
    the sandbox (it dies with it; nothing of it is on the host), in `mode`
    (macvlan: bridge, vepa, private, passthru; ipvlan: l2, l3, l3s) with
    ipvlan's `flag` (bridge, private, vepa), `mac` (macvlan only) and
    `addresses`.
    kind "move": `host_ifname` is a link someone else made on the host (a remote
    plugin's SrcName): moved into the sandbox under the engine's next name for
    `prefix` (a plugin's DstPrefix; "" = the network's), given `mac` (if any)
    and `addresses`; it goes back to the host under its old name when unplugged.
    `gateway`/`gateway6` are where the default routes go when this endpoint
    carries them; `static_routes` are (destination CIDR, next hop) pairs added
    either way, a next hop "" meaning straight out of the interface (on-link).
    """

    def __init__(self, kind: str, *, host_ifname: str = "", master: str = "", mtu: int = 0,
                 mac: str = "", addresses: list[str] = (), gateway: str = "",
                 gateway6: str = "", static_routes: list[tuple[str, str]] = (),
                 disable_gateway_service: bool = False, isolated: bool = False,
                 parent: str = "", mode: str = "", flag: str = "", prefix: str = "") -> None:
        self.kind = kind
        self.host_ifname, self.master, self.mtu, self.mac = host_ifname, master, mtu, mac
        self.parent, self.mode, self.flag = parent, mode, flag
        self.prefix = prefix
        self.addresses = list(addresses)
        self.gateway, self.gateway6 = gateway, gateway6
        self.static_routes = list(static_routes)
        #: no default route through this endpoint
        self.disable_gateway_service = disable_gateway_service
        #: a bridge port that reaches only the bridge, not the other ports (no ICC)
        self.isolated = isolated


class Driver:
    """A network driver. Subclasses override what their kind of network needs."""

    name = ""
    #: whether a sandbox's interfaces on this driver's networks are deleted before the
    #: namespace rather than left to go with it: the kernel frees a namespace a moment
    #: later, and until then a child of a shared parent keeps its MAC (the same
    #: container started again would be refused). Known without asking a plugin.
    unplug_first = False

    def capabilities(self) -> Capabilities:
        """The driver's scope and needs; asked before any other hook."""
        return Capabilities()

    def validate(self, net: Network, existing: list[Network] = ()) -> None:
        """Check and normalise `net.options`, filling `net.driver_data`.

        Called by `network create` before anything is written or made, with the
        networks that already exist; raises InvalidArgument for unknown or
        malformed options.
        """
        if net.options:
            key = sorted(net.options)[0]
            raise InvalidArgument(f"{self.name} driver does not accept option {key}")

    def create_network(self, net: Network) -> None:
        """Make the network's kernel objects; called once `net` is validated and
        has its IPAM configuration, in `network create`'s transaction (its
        clean-up, delete_network, is recorded first)."""

    def restore_network(self, net: Network) -> None:
        """Re-make missing kernel objects of a recorded network (after a reboot, or
        when a join finds them gone); must be idempotent."""

    def delete_network(self, net: Network) -> None:
        """Remove the network's kernel objects; called after `network rm` committed
        (and to undo a create, or by repair). Objects already gone are not an error."""

    def create_endpoint(self, net: Network, ep: Endpoint, mac: str = "") -> None:
        """Choose the endpoint's interface details (its MAC, `mac` if the user asked
        for one; its host-side name); called by `start` and `network connect` after
        IPAM filled `ep`'s addresses, before join, its clean-up (delete_endpoint)
        recorded first. Makes nothing in the kernel. Raises Forbidden where this
        network takes no endpoints."""

    def join(self, net: Network, ep: Endpoint, sandbox_key: str) -> JoinInfo:
        """What to plug into the sandbox for `ep`; called right after create_endpoint,
        its clean-up (leave) recorded first. The sandbox layer applies it."""
        raise NotImplementedError(f"{self.name} driver has no endpoints")

    def leave(self, net: Network, ep: Endpoint, sandbox_key: str) -> None:
        """Undo what join did outside the sandbox; called once the interface is gone
        from the sandbox (unplugged by the sandbox layer, or deleted with the
        namespace), on every stop, rm, disconnect and repair, as a step after the
        commit (so it is redone after a crash). Gone is not an error."""

    def delete_endpoint(self, net: Network, ep: Endpoint) -> None:
        """Forget the endpoint's driver state; called after leave, likewise."""

    def program_external_connectivity(self, net: Network, ep: Endpoint, sandbox_key: str,
                                       options: dict) -> None:
        """Give the endpoint access beyond the host; `options` holds the container's
        ports as it records them: {"exposed": ["80/tcp"], "bindings": {"80/tcp":
        [{"HostIp", "HostPort"}]}}. Called once the sandbox layer plugged it, when it
        carries the sandbox's default route (its clean-up, revoke_external_connectivity,
        recorded first). cnmctl's own drivers leave that to the firewall (firewall/)."""

    def revoke_external_connectivity(self, net: Network, ep: Endpoint) -> None:
        """Undo program_external_connectivity; called before leave, when the endpoint
        carried the default route. Gone is not an error."""

    def endpoint_info(self, net: Network, ep: Endpoint) -> dict:
        """The driver's operational data of a joined endpoint (libnetwork's DriverInfo);
        called once the endpoint is plugged, where Docker asks it."""
        return {}

    def tolerant(self) -> Driver:
        """This driver, for undoing a call it may never have received (the command
        was killed, or the call failed, before the driver accepted it): there, a
        refusal because the object is unknown is not an error. The built-in
        drivers' clean-ups are idempotent already."""
        return self
