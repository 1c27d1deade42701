"""What `version` and `info` report, as Docker's field names (the CLI renders it).

There is no daemon: the engine is this package, in the process that runs the
command. `version` still has Docker's `Server` part, with the engine's own
version (the same as the client's): scripts ask `{{.Server.Version}}` to learn
that the engine answers, and with cnmctl it always does.
"""

from __future__ import annotations

import os
import platform

from cnmctl import __version__

API_VERSION = "1.41"  # the API whose JSON shapes cnmctl reproduces: Docker 20.10's
# Python's machine names -> Go's GOARCH, which Docker's OS/Arch shows
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
           "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def _build() -> tuple[str, str]:
    """(short git commit, build time in Go's time.ANSIC form): the checkout's last
    commit if cnmctl runs from a git checkout, else ("", the package's mtime)."""
    import subprocess
    import time

    package = os.path.dirname(os.path.abspath(__file__ + "/.."))
    checkout = os.path.dirname(package)
    commit, stamp = "", os.stat(os.path.join(package, "__init__.py")).st_mtime
    if os.path.exists(os.path.join(checkout, ".git")):
        try:
            out = subprocess.run(["git", "-C", checkout, "log", "-1", "--format=%h %ct"],
                                 capture_output=True, text=True, timeout=5).stdout.split()
        except (OSError, subprocess.SubprocessError):
            out = []
        if len(out) == 2:
            commit, stamp = out[0], float(out[1])
    return commit, time.strftime("%a %b %e %H:%M:%S %Y", time.localtime(stamp))


def version_info() -> dict:
    """`version`'s document: Client and Server (the in-process engine)."""
    commit, built = _build()
    arch = _GOARCH.get(platform.machine(), platform.machine())
    common = {"Version": __version__, "ApiVersion": API_VERSION, "GitCommit": commit,
              "PythonVersion": platform.python_version(), "Os": "linux", "Arch": arch,
              "BuildTime": built}
    engine = {**common, "MinAPIVersion": API_VERSION, "KernelVersion": platform.release(),
              "Experimental": False}
    components = [{"Name": "Engine", "Version": __version__,
                   "Details": {k: str(v).lower() if isinstance(v, bool) else v
                               for k, v in engine.items() if k != "Version"}}]
    for name, module in (("pyroute2", "pyroute2"), ("nftables", "pip-nftables")):
        version = _package_version(module)
        if version:
            components.append({"Name": name, "Version": version, "Details": None})
    return {
        "Client": {"Platform": {"Name": "cnmctl"}, **common,
                   "DefaultAPIVersion": API_VERSION, "Context": "default",
                   "Experimental": False},
        "Server": {"Platform": {"Name": "cnmctl engine (in-process, no daemon)"},
                   "Components": components, **engine},
    }


def _package_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


def _os_name() -> str:
    """PRETTY_NAME of os-release, as Docker's Operating System line shows it."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    key, _, value = line.strip().partition("=")
                    if key == "PRETTY_NAME":
                        return value.strip('"')
        except OSError:
            continue
    return "Linux"


def _mem_total() -> int:
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def system_info(engine) -> dict:
    """`info`'s document: Docker's fields, then cnmctl's own (its store and run
    root, its networks, the kernel features found by probing, features.py)."""
    from cnmctl import cgroups, features
    from cnmctl.drivers import BUILTIN_DRIVERS
    from cnmctl.views import LOG_DRIVER

    containers = engine.containers()
    states = [c.state for c in containers]
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
        mountinfo = f.read()
    found = features.probe()
    networks = sorted(d for d in BUILTIN_DRIVERS if found.get(d, "") == "")
    warnings = []
    try:
        with open("/proc/sys/net/ipv4/ip_forward", encoding="ascii") as f:
            if f.read().strip() == "0":
                warnings.append("WARNING: IPv4 forwarding is disabled")
    except OSError:
        pass
    if cgroups.find_in_mountinfo(mountinfo) is None:
        warnings.append(f"WARNING: {cgroups.NO_FREEZER}: pause and unpause are unavailable")
    if found["nftables"]:
        warnings.append(f"WARNING: {found['nftables']}")
    return {
        "Containers": len(containers),
        "ContainersRunning": states.count("running"),
        "ContainersPaused": states.count("paused"),
        "ContainersStopped": len(containers) - states.count("running") - states.count("paused"),
        "Images": len(engine.store.ids("images")),
        "ServerVersion": __version__,
        "Driver": "overlay2",
        "LoggingDriver": LOG_DRIVER,
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroups.cgroup_version(mountinfo),
        "Plugins": {"Volume": [], "Network": networks, "Authorization": None,
                    "Log": [LOG_DRIVER]},
        "Swarm": {"LocalNodeState": "inactive"},
        "Runtimes": {"cnmctl": {"path": "cnmctl"}},
        "DefaultRuntime": "cnmctl",
        "KernelVersion": platform.release(),
        "OperatingSystem": _os_name(),
        "OSType": "linux",
        "Architecture": platform.machine(),
        "NCPU": os.cpu_count() or 0,
        "MemTotal": _mem_total(),
        "Name": platform.node(),
        "Debug": False,
        "ExperimentalBuild": False,
        "LiveRestoreEnabled": False,
        "Warnings": warnings,
        "StoreDir": engine.root,
        "RunRoot": engine.run_root,
        "Networks": len(engine.networks()),
        "KernelFeatures": {name: {"Found": not why, "Reason": why}
                           for name, why in found.items()},
    }
