"""Network drivers, one per module, behind the interface in drivers/api.py."""

from __future__ import annotations

import importlib

from cnmctl.drivers.api import Driver

# Driver name -> module; imported only when a command needs that driver.
_BUILTIN = {
    "bridge": "cnmctl.drivers.bridge",
    "host": "cnmctl.drivers.host",
    "null": "cnmctl.drivers.null",
    "macvlan": "cnmctl.drivers.macvlan",
    "ipvlan": "cnmctl.drivers.ipvlan",
}
BUILTIN_DRIVERS = tuple(_BUILTIN)
_REMOTE: dict[str, Driver] = {}


def get_driver(name: str) -> Driver:
    """The driver called `name`: a built-in one, else the plugin of that name
    (drivers/remote.py), found and activated at its first call; a name no plugin
    has is Docker's 'plugin "NAME" not found' then."""
    module = _BUILTIN.get(name)
    if module is not None:
        return importlib.import_module(module).DRIVER
    driver = _REMOTE.get(name)
    if driver is None:
        from cnmctl.drivers.remote import RemoteDriver
        from cnmctl.plugins.discovery import check_name

        driver = _REMOTE[name] = RemoteDriver(check_name(name))
    return driver
