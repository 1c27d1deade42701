"""Fixtures for tests that drive `cnmctl` as a user would, as root in a private namespace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
from leftovers import clean_up, link_names

CNMCTL = [sys.executable, "-m", "cnmctl"]


@dataclass
class Result:
    """What a finished command printed and returned."""

    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


class Cli:
    """Runs `cnmctl` as a subprocess against this test's own store and run root."""

    def __init__(self, root: str, run_root: str) -> None:
        self.root = root
        self.run_root = run_root
        self.env = dict(os.environ, CNMCTL_ROOT=root, CNMCTL_RUN_ROOT=run_root)

    def run(self, *args: str, input: str | None = None) -> Result:
        proc = subprocess.run([*CNMCTL, *args], env=self.env, capture_output=True,
                              text=True, input=input, timeout=120)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def __call__(self, *args: str, input: str | None = None) -> str:
        """Run and expect success; return stdout."""
        result = self.run(*args, input=input)
        assert result.code == 0, f"cnmctl {' '.join(args)} failed ({result.code}): {result.err}"
        return result.out

    def fails(self, *args: str, code: int = 1) -> str:
        """Run and expect failure with `code` and exactly one stderr line; return it."""
        result = self.run(*args)
        assert result.code == code, (result.code, result.out, result.err)
        lines = result.err.strip().splitlines()
        assert len(lines) == 1, result.err
        return lines[0]


def wait_until(check, timeout: float = 5.0, what: str = "condition"):
    """Poll `check` until it returns something truthy (a deadline, not a timing claim)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def store_snapshot(root: str) -> dict[str, str]:
    """Every store document's text, keyed by relative path."""
    snap = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(".json"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as f:
                    snap[os.path.relpath(path, root)] = f.read()
    return snap


@pytest.fixture(scope="session", autouse=True)
def _loopback_up() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


@pytest.fixture
def cnm(tmp_path):
    """A `cnmctl` runner on a fresh store. Afterwards everything the test left is
    removed (see leftovers.py): its DNS helpers, every process of its containers,
    sandboxes and run root, its namespace mounts and its links; a step that fails
    does not stop the next, and the failures are reported together."""
    before = link_names()
    cli = Cli(str(tmp_path / "lib"), str(tmp_path / "run"))
    yield cli
    errors = clean_up(cli.root, cli.run_root, before)
    if errors:
        pytest.fail("clean-up after the test: " + "; ".join(errors), pytrace=False)


@pytest.fixture
def refnet(cnm, tmp_path):
    """The reference network plugin (tests/plugins/netplugin.py), which `cnm` finds
    as "refnet" (refnet.py); killed afterwards."""
    from refnet import Refnet

    plugin = Refnet(cnm, tmp_path)
    yield plugin
    plugin.stop()
