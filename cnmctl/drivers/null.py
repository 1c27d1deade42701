"""The null driver behind the `none` network: a sandbox with only loopback."""

from cnmctl.drivers.api import Capabilities, Driver
from cnmctl.errors import Forbidden


class NullDriver(Driver):
    """No kernel objects beyond the sandbox's own `lo`."""

    name = "null"

    def capabilities(self) -> Capabilities:
        """Local, no addresses: nothing to allocate."""
        return Capabilities(needs_ipam=False)

    def create_endpoint(self, net, ep, mac: str = "") -> None:
        """Refused: `none` means no interface but lo (Docker's message)."""
        raise Forbidden("container cannot be connected to multiple networks with one of the "
                        "networks in private (none) mode")


DRIVER = NullDriver()
