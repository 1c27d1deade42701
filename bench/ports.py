"""Published ports (issue 9): what `-p` adds to a start, and what DNAT costs a stream.

Used by bench/run.py. Two measurements:

- the `run -d -p HOSTPORT:PORT` + `rm -f` pair, timed in run.py's loop beside the
  iproute2 floor and the plain pair (published_pair below);
- iperf3 throughput to one server in a container published with -p, from several
  clients in turn, interleaved round by round so that load changes hit all alike
  (throughput below):

  | path       | client                  | to                        | what it crosses          |
  |------------|-------------------------|---------------------------|--------------------------|
  | direct     | the host                | the container's IP:5201   | the bridge, one veth     |
  | 127.0.0.1  | the host                | 127.0.0.1:15201           | nat output DNAT, the     |
  |            |                         |                           | 127.0.0.1 masquerade     |
  | peer       | a namespace beside the  | the host's address on     | its veth, nat prerouting |
  |            | host, routed through it | that link, :15201         | DNAT, forward, the bridge|
  | peer->host | the same namespace      | iperf3 -s on the host     | its veth only (no NAT):  |
  |            |                         | itself                    | the peer path's baseline |
  | loopback   | the host                | iperf3 -s on the host     | lo only (reference)      |
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time

# The peer namespace, on TEST-NET-2 (RFC 5737): no real address is ever used.
PEER_NS = "cnmbench-client"
HOST_ADDR, PEER_ADDR = "198.51.100.1", "198.51.100.2"
HOST_IPERF_PORT = 5202  # iperf3 -s on the host itself (lo, and the peer's baseline)
DIRECT = "direct: host -> container IP:5201"
PEER = f"published: peer namespace -> {HOST_ADDR}:15201"
PEER_BASE = f"peer namespace -> iperf3 -s on the host ({HOST_ADDR}:{HOST_IPERF_PORT})"


def published_cmd(cnmctl: list[str], name: str, host_port: int, port: int, network: str,
                  cmd: list[str]) -> list[str]:
    """The command that starts container `name` with `port` published at `host_port`."""
    return [*cnmctl, "run", "-d", "--name", name, "--network", network,
            "-p", f"{host_port}:{port}", *cmd]


def timed_pair(start: list[str], stop: list[str], env: dict) -> float:
    """Wall time of a start and its `rm -f`."""
    t0 = time.perf_counter()
    subprocess.run(start, env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(stop, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


# -- throughput --------------------------------------------------------------------
PEER_SCRIPT = r"""
set -e
ip netns add "$1"
ip link add benchcl0 type veth peer name benchcl1
ip link set benchcl1 netns "$1"
ip addr add "$2/24" dev benchcl0
ip link set benchcl0 up
ip -n "$1" link set benchcl1 name eth0
ip -n "$1" addr add "$3/24" dev eth0
ip -n "$1" link set eth0 up
ip -n "$1" link set lo up
ip -n "$1" route add default via "$2"
"""


def throughput(cnmctl: list[str], env: dict, network: str, rounds: int,
               seconds: float) -> dict:
    """iperf3 Gbit/s (median of `rounds`) along each path of the module docstring;
    the ratios are to the direct path (peer: to peer->host, as well)."""
    subprocess.run(published_cmd(cnmctl, "iperfd", 15201, 5201, network, ["iperf3", "-s"]),
                   env=env, check=True, stdout=subprocess.DEVNULL)
    host_server = subprocess.Popen(["iperf3", "-s", "-p", str(HOST_IPERF_PORT)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        subprocess.run(["bash", "-c", PEER_SCRIPT, "peer", PEER_NS, HOST_ADDR, PEER_ADDR],
                       check=True)
        info = json.loads(subprocess.run(
            [*cnmctl, "inspect", "-f", "{{json .}}", "iperfd"], env=env, check=True,
            capture_output=True, text=True).stdout)
        ip = next(iter(info["NetworkSettings"]["Networks"].values()))["IPAddress"]
        _wait_listening(info["State"]["Pid"], 5201)
        _wait_listening(host_server.pid, HOST_IPERF_PORT)
        in_peer = ["ip", "netns", "exec", PEER_NS]
        paths = {
            DIRECT: ([], ip, 5201),
            "published: host -> 127.0.0.1:15201": ([], "127.0.0.1", 15201),
            PEER: (in_peer, HOST_ADDR, 15201),
            PEER_BASE: (in_peer, HOST_ADDR, HOST_IPERF_PORT),
            "loopback: host -> iperf3 -s on the host (127.0.0.1)":
                ([], "127.0.0.1", HOST_IPERF_PORT),
        }
        samples: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(rounds):
            for name, (prefix, addr, port) in paths.items():
                samples[name].append(_iperf(prefix, addr, port, seconds))
    finally:
        host_server.terminate()
        host_server.wait()
        subprocess.run(["ip", "netns", "del", PEER_NS], check=False)
        subprocess.run([*cnmctl, "rm", "-f", "iperfd"], env=env, check=False,
                       stdout=subprocess.DEVNULL)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    results = {name: (gbits, gbits / medians[DIRECT]) for name, gbits in medians.items()}
    results["  published from the peer / peer -> host (no NAT)"] = (
        medians[PEER], medians[PEER] / medians[PEER_BASE])
    return results


def _iperf(prefix: list[str], addr: str, port: int, seconds: float) -> float:
    """Gbit/s the server received in one `iperf3 -c` run (one retry: a server that
    just finished a test may refuse the next for a moment)."""
    cmd = [*prefix, "iperf3", "-c", addr, "-p", str(port), "-t", str(seconds), "-J"]
    for attempt in range(2):
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode == 0:
            return json.loads(result.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9
        if attempt == 0:
            time.sleep(0.5)
    raise RuntimeError(f"{' '.join(cmd)}: {result.stdout[-300:]}{result.stderr[-300:]}")


def _wait_listening(pid: int, port: int, timeout: float = 10.0) -> None:
    """Wait until a TCP socket listens on `port` in the network namespace of `pid`."""
    wanted = f":{port:04X}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for table in ("tcp", "tcp6"):
            with open(f"/proc/{pid}/net/{table}", encoding="ascii") as f:
                for line in f:
                    fields = line.split()  # sl local_address rem_address st ...
                    if fields[1].endswith(wanted) and fields[3] == "0A":  # LISTEN
                        return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} in the namespace of pid {pid}")
