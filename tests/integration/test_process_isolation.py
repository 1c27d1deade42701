"""Isolation of container processes, checked from outside where possible:
capabilities (/proc/PID/status), --user, --read-only, the container's own /dev,
no way to the store or the run root, exec's user and capabilities, `top`; and,
once the lead's PID-namespace shim lands, the PID namespace."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

from tests.integration.conftest import wait_until

# Docker's default set (moby's oci/caps/defaults.go), by number from linux/capability.h.
DEFAULT_CAPS = {"CHOWN": 0, "DAC_OVERRIDE": 1, "FOWNER": 3, "FSETID": 4, "KILL": 5,
                "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "NET_BIND_SERVICE": 10, "NET_RAW": 13,
                "SYS_CHROOT": 18, "MKNOD": 27, "AUDIT_WRITE": 29, "SETFCAP": 31}
NET_ADMIN = 12


def status_of(text: str) -> dict[str, str]:
    """The fields of a /proc/PID/status text."""
    return {key: value.strip() for key, _, value in
            (line.partition(":") for line in text.splitlines())}


def caps(text: str, field: str) -> int:
    return int(status_of(text)[field], 16)


def held() -> int:
    """What the test (so cnmctl) holds: no container can get more."""
    with open("/proc/self/status", encoding="ascii") as f:
        return caps(f.read(), "CapPrm")


def expected_default() -> int:
    return sum(1 << n for n in DEFAULT_CAPS.values()) & held()


def busybox_tree(path) -> str:
    """A --rootfs tree: /bin/busybox and a relative symlink per applet, nothing else."""
    bindir = path / "bin"
    bindir.mkdir(parents=True)
    shutil.copy("/bin/busybox", bindir / "busybox")
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", bindir / applet)
    return str(path)


def pid_of(cnm, ref: str) -> int:
    return int(cnm("inspect", "-f", "{{.State.Pid}}", ref))


def proc_status(pid: int) -> str:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        return f.read()


# -- capabilities -----------------------------------------------------------------
def test_default_capabilities_are_dockers(cnm):
    out = cnm("run", "--rm", "--network", "none", "cat", "/proc/self/status")
    want = expected_default()
    assert caps(out, "CapEff") == caps(out, "CapPrm") == caps(out, "CapBnd") == want
    assert caps(out, "CapInh") == caps(out, "CapAmb") == 0
    # the same seen from outside, on a running container
    cnm("run", "-d", "--name", "w1", "--network", "none", "sleep", "60")
    status = proc_status(pid_of(cnm, "w1"))
    assert caps(status, "CapEff") == caps(status, "CapBnd") == want


def test_link_changes_need_net_admin(cnm):
    cnm("network", "create", "cnm-net")
    refused = cnm.run("run", "--rm", "--network", "cnm-net", "ip", "link", "set", "eth0", "down")
    assert refused.code == 2 and "RTNETLINK answers: Operation not permitted" in refused.err
    cnm("run", "-d", "--name", "w1", "--network", "cnm-net", "--cap-add", "net_admin",
        "sleep", "60")
    assert caps(proc_status(pid_of(cnm, "w1")), "CapEff") == \
        expected_default() | 1 << NET_ADMIN
    cnm("exec", "w1", "ip", "link", "set", "eth0", "down")
    key = cnm("inspect", "-f", "{{.NetworkSettings.SandboxKey}}", "w1").strip()
    links = json.loads(subprocess.run(["nsenter", f"--net={key}", "ip", "-j", "link", "show",
                                       "eth0"], capture_output=True, text=True,
                                      check=True).stdout)
    assert "UP" not in links[0]["flags"]
    host_config = json.loads(cnm("inspect", "-f", "{{json .HostConfig}}", "w1"))
    assert host_config["CapAdd"] == ["net_admin"] and host_config["CapDrop"] is None


def test_cap_drop_net_raw_stops_ping(cnm):
    cnm("network", "create", "cnm-net")
    gateway = "172.18.0.1"
    assert cnm.run("run", "--rm", "--network", "cnm-net", "ping", "-c1", "-W2",
                   gateway).code == 0
    dropped = cnm.run("run", "--rm", "--network", "cnm-net", "--cap-drop", "CAP_NET_RAW",
                      "ping", "-c1", "-W2", gateway)
    assert dropped.code != 0
    out = cnm("run", "--rm", "--network", "none", "--cap-drop", "ALL", "--cap-add", "KILL",
              "cat", "/proc/self/status")
    assert caps(out, "CapEff") == 1 << DEFAULT_CAPS["KILL"]


def test_privileged_has_every_capability_and_the_hosts_dev(cnm):
    out = cnm("run", "--rm", "--network", "none", "--privileged", "sh", "-c",
              "cat /proc/self/status; ls /dev")
    assert caps(out, "CapEff") == caps(out, "CapBnd") == held()
    host_dev = set(os.listdir("/dev"))
    assert host_dev <= set(out.split())
    cnm("create", "--name", "w1", "--privileged", "true")
    host_config = json.loads(cnm("inspect", "-f", "{{json .HostConfig}}", "w1"))
    assert host_config["Privileged"] is True and host_config["MaskedPaths"] is None


def test_unknown_capability_is_refused_with_nothing_made(cnm):
    line = cnm.fails("run", "--rm", "--cap-add", "foo", "true", code=125)
    assert line == 'Error: invalid CapAdd: unknown capability: "CAP_FOO"'
    line = cnm.fails("create", "--cap-drop", "NET_RAWW", "true")
    assert line == 'Error: invalid CapDrop: unknown capability: "CAP_NET_RAWW"'
    assert cnm("ps", "-aq") == ""


# -- --user -----------------------------------------------------------------------
def test_user_runs_without_capabilities(cnm):
    out = cnm("run", "--rm", "--network", "none", "-u", "1000:1000", "sh", "-c",
              "id -u; id -g; grep CapEff /proc/self/status")
    uid, gid, eff = out.splitlines()
    assert (uid, gid) == ("1000", "1000") and int(eff.split()[1], 16) == 0
    cnm("run", "-d", "--name", "w1", "--network", "none", "-u", "1000:1000", "sleep", "60")
    status = status_of(proc_status(pid_of(cnm, "w1")))
    assert status["Uid"].split() == ["1000"] * 4 and status["Gid"].split() == ["1000"] * 4
    assert int(status["CapEff"], 16) == int(status["CapPrm"], 16) == 0
    assert int(status["CapBnd"], 16) == expected_default()
    assert cnm("inspect", "-f", "{{.Config.User}}", "w1") == "1000:1000\n"


def test_user_names_come_from_the_containers_files(cnm, tmp_path):
    root = busybox_tree(tmp_path / "tree")
    line = cnm.fails("run", "--rm", "--network", "none", "--rootfs", root, "-u", "alice",
                     "id", code=125)
    assert line == "Error: unable to find user alice: no matching entries in passwd file"
    etc = tmp_path / "tree" / "etc"
    etc.mkdir(exist_ok=True)  # the first run made its mount points
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                "alice:x:1000:1000::/home/alice:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\nalice:x:1000:\nstaff:x:50:alice\n")
    out = cnm("run", "--rm", "--network", "none", "--rootfs", root, "-u", "alice", "sh", "-c",
              'id; echo "$HOME"')
    assert out == "uid=1000(alice) gid=1000(alice) groups=50(staff)\n/home/alice\n"
    line = cnm.fails("run", "--rm", "--network", "none", "--rootfs", root, "-u", "alice:nope",
                     "id", code=125)
    assert line == "Error: unable to find group nope: no matching entries in group file"


def test_exec_user_and_privileged(cnm):
    cnm("run", "-d", "--name", "w1", "--network", "none", "sleep", "60")
    assert cnm("exec", "-u", "1000", "w1", "sh", "-c", "id -u; grep CapEff /proc/self/status") \
        .split() == ["1000", "CapEff:", "0000000000000000"]
    assert caps(cnm("exec", "w1", "cat", "/proc/self/status"), "CapEff") == expected_default()
    assert caps(cnm("exec", "--privileged", "w1", "cat", "/proc/self/status"),
                "CapEff") == held()
    line = cnm.fails("exec", "-u", "nosuchuser", "w1", "true", code=126)
    assert line == "Error: unable to find user nosuchuser: no matching entries in passwd file"
    # the container's own --user is exec's default
    cnm("run", "-d", "--name", "w2", "--network", "none", "-u", "1000:1000", "sleep", "60")
    assert cnm("exec", "w2", "id", "-u") == "1000\n"
    # the status as a shell reports it, a signal's too
    assert cnm.run("exec", "w1", "sh", "-c", "exit 7").code == 7
    assert cnm.run("exec", "w1", "sh", "-c", "kill -TERM $$").code == 143


# -- --read-only and /dev -----------------------------------------------------------
def test_read_only_rootfs(cnm, tmp_path):
    root = busybox_tree(tmp_path / "tree")
    script = ("for f in /x /tmp/x /dev/shm/x /etc/hosts /dev/null; do "
              "if echo hi >> $f; then echo $f ok; else echo $f refused; fi; done 2>/dev/null")
    out = cnm("run", "--rm", "--network", "none", "--rootfs", root, "--read-only", "sh", "-c",
              script)
    # as Docker: /tmp is the root's (no --tmpfs), /dev, /dev/shm and /etc/hosts are not
    assert out.split("\n")[:-1] == ["/x refused", "/tmp/x refused", "/dev/shm/x ok",
                                    "/etc/hosts ok", "/dev/null ok"]
    assert not os.path.exists(os.path.join(root, "x"))
    cnm("create", "--name", "w1", "--rootfs", root, "--read-only", "true")
    assert cnm("inspect", "-f", "{{.HostConfig.ReadonlyRootfs}}", "w1") == "true\n"
    line = cnm.fails("run", "--rm", "--read-only", "true", code=125)
    assert "--read-only needs an image or --rootfs" in line
    assert cnm("ps", "-aq", "-f", "name=w1") != "" and len(cnm("ps", "-aq").split()) == 1


def test_rootfs_gets_its_own_dev(cnm, tmp_path):
    root = busybox_tree(tmp_path / "tree")
    out = cnm("run", "--rm", "--network", "none", "--rootfs", root, "sh", "-c",
              "ls /dev; stat -c '%n %F %t,%T %a' /dev/null /dev/urandom /dev/tty; "
              "readlink /dev/ptmx; readlink /dev/fd; grep devpts /proc/mounts")
    lines = out.splitlines()
    assert lines[:13] == ["fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr",
                          "stdin", "stdout", "tty", "urandom", "zero"]
    assert lines[13:16] == ["/dev/null character special file 1,3 666",
                            "/dev/urandom character special file 1,9 666",
                            "/dev/tty character special file 5,0 666"]
    assert lines[16:18] == ["pts/ptmx", "/proc/self/fd"]
    assert "ptmxmode=666" in lines[18]
    assert os.listdir(os.path.join(root, "dev")) == []  # all of it in the container's tmpfs


def test_masked_and_read_only_proc_paths(cnm):
    out = cnm("run", "--rm", "--network", "none", "sh", "-c",
              "ls -A /proc/acpi | wc -l; echo x > /proc/sys/kernel/domainname 2>&1 || echo ro;"
              " cat /proc/keys | wc -c")
    assert out.split() == ["0", "ro", "0"]
    unmasked = cnm("run", "--rm", "--network", "none", "--privileged", "sh", "-c",
                   "echo cnm > /proc/sys/kernel/domainname && cat /proc/sys/kernel/domainname")
    assert unmasked == "cnm\n"  # its own UTS namespace: the host's name is untouched


# -- no path to the store ---------------------------------------------------------
def test_host_filesystem_container_cannot_reach_the_store(cnm):
    cnm("network", "create", "cnm-net")
    # /proc/1 is its own PID 1 (its PID namespace): /proc/1/root is its own root
    script = ('for d in "$0" "$1"; do ls -A "$d" | wc -l; touch "$d/x" 2>/dev/null '
              '|| echo refused; done; ls -A "/proc/1/root$0" | wc -l; cat /proc/1/comm')
    out = cnm("run", "--rm", "--network", "cnm-net", "sh", "-c", script, cnm.root, cnm.run_root)
    assert out.split() == ["0", "refused", "0", "refused", "0", "sh"]
    assert not os.path.exists(os.path.join(cnm.root, "x"))
    # exec: the same mount namespace, the same view
    cnm("run", "-d", "--name", "w1", "--network", "cnm-net", "sleep", "60")
    assert cnm("exec", "w1", "ls", "-A", cnm.root) == ""


def test_rootfs_container_cannot_reach_the_store(cnm, tmp_path):
    root = busybox_tree(tmp_path / "tree")
    cnm("run", "-d", "--name", "w1", "--network", "none", "--rootfs", root, "sleep", "60")
    # a chroot inside, then `..` past its top: pivot_root left nothing above the tree
    escape = ("mkdir -p /e/bin && cp /bin/busybox /e/bin/ && cd / && "
              "chroot /e /bin/busybox ls -a /../../../ && cd ../../.. && ls; "
              'ls "$0" 2>/dev/null || echo no-store; '
              'ls /proc/1/root"$0" 2>/dev/null || echo no-root')
    out = cnm("exec", "w1", "sh", "-c", escape, cnm.root).split()
    assert out == [".", "..", "bin", "bin", "dev", "e", "etc", "proc", "sys", "no-store",
                   "no-root"]
    # from the host: the container's mount namespace has the tree as its root
    pid = str(pid_of(cnm, "w1"))
    seen = subprocess.run(["nsenter", "-t", pid, "-m", "/bin/busybox", "ls", "/"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert seen == ["bin", "dev", "e", "etc", "proc", "sys"]
    assert subprocess.run(["nsenter", "-t", pid, "-m", "/bin/busybox", "ls", cnm.root],
                          capture_output=True).returncode != 0


# -- top ------------------------------------------------------------------------------
def test_top_lists_the_containers_processes(cnm):
    cnm("run", "-d", "--name", "w1", "--network", "none", "sh", "-c", "sleep 100 & sleep 200")
    cnm("run", "-d", "--name", "w2", "--network", "none", "sleep", "300")
    cnm("exec", "-d", "w1", "sleep", "400")
    pid = pid_of(cnm, "w1")

    def ns(p, kind):
        return os.stat(f"/proc/{p}/ns/{kind}").st_ino

    def inside() -> set[str]:
        found = set()
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                if all(ns(entry, k) == ns(pid, k) for k in ("net", "mnt")):
                    found.add(entry)
            except FileNotFoundError:
                continue
        return found

    wait_until(lambda: len(inside()) == 4, what="w1's four processes")
    lines = cnm("top", "w1").splitlines()
    assert re.split(r"\s+", lines[0]) == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME",
                                          "CMD"]
    assert lines[0].startswith("UID" + " " * 17 + "PID")  # Docker's columns: 20 wide
    rows = [re.split(r"\s+", line, maxsplit=7) for line in lines[1:]]
    assert {row[1] for row in rows} == inside()
    assert sorted(row[7] for row in rows) == ["sh -c sleep 100 & sleep 200", "sleep 100",
                                              "sleep 200", "sleep 400"]
    assert cnm("top", "w1", "-o", "pid,comm").splitlines()[0].split() == ["PID", "COMMAND"]
    cnm("stop", "-t", "0", "w2")
    w2 = cnm("inspect", "-f", "{{.Id}}", "w2").strip()
    assert cnm.fails("top", "w2") == f"Error: Container {w2} is not running"


# -- the PID namespace (the lead's shim) ------------------------------------------------
def test_container_sees_only_its_own_processes(cnm):
    cnm("run", "-d", "--name", "w1", "--network", "none", "sleep", "60")
    out = cnm("exec", "w1", "ps", "-e", "-o", "pid=,args=")
    pids = dict(line.strip().split(None, 1) for line in out.splitlines())
    assert pids["1"] == "sleep 60"
    assert all(int(p) < 100 for p in pids)
    assert cnm("exec", "w1", "cat", "/proc/1/cmdline") == "sleep\x0060\x00"


def test_host_processes_are_out_of_reach(cnm):
    cnm("run", "-d", "--name", "w1", "--network", "none", "sleep", "60")
    host = subprocess.Popen(["sleep", "60"])
    try:
        result = cnm.run("exec", "w1", "kill", "-0", str(host.pid))
        assert result.code != 0 and host.poll() is None
    finally:
        host.kill()
        host.wait()
    # /proc/1/root is the container's own root, not the host's
    assert cnm("exec", "w1", "ls", "-A", f"/proc/1/root{cnm.root}") == ""
    assert cnm("exec", "w1", "sh", "-c", "echo $$") != ""


def test_control_characters_in_user_are_refused(cnm):
    line = cnm.fails("run", "--rm", "-u", "alice\nroot", "true", code=125)
    assert line == "Error: invalid --user value 'alice\\nroot': control characters are not allowed"
    assert cnm("ps", "-aq") == ""
    cnm("run", "-d", "--name", "w1", "--network", "none", "sleep", "60")
    line = cnm.fails("exec", "-u", "x\x1b[2J", "w1", "true", code=125)
    assert "control characters are not allowed" in line
