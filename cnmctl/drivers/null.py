"""The null driver behind the `none` network: a sandbox with only loopback."""

from cnmctl.drivers.api import Driver


class NullDriver(Driver):
    """No kernel objects beyond the sandbox's own `lo`."""

    name = "null"
    needs_ipam = False


DRIVER = NullDriver()
