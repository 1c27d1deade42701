"""The lesson's lab scripts (tests/lab/*.sh), each on its own and the whole walkthrough.

Each script makes a fresh cnmctl store in a temp dir, runs the lesson's commands as a student
types them, checks what Docker's reference recording shows, and removes everything it made, so
the suite's namespace stays usable. Runs as root in the suite's private namespaces (conftest).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

LAB = os.path.dirname(os.path.abspath(__file__))
TASKS = ["task1.sh", "task2.sh", "task4.sh", "task5.sh", "task6.sh"]
# Variables that would make a script share (or reuse) someone else's state.
INHERITED = ("LAB_KEEP_STATE", "ALPINE", "CNMCTL_ROOT", "CNMCTL_RUN_ROOT")


def lab_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in INHERITED}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def run_bash(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", script], env=lab_env(), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600)


def link_names() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {line.split(": ")[1].split("@")[0] for line in out.splitlines()}


def tail(text: str, lines: int = 120) -> str:
    return "\n".join(text.splitlines()[-lines:])


@pytest.mark.parametrize("script", [*TASKS, "walkthrough.sh"])
def test_lab_script(script):
    before = link_names()
    proc = run_bash(os.path.join(LAB, script))
    assert proc.returncode == 0, (
        f"bash tests/lab/{script} exited {proc.returncode}; its output ends with:\n"
        f"{tail(proc.stdout)}")
    if script == "walkthrough.sh":
        assert proc.stdout.rstrip().endswith("All lab tasks passed")
    assert link_names() == before, "the script left links behind (or removed some)"


def test_failed_expectation_stops_the_script(tmp_path):
    script = tmp_path / "fails.sh"
    script.write_text(textwrap.dedent(f"""\
        source {LAB}/common.sh
        expect_eq "two plus two" "$((2 + 2))" 4
        expect_eq "the answer" 41 42
        echo "not reached"
        """))
    proc = run_bash(str(script))
    assert proc.returncode == 1, proc.stdout
    assert "# ok: two plus two" in proc.stdout
    assert "LAB FAILED (fails.sh): the answer" in proc.stdout
    assert "expected: 42" in proc.stdout and "actual:   41" in proc.stdout
    assert "not reached" not in proc.stdout
