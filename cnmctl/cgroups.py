"""The cgroup freezer behind `pause` and `unpause`.

A paused container's processes are moved into a cgroup `cnmctl/<ID>` of the
freezer hierarchy and frozen there, as runc does for Docker: the processes
cannot tell (no SIGSTOP they could see). Two kernels' interfaces:

- cgroup v1: a hierarchy with the `freezer` controller; `freezer.state` is
  written FROZEN or THAWED and reads FREEZING until every task stopped;
- cgroup v2: every non-root cgroup has `cgroup.freeze` (0/1), and
  `cgroup.events` says `frozen 1` once the whole cgroup is.

Which one a machine has is read from /proc/self/mountinfo, never guessed from
paths: on a hybrid machine (v1 controllers beside a cgroup2 mount, as here)
the v1 freezer is used, as runc does there.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time

from cnmctl.errors import CnmError, KernelError

PARENT = "cnmctl"
NO_FREEZER = ("no cgroup freezer: /proc/self/mountinfo lists neither a cgroup v1 hierarchy "
              "with the freezer controller nor a cgroup2 file system")


class FreezerMissing(CnmError):
    """Neither cgroup freezer is mounted."""


def _unescape(field: str) -> str:
    """A mountinfo path field: spaces, tabs, newlines and backslashes are octal escapes."""
    for code in ("\\040", "\\011", "\\012", "\\134"):
        field = field.replace(code, chr(int(code[1:], 8)))
    return field


def _mounts(text: str):
    """(root, mount point, file system type, super options) of each mountinfo line."""
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields[6:]:
            continue
        sep = fields.index("-", 6)
        if len(fields) >= sep + 4:
            yield fields[3], _unescape(fields[4]), fields[sep + 1], fields[sep + 3].split(",")


def find_in_mountinfo(text: str) -> tuple[int, str] | None:
    """(cgroup version, mount point) of the freezer in a mountinfo text: the v1
    hierarchy with the freezer controller if one is mounted at its root, else the
    first cgroup2 mount; None if there is neither."""
    mounts = list(_mounts(text))
    for root, mount_point, fstype, options in mounts:
        if fstype == "cgroup" and "freezer" in options and root == "/":
            return 1, mount_point
    return next(((2, point) for _root, point, fstype, _o in mounts if fstype == "cgroup2"), None)


def cgroup_version(mountinfo: str) -> str:
    """Docker's Cgroup Version: "2" if /sys/fs/cgroup is the unified hierarchy, "1"
    if cgroup v1 hierarchies are mounted (a hybrid machine included), else ""."""
    types = {fstype for _root, point, fstype, _o in _mounts(mountinfo)
             if fstype == "cgroup" or point == "/sys/fs/cgroup"}
    return "2" if "cgroup2" in types else "1" if "cgroup" in types else ""


class Freezer:
    """The freezer of one hierarchy, for cgroups `cnmctl/<ID>` in it."""

    def __init__(self, version: int, mount_point: str) -> None:
        self.version = version
        self.mount_point = mount_point

    def path(self, cid: str) -> str:
        """The folder of the container's cgroup."""
        return os.path.join(self.mount_point, PARENT, cid)

    def _write(self, cid: str, name: str, value: str) -> None:
        with open(os.path.join(self.path(cid), name), "w", encoding="ascii") as f:
            f.write(value)

    def _read(self, cid: str, name: str) -> str:
        with open(os.path.join(self.path(cid), name), encoding="ascii") as f:
            return f.read()

    def create(self, cid: str) -> None:
        """Make the container's cgroup (and `cnmctl/` if missing); it may exist."""
        os.makedirs(self.path(cid), exist_ok=True)

    def exists(self, cid: str) -> bool:
        """True while the container's cgroup exists."""
        return os.path.isdir(self.path(cid))

    def pids(self, cid: str) -> list[int]:
        """The processes in the container's cgroup."""
        try:
            return [int(p) for p in self._read(cid, "cgroup.procs").split()]
        except FileNotFoundError:
            return []

    def add(self, cid: str, pids: list[int]) -> None:
        """Move processes into the container's cgroup (one gone meanwhile is skipped)."""
        for pid in pids:
            try:
                self._write(cid, "cgroup.procs", str(pid))
            except ProcessLookupError:
                continue
            except OSError as exc:
                if exc.errno != errno.ESRCH:
                    raise KernelError(f"cannot move process {pid} into {self.path(cid)}: "
                                      f"{exc.strerror}") from None

    def gather(self, cid: str, pid: int, rounds: int = 10) -> None:
        """Move every process of the container whose main process is `pid` into its
        cgroup, again while new ones appear (a fork that raced the move)."""
        for _ in range(rounds):
            missing = set(container_processes(pid)) - set(self.pids(cid))
            if not missing:
                return
            self.add(cid, sorted(missing))

    def frozen(self, cid: str) -> bool:
        """True once every process of the cgroup is frozen."""
        if self.version == 1:
            return self._read(cid, "freezer.state").strip() == "FROZEN"
        return "frozen 1" in self._read(cid, "cgroup.events").splitlines()

    def freeze(self, cid: str, patience: float = 5.0) -> None:
        """Freeze the cgroup and wait (at most `patience` s) until it is frozen."""
        deadline = time.monotonic() + patience
        while True:
            # v1 goes back to FREEZING for a task that was busy: asking again retries it.
            self._write(cid, *(("freezer.state", "FROZEN") if self.version == 1
                              else ("cgroup.freeze", "1")))
            if self.frozen(cid):
                return
            if time.monotonic() > deadline:
                raise KernelError(f"{self.path(cid)} did not freeze within {patience:g} s")
            time.sleep(0.005)

    def thaw(self, cid: str) -> None:
        """Let the cgroup's processes run again."""
        self._write(cid, *(("freezer.state", "THAWED") if self.version == 1
                          else ("cgroup.freeze", "0")))

    def remove(self, cid: str, patience: float = 5.0) -> None:
        """Thaw the cgroup, move what is left in it to the hierarchy's root, and
        remove it; a cgroup already gone is not an error."""
        if not self.exists(cid):
            return
        with contextlib.suppress(FileNotFoundError):
            self.thaw(cid)
        deadline = time.monotonic() + patience
        while True:
            root_procs = os.path.join(self.mount_point, "cgroup.procs")
            for pid in self.pids(cid):
                with contextlib.suppress(ProcessLookupError, FileNotFoundError), \
                        open(root_procs, "w", encoding="ascii") as f:
                    f.write(str(pid))
            try:
                os.rmdir(self.path(cid))
                return
            except FileNotFoundError:
                return
            except OSError as exc:  # EBUSY: a task still leaving (an exiting one, a zombie)
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise KernelError(f"cannot remove {self.path(cid)}: {exc.strerror}") from None
            time.sleep(0.01)

    def cgroups(self) -> list[str]:
        """The IDs of every cgroup under `cnmctl/`."""
        try:
            return sorted(os.listdir(os.path.join(self.mount_point, PARENT)))
        except (FileNotFoundError, NotADirectoryError):
            return []


