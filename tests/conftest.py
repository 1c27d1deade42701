"""Test-suite set-up shared by unit and integration tests.

Run as root, the suite re-executes itself inside private network, mount and
PID namespaces (`unshare --net --mount --pid --fork --mount-proc`), so every
bridge, namespace and process a test makes dies with the suite and the host's
network is never touched. There, tests/stub-resolver.sh stands in for the
host's upstream resolver (192.0.2.53), so no DNS query leaves. Without root,
integration tests are skipped, except in CI (CI=true), where a privileged test
that would skip fails instead: the one skip CI accepts is a kernel lacking a
feature, and its reason must name it ("kernel has no ipvlan links (...)",
tests/integration/kernel.py's require_link_kind).
"""

from __future__ import annotations

import os
import re
import shutil
import sys

import pytest

INSIDE = "CNMCTL_TEST_NAMESPACE"


# PID 1 of the suite's namespace: runs pytest and reaps every orphan, as a host's init
# does. An orphan is reparented to the init of its parent's PID namespace; left a
# zombie there (pytest as PID 1 would never reap it), a process that `exec` put in a
# container's PID namespace keeps that namespace's PID 1 from finishing its exit.
REAPER = """
import os, signal, sys
child = os.fork()
if child == 0:
    os.execv(sys.argv[1], sys.argv[1:])
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, lambda number, _frame: os.kill(child, number))
while True:
    pid, status = os.wait()
    if pid == child:
        code = os.waitstatus_to_exitcode(status)
        sys.exit(128 - code if code < 0 else code)
"""


def pytest_configure(config: pytest.Config) -> None:
    if os.geteuid() != 0 or os.environ.get(INSIDE):
        return
    if not shutil.which("unshare"):
        pytest.exit("unshare (util-linux) is needed to run the suite as root", 1)
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.stop_global_capturing()
    sys.stdout.flush()
    sys.stderr.flush()
    env = dict(os.environ, **{INSIDE: "1"})
    argv = ["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc",
            "--propagation", "private", sys.executable, "-c", REAPER,
            sys.executable, "-m", "pytest", *sys.argv[1:]]
    os.execvpe("unshare", argv, env)


def _build_shim() -> None:
    """Build the container monitor if it is missing or older than its source (as
    `make` does), so that pytest run by hand tests the current one."""
    import subprocess

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    source = os.path.join(repo, "cnmctl", "runtime", "shim.c")
    binary = os.path.join(repo, "cnmctl", "runtime", "cnmctl-shim")
    if not os.path.exists(binary) or os.path.getmtime(binary) < os.path.getmtime(source):
        subprocess.run([os.environ.get("CC", "gcc"), "-O2", "-Wall", "-Wextra", "-o", binary,
                        source], check=True)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Point cnmctl at a throwaway store and run root for the whole session, so
    no test (or a command a test forgets to configure) touches the real ones."""
    import tempfile

    _build_shim()
    scratch = tempfile.mkdtemp(prefix="cnmctl-tests-")
    os.environ.setdefault("CNMCTL_ROOT", os.path.join(scratch, "lib"))
    os.environ.setdefault("CNMCTL_RUN_ROOT", os.path.join(scratch, "run"))
    if os.geteuid() == 0 and os.environ.get(INSIDE):
        # The namespace's "outside" resolver: no test's DNS query can leave it.
        import subprocess

        subprocess.run(["bash", os.path.join(os.path.dirname(__file__), "stub-resolver.sh")],
                       check=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    privileged = os.geteuid() == 0 and os.environ.get(INSIDE)
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    for item in items:
        if "integration" in item.path.parts or "lab" in item.path.parts:
            item.add_marker(pytest.mark.root)
            if privileged:
                continue
            reason = "needs root in a private namespace (run the suite as root)"
            if in_ci:
                item.add_marker(pytest.mark.usefixtures("_fail_unprivileged"))
            else:
                item.add_marker(pytest.mark.skip(reason=reason))  # outside CI only


# The skip reason CI accepts: the kernel lacks a named feature.
KERNEL_LACKS = re.compile(r"kernel has no \S+ links \(")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Under CI=true, a privileged test that skipped for any other reason fails."""
    outcome = yield
    report = outcome.get_result()
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    if not (in_ci and report.skipped and os.environ.get(INSIDE)):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if not KERNEL_LACKS.search(reason):
        report.outcome = "failed"
        report.longrepr = f"CI=true: a privileged test must not be skipped ({reason})"


@pytest.fixture
def _fail_unprivileged() -> None:
    pytest.fail("CI=true: a privileged test must not be skipped; run the suite as root")
