"""Terminals and attach, driven through a real pseudo-terminal: `run -it`, `run -dit`
then `attach` and Ctrl-P Ctrl-Q, `exec -it`, window sizes, `start -a -i`, `-i`
without `-t`, Ctrl-C, signals passed on, and what a terminal container logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess

from conftest import CNMCTL, wait_until
from terminal import Terminal

DETACH = b"\x10\x11"  # Ctrl-P Ctrl-Q
PROMPT = b"# "


def state(cnm, name: str) -> dict:
    return json.loads(cnm("inspect", name))[0]["State"]


def terminal(cnm, *args: str, **size) -> Terminal:
    return Terminal([*CNMCTL, *args], cnm.env, **size)


def test_run_it_shows_a_prompt_runs_what_is_typed_and_passes_the_status(cnm):
    term = terminal(cnm, "run", "-it", "--rm", "--name", "w1", "--network", "none", "sh")
    term.expect(PROMPT)
    term.type(b"echo $((6*7)) $$; tty; stty size\r")
    shown = term.expect(b"100\r\n")
    # PID 1 of its own PID namespace; its terminal as /dev/console; our window size
    assert b"42 1\r\n/dev/console\r\n30 100\r\n" in shown
    term.type(b"exit 5\r")
    assert term.wait() == 5
    wait_until(lambda: cnm("ps", "-aq") == "", what="--rm to remove it")


def test_run_dit_then_attach_a_command_and_detach_leaves_it_running(cnm):
    cid = cnm("run", "-dit", "--name", "w2", "--network", "none", "sh").strip()
    doc = json.loads(cnm("inspect", "w2"))[0]
    assert (doc["Config"]["Tty"], doc["Config"]["OpenStdin"], doc["Config"]["StdinOnce"],
            doc["Config"]["AttachStdout"]) == (True, True, False, False)
    term = terminal(cnm, "attach", "w2", rows=40, cols=120)
    term.type(b"echo attached-$((1+1)); stty size\r")
    assert b"attached-2\r\n40 120\r\n" in term.expect(b"120\r\n")
    term.type(DETACH)
    term.expect(b"read escape sequence\r\n")  # on stderr, as Docker's client says it
    assert term.wait() == 0
    assert state(cnm, "w2")["Status"] == "running"
    assert cnm("ps", "-q", "--no-trunc") == cid + "\n"
    # again, with other detach keys; then the shell's exit ends the attach with its status
    term = terminal(cnm, "attach", "--detach-keys", "ctrl-a,d", "w2")
    term.type(b"echo again\r")
    term.expect(b"again\r\n")
    term.type(b"\x01d")
    assert term.wait() == 0
    term = terminal(cnm, "attach", "w2")
    term.type(b"exit 3\r")
    assert term.wait() == 3
    assert (state(cnm, "w2")["Status"], state(cnm, "w2")["ExitCode"]) == ("exited", 3)
    assert cnm.fails("attach", "w2") == (
        "Error: You cannot attach to a stopped container, start it first")


def test_exec_it_gets_a_terminal_whose_size_follows_ours(cnm):
    cnm("run", "-d", "--name", "w3", "--network", "none", "sleep", "600")
    term = terminal(cnm, "exec", "-it", "w3", "sh", rows=25, cols=70)
    term.expect(PROMPT)
    term.type(b"stty size; tty\r")
    assert b"25 70\r\n/dev/pts/" in term.expect(b"/dev/pts/")
    term.resize(33, 111)
    term.type(b"stty size\r")
    assert b"33 111\r\n" in term.expect(b"111\r\n")
    term.type(b"exit 4\r")
    assert term.wait() == 4
    assert state(cnm, "w3")["Status"] == "running"


def test_ctrl_c_reaches_the_container_through_its_terminal(cnm):
    term = terminal(cnm, "run", "-it", "--name", "w4", "--network", "none", "sh", "-c",
                    "trap 'echo got-int; exit 7' INT; echo ready; sleep 600 & wait")
    term.expect(b"ready")
    term.type(b"\x03")
    term.expect(b"got-int")
    assert term.wait() == 7


def test_start_a_i_attaches_before_it_runs(cnm):
    cnm("create", "-it", "--name", "w5", "--network", "none", "sh")
    term = terminal(cnm, "start", "-a", "-i", "w5")
    term.expect(PROMPT)
    term.type(b"echo started; exit 6\r")
    term.expect(b"started")
    assert term.wait() == 6


def test_i_without_t_passes_stdin_and_keeps_it_open_detached(cnm):
    result = subprocess.run([*CNMCTL, "run", "-i", "--rm", "--network", "none", "sh", "-c",
                             "cat; echo done"], input="hi\n", capture_output=True,
                            text=True, env=cnm.env, timeout=60)
    assert (result.returncode, result.stdout) == (0, "hi\ndone\n")
    # detached with -i, stdin stays open: `cat` waits on it instead of ending at once
    cnm("run", "-d", "-i", "--name", "w6", "--network", "none", "cat")
    cnm("run", "-d", "--name", "w7", "--network", "none", "cat")
    wait_until(lambda: state(cnm, "w7")["Status"] == "exited", what="cat without -i to end")
    assert state(cnm, "w6")["Status"] == "running"


def test_signals_are_passed_on_without_a_terminal(cnm):
    proc = subprocess.Popen([*CNMCTL, "run", "--name", "w8", "--network", "none", "sh", "-c",
                             "trap 'echo got-term; exit 9' TERM; echo ready; "
                             "sleep 600 & wait"],
                            stdout=subprocess.PIPE, text=True, env=cnm.env)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 9
    assert proc.stdout.read() == "got-term\n"


def test_killing_the_client_leaves_the_container_running(cnm):
    term = terminal(cnm, "run", "-it", "--name", "w9", "--network", "none", "sh")
    term.expect(PROMPT)
    os.kill(term.pid, signal.SIGKILL)
    term.wait()
    assert state(cnm, "w9")["Status"] == "running"
    cnm("rm", "-f", "w9")


def test_a_terminal_container_logs_one_stream(cnm):
    cnm("run", "-t", "--name", "w10", "--network", "none", "sh", "-c",
        "echo out; echo err >&2")
    result = subprocess.run([*CNMCTL, "logs", "w10"], capture_output=True, env=cnm.env,
                            timeout=60)  # bytes: the terminal's \r kept, as Docker keeps it
    assert (result.stdout, result.stderr) == (b"out\r\nerr\r\n", b"")


def test_a_terminal_is_refused_a_stdin_that_is_not_one(cnm):
    cnm("run", "-dit", "--name", "w11", "--network", "none", "sh")
    for args in (["run", "-it", "--rm", "--network", "none", "sh"], ["attach", "w11"],
                 ["exec", "-it", "w11", "sh"]):
        assert cnm.fails(*args) == "Error: the input device is not a TTY"
    assert cnm("ps", "-a", "--format", "{{.Names}}") == "w11\n"  # nothing made


# -- what a review found -----------------------------------------------------------------
def test_a_large_stdin_reaches_a_command_that_reads_it_late(cnm):
    # more than the pipe holds: the shim holds the rest back and must go on reading
    result = subprocess.run([*CNMCTL, "run", "-i", "--rm", "--network", "none", "sh", "-c",
                             "sleep 1; wc -c"], input=b"x" * 300000, capture_output=True,
                            env=cnm.env, timeout=60)
    assert (result.returncode, result.stdout.split()) == (0, [b"300000"])


def test_stdin_from_a_file_or_dev_null(cnm, tmp_path):
    script = tmp_path / "script.sh"
    script.write_text("echo from-file\n")
    for source, out in (("/dev/null", b""), (script, b"from-file\n")):
        with open(source, "rb") as stdin:
            result = subprocess.run([*CNMCTL, "run", "-i", "--rm", "--network", "none", "sh"],
                                    stdin=stdin, capture_output=True, env=cnm.env, timeout=60)
        assert (result.returncode, result.stdout, result.stderr) == (0, out, b"")
    assert cnm("ps", "-aq") == ""


def test_a_slow_attached_reader_gets_every_byte_in_order(cnm):
    cnm("create", "--name", "w12", "--network", "none", "sh", "-c", "seq 1 300000")
    expected = "".join(f"{i}\n" for i in range(1, 300001)).encode()
    proc = subprocess.Popen([*CNMCTL, "start", "-a", "w12"], stdout=subprocess.PIPE,
                            env=cnm.env)
    # Nothing read until the command is stuck on its output (its pipe, the client's
    # socket and the shim's queue full), then everything at once.
    wait_until(lambda: "seq" in subprocess.run(["ps", "-eo", "stat,comm"], text=True,
                                               capture_output=True).stdout,
               what="seq to run")
    out = proc.stdout.read()
    assert proc.wait(timeout=60) == 0
    assert out == expected


def test_too_many_attached_clients_refuse_the_next_and_leave_it_running(cnm):
    import socket

    from cnmctl.linux import connect_unix

    cid = cnm("run", "-dit", "--name", "w13", "--network", "none", "sh").strip()
    path = os.path.join(cnm.run_root, "containers", cid, "attach.sock")
    clients = []
    for _ in range(16):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        connect_unix(sock, path)  # a deep path: through /proc/self/fd
        clients.append(sock)
    try:
        line = cnm.fails("attach", "--no-stdin", "w13")
        assert line == "Error: too many clients are attached to the container (at most 16)"
        assert state(cnm, "w13")["Status"] == "running"
    finally:
        for sock in clients:
            sock.close()


def test_bad_detach_keys_are_refused_before_anything_runs(cnm):
    for args in (["run", "-i", "--detach-keys", "bad", "--network", "none", "sh"],
                 ["run", "--detach-keys", "ctrl-ĉ", "--network", "none", "true"]):
        line = cnm.fails(*args, code=125)
        assert line.startswith("Error: Invalid detach keys (")
    assert cnm("ps", "-aq") == ""


def test_no_descriptor_leaks_into_a_container(cnm):
    # the pty's slave end (kept by the shim) and a descriptor of the caller's
    cnm("run", "-d", "--name", "w14", "--network", "none", "sleep", "600")
    term = terminal(cnm, "run", "-it", "--rm", "--network", "none", "sh", "-c",
                    "ls /proc/self/fd; echo end")
    assert term.expect(b"end").split() == [b"0", b"1", b"2", b"3", b"end"]
    term.wait()
    read_end, write_end = os.pipe()
    try:
        result = subprocess.run([*CNMCTL, "exec", "w14", "ls", "/proc/self/fd"],
                                pass_fds=(read_end,), capture_output=True, text=True,
                                env=cnm.env, timeout=60)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert result.stdout.split() == ["0", "1", "2", "3"]
