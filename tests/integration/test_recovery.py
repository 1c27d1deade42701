"""Kernel state lost behind cnmctl's back (a reboot, someone deleting a bridge)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import kernel


def test_missing_bridge_is_made_again_at_next_start(cnm):
    net_id = cnm("network", "create", "cnm-net").strip()
    subprocess.run(["ip", "link", "del", f"br-{net_id[:12]}"], check=True)
    cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "60")
    bridge = kernel.link(f"br-{net_id[:12]}")
    assert bridge is not None and "172.18.0.1/16" in bridge["addresses"]
    assert cnm("inspect", "-f", "{{.State.Status}}", "c1") == "running\n"


def test_reboot_restores_networks_and_marks_containers_exited(cnm):
    net_id = cnm("network", "create", "cnm-net").strip()
    cnm("run", "-d", "--name", "c1", "--network", "cnm-net", "sleep", "600")
    pid = int(cnm("inspect", "-f", "{{.State.Pid}}", "c1"))
    with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
        supervisor = int(f.read().rsplit(")", 1)[1].split()[1])
    # A reboot: every process and kernel object gone, the tmpfs run root empty.
    os.kill(supervisor, 9)
    os.kill(pid, 9)
    for name in (f"br-{net_id[:12]}", "cnm0"):
        subprocess.run(["ip", "link", "del", name], check=True)
    netns = os.path.join(cnm.run_root, "netns")
    for entry in os.listdir(netns):
        subprocess.run(["umount", os.path.join(netns, entry)], check=True)
    shutil.rmtree(cnm.run_root)
    cnm("network", "create", "other-net")  # the next command that changes anything
    assert "172.18.0.1/16" in kernel.link(f"br-{net_id[:12]}")["addresses"]
    assert kernel.link("cnm0") is not None
    [doc] = json.loads(cnm("inspect", "c1"))
    assert (doc["State"]["Status"], doc["State"]["ExitCode"]) == ("exited", 255)
    assert json.loads(cnm("network", "inspect", "cnm-net"))[0]["Containers"] == {}
    # Its address is free again and it starts anew.
    cnm("start", "c1")
    assert cnm("inspect", "-f", '{{(index .NetworkSettings.Networks "cnm-net").IPAddress}}',
               "c1") == "172.18.0.2\n"
