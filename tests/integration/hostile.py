"""Shared by the bad-input and security tests: one store per module with a network
and a running container, and the checks every refused command must pass."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

from conftest import Cli, Result, link_names, store_snapshot

RUNNING = "busy"  # the running container on NETWORK
NETWORK = "hostile-net"


def run_root_listing(run_root: str) -> list[str]:
    """Every path under the run root (relative), so a stray file or folder shows."""
    found = []
    for folder, dirs, files in os.walk(run_root):
        for name in dirs + files:
            found.append(os.path.relpath(os.path.join(folder, name), run_root))
    return sorted(found)


def state(cli: Cli) -> tuple:
    """What a refused command must leave as it was: store, kernel links, run root."""
    return store_snapshot(cli.root), link_names(), run_root_listing(cli.run_root)


def assert_refused(result: Result, code: int | None = None) -> str:
    """Non-zero (or `code`), exactly one stderr line starting `Error`, no traceback;
    the line."""
    assert "Traceback" not in result.err, result.err
    assert result.code != 0 if code is None else result.code == code, (result.code, result.err)
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error"), result.err
    return lines[0]


def hostile_store(tmp_path_factory) -> Iterator[Cli]:
    """A fresh store with NETWORK and RUNNING (sleeping) on it, for a whole module
    (`busy = pytest.fixture(scope="module")(hostile_store)`); removed with its links
    and helpers afterwards."""
    links_before = link_names()
    base = tmp_path_factory.mktemp("hostile")
    cli = Cli(str(base / "lib"), str(base / "run"))
    cli("network", "create", NETWORK)
    cli("run", "-d", "--name", RUNNING, "--network", NETWORK, "sleep", "3600")
    yield cli
    _clean_up(cli, links_before)


def _clean_up(cli: Cli, links_before: set[str]) -> None:
    """Remove the module's containers, networks, DNS helpers and links."""
    from cnmctl.dns import control

    ids = cli.run("ps", "-aq", "--no-trunc").out.split()
    if ids:
        cli.run("rm", "-f", *ids)
    cli.run("network", "prune", "-f")
    for short_id in control.running_helpers(cli.run_root):
        control.stop_helper(short_id, cli.run_root)
    for name in link_names() - links_before:
        subprocess.run(["ip", "link", "del", name], capture_output=True)
