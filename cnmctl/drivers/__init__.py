"""Network drivers, one per module, behind the interface in drivers/api.py."""

from __future__ import annotations

import importlib

from cnmctl.drivers.api import Driver
from cnmctl.errors import NotFound

# Driver name -> module; imported only when a command needs that driver.
_BUILTIN = {
    "bridge": "cnmctl.drivers.bridge",
    "host": "cnmctl.drivers.host",
    "null": "cnmctl.drivers.null",
    "macvlan": "cnmctl.drivers.macvlan",
    "ipvlan": "cnmctl.drivers.ipvlan",
}
BUILTIN_DRIVERS = tuple(_BUILTIN)


def get_driver(name: str) -> Driver:
    """The driver called `name`; an unknown name is Docker's 'plugin not found'."""
    module = _BUILTIN.get(name)
    if module is None:
        raise NotFound(f'plugin "{name}" not found')
    return importlib.import_module(module).DRIVER
