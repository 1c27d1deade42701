"""The lesson's lab scripts (tests/lab/*.sh), each on its own and the whole walkthrough.

Each script makes a fresh cnmctl store in a temp dir (with the busybox `alpine` image imported
into it), runs the lesson's commands as a student types them, checks what Docker's reference
recording shows, and removes everything it made, so the suite's namespace stays usable. The
walkthrough's transcript is read here too: the lesson's containers came from the imported image,
and the attach step (tests/lab/pty_attach.py) showed its commands' output and left the container
running. Runs as root in the suite's private namespaces (conftest).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

LAB = os.path.dirname(os.path.abspath(__file__))
TASKS = ["task1.sh", "task2.sh", "task3.sh", "task4.sh", "task5.sh", "task6.sh", "shell.sh"]
# Variables that would make a script share (or reuse) someone else's state.
INHERITED = ("LAB_KEEP_STATE", "CNMCTL_ROOT", "CNMCTL_RUN_ROOT")


def lab_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in INHERITED}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def run_bash(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", script], env=lab_env(), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600)


def steps(transcript: str) -> list[tuple[str, str]]:
    """The transcript's steps in order: each printed command (`$ COMMAND`, without the `$ `)
    with what followed it up to the next step (its output, then its checks)."""
    parts = re.split(r"^\$ (.*)$", transcript, flags=re.M)
    return [(command, out.removeprefix("\n"))
            for command, out in zip(parts[1::2], parts[2::2], strict=True)]


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
        check_walkthrough(proc.stdout)
    assert link_names() == before, "the script left links behind (or removed some)"


def check_walkthrough(transcript: str) -> None:
    done = steps(transcript)
    commands = [command for command, _ in done]
    # The image is imported in the walkthrough itself, before any container runs.
    imports = [i for i, c in enumerate(commands)
               if c == "tools/mkimage-busybox | cnmctl import - alpine"]
    assert len(imports) == 1, commands
    image_id = done[imports[0]][1].splitlines()[0]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id), done[imports[0]][1]
    made = [(i, c) for i, c in enumerate(commands) if re.match(r"cnmctl (run|create) ", c)]
    assert made and imports[0] < made[0][0], commands
    # Every container the lab makes runs the imported image, the lesson's ones as
    # `alpine sleep 3600`; none is a host command or a --rootfs tree.
    names = []
    for _, command in made:
        assert "--rootfs" not in command, command
        match = re.fullmatch(
            r"cnmctl (?:run|create) .*--name (\S+) (?:.* )?alpine (sleep 3600|ash)", command)
        assert match, f"not run from the alpine image: {command}"
        names.append(match.group(1))
    assert sorted(names) == ["alpine1", "c1", "c2", "c3", "c4", "d1", "d2", "d3", "r1", "r2"], \
        names
    assert "cnmctl run -dit --name alpine1 --network cnm-net alpine ash" in commands
    # Every running container, as `ps` lists it once they all exist, came from alpine.
    ps = [out for c, out in done if c == "cnmctl ps"][-1]
    assert ps.startswith("CONTAINER ID   IMAGE     COMMAND "), ps
    rows = [line.split() for line in ps.splitlines() if re.match(r"[0-9a-f]{12} ", line)]
    assert len(rows) == 8 and {row[1] for row in rows} == {"alpine"}, ps
    # The attach step: the typed commands' output came back, then the detach keys ended
    # attach with 0, and the container was still up afterwards.
    attach = [i for i, c in enumerate(commands) if c.startswith("tests/lab/pty_attach.py alpine1 ")]
    assert len(attach) == 1, commands
    shown = done[attach[0]][1]
    assert re.search(r"^/ # ping -c 2 c1\n"
                     r"PING c1 \(172\.18\.0\.2\): 56 data bytes\n"
                     r"(64 bytes from 172\.18\.0\.2: .*\n){2}", shown, re.M), shown
    assert "\n2 packets transmitted, 2 packets received, 0% packet loss\n" in shown, shown
    assert re.search(r"^    inet 172\.18\.0\.\d+/16 .* eth0$", shown, re.M), shown
    assert "\n[Ctrl-P Ctrl-Q: detached, cnmctl attach exited 0]\n" in shown, shown
    after = done[attach[0] + 1]
    assert after[0] == "cnmctl ps", commands[attach[0]:]
    assert re.search(r'^[0-9a-f]{12} +alpine +"ash" .* Up .* alpine1$', after[1], re.M), after[1]
    # And the clean-up removes the image, which nothing uses any more.
    rmi = [out for c, out in done if c == "cnmctl rmi alpine"]
    assert rmi and rmi[0].startswith(f"Untagged: alpine:latest\nDeleted: {image_id}\n"), rmi


def test_pty_attach_reports_a_failed_attach(tmp_path):
    """The attach helper fails with attach's own error and one line of its own."""
    env = dict(lab_env(), CNMCTL_ROOT=str(tmp_path / "lib"), CNMCTL_RUN_ROOT=str(tmp_path / "run"))
    proc = subprocess.run([sys.executable, os.path.join(LAB, "pty_attach.py"), "--timeout", "20",
                           "nosuch", "true"], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc
    assert proc.stdout == "Error: No such container: nosuch\n", proc
    assert proc.stderr == ("Error: cnmctl attach exited (1) before the raw mode on the terminal "
                           "(attach relaying)\n"), proc


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
