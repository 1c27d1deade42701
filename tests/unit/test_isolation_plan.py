"""The pure parts of container isolation: capability names and sets, --user
lookup, the mount plan, `top`'s ps parsing and the environment's HOME."""

from __future__ import annotations

import pytest

from cnmctl import linux
from cnmctl.errors import CnmError, InvalidArgument
from cnmctl.runtime.confine import UserError, mount_plan, resolve_user
from cnmctl.runtime.enter import container_env
from cnmctl.runtime.security import check, mask, normalize
from cnmctl.runtime.top import check_ps_args, parse_ps

# Numbers from linux/capability.h, written out here rather than taken from the code.
CAP = {"CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4,
       "KILL": 5, "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "NET_BIND_SERVICE": 10,
       "NET_ADMIN": 12, "NET_RAW": 13, "SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_ADMIN": 21,
       "MKNOD": 27, "AUDIT_WRITE": 29, "SETFCAP": 31, "CHECKPOINT_RESTORE": 40}
DOCKER_DEFAULT = ("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID",
                  "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",
                  "AUDIT_WRITE")
EVERY = (1 << 41) - 1  # a kernel with capabilities 0..40, all held


def bits(*names: str) -> int:
    return sum(1 << CAP[name] for name in names)


def test_default_set_is_dockers():
    assert mask([], [], False, EVERY) == bits(*DOCKER_DEFAULT) == 0xA80425FB


def test_add_and_drop_take_any_spelling():
    assert mask(["net_admin"], ["CAP_NET_RAW"], False, EVERY) == \
        bits(*DOCKER_DEFAULT, "NET_ADMIN") & ~bits("NET_RAW")
    assert normalize(["Sys_Admin", "CAP_kill", "all"], EVERY) == ["CAP_SYS_ADMIN", "CAP_KILL",
                                                                   "ALL"]


def test_all_in_add_or_drop_and_privileged():
    assert mask(["ALL"], ["NET_RAW"], False, EVERY) == EVERY & ~bits("NET_RAW")
    assert mask(["CHOWN"], ["ALL"], False, EVERY) == bits("CHOWN")
    assert mask([], ["ALL"], False, EVERY) == 0
    assert mask([], [], True, EVERY) == EVERY
    # never more than cnmctl holds: privileged gets what there is, a default one
    # missing here is left out rather than failing the start
    held = EVERY & ~bits("KILL")
    assert mask([], [], True, held) == held
    assert mask([], [], False, held) == bits(*DOCKER_DEFAULT) & ~bits("KILL")


def test_unknown_and_unavailable_capabilities_are_dockers_errors():
    with pytest.raises(ValueError, match=r'^invalid CapAdd: unknown capability: "CAP_FOO"$'):
        check(["foo"], [], EVERY)
    with pytest.raises(ValueError, match=r'^invalid CapDrop: unknown capability: "CAP_"$'):
        check([], [""], EVERY)
    with pytest.raises(ValueError, match="not available in the current environment: "
                                         '"CAP_CHECKPOINT_RESTORE"'):
        check(["CHECKPOINT_RESTORE"], [], EVERY & ~bits("CHECKPOINT_RESTORE"))


PASSWD = """root:x:0:0:root:/root:/bin/sh
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
alice:x:1000:1000:Alice:/home/alice:/bin/sh
"""
GROUP = """root:x:0:root
wheel:x:10:root,alice
alice:x:1000:
staff:x:50:bob,alice
"""


@pytest.mark.parametrize("spec,expected", [
    ("", (0, 0, [0, 10], "/root")),  # root, and the groups that list it (runc's lookup)
    ("alice", (1000, 1000, [10, 50], "/home/alice")),
    ("1000", (1000, 1000, [10, 50], "/home/alice")),
    ("alice:staff", (1000, 50, [], "/home/alice")),  # an explicit group: no supplementary
    ("alice:7", (1000, 7, [], "/home/alice")),
    ("4242", (4242, 0, [], "/")),  # a uid passwd lacks is taken as is
    ("4242:4343", (4242, 4343, [], "/")),
    ("daemon:root", (1, 0, [], "/usr/sbin")),
])
def test_user_lookup_as_runc(spec, expected):
    assert resolve_user(spec, PASSWD, GROUP) == expected


def test_user_lookup_errors_and_missing_files():
    with pytest.raises(UserError, match="^unable to find user bob: no matching entries in "
                                        "passwd file$"):
        resolve_user("bob", PASSWD, GROUP)
    with pytest.raises(UserError, match="^unable to find group nope: no matching entries in "
                                        "group file$"):
        resolve_user("alice:nope", PASSWD, GROUP)
    with pytest.raises(UserError, match="must be in range"):
        resolve_user("4294967296", PASSWD, GROUP)
    assert resolve_user("", None, None) == (0, 0, [], "/")  # no /etc/passwd in the tree
    with pytest.raises(UserError):
        resolve_user("root", None, None)


