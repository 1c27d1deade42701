"""The host driver: containers share the host's network namespace."""

from cnmctl.drivers.api import Driver


class HostDriver(Driver):
    """No kernel objects: a container on `host` runs in the host's namespace."""

    name = "host"
    needs_ipam = False


DRIVER = HostDriver()
