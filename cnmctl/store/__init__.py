"""Where cnmctl's state lives: the embedded JSON store (etcd for global scope later)."""

from cnmctl.store.jsonstore import KINDS, SCHEMA_VERSION, JsonStore

__all__ = ["KINDS", "SCHEMA_VERSION", "JsonStore"]
