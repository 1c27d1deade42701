"""Start-up cost: read-only commands must not import what they do not use.

`import pyroute2` alone costs about 0.17 s, several times a whole `network ls`;
dnslib is only for the commands that need it (and rich and tabulate, not
dependencies, must not come back through the start-up path).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HEAVY = ("pyroute2", "rich", "tabulate", "dnslib", "asyncio")


def imported_modules(args: list[str], env: dict) -> set[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "cnmctl", *args],
                          env=env, capture_output=True, text=True, check=True)
    return {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
            if line.startswith("import time:")}


@pytest.fixture
def env(tmp_path):
    return dict(os.environ, CNMCTL_ROOT=str(tmp_path / "lib"),
                CNMCTL_RUN_ROOT=str(tmp_path / "run"))


@pytest.mark.parametrize("args", [
    ["network", "ls"],
    ["network", "ls", "--format", "{{.Name}}"],
    ["network", "inspect", "bridge"],
    ["network", "inspect", "-f", "{{.Id}}", "bridge"],
    ["inspect", "-f", "{{.Name}}", "bridge"],
    ["ps", "-a"],
    ["--help"],
])
def test_read_only_commands_stay_light(env, args):
    modules = imported_modules(args, env)
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == [], f"cnmctl {' '.join(args)} imports {heavy}"


def test_mutating_paths_avoid_inspect_module():
    """`dataclasses` (and through it `inspect`) costs ~12 ms: keep it off the
    engine, netlink and runtime modules every `run`/`network create` loads."""
    code = ("import sys, cnmctl.cli.direct, cnmctl.engine, cnmctl.netlink, "
            "cnmctl.runtime.process, cnmctl.ipam.default, cnmctl.sandbox.files; "
            "print(sorted(m for m in ('inspect', 'dataclasses', 'click', 'asyncio') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_netlink_leaves_pyroute2_importable_as_a_whole():
    """netlink.py imports pyroute2's message modules without the package __init__, but
    must not leave a stand-in `pyroute2` behind: other code (tests, plugins) importing
    pyroute2 afterwards gets the real package."""
    code = ("import sys, cnmctl.netlink; stand_in = 'pyroute2' in sys.modules; "
            "heavy = 'asyncio' in sys.modules; from pyroute2 import IPRoute; "
            "print(stand_in, heavy, IPRoute.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False", "pyroute2.iproute.linux"]
