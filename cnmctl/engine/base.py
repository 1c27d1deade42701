"""Constants and lookups shared by the engine's verbs."""

from __future__ import annotations

import re

from cnmctl.errors import Conflict, InvalidArgument, NotFound
from cnmctl.model import NAME_MAX, NAME_PATTERN
from cnmctl.validate import is_valid_name  # noqa: F401 (defined with the other guards)

DEFAULT_ROOT = "/var/lib/cnmctl"
DEFAULT_RUN_ROOT = "/run/cnmctl"
DEFAULT_BRIDGE_NAME = "cnm0"
DEFAULT_BRIDGE_SUBNET = "172.17.0.0/16"
DEFAULT_BRIDGE_GATEWAY = "172.17.0.1"
# In the run root (a tmpfs): its absence means the kernel state was lost (a reboot).
BOOT_MARKER = "booted"

_NAME_RE = re.compile(NAME_PATTERN)
# A DNS label as the embedded DNS serves it: letters, digits, `-` (not at either end)
# and `_` (Compose service names have it), 1-63 characters.
_DNS_LABEL_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def check_name(name: str, what: str) -> None:
    """Docker's object-name rule; cnmctl applies it to networks too."""
    if not name:
        raise InvalidArgument(f"{what} name must not be empty")
    if not _NAME_RE.fullmatch(name):
        raise InvalidArgument(
            f"Invalid {what} name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    if len(name) > NAME_MAX:
        raise InvalidArgument(f"Invalid {what} name: longer than {NAME_MAX} characters")


def check_alias(alias: str) -> None:
    """A --network-alias must be a DNS name: other containers look it up."""
    labels = alias.split(".")
    if not alias or len(alias) > 253 or not all(map(_DNS_LABEL_RE.fullmatch, labels)):
        raise InvalidArgument(f"invalid network alias {alias!r}: not a valid DNS name "
                              "(labels of letters, digits, '-' and '_', 1-63 characters, "
                              "not starting or ending with '-')")


def find_by_ref(objects: list, ref: str, kind: str):
    """An object by full ID, exact name, or unique ID prefix (Docker's order)."""
    for obj in objects:
        if obj.id == ref:
            return obj
    for obj in objects:
        if obj.name == ref:
            return obj
    matches = [o for o in objects if ref and o.id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise Conflict(
            f"{kind} {ref} is ambiguous ({len(matches)} matches found based on ID prefix)")
    raise NotFound(f"No such {kind}: {ref}")


