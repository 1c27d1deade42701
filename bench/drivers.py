"""macvlan beside bridge (issue 11): the `run -d` + `rm -f` pair on a macvlan
network, timed in bench/run.py's interleaved loop beside the same pair on the
bridge network, so their ratio comes from one run.

The macvlan network's parent is a veth pair made here (`bmvA`, its peer `bmvB`
standing for the LAN), in the bench's throwaway namespace. A macvlan start
makes one child link, born in the sandbox; a bridge start makes a veth pair
and enslaves its host side, and its removal deletes that host side with the
namespace.
"""

from __future__ import annotations

import subprocess

PARENT, PEER = "bmvA", "bmvB"
NETWORK = "bench-mv"
SUBNET = "198.51.100.0/24"  # TEST-NET-2: only on the bench's own veth pair


def create_network(cnmctl: list[str], env: dict) -> None:
    """The parent veth pair (up) and a macvlan network on it."""
    subprocess.run(["ip", "link", "add", PARENT, "type", "veth", "peer", "name", PEER],
                   check=True)
    for link in (PARENT, PEER):
        subprocess.run(["ip", "link", "set", link, "up"], check=True)
    subprocess.run([*cnmctl, "network", "create", "-d", "macvlan", "-o", f"parent={PARENT}",
                    "--subnet", SUBNET, NETWORK], env=env, check=True,
                   stdout=subprocess.DEVNULL)


def pair(cnmctl: list[str], name: str) -> tuple[list[str], list[str]]:
    """`run -d` on the macvlan network and its `rm -f`."""
    return ([*cnmctl, "run", "-d", "--name", name, "--network", NETWORK, "sleep", "600"],
            [*cnmctl, "rm", "-f", name])


def remove_network(cnmctl: list[str], env: dict) -> None:
    """The network, then the veth pair (the peer goes with it)."""
    subprocess.run([*cnmctl, "network", "rm", NETWORK], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["ip", "link", "del", PARENT], check=True)
