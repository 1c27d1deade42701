"""Embedded DNS under load: dnsperf against the helper and against dnsmasq, same run.

    .venv/bin/python bench/dns_perf.py [--rounds N] [--seconds S] [--json FILE|-]

Run as root. Outside a throwaway namespace it re-executes itself inside one
(`unshare --net --mount --pid --fork --mount-proc`) after tests/stub-resolver.sh
has put the stub "outside" resolver (dnsmasq, 192.0.2.53: NXDOMAIN for all but
known.example) there, so no query can leave the machine.

With the real CLI it creates a network and two containers, c1 and c2, and runs
dnsperf in c2's network namespace against
  - the helper at 127.0.0.11, for c1 (answered from its table) and for unknown
    names (forwarded to the stub);
  - the baseline: dnsmasq on 127.0.0.12 in the same namespace, serving c1 with
    the same address and forwarding unknown names to the same stub, uncached.
Runs alternate helper/dnsmasq, so load from elsewhere on the machine hits both
alike; the figures are medians over the rounds and the ratio is helper/dnsmasq.
On 2 vCPUs dnsperf itself needs about a CPU at these rates (its sends carry the
server's receive work and the other way round), so the dnsmasq figure is as much
dnsperf's ceiling as dnsmasq's: a ratio near 1 means "as fast as can be measured".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile

from run import CNMCTL  # bench/run.py, next to this file: the console script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUB = "192.0.2.53"  # tests/stub-resolver.sh
HELPER = "127.0.0.11"
BASELINE = "127.0.0.12"  # an extra loopback address of the sandbox, for dnsmasq
INSIDE = "CNMCTL_BENCH_NAMESPACE"

# One socket (-c 1) and one send/receive thread pair (dnsperf's default, -T 1): on a
# 2-vCPU machine dnsperf and the server then take about one CPU each. -q 100
# outstanding queries keep the server's socket from running dry (it measures capacity,
# not round trips: the helper finds ~180 queries waiting per wake-up) while staying far
# below the socket buffer and dnsmasq's 150 in-flight forwards, so none is dropped. No
# -Q cap: the rate is the result. -t 2: a lost query counts as lost within a short run.
DNSPERF_ARGS = ["-c", "1", "-q", "100", "-t", "2"]
UNKNOWN_NAMES = 10_000  # distinct, so dnsmasq cannot merge identical forwards in flight


def in_bench_namespace() -> bool:
    """True in a namespace made for a bench: by our own re-exec, or a fresh one (only
    lo) where tests/stub-resolver.sh has run, as `make bench` makes. Anywhere else,
    the host's included, we make our own."""
    if os.environ.get(INSIDE):
        return True

    def ip(*args: str) -> str:
        return subprocess.run(["ip", "-o", *args], capture_output=True, text=True,
                              check=False).stdout
    links = [line for line in ip("link", "show").splitlines() if ": lo:" not in line]
    return not links and f" {STUB}/" in ip("addr", "show", "dev", "lo")


def reexec_in_namespace() -> None:
    """Run this script again as PID 1 of fresh namespaces with the stub resolver up;
    every process it starts dies with it."""
    env = dict(os.environ, **{INSIDE: "1"})
    stub = os.path.join(ROOT, "tests", "stub-resolver.sh")
    argv = ["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc",
            "--propagation", "private", "sh", "-c", f'bash "{stub}" && exec "$0" "$@"',
            sys.executable, os.path.abspath(__file__), *sys.argv[1:]]
    os.execvpe("unshare", argv, env)


def cli(env: dict, *args: str) -> str:
    """Run cnmctl, return its stdout."""
    return subprocess.run([*CNMCTL, *args], env=env, check=True, capture_output=True,
                          text=True).stdout


def dnsperf(netns: str, server: str, datafile: str, seconds: float) -> dict:
    """One dnsperf run from inside `netns`: qps, latencies (ms), loss and rcodes."""
    out = subprocess.run(
        ["nsenter", f"--net={netns}", "dnsperf", "-s", server, "-d", datafile,
         "-l", str(seconds), *DNSPERF_ARGS],
        check=True, capture_output=True, text=True).stdout
    lat = re.search(r"Average Latency \(s\):\s+([\d.]+) \(min ([\d.]+), max ([\d.]+)\)", out)
    sent = int(re.search(r"Queries sent:\s+(\d+)", out).group(1))
    lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
    codes = re.search(r"Response codes:\s+(.*)", out)
    if lat is None or not sent:
        raise RuntimeError(f"dnsperf against {server} gave no figures:\n{out}")
    return {
        "qps": float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1)),
        "avg_ms": float(lat.group(1)) * 1000,
        "max_ms": float(lat.group(3)) * 1000,
        "lost": lost / sent,
        "rcodes": set(re.findall(r"([A-Z]+) \d+", codes.group(1))) if codes else set(),
    }


def start_sandbox(env: dict) -> tuple[str, str]:
    """A network and containers c1, c2 on it; return (c2's netns path, c1's address)."""
    cli(env, "network", "create", "cnm-net")
    for name in ("c1", "c2"):
        cli(env, "run", "-d", "--name", name, "--network", "cnm-net", "sleep", "3600")
    c1 = json.loads(cli(env, "inspect", "-f", "{{json .}}", "c1"))
    address = c1["NetworkSettings"]["Networks"]["cnm-net"]["IPAddress"]
    netns = cli(env, "inspect", "-f", "{{.NetworkSettings.SandboxKey}}", "c2").strip()
    # The first query builds the sandbox's table: not part of any measurement.
    dig = subprocess.run(["nsenter", f"--net={netns}", "dig", "+short", f"@{HELPER}", "c1"],
                         check=True, capture_output=True, text=True).stdout.split()
    if dig != [address]:
        raise RuntimeError(f"the helper answers c1 with {dig}, expected {address}")
    return netns, address


