"""The reference IPAM plugin (tests/plugins/ipamplugin.py) run for a test: started
on a socket in a root-owned folder cnmctl is pointed at, its call log, its
state, its faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "refipam"


class RefIpam:
    """One running reference IPAM plugin and what it logged."""

    def __init__(self, folder: str) -> None:
        self.sock_dir = os.path.join(folder, "plugins")
        os.makedirs(self.sock_dir, mode=0o755, exist_ok=True)
        self.sock = os.path.join(self.sock_dir, f"{NAME}.sock")
        self.log = os.path.join(folder, "refipam.log")
        self.fault_file = os.path.join(folder, "refipam-faults.json")
        self.proc: subprocess.Popen | None = None
        self.faults({})
        self.start()

    def env(self, base: dict) -> dict:
        """`base` with cnmctl pointed at this plugin (and no other), 2 s per call."""
        return dict(base, CNMCTL_PLUGIN_SOCK_DIR=self.sock_dir,
                    CNMCTL_PLUGIN_SPEC_DIRS=os.path.join(self.sock_dir, "none"),
                    CNMCTL_PLUGIN_TIMEOUT="2")

    def start(self) -> None:
        """(Re)start the plugin, its state empty, and wait for its socket."""
        self.stop()
        for path in (self.sock, self.log + ".state"):
            if os.path.exists(path):
                os.unlink(path)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([TESTS, os.path.dirname(TESTS)]))
        self.proc = subprocess.Popen([sys.executable, "-m", "plugins.ipamplugin", self.sock,
                                      self.log, self.fault_file], env=env)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            assert time.monotonic() < deadline, "the reference IPAM plugin did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()
        self.proc = None

    def faults(self, faults: dict) -> None:
        """Set the per-method faults (and "caps"); read by the plugin at each call."""
        with open(self.fault_file, "w", encoding="utf-8") as f:
            json.dump(faults, f)

    def calls(self) -> list[tuple[str, dict | None]]:
        """Every call so far, in order: (method, payload)."""
        if not os.path.exists(self.log):
            return []
        with open(self.log, encoding="utf-8") as f:
            return [(r["method"], r["payload"]) for r in map(json.loads, f)]

    def forget_calls(self) -> None:
        if os.path.exists(self.log):
            os.unlink(self.log)

    def state(self) -> dict:
        """{pool ID: {"pool", "refs", "addresses"}} as the plugin holds it."""
        try:
            with open(self.log + ".state", encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return {}


def held_by_store(root: str) -> dict:
    """{pool ID: sorted addresses} that cnmctl's store says refipam gave: each
    refipam network's gateway and aux addresses, and its endpoints' addresses."""
    held: dict = {}
    subnets = {}
    for name in _docs(root, "networks"):
        net = _read(root, "networks", name)
        if net.get("ipam_driver") != NAME:
            continue
        for rec in net.get("ipam_pools", []):
            held.setdefault(rec["id"], set()).update(rec["addresses"])
            subnets[(net["id"], rec["subnet"])] = rec["id"]
    import ipaddress

    for name in _docs(root, "endpoints"):
        ep = _read(root, "endpoints", name)
        for cidr in (ep.get("ipv4"), ep.get("ipv6")):
            if not cidr:
                continue
            for (net_id, subnet), pool_id in subnets.items():
                if net_id == ep["network_id"] and \
                        ipaddress.ip_interface(cidr).ip in ipaddress.ip_network(subnet):
                    held[pool_id].add(cidr.split("/")[0])
    return {k: sorted(v) for k, v in held.items()}


def plugin_holds(plugin: RefIpam) -> dict:
    """{pool ID: sorted addresses} the plugin holds."""
    return {k: v["addresses"] for k, v in plugin.state().items()}


def _docs(root: str, kind: str) -> list[str]:
    folder = os.path.join(root, kind)
    return [n for n in os.listdir(folder) if n.endswith(".json")] \
        if os.path.isdir(folder) else []


def _read(root: str, kind: str, name: str) -> dict:
    with open(os.path.join(root, kind, name), encoding="utf-8") as f:
        return json.load(f)
