"""cnmctl benchmarks: each figure against a baseline measured in the same run.

Run as root inside a throwaway namespace (`make bench` does that). Wall times
are medians of repeated runs; ratios are to the same-run baseline, so figures
from a busy 2-core machine stay comparable.

Published ports (issue 9, bench/ports.py): the run/rm pair with -p beside the
plain one, and iperf3 throughput through a published port against a direct
connection (iperf3 comes with `make bench`). --baseline-code DIR times the
plain pair with older code too, interleaved, e.g. the tree before a change:
`git archive COMMIT | tar -x -C DIR` (more than one DIR: each in the rotation).

Images and the monitor (issue 10, bench/monitor.py): the run/rm pair of the busybox
image the bench imports, in the same loop; the PSS cnmctl keeps beside each idle
`-d` and `-dit` container (its monitor), for one and several containers at once,
and with --old-supervisor DIR for older code too (d59dc08: the bash supervisor).
--monitor-only runs just the floor, the plain and image pairs and the memory.

macvlan beside bridge (issue 11, bench/drivers.py): the run/rm pair on a macvlan
network (its parent a veth pair the bench makes) in the same loop as the pair
on the bridge network. --drivers-only runs just the floor and those two pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import drivers  # bench/drivers.py, beside this script
import monitor  # bench/monitor.py, beside this script
import ports  # bench/ports.py, beside this script

# The console script, as users run it (python -m adds runpy's cost).
_SCRIPT = os.path.join(os.path.dirname(sys.executable), "cnmctl")
CNMCTL = [_SCRIPT] if os.path.exists(_SCRIPT) else [sys.executable, "-m", "cnmctl"]


def timed(*cmds: list[str], env: dict) -> float:
    """Wall time of running `cmds` one after another."""
    start = time.perf_counter()
    for cmd in cmds:
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def network_benchmarks(env: dict, repeat: int) -> dict:
    """`network ls`, `inspect -f` against a bare interpreter; create+rm pair."""
    subprocess.run([*CNMCTL, "network", "create", "benchnet"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    # Interleave the measurements so load changes hit all of them alike.
    bare, ls, inspect = [], [], []
    for _ in range(repeat):
        bare.append(timed([sys.executable, "-c", "pass"], env=env))
        ls.append(timed([*CNMCTL, "network", "ls"], env=env))
        inspect.append(timed([*CNMCTL, "network", "inspect", "-f", "{{.Id}}", "benchnet"],
                             env=env))
    pair = [timed([*CNMCTL, "network", "create", "pairnet"],
                  [*CNMCTL, "network", "rm", "pairnet"], env=env) for _ in range(repeat)]
    # Gone again, so that cnm-net gets 172.18.0.0/16, the floor script's subnet.
    subprocess.run([*CNMCTL, "network", "rm", "benchnet"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    base = statistics.median(bare)
    return {
        "bare interpreter (python -c pass)": (base, 1.0),
        "cnmctl network ls": (statistics.median(ls), statistics.median(ls) / base),
        "cnmctl network inspect -f '{{.Id}}' NET": (
            statistics.median(inspect), statistics.median(inspect) / base),
        "network create + network rm": (statistics.median(pair), statistics.median(pair) / base),
    }


FLOOR_SCRIPT = r"""
set -e
ip netns add cnmbench
ip link add vethbench type veth peer name benchpeer
ip link set vethbench master "$1" up
ip link set benchpeer netns cnmbench
ip -n cnmbench link set benchpeer name eth0
ip -n cnmbench addr add 172.18.255.200/16 dev eth0
ip -n cnmbench link set eth0 up
ip -n cnmbench link set lo up
ip -n cnmbench route add default via 172.18.0.1
ip netns del cnmbench
"""


def container_benchmarks(env: dict, repeat: int, count: int, opts: argparse.Namespace) -> dict:
    """`run -d` + `rm -f` against the iproute2 floor: a host command, the image, with
    -p (and, with --baseline-code, the host command with older code); the memory
    cnmctl keeps beside idle -d and -dit containers; `count` containers in a row."""
    subprocess.run([*CNMCTL, "network", "create", "cnm-net"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    bridge = "br-" + subprocess.run(
        [*CNMCTL, "network", "inspect", "-f", "{{.Id}}", "cnm-net"], env=env, check=True,
        capture_output=True, text=True).stdout.strip()[:12]
    # Older code runs on the same store, network and DNS helper.
    older = {code: dict(env, PYTHONPATH=code) for code in opts.baseline_code}
    published = ports.published_cmd(CNMCTL, "pairp", 15201, 5201, "cnm-net", ["sleep", "600"])
    plain_pair = ([*CNMCTL, "run", "-d", "--name", "pair", "--network", "cnm-net",
                   "sleep", "600"], [*CNMCTL, "rm", "-f", "pair"])
    with_image = not (opts.ports_only or opts.drivers_only)
    with_macvlan = not (opts.ports_only or opts.monitor_only)
    if with_macvlan:
        drivers.create_network(CNMCTL, env)
    if with_image:
        monitor.import_image(CNMCTL, env)
    # Each timed in turn after the floor; which pair goes first rotates from one
    # repetition to the next: the second of two back-to-back pairs measured 5-10 %
    # slower on a 2-core VM.
    pairs = {"plain": lambda: timed(*plain_pair, env=env)}
    if with_image:
        pairs["image"] = lambda: timed(*monitor.image_pair(CNMCTL, "pairi", "cnm-net"),
                                       env=env)
    for code, code_env in older.items():
        pairs[code] = lambda code_env=code_env: timed(*plain_pair, env=code_env)
    if with_macvlan:
        pairs["macvlan"] = lambda: timed(*drivers.pair(CNMCTL, "pairm"), env=env)
    if not (opts.monitor_only or opts.drivers_only):
        pairs["-p"] = lambda: ports.timed_pair(published, [*CNMCTL, "rm", "-f", "pairp"], env)
    times: dict[str, list[float]] = {name: [] for name in ("floor", *pairs)}
    order = list(pairs)
    for i in range(repeat):
        times["floor"].append(timed(["bash", "-c", FLOOR_SCRIPT, "floor", bridge], env=env))
        for name in order[i % len(order):] + order[:i % len(order)]:
            times[name].append(pairs[name]())
    if with_macvlan:
        drivers.remove_network(CNMCTL, env)
    med = {name: statistics.median(values) for name, values in times.items()}
    base, plain = med["floor"], med["plain"]
    results = {
        "iproute2 floor: sandbox up + down in one bash script": (base, 1.0),
        "run -d + rm -f (one container)": (plain, plain / base),
    }
    if with_image:
        results[f"run -d {monitor.IMAGE} (busybox image) + rm -f"] = (
            med["image"], med["image"] / base)
        results["  image pair / plain pair"] = (med["image"], med["image"] / plain)
    for code in older:
        before = med[code]
        results[f"run -d + rm -f, code in {code}"] = (before, before / base)
        results[f"  this code / code in {os.path.basename(code)}"] = (plain, plain / before)
    if "macvlan" in med:
        results["run -d + rm -f on macvlan"] = (med["macvlan"], med["macvlan"] / base)
        results["  macvlan pair / bridge pair"] = (med["macvlan"], med["macvlan"] / plain)
    if "-p" in med:
        results["run -d -p 15201:5201 + rm -f"] = (med["-p"], med["-p"] / base)
        results["  -p pair / plain pair"] = (med["-p"], med["-p"] / plain)
    if with_image:
        results.update(monitor.idle_memory(CNMCTL, env, "cnm-net", "-d sleep 3600", ["-d"],
                                           ["sleep", "3600"], opts.memory_counts))
        results.update(monitor.idle_memory(CNMCTL, env, "cnm-net", f"-dit {monitor.IMAGE} sh",
                                           ["-dit"], [monitor.IMAGE, "sh"], opts.memory_counts))
    if opts.old_supervisor:
        results.update(monitor.old_supervisor_memory(CNMCTL, env, opts.old_supervisor,
                                                     opts.tmp, opts.memory_counts))
    if count:
        results.update(containers_in_a_row(env, count, base))
    return results


def containers_in_a_row(env: dict, count: int, base: float) -> dict:
    """`count` containers started one after another; the memory of their helpers."""
    starts = [timed([*CNMCTL, "run", "-d", "--name", f"b{i}", "--network", "cnm-net",
                     "sleep", "3600"], env=env) for i in range(count)]
    pids = monitor.container_pids(CNMCTL, env, [f"b{i}" for i in range(count)])
    extra_kb, procs = monitor.kept_beside(pids)
    subprocess.run([*CNMCTL, "rm", "-f", *[f"b{i}" for i in range(count)]], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    first, last = statistics.median(starts[:10]), statistics.median(starts[-10:])
    return {
        f"{count} containers, one after another (total)": (sum(starts), sum(starts) / base),
        f"  last 10 / first 10 of the {count} (median each)": (last, last / first),
        f"  their monitors, idle: PSS MB per container ({procs / count:g} process each; "
        "x = vs 3 MB)": (extra_kb / count / 1024, extra_kb / count / 1024 / monitor.BOUND_MB),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--containers", type=int, default=100,
                        help="containers started in a row (and kept idle for the memory figure)")
    parser.add_argument("--ports-only", action="store_true",
                        help="only the floor, the run/rm pairs with and without -p, and iperf3")
    parser.add_argument("--iperf-rounds", type=int, default=5,
                        help="iperf3 runs per path, interleaved (0: no throughput figures)")
    parser.add_argument("--iperf-seconds", type=float, default=2)
    parser.add_argument("--baseline-code", metavar="DIR", action="append", default=[],
                        help="also time the plain run/rm pair with the cnmctl package in DIR "
                             "(e.g. `git archive` of an older commit), interleaved; "
                             "may be given more than once")
    parser.add_argument("--monitor-only", action="store_true",
                        help="only the floor, the plain and image run/rm pairs and the "
                             "monitors' memory")
    parser.add_argument("--drivers-only", action="store_true",
                        help="only the floor and the run/rm pairs on bridge and macvlan")
    parser.add_argument("--memory-counts", default="1,10",
                        help="idle containers measured at once for the memory figures "
                             "(comma-separated counts)")
    parser.add_argument("--old-supervisor", metavar="DIR",
                        help="also measure the idle memory of the cnmctl package in DIR "
                             "(e.g. `git archive d59dc08`: the bash supervisor)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # Measure what users get: byte-compiled modules, as pip and the first run leave them.
    import compileall

    import cnmctl

    compileall.compile_dir(os.path.dirname(cnmctl.__file__), quiet=1)
    args.baseline_code = [os.path.abspath(code) for code in args.baseline_code]
    for code in args.baseline_code:
        compileall.compile_dir(os.path.join(code, "cnmctl"), quiet=1)
    args.memory_counts = tuple(int(n) for n in args.memory_counts.split(","))
    if args.old_supervisor:
        args.old_supervisor = os.path.abspath(args.old_supervisor)
        compileall.compile_dir(os.path.join(args.old_supervisor, "cnmctl"), quiet=1)
    if args.monitor_only or args.drivers_only:
        args.iperf_rounds = 0
    if args.iperf_rounds and shutil.which("iperf3") is None:
        sys.exit("iperf3 is missing (apt-get install iperf3, or make bench); "
                 "--iperf-rounds 0 skips it")
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        env = dict(os.environ, CNMCTL_ROOT=f"{tmp}/lib", CNMCTL_RUN_ROOT=f"{tmp}/run")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        args.tmp = tmp
        only = args.ports_only or args.monitor_only or args.drivers_only
        results = {} if only else network_benchmarks(env, args.repeat)
        results.update(container_benchmarks(env, args.repeat, 0 if only else args.containers,
                                            args))
        rates = {}
        if args.iperf_rounds:
            rates = ports.throughput(CNMCTL, env, "cnm-net", args.iperf_rounds,
                                     args.iperf_seconds)
    print_table("benchmark", "median s", results)
    if rates:
        print()
        print_table(f"iperf3 -t {args.iperf_seconds:g}, {args.iperf_rounds} rounds "
                    "(ratio: to direct)", "Gbit/s", rates)
    if args.json:
        figures = {k: {"median_s": v[0], "ratio": v[1]} for k, v in results.items()}
        figures.update({k: {"gbit_s": v[0], "ratio": v[1]} for k, v in rates.items()})
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=1)


def print_table(title: str, unit: str, rows: dict) -> None:
    """A Markdown table: name, median, ratio."""
    width = max(len(title), *(len(name) for name in rows))
    print(f"| {title.ljust(width)} | {unit.rjust(8)} | ratio |")
    print(f"|{'-' * (width + 2)}|---------:|------:|")
    for name, (value, ratio) in rows.items():
        print(f"| {name.ljust(width)} | {value:8.4f} | {ratio:5.2f} |")


if __name__ == "__main__":
    main()
