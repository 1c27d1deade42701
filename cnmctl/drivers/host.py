"""The host driver: containers share the host's network namespace."""

from cnmctl.drivers.api import Capabilities, Driver
from cnmctl.errors import Forbidden


class HostDriver(Driver):
    """No kernel objects: a container on `host` runs in the host's namespace."""

    name = "host"

    def capabilities(self) -> Capabilities:
        """Local, no addresses: nothing to allocate."""
        return Capabilities(needs_ipam=False)

    def create_endpoint(self, net, ep, mac: str = "") -> None:
        """Refused: a container joins the host's namespace (--network host), it is not
        plugged into it (Docker's message)."""
        raise Forbidden("container cannot be disconnected from host network or connected to "
                        "host network")


DRIVER = HostDriver()