def find_freezer(mountinfo: str = "/proc/self/mountinfo") -> Freezer:
    """This machine's freezer; FreezerMissing (one line naming what is missing) if none."""
    with open(mountinfo, encoding="utf-8", errors="replace") as f:
        found = find_in_mountinfo(f.read())
    if found is None:
        raise FreezerMissing(NO_FREEZER)
    return Freezer(*found)


def container_processes(pid: int) -> list[int]:
    """Every process of the container whose main process is `pid`: those in its PID
    namespace if it has its own; otherwise its descendants and the processes in
    its mount namespace (`exec` joins that), never this process's own namespace."""
    from cnmctl.runtime.process import all_stats, namespace_of

    mine = {kind: namespace_of(f"/proc/self/ns/{kind}") for kind in ("pid", "mnt")}
    kind = "pid" if namespace_of(f"/proc/{pid}/ns/pid") != mine["pid"] else "mnt"
    target = namespace_of(f"/proc/{pid}/ns/{kind}")
    shared = target is None or target == mine[kind]
    children: dict[int, list[int]] = {}
    found = {pid}
    for entry, fields in all_stats():
        if fields[0] == b"Z":  # exited already: nothing to freeze, and it cannot move
            continue
        parent = int(fields[1])
        children.setdefault(parent, []).append(entry)
        if not shared and namespace_of(f"/proc/{entry}/ns/{kind}") == target:
            found.add(entry)
    todo, seen = [pid], {pid}
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return sorted(found | seen)
