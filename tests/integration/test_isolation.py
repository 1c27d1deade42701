"""The `cnm` fixture's clean-up (leftovers.py): what one test leaves cannot reach the next.

These tests drive their own runner rather than the fixture, leave things behind
on purpose, and call the clean-up the fixture calls.
"""

from __future__ import annotations

import os
import signal

from conftest import Cli
from leftovers import clean_up, leftover_processes, link_names, netns_mounts

from cnmctl.runtime import process


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def mounted_under(path: str) -> list[str]:
    """Mount points at or under `path` in this mount namespace."""
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == path or p.startswith(path + "/")]


def test_clean_up_kills_orphans_and_unmounts_sandboxes(tmp_path):
    before = link_names()
    cli = Cli(str(tmp_path / "lib"), str(tmp_path / "run"))
    cli("network", "create", "cnm-net")
    cli("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "3600")
    cli("run", "-d", "--name", "h1", "--network", "host", "sleep", "3600")
    cli("exec", "-d", "c1", "sleep", "3600")
    pid = int(cli("inspect", "-f", "{{.State.Pid}}", "c1"))
    host_pid = int(cli("inspect", "-f", "{{.State.Pid}}", "h1"))
    # The supervisor dies unnoticed: nothing would ever stop c1 or free its sandbox.
    os.kill(parent_of(pid), signal.SIGKILL)
    left = leftover_processes(cli.root, cli.run_root)
    assert {pid, host_pid} <= {p for p, _start in left}
    assert len(left) >= 5  # c1, its exec, h1, h1's monitor (cnmctl-shim), the DNS helper
    assert netns_mounts(cli.run_root) and link_names() != before

    assert clean_up(cli.root, cli.run_root, before) == []

    assert leftover_processes(cli.root, cli.run_root) == set()
    assert not any(process.alive(p, start) for p, start in left)
    assert netns_mounts(cli.run_root) == []
    assert mounted_under(cli.run_root) == []
    assert link_names() == before


def test_clean_up_of_nothing_is_quiet(tmp_path):
    before = link_names()
    cli = Cli(str(tmp_path / "lib"), str(tmp_path / "run"))
    assert clean_up(cli.root, cli.run_root, before) == []
    cli("network", "ls")  # a store, no run root yet
    assert clean_up(cli.root, cli.run_root, before) == []
