"""The sandbox layer's namespaces: create, delete (with what still runs inside).

A sandbox is a network namespace bind-mounted at its key path, so it outlives
the processes in it; see linux.create_netns for how it is made without a fork.
"""

from __future__ import annotations

import os


def create(sandbox_key: str) -> None:
    """A new namespace at `sandbox_key`, its loopback up."""
    from cnmctl import linux, netlink

    linux.create_netns(sandbox_key)
    netlink.loopback_up(sandbox_key)


def delete(sandbox_key: str, keep: set[tuple[int, int]] = frozenset(),
           ifaces: list[str] = (), unplug_always: bool = False) -> None:
    """Kill what still runs in the namespace (but processes whose mount namespace
    is in `keep`: containers joined to it, cnmctl itself), unplug `ifaces` if any
    such process stays or `unplug_always` (else they vanish with the namespace,
    which the kernel frees a moment later), and delete it. A namespace already
    gone is not an error."""
    from cnmctl import linux
    from cnmctl.runtime import process
    from cnmctl.sandbox.interfaces import unplug

    kept = process.evict(sandbox_key, keep)
    if (kept or unplug_always) and os.path.exists(sandbox_key):
        for ifname in ifaces:
            unplug(sandbox_key, ifname)
    linux.delete_netns(sandbox_key)


def exists(sandbox_key: str) -> bool:
    """True while the namespace is mounted at its key."""
    return os.path.ismount(sandbox_key)
