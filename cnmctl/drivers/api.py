"""The driver interface, after libnetwork's driverapi.

The engine calls a driver at fixed points of a network's life; each method's
docstring says when. Drivers receive the model objects and change the kernel;
they never touch the store. Typed options come out of `validate`, before any
kernel change, so a bad `-o` changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnmctl.errors import InvalidArgument

if TYPE_CHECKING:
    from cnmctl.model import Endpoint, Network


class Driver:
    """A network driver. Subclasses override what their kind of network needs."""

    name = ""
    #: whether containers get interfaces and addresses on this network
    needs_ipam = True

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
        has its IPAM configuration, under the store lock, before it is recorded."""

    def restore_network(self, net: Network) -> None:
        """Re-make missing kernel objects of a recorded network (after a reboot);
        must be idempotent."""

    def delete_network(self, net: Network) -> None:
        """Remove the network's kernel objects; called by `network rm` once no
        endpoint is left. Objects already gone are not an error."""

    def join(self, net: Network, ep: Endpoint, sandbox_key: str, default_route: bool) -> None:
        """Give the sandbox its interface `ep.ifname` with `ep`'s addresses, plus a
        default route via the gateway when `default_route`; called by `start` and
        `network connect` after IPAM has filled `ep`. Sets `ep.host_ifname`."""

    def leave(self, net: Network, ep: Endpoint, sandbox_key: str) -> None:
        """Remove the endpoint's interface; called by `network disconnect` and when
        a container stops. Gone already is not an error."""
