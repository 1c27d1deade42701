"""Removing what a test left behind in the suite's shared network namespace.

Every test gets its own store and run root (the `cnm` fixture), but all of them
share one network namespace and one PID namespace. Whatever a test leaves
running (a container, its supervisor and log writers, an `exec -d`, a DNS
helper, a `logs -f`) or mounted (a sandbox's namespace, which keeps its veths
and so its addresses and routes alive) could change what the next test sees.
`clean_up` removes all of it, keeps going past a failed step and returns one
line per step that failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time

from cnmctl.runtime import process

_GRACE = 5.0  # seconds a SIGKILLed process, or a deleted link, gets to be gone


def link_names() -> set[str]:
    """Interface names in the test's network namespace (read with iproute2's JSON)."""
    out = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {link["ifname"] for link in json.loads(out)}


def netns_mounts(run_root: str) -> list[str]:
    """The sandboxes' namespace bind mounts under a run root (`RUN/netns/*`)."""
    folder = os.path.join(run_root, "netns")
    try:
        return sorted(os.path.join(folder, name) for name in os.listdir(folder))
    except FileNotFoundError:
        return []


def _recorded_processes(root: str) -> set[tuple[int, int]]:
    """(pid, start time) of every container process the store records as running."""
    found = set()
    folder = os.path.join(root, "containers")
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return found
    for name in names:
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError):
            continue  # half-written or corrupt: its processes are found through the run root
        if isinstance(doc, dict) and doc.get("status") == "running" and doc.get("pid"):
            found.add((int(doc["pid"]), int(doc.get("pid_start_time") or 0)))
    return found


def _has_env(pid: int, entry: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return entry in f.read().split(b"\0")
    except OSError:
        return False


def leftover_processes(root: str, run_root: str) -> set[tuple[int, int]]:
    """(pid, start time) of each live process the test left: every process inside one
    of its sandboxes, every process started with its run root in the environment
    (supervisors, log writers, exit hooks, DNS helpers, cnmctl commands still
    running), and the container processes its store records as running (a host-
    network container is in no sandbox)."""
    sandboxes = {process.namespace_of(path) for path in netns_mounts(run_root)}
    sandboxes.discard(None)
    ours = f"CNMCTL_RUN_ROOT={run_root}".encode()
    found = {(pid, start) for pid, start in _recorded_processes(root)
             if process.alive(pid, start)}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        pid = int(entry)
        if process.namespace_of(f"/proc/{pid}/ns/net") in sandboxes or _has_env(pid, ours):
            start = process.start_time(pid)
            if start:
                found.add((pid, start))
    return found


def _kill(victims: set[tuple[int, int]]) -> list[str]:
    """SIGKILL each process still alive, wait for it to exit and reap it if it is
    ours (the suite is its namespace's init, so orphans become its children)."""
    errors = []
    for pid, start in victims:
        if process.alive(pid, start):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            except OSError as exc:
                errors.append(f"kill {pid}: {exc}")
    for pid, start in victims:
        if not process.wait_exit(pid, start, _GRACE):
            errors.append(f"process {pid} still runs {_GRACE:g}s after SIGKILL")
        with contextlib.suppress(ChildProcessError):  # not ours: its parent reaps it
            os.waitpid(pid, os.WNOHANG)
    return errors


def kill_leftovers(root: str, run_root: str) -> list[str]:
    """Kill every process `leftover_processes` finds, scanning again until a scan
    finds none (a dying supervisor may have started its exit hook meanwhile)."""
    errors: list[str] = []
    for _round in range(5):
        victims = leftover_processes(root, run_root)
        if not victims:
            return errors
        errors += _kill(victims)
    remaining = sorted(pid for pid, _start in leftover_processes(root, run_root))
    if remaining:
        errors.append(f"processes keep appearing: {remaining}")
    return errors


def unmount_sandboxes(run_root: str) -> list[str]:
    """Unmount and remove every sandbox namespace under the run root."""
    from cnmctl.linux import delete_netns

    errors = []
    for path in netns_mounts(run_root):
        try:
            delete_netns(path)
        except OSError as exc:
            errors.append(f"namespace {path}: {exc}")
    return errors


def delete_links(before: set[str]) -> list[str]:
    """Delete the links that were not there before the test, until none is left."""
    deadline = time.monotonic() + _GRACE
    while True:
        extra = link_names() - before
        if not extra:
            return []
        for name in sorted(extra):
            # A veth whose peer's namespace is being destroyed may vanish first.
            subprocess.run(["ip", "link", "del", name], capture_output=True)
        if time.monotonic() > deadline:
            return [f"links left behind: {' '.join(sorted(link_names() - before))}"]
        time.sleep(0.02)


def delete_firewall() -> list[str]:
    """Delete cnmctl's nftables table: every test's store writes the same one, in the
    suite's namespace. Other tables (a test's own) are the test's to remove."""
    result = subprocess.run(["nft", "delete", "table", "inet", "cnmctl"],
                            capture_output=True, text=True)
    if result.returncode != 0 and "No such file or directory" not in result.stderr:
        return [f"firewall table: {result.stderr.strip()}"]
    return []


def clean_up(root: str, run_root: str, links_before: set[str]) -> list[str]:
    """Stop the test's DNS helpers, kill its processes, unmount its sandboxes,
    delete its links and cnmctl's firewall table, each step whatever the one
    before it did; one line per failure."""
    from cnmctl.dns import control
    from cnmctl.errors import CnmError

    errors = []
    for short_id in control.running_helpers(run_root):
        try:
            control.stop_helper(short_id, run_root)  # cleanly: its files go too
        except (OSError, CnmError) as exc:
            errors.append(f"DNS helper {short_id}: {exc}")
    for step in (lambda: kill_leftovers(root, run_root), lambda: unmount_sandboxes(run_root),
                 lambda: delete_links(links_before), delete_firewall):
        try:
            errors += step()
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            errors.append(f"clean-up step failed: {exc}")
    return errors
