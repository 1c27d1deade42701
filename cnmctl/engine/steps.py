"""Kernel and process steps a transaction records, runs, and redoes after a crash.

Each step is a small JSON-able dict {"kind": ..., ...}: in a transaction's
intent it says how to clean up an object the command made (if it does not
commit) or how to finish what it took away (once it has). Every step is
idempotent: running it twice, or on an object already gone, is not an error.

| kind      | fields                   | does                                                   |
|-----------|--------------------------|--------------------------------------------------------|
| session   | pid, start               | SIGKILL a supervisor's whole session (the container too)|
| netns     | name, keep, ifaces,      | kill what runs inside (but `keep` mount namespaces),    |
|           | unplug, restore          | give `restore` links back to the host, unplug `ifaces`  |
|           |                          | if anything is kept (or `unplug`), unmount, unlink      |
| iface     | netns, name, restore     | the sandbox layer unplugs an interface (gives it back   |
|           |                          | to the host as `restore`, if given)                     |
| endpoint  | network, endpoint, netns,| the driver revokes external connectivity (if `revoke`), |
|           | revoke, leave, delete,   | leaves (unless `leave` false) and deletes the endpoint  |
|           | pending                  | (unless `delete` false); `pending`: the call it undoes  |
|           |                          | may never have reached the driver, or a redone step's   |
|           |                          | may have already (Driver.tolerant)                      |
| network   | doc, pending             | its driver deletes the network (`pending`: as above)    |
| link      | name                     | delete a link in the host namespace                    |
| dns-detach| network, name            | a network's DNS helper stops serving a sandbox         |
| dns-stop  | network                  | stop a network's DNS helper                            |
| dns-reload|                          | every running helper reads the store again             |
| route     | netns, ifname, gateway   | a default route via `gateway`, unless one exists       |
| dir       | name                     | remove a container's folder under the run root         |
| file      | name                     | remove a start's marker under the run root             |
| cgroup    | name, thaw               | thaw the freezer cgroup a marker under the run root    |
|           |                          | names (cgroups/<ID>); unless `thaw`, move what is in   |
|           |                          | it out, remove it and the marker                       |
| firewall  |                          | write cnmctl's nftables table as the store implies it  |
| store-dir | name                     | remove an image's folder or a container's writable     |
|           |                          | layer in the store (image-roots/, layers/)             |
| ipam-pool | driver, pool             | ReleasePool to an IPAM plugin                          |
| ipam-     | driver, pool, address    | ReleaseAddress to an IPAM plugin, unless a network or  |
| address   |                          | endpoint in the store still holds the address          |

The two IPAM steps are recorded before the request they undo, with the pool ID
or address still empty when the plugin chooses it; the answer fills it in
(Transaction.answered). A step left empty (the command was killed while the
plugin answered) cannot be undone: the protocol has no way to ask a plugin what
it gave; it is reported. A plugin that says the thing is not there has nothing
to release: not an error.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

from cnmctl.errors import CnmError

if TYPE_CHECKING:
    from cnmctl.store import Store


def run(step: dict, run_root: str, store: Store | None = None) -> None:
    """Run one step (see the table above); `store`, committed, for those that read it."""
    kind = step["kind"]
    if kind == "firewall":
        if store is None:
            raise CnmError("the firewall step needs the store")
        from cnmctl.firewall import sync

        sync.sync(store)
        return
    if kind in ("ipam-pool", "ipam-address"):
        if store is None:
            raise CnmError("the IPAM steps need the store")
        from cnmctl.engine.addresses import release_step

        release_step(step, store)
        return
    if kind == "store-dir":
        if store is None:
            raise CnmError("the store-dir step needs the store")
        _store_dir(step, store.root)
        return
    action = _ACTIONS.get(kind)
    if action is None:
        raise CnmError(f"unknown step kind {kind!r}")
    action(step, run_root)


def _inside(run_root: str, path: str, folder: str) -> str:
    """`path`, refused unless it lies in run_root/folder (an intent file is data)."""
    base = os.path.realpath(os.path.join(run_root, folder))
    real = os.path.realpath(path)
    if os.path.dirname(real) != base:
        raise CnmError(f"refusing {path}: not in {base}")
    return real


def _session(step: dict, run_root: str) -> None:
    from cnmctl.runtime import process

    # Only a supervisor of this run root: never a process that got its pid since.
    if process.alive(step["pid"], step["start"]) and process.is_supervisor(step["pid"],
                                                                           run_root):
        process.kill_session(step["pid"])


def _netns(step: dict, run_root: str) -> None:
    from cnmctl.sandbox import netns

    netns.delete(_inside(run_root, step["name"], "netns"),
                 {tuple(k) for k in step.get("keep", ())}, step.get("ifaces", ()),
                 step.get("unplug", False), [tuple(r) for r in step.get("restore", ())])


def _iface(step: dict, run_root: str) -> None:
    from cnmctl.sandbox import interfaces, netns

    path = _inside(run_root, step["netns"], "netns")
    if netns.exists(path):
        interfaces.unplug(path, step["name"], step.get("restore", ""))


def _driver_for(step: dict, name: str):
    from cnmctl.drivers import get_driver

    driver = get_driver(name)
    return driver.tolerant() if step.get("pending") else driver


def _endpoint(step: dict, run_root: str) -> None:
    from cnmctl.model import Endpoint, Network

    net, ep = Network.from_doc(step["network"]), Endpoint.from_doc(step["endpoint"])
    driver = _driver_for(step, net.driver)
    calls = [(step.get("revoke", False), driver.revoke_external_connectivity, (net, ep)),
             (step.get("leave", True), driver.leave, (net, ep, step["netns"])),
             (step.get("delete", True), driver.delete_endpoint, (net, ep))]
    errors = []
    for wanted, call, args in calls:  # past a failed one, as Docker deletes after Leave
        if wanted:
            try:
                call(*args)
            except CnmError as exc:
                errors.append(str(exc))
    if errors:
        raise CnmError("; ".join(dict.fromkeys(errors)))


def _link(step: dict, run_root: str) -> None:
    from cnmctl.drivers.bridge import owner_of
    from cnmctl.sandbox import interfaces

    # Only a bridge cnmctl marked as its own, or a veth on one: never the host's links.
    links = {name: (kind, master, alias) for name, kind, master, alias
             in interfaces.host_links()}
    if step["name"] not in links:
        return
    kind, master, alias = links[step["name"]]
    ours = owner_of(alias) or (kind == "veth" and owner_of(links.get(master, ("", "", ""))[2]))
    if not ours:
        raise CnmError(f"refusing to delete {step['name']}: not a link cnmctl made")
    interfaces.delete_host_link(step["name"])


def _network(step: dict, run_root: str) -> None:
    from cnmctl.model import Network

    net = Network.from_doc(step["doc"])
    _driver_for(step, net.driver).delete_network(net)


def _dns_detach(step: dict, run_root: str) -> None:
    from cnmctl.dns import control

    # A helper that is not running serves nobody: nothing to detach.
    with contextlib.suppress(control.HelperUnreachable):
        control.request(step["network"], run_root, f"detach {step['name']}")


def _dns_stop(step: dict, run_root: str) -> None:
    from cnmctl.dns import control

    control.stop_helper(step["network"], run_root)


def _dns_reload(step: dict, run_root: str) -> None:
    from cnmctl.dns import control

    for short_id in control.running_helpers(run_root):
        # A dead helper (stale socket) serves nobody: nothing to reload.
        with contextlib.suppress(control.HelperUnreachable):
            control.request(short_id, run_root, "reload")


def _route(step: dict, run_root: str) -> None:
    from cnmctl.sandbox import interfaces, netns

    path = _inside(run_root, step["netns"], "netns")
    if netns.exists(path):
        interfaces.route_default_via(path, step["ifname"], step["gateway"])


def _dir(step: dict, run_root: str) -> None:
    import shutil

    path = _inside(run_root, step["name"], "containers")
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)


# The store's folders of file trees (engine/images.py): what a store-dir step may remove.
STORE_DIRS = ("image-roots", "layers")


def _store_dir(step: dict, root: str) -> None:
    import shutil

    for folder in STORE_DIRS:
        with contextlib.suppress(CnmError):
            path = _inside(root, step["name"], folder)
            break
    else:
        raise CnmError(f"refusing {step['name']}: not in the store's {' or '.join(STORE_DIRS)}")
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)


def _file(step: dict, run_root: str) -> None:
    path = _inside(run_root, step["name"], "starting")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _cgroup(step: dict, run_root: str) -> None:
    from cnmctl import cgroups
    from cnmctl.validate import check_id

    path = _inside(run_root, step["name"], "cgroups")
    cid = check_id(os.path.basename(path), "container")
    try:
        freezer = cgroups.find_freezer()
    except cgroups.FreezerMissing:  # no freezer: no cgroup either
        freezer = None
    if step.get("thaw"):
        if freezer is not None and freezer.exists(cid):
            freezer.thaw(cid)
        return
    if freezer is not None:
        freezer.remove(cid)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


_ACTIONS = {
    "session": _session, "netns": _netns, "iface": _iface, "endpoint": _endpoint,
    "link": _link,
    "network": _network, "dns-detach": _dns_detach, "dns-stop": _dns_stop,
    "dns-reload": _dns_reload, "route": _route, "dir": _dir, "file": _file,
    "cgroup": _cgroup,
}
