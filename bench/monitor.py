"""Images and the container monitor (issue 10): what an image adds to a start, and
what cnmctl keeps in memory beside each idle container.

Used by bench/run.py. Two measurements:

- the `run -d alpine sleep 600` + `rm -f` pair, `alpine` being the busybox image the
  bench imports into its own store (`tools/mkimage-busybox | cnmctl import - alpine`),
  timed in run.py's loop beside the iproute2 floor and the host-command pair;
- the PSS (/proc/PID/smaps_rollup) of every process cnmctl keeps for an idle
  container beyond the container's own: its monitor, `cnmctl-shim`, the parent of
  the container's PID 1, and anything else in the monitor's session or forked by it
  (for an idle container there should be nothing else: the count is printed, so
  a second process would show). PSS divides a page shared by N processes by N, so
  the figure depends on how many monitors run at once: it is given for one
  container, for several started together, and for run.py's containers in a row.
  The per-network DNS helper is not per container and is not counted.

`--old-supervisor DIR` (run.py) does the same for the code in DIR, e.g. the tree of
d59dc08, whose detached containers ran under a bash supervisor with two forked
bash log writers (`git archive d59dc08 | tar -x -C DIR`): on a store and network of
its own, since that code does not know this store's format.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MKIMAGE = os.path.join(os.path.dirname(HERE), "tools", "mkimage-busybox")
IMAGE = "alpine"
BOUND_MB = 3.0  # issue 10: at most 3 MB of PSS per idle -dit container


def import_image(cnmctl: list[str], env: dict) -> None:
    """The busybox image, as `make alpine-image` builds it, in the bench's store."""
    tar = subprocess.run([sys.executable, MKIMAGE], check=True, capture_output=True).stdout
    subprocess.run([*cnmctl, "import", "-", IMAGE], input=tar, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def image_pair(cnmctl: list[str], name: str, network: str) -> tuple[list[str], list[str]]:
    """`run -d` of the image and its `rm -f`."""
    return ([*cnmctl, "run", "-d", "--name", name, "--network", network, IMAGE,
             "sleep", "600"], [*cnmctl, "rm", "-f", name])


# -- memory ------------------------------------------------------------------------
def processes() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, session) of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            table[int(entry)] = (int(fields[1]), int(fields[3]))
    return table


def pss_kb(pid: int) -> int:
    """Proportional set size of a process in kB."""
    with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def kept_beside(pids: list[int]) -> tuple[int, int]:
    """(PSS kB, process count) of what is kept beside the containers whose PID 1s
    are `pids` (host pids): each one's parent (the monitor) and every process in the
    monitor's session or forked by it, less the container's own process tree."""
    table = processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _sid) in table.items():
        children.setdefault(ppid, []).append(pid)
    kept: set[int] = set()
    for pid in pids:
        tree, todo = set(), [pid]
        while todo:
            p = todo.pop()
            tree.add(p)
            todo.extend(children.get(p, ()))
        monitor = table[pid][0]
        session = table[monitor][1]
        kept |= {p for p, (ppid, sid) in table.items()
                 if p == monitor or ppid == monitor or sid == session} - tree
    return sum(pss_kb(p) for p in kept), len(kept)


def container_pids(cnmctl: list[str], env: dict, names: list[str]) -> list[int]:
    """State.Pid of each container (one `inspect` for all)."""
    out = subprocess.run([*cnmctl, "inspect", "-f", "{{json .State}}", *names], env=env,
                         check=True, capture_output=True, text=True).stdout
    return [json.loads(line)["Pid"] for line in out.splitlines() if line.strip()]


def idle_memory(cnmctl: list[str], env: dict, network: str, label: str, flags: list[str],
                cmd: list[str], counts: tuple[int, ...], prefix: str = "m") -> dict:
    """For each count: start that many containers with `flags` running `cmd`, let
    them settle, measure what is kept beside them, remove them. Rows: MB of PSS per
    container, ratio to the 3 MB bound."""
    rows = {}
    for count in counts:
        names = [f"{prefix}{i}" for i in range(count)]
        for name in names:
            subprocess.run([*cnmctl, "run", *flags, "--name", name, "--network", network,
                            *cmd], env=env, check=True, stdout=subprocess.DEVNULL,
                           stdin=subprocess.DEVNULL)
        time.sleep(1)  # idle: the monitors wait in poll, the commands in their reads
        kb, procs = kept_beside(container_pids(cnmctl, env, names))
        subprocess.run([*cnmctl, "rm", "-f", *names], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        per = kb / count / 1024
        rows[f"{label}, {count} at once: PSS MB per container "
             f"({procs / count:g} process each; x = vs 3 MB)"] = (per, per / BOUND_MB)
    return rows


def old_supervisor_memory(cnmctl: list[str], env: dict, code: str, tmp: str,
                          counts: tuple[int, ...]) -> dict:
    """idle_memory for `-d sleep 3600` with the code in `code` (its own store, and a
    network on a subnet of its own beside this code's cnm-net)."""
    old = dict(env, PYTHONPATH=code, CNMCTL_ROOT=f"{tmp}/old-lib",
               CNMCTL_RUN_ROOT=f"{tmp}/old-run")
    subprocess.run([*cnmctl, "network", "create", "--subnet", "10.250.0.0/16", "oldnet"],
                   env=old, check=True, stdout=subprocess.DEVNULL)
    try:
        return idle_memory(cnmctl, old, "oldnet", f"-d sleep, code in {code}", ["-d"],
                           ["sleep", "3600"], counts, prefix="o")
    finally:
        subprocess.run([*cnmctl, "network", "rm", "oldnet"], env=old, check=True,
                       stdout=subprocess.DEVNULL)
