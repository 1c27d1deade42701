"""The small verbs without a kernel: unknown-flag lines, the `container` group's
fast path, `version`/`info` rendering, and finding the cgroup freezer."""

from __future__ import annotations

import pytest

from cnmctl.cgroups import cgroup_version, find_in_mountinfo
from cnmctl.cli.dockerflags import FLAGS, docker_command, unknown_flag
from cnmctl.cli.info import render_info, render_version
from cnmctl.cli.render import bytes_size

# /proc/self/mountinfo of a hybrid machine (this one): v1 controllers, cgroup2 beside
HYBRID = """\
22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
# a unified machine (systemd's default since 2021), with an optional field
UNIFIED = """\
24 30 0:22 / /sys rw,nosuid shared:7 - sysfs sysfs rw
33 24 0:29 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 \
rw,nsdelegate,memory_recursiveprot
"""
# the freezer hierarchy bind-mounted from a sub-cgroup (as in some containers) and
# at a path with a space: only a hierarchy's root counts, paths are unescaped
ODD = """\
50 31 0:34 /docker/abc /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer
51 31 0:40 / /mnt/my\\040cgroup rw - cgroup cgroup rw,freezer,devices
"""


@pytest.mark.parametrize(("text", "expected", "version"), [
    (HYBRID, (1, "/sys/fs/cgroup/freezer"), "1"),
    (UNIFIED, (2, "/sys/fs/cgroup"), "2"),
    (ODD, (1, "/mnt/my cgroup"), "1"),
    ("22 1 0:21 / /sys rw - sysfs sysfs rw\n", None, ""),
    ("", None, ""),
])
def test_freezer_found_from_mountinfo(text, expected, version):
    assert find_in_mountinfo(text) == expected
    assert cgroup_version(text) == version


@pytest.mark.parametrize(("words", "option", "line"), [
    (["run"], "--memory",
     "unknown flag: --memory (Docker's run has it; cnmctl does not support it)"),
    (["container", "run"], "-m", "unknown shorthand flag: 'm' in -m (Docker's run has it "
                                 "as --memory; cnmctl does not support it)"),
    (["run"], "--foo", "unknown flag: --foo (see 'cnmctl run --help')"),
    (["run"], "-z", "unknown shorthand flag: 'z' in -z (see 'cnmctl run --help')"),
    (["container", "ls"], "--size",
     "unknown flag: --size (Docker's ps has it; cnmctl does not support it)"),
    (["container", "inspect"], "--type", "unknown flag: --type (see 'cnmctl run --help')"),
    (["network", "create"], "--scope",
     "unknown flag: --scope (Docker's network create has it; cnmctl does not support it)"),
    ([], "--tls", "unknown flag: --tls (Docker has it; cnmctl does not support it)"),
])
def test_unknown_flag_lines(words, option, line):
    assert unknown_flag(words, option, "cnmctl run --help") == line


def test_every_cnmctl_command_has_a_docker_flag_table():
    """A command missing from the table would call every flag a typo."""
    from cnmctl.cli.app import CONTAINER_COMMANDS

    for name in CONTAINER_COMMANDS:
        assert docker_command([name]) in FLAGS, name
        assert docker_command(["container", name]) in FLAGS, name
    for words in (["container", "ls"], ["container", "remove"], ["network", "list"],
                  ["container", "prune"], ["system", "prune"], ["version"], ["info"]):
        assert docker_command(words) in FLAGS, words


@pytest.mark.parametrize(("argv", "line"), [
    (["run", "--memory", "5m", "sleep", "1"],
     "Error: unknown flag: --memory (Docker's run has it; cnmctl does not support it)"),
    (["container", "create", "-v", "/a:/b", "sleep", "1"],
     "Error: unknown shorthand flag: 'v' in -v (Docker's create has it as --volume; "
     "cnmctl does not support it)"),
    (["ps", "--bogus"], "Error: unknown flag: --bogus (see 'cnmctl ps --help')"),
])
def test_click_reports_unknown_flags_in_one_line(argv, line, capsys, tmp_path, monkeypatch):
    from cnmctl.cli.app import main

    monkeypatch.setenv("CNMCTL_ROOT", str(tmp_path / "lib"))
    monkeypatch.setenv("CNMCTL_RUN_ROOT", str(tmp_path / "run"))
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 125
    assert capsys.readouterr().err == line + "\n"
    assert not (tmp_path / "lib").exists()  # refused before the store was touched


@pytest.mark.parametrize("argv", [
    ["container"], ["container", "network", "ls"], ["container", "ls"],
    ["container", "inspect", "--type", "container", "x"], ["container", "run", "--cpus", "1",
                                                           "sleep", "1"],
    ["container", "inspect"], ["container", "pause"],
])
def test_container_group_leaves_unusual_forms_to_click(argv):
    from cnmctl.cli.direct import fast_path

    assert fast_path(argv) is None


def test_container_inspect_table_matches_click():
    from cnmctl.cli.container import container_inspect
    from cnmctl.cli.direct import CONTAINER_INSPECT_FLAGS

    options = [p for p in container_inspect.params if p.param_type_name == "option"]
    assert {n for p in options if p.is_flag for n in p.opts} == \
        {n for names in CONTAINER_INSPECT_FLAGS.values() for n in names}
    assert {n for p in options if not p.is_flag for n in p.opts} == {"-f", "--format"}


VERSION = {
    "Client": {"Platform": {"Name": "cnmctl"}, "Version": "0.1.0", "ApiVersion": "1.41",
               "GitCommit": "abc1234", "PythonVersion": "3.11.7", "Os": "linux",
               "Arch": "amd64", "BuildTime": "Thu Dec  3 12:43:00 2026",
               "DefaultAPIVersion": "1.41", "Context": "default", "Experimental": False},
    "Server": {"Platform": {"Name": "cnmctl engine"}, "Components": [
        {"Name": "Engine", "Version": "0.1.0", "Details": {
            "ApiVersion": "1.41", "MinAPIVersion": "1.41", "GitCommit": "",
            "PythonVersion": "3.11.7", "Os": "linux", "Arch": "amd64",
            "BuildTime": "Thu Dec  3 12:43:00 2026", "KernelVersion": "6.1.0",
            "Experimental": "false"}},
        {"Name": "pyroute2", "Version": "0.9.7", "Details": None}]},
}


def test_version_layout():
    text = render_version(VERSION)
    assert text.splitlines()[:3] == ["Client: cnmctl", " Version:           0.1.0",
                                     " API version:       1.41"]
    assert " Python version:    3.11.7\n" in text
    assert " OS/Arch:           linux/amd64\n Context:           default\n" in text
    assert "\n\nServer: cnmctl engine\n Engine:\n  Version:          0.1.0\n" in text
    assert "  API version:      1.41 (minimum version 1.41)\n" in text
    assert "  Git commit:       unknown\n" in text  # not run from a checkout
    assert text.endswith(" pyroute2:\n  Version:          0.9.7\n")


def test_version_format_reaches_client_fields():
    from cnmctl.cli.info import _formatted

    assert _formatted(VERSION, "{{.Client.Version}}") == "0.1.0\n"
    assert _formatted(VERSION, "json").startswith('{"Client":{"Platform":{"Name":"cnmctl"},')


INFO = {
    "Containers": 3, "ContainersRunning": 1, "ContainersPaused": 1, "ContainersStopped": 1,
    "Images": 0, "ServerVersion": "0.1.0", "Driver": "overlay2",
    "LoggingDriver": "cnmctl-file", "CgroupDriver": "cgroupfs", "CgroupVersion": "1",
    "Plugins": {"Volume": [], "Network": ["bridge", "host", "null"], "Log": ["cnmctl-file"]},
    "Swarm": {"LocalNodeState": "inactive"}, "Runtimes": {"cnmctl": {}},
    "DefaultRuntime": "cnmctl", "KernelVersion": "6.1.0", "OperatingSystem": "Debian",
    "OSType": "linux", "Architecture": "x86_64", "NCPU": 2, "MemTotal": 4125425664,
    "Name": "vm", "Debug": False, "ExperimentalBuild": False, "LiveRestoreEnabled": False,
    "Warnings": [], "StoreDir": "/var/lib/cnmctl", "RunRoot": "/run/cnmctl", "Networks": 4,
    "KernelFeatures": {"nftables": {"Found": True, "Reason": ""},
                       "ipvlan": {"Found": False, "Reason": "the kernel refused it"}},
}


def test_info_layout():
    text = render_info(INFO)
    assert text.startswith("Client:\n Context:    default\n Debug Mode: false\n\nServer:\n")
    assert (" Containers: 3\n  Running: 1\n  Paused: 1\n  Stopped: 1\n Images: 0\n"
            " Server Version: 0.1.0\n Storage Driver: overlay2\n") in text
    assert " Plugins:\n  Network: bridge host null\n  Log: cnmctl-file\n" in text
    assert " Total Memory: 3.842GiB\n" in text
    assert " Store Dir: /var/lib/cnmctl\n Run Root: /run/cnmctl\n Networks: 4\n" in text
    assert (" Kernel Features:\n  nftables: found\n"
            "  ipvlan: not found (the kernel refused it)\n") in text


@pytest.mark.parametrize(("size", "text"), [
    (0, "0B"), (1023, "1023B"), (1024, "1KiB"), (4125425664, "3.842GiB"),
    (1536 * 1024 ** 2, "1.5GiB")])
def test_bytes_size_as_go_units(size, text):
    assert bytes_size(size) == text
