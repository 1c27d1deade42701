"""`exec`: run a command inside a running container's namespaces and root, as
its user and with its capabilities.

setns into a PID namespace places only the children made afterwards, so the
command is a forked child: the parent waits for it, passes on the signals sent
to it and exits with its status (`exec -d`: returns at once).
"""

from __future__ import annotations

import os
import signal
import sys

from cnmctl import linux
from cnmctl.errors import Conflict
from cnmctl.runtime import confine
from cnmctl.runtime.enter import container_env, exec_failure, find_executable
from cnmctl.sandbox.files import hostname_of

# Joined in this order in the child; the PID namespace first, by the parent.
NAMESPACES = (("net", linux.CLONE_NEWNET), ("uts", linux.CLONE_NEWUTS), ("mnt", linux.CLONE_NEWNS))
FORWARDED = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}
SI_KERNEL = 0x80  # siginfo's si_code of a signal the terminal sent to its process group


def exec_in_container(ctr, argv: list[str], *, env: list[str], workdir: str, detach: bool,
                      interactive: bool, link_env: list[str] = (), user: str = "",
                      privileged: bool = False) -> int:
    """Run `argv` in the container and return its exit status as a shell reports
    it (128+N for signal N); with `detach`, return 0 once it is started. `user`
    and `privileged` (exec's -u, --privileged) override the container's.
    `link_env`: the legacy link variables, before run's -e and exec's -e, as
    Docker's exec."""
    from cnmctl.runtime import process
    from cnmctl.runtime.security import mask
    from cnmctl.validate import printable

    if ctr.status != "running" or not process.alive(ctr.pid, ctr.pid_start_time):
        raise Conflict(f"Container {ctr.id} is not running")
    try:
        pid_ns = os.open(f"/proc/{ctr.pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        fds = [(os.open(f"/proc/{ctr.pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC), kind)
               for name, kind in NAMESPACES]
    except FileNotFoundError:  # it exited since the check above
        raise Conflict(f"Container {ctr.id} is not running") from None
    caps = mask(ctr.cap_add, ctr.cap_drop, ctr.privileged or privileged, linux.permitted_caps())
    items = [*link_env, *ctr.env, *env]
    linux.setns(pid_ns, linux.CLONE_NEWPID)
    sys.stdout.flush()
    sys.stderr.flush()
    watched = FORWARDED | {signal.SIGCHLD}
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    child = os.fork()
    if child == 0:
        code = 126
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            code, message = _child(ctr, argv, fds, items, workdir, detach, interactive,
                                   user or ctr.user, caps)
        except BaseException as exc:  # never back into the CLI code as a second cnmctl
            message = f"container set-up failed: {exc}"
        try:
            sys.stderr.write(f"Error: {printable(message)}\n")
            sys.stderr.flush()
        finally:
            os._exit(code)
    if detach:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        return 0
    return _wait(child, watched)


def _child(ctr, argv: list[str], fds: list[tuple[int, int]], items: list[str], workdir: str,
           detach: bool, interactive: bool, user: str, caps: int) -> tuple[int, str]:
    """In the forked child: join the container and exec the command; if that
    fails, Docker's exit code and message."""
    if detach:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
    elif not interactive:
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    for fd, kind in fds:
        linux.setns(fd, kind)  # the mount namespace last: its root is the container's
    cwd = workdir or ctr.workdir or "/"
    try:
        os.chdir(cwd)
    except OSError as exc:  # runc's words; Docker exits 126 for it
        return 126, (f'chdir to cwd ("{cwd}") set in config.json failed: '
                     f"{(exc.strerror or str(exc)).lower()}")
    try:
        uid, gid, groups, home = confine.lookup_user(user)
    except confine.UserError as exc:
        return 126, str(exc)
    environ = container_env(hostname_of(ctr), items, home)
    try:
        # Looked up as the container's own process is (inside its root, on its PATH).
        path = find_executable(argv[0], environ)
        confine.become(uid, gid, groups, caps)
        os.execve(path, argv, environ)
    except OSError as exc:
        return exec_failure(argv[0], exc)


def _wait(child: int, watched: set[int]) -> int:
    """Wait for the command (its signals blocked here, taken with sigwaitinfo);
    pass on each signal sent to this process, except those the terminal sent to
    the whole process group, which the command got too. Its status as a shell
    reports it."""
    while True:
        info = signal.sigwaitinfo(watched)
        if info.si_signo == signal.SIGCHLD:
            done, status = os.waitpid(child, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                return 128 - code if code < 0 else code
        elif info.si_code != SI_KERNEL:
            os.kill(child, info.si_signo)