def start_baseline(netns: str, address: str, tmp: str) -> None:
    """dnsmasq in the sandbox on 127.0.0.12: c1 from a host record, everything else
    forwarded to the stub with no cache (like the helper, it asks every time)."""
    subprocess.run(["nsenter", f"--net={netns}", "ip", "addr", "add", f"{BASELINE}/32",
                    "dev", "lo"], check=True)
    # Without --keep-in-foreground dnsmasq forks once its socket is bound.
    subprocess.run(["nsenter", f"--net={netns}", "dnsmasq", "--conf-file=/dev/null",
                    "--no-resolv", "--no-hosts", "--bind-interfaces",
                    f"--listen-address={BASELINE}", f"--host-record=c1,{address}",
                    f"--server={STUB}", "--cache-size=0", "--user=root",
                    f"--pid-file={tmp}/baseline.pid", f"--log-facility={tmp}/baseline.log"],
                   check=True)


def stop(env: dict, tmp: str) -> None:
    """Remove what the bench made, for a namespace that outlives us (`make bench`)."""
    for args in (["rm", "-f", "c1", "c2"], ["network", "rm", "cnm-net"]):
        subprocess.run([*CNMCTL, *args], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    try:
        with open(f"{tmp}/baseline.pid", encoding="utf-8") as f:
            os.kill(int(f.read()), signal.SIGTERM)
    except (OSError, ValueError):
        pass


def measure(netns: str, files: dict[str, str], rounds: int, seconds: float) -> dict:
    """Alternate helper and dnsmasq runs per case; medians per (case, server)."""
    servers = {"helper": HELPER, "dnsmasq": BASELINE}
    expected = {"known": {"NOERROR"}, "forwarded": {"NXDOMAIN"}}
    runs: dict[tuple[str, str], list[dict]] = {}
    for case, datafile in files.items():
        for server in servers.values():  # warm-up: tables, caches, ARP
            dnsperf(netns, server, datafile, 1)
        for _ in range(rounds):
            for name, server in servers.items():
                run = dnsperf(netns, server, datafile, seconds)
                if run["rcodes"] != expected[case]:
                    raise RuntimeError(f"{name} {case}: response codes {run['rcodes']}")
                runs.setdefault((case, name), []).append(run)
    results: dict = {}
    for (case, name), got in runs.items():
        results.setdefault(case, {})[name] = {
            "qps": round(statistics.median(r["qps"] for r in got)),
            "avg_ms": round(statistics.median(r["avg_ms"] for r in got), 3),
            "max_ms": round(statistics.median(r["max_ms"] for r in got), 2),
            "lost_max": round(max(r["lost"] for r in got), 5),  # fraction, worst run
            "qps_runs": [round(r["qps"]) for r in got],
        }
    for case in results.values():
        case["ratio"] = round(case["helper"]["qps"] / case["dnsmasq"]["qps"], 3)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="runs per server and case")
    parser.add_argument("--seconds", type=float, default=4, help="length of each run")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON "
                                                       "(- for stdout; the table goes to stderr)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/dns_perf.py: run as root (it makes namespaces)")
    for tool in ("unshare", "nsenter", "dnsperf", "dnsmasq", "dig"):
        if not shutil.which(tool):
            sys.exit(f"bench/dns_perf.py: {tool} is missing (make deps installs it)")
    if not in_bench_namespace():
        reexec_in_namespace()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        env = dict(os.environ, CNMCTL_ROOT=f"{tmp}/lib", CNMCTL_RUN_ROOT=f"{tmp}/run")
        files = {"known": f"{tmp}/known", "forwarded": f"{tmp}/forwarded"}
        with open(files["known"], "w", encoding="utf-8") as f:
            f.write("c1 A\n")
        with open(files["forwarded"], "w", encoding="utf-8") as f:
            f.writelines(f"u{i}.unknown.example A\n" for i in range(UNKNOWN_NAMES))
        try:
            netns, address = start_sandbox(env)
            start_baseline(netns, address, tmp)
            results = measure(netns, files, args.rounds, args.seconds)
        finally:
            stop(env, tmp)
    out = sys.stderr if args.json == "-" else sys.stdout
    settings = f"dnsperf {' '.join(DNSPERF_ARGS)} -l {args.seconds:g}"
    print(f"{settings}, {args.rounds} alternating runs each, medians", file=out)
    print("| query                       | server  |     qps | avg ms | max ms | vs dnsmasq |",
          file=out)
    print("|-----------------------------|---------|--------:|-------:|-------:|-----------:|",
          file=out)
    labels = {"known": "A c1 (container name)", "forwarded": "A unknown (forwarded)"}
    for case, figures in results.items():
        for name in ("helper", "dnsmasq"):
            r = figures[name]
            ratio = f"{figures['ratio']:.2f}" if name == "helper" else ""
            print(f"| {labels[case]:27} | {name:7} | {r['qps']:7.0f} | {r['avg_ms']:6.3f} "
                  f"| {r['max_ms']:6.2f} | {ratio:>10} |", file=out)
    if args.json:
        doc = {"dnsperf": settings, "rounds": args.rounds, **results}
        if args.json == "-":
            json.dump(doc, sys.stdout, indent=1)
            print()
        else:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
