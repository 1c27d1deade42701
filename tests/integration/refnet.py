"""The reference network plugin (tests/plugins/netplugin.py) run for a test: its
socket in a plugin folder of the test's own, its call log, its faults."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Refnet:
    """One running reference plugin named `name`; `cnm`'s commands find it."""

    def __init__(self, cnm, folder, name: str = "refnet", timeout: float = 5.0,
                 env: dict | None = None) -> None:
        self.folder = folder
        self.sock_dir = folder / "plugins"
        self.sock_dir.mkdir(mode=0o755, exist_ok=True)
        self.sock = self.sock_dir / f"{name}.sock"
        self.log = folder / f"{name}.log"
        self.faults = folder / f"{name}-faults.json"
        self.faults.write_text("{}")
        self.env = env or {}
        cnm.env.update(CNMCTL_PLUGIN_SOCK_DIR=str(self.sock_dir),
                       CNMCTL_PLUGIN_SPEC_DIRS=str(folder / "specs"),
                       CNMCTL_PLUGIN_TIMEOUT=str(timeout))
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        """Start the plugin (again) and wait for its socket to answer."""
        if self.sock.exists():
            self.sock.unlink()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "plugins.netplugin", str(self.sock), str(self.log),
             str(self.faults)], cwd=TESTS, env=dict(os.environ, **self.env))
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.socket(socket.AF_UNIX) as probe:
                    probe.connect(str(self.sock))
                return
            except OSError:
                assert time.monotonic() < deadline, "the reference plugin did not start"
                assert self.proc.poll() is None, "the reference plugin exited"
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def fault(self, **faults: str) -> None:
        """Faults by method, e.g. fault(Join="err"); the plugin reads them per call."""
        self.faults.write_text(json.dumps(
            {f"NetworkDriver.{method}": kind for method, kind in faults.items()}))

    def calls(self) -> list[dict]:
        """Every NetworkDriver call so far: {"method" (without the prefix), "payload"}."""
        if not self.log.exists():
            return []
        found = []
        for line in self.log.read_text().splitlines():
            call = json.loads(line)
            if call["method"].startswith("NetworkDriver."):
                found.append({"method": call["method"].split(".", 1)[1],
                              "payload": call["payload"]})
        return found

    def methods(self, since: int = 0) -> list[str]:
        """The methods called, in order, from call number `since` on, without the
        registration calls every cnmctl process starts with (GetCapabilities)."""
        return [c["method"] for c in self.calls()[since:] if c["method"] != "GetCapabilities"]

    def state(self) -> dict:
        """What the plugin holds (its /Refnet.State): networks, endpoints, joined."""
        from cnmctl.plugins.client import Plugin
        from cnmctl.plugins.discovery import PluginAddress

        return Plugin(PluginAddress("refnet", f"unix://{self.sock}", {}), 5).call(
            "Refnet.State")


def links(prefixes: tuple[str, ...] = ("rn", "rv", "rc")) -> set[str]:
    """The host's links whose names start with one of `prefixes` (the plugin's)."""
    out = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {link["ifname"] for link in json.loads(out) if link["ifname"].startswith(prefixes)}


def sandbox_json(cnm, container: str, *what: str) -> list:
    """`ip -j WHAT` run inside a container's sandbox (its namespace, from inspect)."""
    key = cnm("inspect", "-f", "{{.NetworkSettings.SandboxKey}}", container).strip()
    out = subprocess.run(["nsenter", f"--net={key}", "ip", "-j", *what], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)
