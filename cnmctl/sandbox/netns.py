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
           ifaces: list[str] = (), unplug_always: bool = False,
           restore: list[tuple[str, str]] = ()) -> None:
    """Kill what still runs in the namespace (but processes whose mount namespace
    is in `keep`: containers joined to it, cnmctl itself), give the links of
    `restore` ((name inside, name on the host): remote plugins' links) back to the
    host, unplug `ifaces` if any such process stays or `unplug_always` (else they
    vanish with the namespace, which the kernel frees a moment later), and delete
    it. A namespace already gone is not an error; a link that cannot go back is
    reported once the namespace is deleted (it went with it)."""
    from cnmctl import linux
    from cnmctl.errors import CnmError
    from cnmctl.runtime import process
    from cnmctl.sandbox.interfaces import unplug

    kept = process.evict(sandbox_key, keep)
    errors = []
    if os.path.exists(sandbox_key):
        for ifname, host_name in restore:
            try:
                unplug(sandbox_key, ifname, restore=host_name)
            except CnmError as exc:
                errors.append(str(exc))
        if kept or unplug_always:
            for ifname in ifaces:
                unplug(sandbox_key, ifname)
    linux.delete_netns(sandbox_key)
    if errors:
        raise CnmError("; ".join(errors))


def exists(sandbox_key: str) -> bool:
    """True while the namespace is mounted at its key."""
    return os.path.ismount(sandbox_key)