def _ops(plan, op):
    return [entry for entry in plan if entry[0] == op]


def _mount(plan, target):
    [entry] = [e for e in plan if e[0] == "mount" and e[1] == target]
    return entry


ROOTFS_SPEC = {"rootfs": "/srv/tree", "netns": "/run/x/netns/abc",
               "binds": [["/run/x/c/hosts", "/etc/hosts"]], "hide": ["/var/lib/cnmctl"]}


def test_rootfs_plan_has_its_own_dev_proc_sys_and_masks():
    plan = mount_plan(ROOTFS_SPEC)
    assert _mount(plan, "/proc")[3] == "proc"
    dev = _mount(plan, "/dev")
    assert dev[3] == "tmpfs" and dev[2] != "/dev"
    assert ("devices", "/dev") in plan
    pts = _mount(plan, "/dev/pts")
    assert pts[3] == "devpts" and "newinstance" in pts[5] and "ptmxmode=0666" in pts[5]
    assert _mount(plan, "/dev/shm")[3] == "tmpfs"
    sysfs = _mount(plan, "/sys")
    assert sysfs[4] & linux.MS_RDONLY
    hosts = _mount(plan, "/etc/hosts")
    assert hosts[2] == "/run/x/c/hosts" and hosts[4] == linux.MS_BIND and hosts[6] is False
    masked = {e[1] for e in _ops(plan, "mask")}
    assert masked == {"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
                      "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                      "/proc/sched_debug", "/proc/scsi", "/sys/firmware"}  # no hiding: pivot
    assert {e[1] for e in _ops(plan, "readonly")} == {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
    # /dev's nodes go into its tmpfs before devpts and shm are mounted in it
    assert plan.index(dev) < plan.index(("devices", "/dev")) < plan.index(pts)


def test_privileged_plan_keeps_the_hosts_dev_and_masks_nothing():
    plan = mount_plan({**ROOTFS_SPEC, "privileged": True})
    dev = _mount(plan, "/dev")
    assert dev[2] == "/dev" and dev[4] == linux.MS_BIND | linux.MS_REC
    assert not _ops(plan, "devices") and not _ops(plan, "mask") and not _ops(plan, "readonly")
    assert not _mount(plan, "/sys")[4] & linux.MS_RDONLY


def test_host_filesystem_plan_hides_cnmctl_after_binding_the_files():
    spec = {**ROOTFS_SPEC, "rootfs": "", "hide": ["/var/lib/cnmctl", "/run/x"]}
    plan = mount_plan(spec)
    assert not [e for e in plan if e[:2] == ("mount", "/proc")]  # the host's, no PID ns
    assert _mount(plan, "/dev")[3] == "tmpfs"  # the host's disks are not the container's
    hidden = [plan.index(("mask", path)) for path in spec["hide"]]
    assert min(hidden) > plan.index(_mount(plan, "/etc/hosts"))
    with_pid_ns = mount_plan({**spec, "pid_ns": True})
    assert _mount(with_pid_ns, "/proc")[3] == "proc"
    # without a network namespace of its own, the host's /sys, read-only
    assert ("readonly", "/sys") in mount_plan({**spec, "netns": ""})
    assert ("mask", "/run/x") in mount_plan({**spec, "privileged": True})


def test_home_comes_last_unless_given():
    env = container_env("h1", ["A=1"], "/home/alice")
    assert list(env.items()) == [("PATH", env["PATH"]), ("HOSTNAME", "h1"), ("A", "1"),
                                 ("HOME", "/home/alice")]
    assert container_env("h1", ["HOME=/x"], "/root")["HOME"] == "/x"


PS_EF = """UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:00 /sbin/init
root          42       1  0 10:01 ?        00:00:00 sleep  3600
nobody        43      42  0 10:01 ?        00:00:00 sh -c echo hi
"""


def test_ps_rows_of_the_container_only():
    titles, rows = parse_ps(PS_EF, {42, 43})
    assert titles == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert rows == [["root", "42", "1", "0", "10:01", "?", "00:00:00", "sleep 3600"],
                    ["nobody", "43", "42", "0", "10:01", "?", "00:00:00", "sh -c echo hi"]]
    # right-aligned PIDs (ps -o pid,comm) lead with spaces
    assert parse_ps("    PID COMMAND\n      7 sleep\n     70 sh\n", {7})[1] == [["7", "sleep"]]
    with pytest.raises(CnmError, match="^Couldn't find PID field in ps output$"):
        parse_ps("USER COMMAND\nroot sh\n", {1})


def test_ps_options_that_hide_the_pid_are_refused():
    check_ps_args(["-o", "pid=PID,comm"])
    check_ps_args(["aux"])
    with pytest.raises(InvalidArgument, match='^specifying "user=PID" is not allowed$'):
        check_ps_args(["-o", "user=PID"])
