"""cnmctl benchmarks: each figure against a baseline measured in the same run.

Run as root inside a throwaway namespace (`make bench` does that). Wall times
are medians of repeated runs; ratios are to the same-run baseline, so figures
from a busy 2-core machine stay comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

# The console script, as users run it (python -m adds runpy's cost).
_SCRIPT = os.path.join(os.path.dirname(sys.executable), "cnmctl")
CNMCTL = [_SCRIPT] if os.path.exists(_SCRIPT) else [sys.executable, "-m", "cnmctl"]


def timed(cmd: list[str], env: dict, repeat: int) -> list[float]:
    """Wall time of `cmd`, `repeat` times."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def timed_pair(first: list[str], second: list[str], env: dict, repeat: int) -> list[float]:
    """Wall time of `first` followed by `second`, `repeat` times."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(first, env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(second, env=env, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def network_benchmarks(env: dict, repeat: int) -> dict:
    """`network ls`, `inspect -f` against a bare interpreter; create+rm pair."""
    subprocess.run([*CNMCTL, "network", "create", "benchnet"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    # Interleave the measurements so load changes hit all of them alike.
    bare, ls, inspect = [], [], []
    for _ in range(repeat):
        bare += timed([sys.executable, "-c", "pass"], env, 1)
        ls += timed([*CNMCTL, "network", "ls"], env, 1)
        inspect += timed([*CNMCTL, "network", "inspect", "-f", "{{.Id}}", "benchnet"], env, 1)
    pair = timed_pair([*CNMCTL, "network", "create", "pairnet"],
                      [*CNMCTL, "network", "rm", "pairnet"], env, repeat)
    base = statistics.median(bare)
    return {
        "bare interpreter (python -c pass)": (base, 1.0),
        "cnmctl network ls": (statistics.median(ls), statistics.median(ls) / base),
        "cnmctl network inspect -f '{{.Id}}' NET": (
            statistics.median(inspect), statistics.median(inspect) / base),
        "network create + network rm": (statistics.median(pair), statistics.median(pair) / base),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # Measure what users get: byte-compiled modules, as pip and the first run leave them.
    import compileall

    import cnmctl

    compileall.compile_dir(os.path.dirname(cnmctl.__file__), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, CNMCTL_ROOT=f"{tmp}/lib", CNMCTL_RUN_ROOT=f"{tmp}/run")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        results = network_benchmarks(env, args.repeat)
    width = max(len(name) for name in results)
    print(f"{'benchmark'.ljust(width)}  median s  x bare")
    for name, (seconds, ratio) in results.items():
        print(f"{name.ljust(width)}  {seconds:8.4f}  {ratio:6.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({k: {"median_s": v[0], "ratio": v[1]} for k, v in results.items()}, f,
                      indent=1)


if __name__ == "__main__":
    main()
