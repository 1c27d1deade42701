"""Where cnmctl's state lives: the Store protocol (api.py) and its embedded JSON
implementation; a global-scope backend (etcd) is meant to be one more module."""

from cnmctl.store.api import KINDS, Store, StoreCorrupt
from cnmctl.store.jsonstore import SCHEMA_VERSION, JsonStore

__all__ = ["KINDS", "SCHEMA_VERSION", "JsonStore", "Store", "StoreCorrupt", "open_store"]


def open_store(root: str) -> Store:
    """The store at `root`: the one place that picks the backend (the embedded JSON
    store for local scope)."""
    return JsonStore(root)
