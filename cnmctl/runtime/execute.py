"""`exec`: run a command inside a running container's namespaces and root, as
its user and with its capabilities.

setns into a PID namespace places only the children made afterwards, so the
command is a forked child: the parent waits for it, passes on the signals sent
to it and exits with its status (`exec -d`: returns at once).
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import sys
import termios

from cnmctl import linux
from cnmctl.errors import Conflict
from cnmctl.runtime import confine
from cnmctl.runtime.enter import container_env, exec_failure, find_executable
from cnmctl.sandbox.files import hostname_of

# Joined in this order in the child; the PID namespace first, by the parent.
NAMESPACES = (("net", linux.CLONE_NEWNET), ("uts", linux.CLONE_NEWUTS), ("mnt", linux.CLONE_NEWNS))
FORWARDED = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}
MAX_FD = 1 << 20  # above any descriptor (the kernel's nr_open ceiling)
SI_KERNEL = 0x80  # siginfo's si_code of a signal the terminal sent to its process group


def exec_in_container(ctr, argv: list[str], *, env: list[str], workdir: str, detach: bool,
                      interactive: bool, link_env: list[str] = (), user: str = "",
                      privileged: bool = False, tty: bool = False) -> int:
    """Run `argv` in the container and return its exit status as a shell reports
    it (128+N for signal N); with `detach`, return 0 once it is started. `user`
    and `privileged` (exec's -u, --privileged) override the container's. With
    `tty`, the command gets a terminal of the container's own devpts, relayed to
    ours (see _relay_terminal).
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
    # SEQPACKET: its reader sees the end when the child dies before sending a terminal
    console = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) if tty else None
    child = os.fork()
    if child == 0:
        code = 126
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            code, message = _child(ctr, argv, fds, items, workdir, detach, interactive,
                                   user or ctr.user, caps, console and console[1])
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
    if console is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        console[1].close()
        return _relay_terminal(console[0], child, interactive)
    return _wait(child, watched)


def _child(ctr, argv: list[str], fds: list[tuple[int, int]], items: list[str], workdir: str,
           detach: bool, interactive: bool, user: str, caps: int,
           console=None) -> tuple[int, str]:
    """In the forked child: join the container and exec the command; if that
    fails, Docker's exit code and message. With `console` (a socket), the command's
    terminal is made inside the container and its master end sent back on it."""
    if detach:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
    elif not interactive:
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    for fd, kind in fds:
        linux.setns(fd, kind)  # the mount namespace last: its root is the container's
    if console is not None:
        _take_terminal(console, interactive)
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
        # Nothing of the caller's but stdio: an inherited descriptor of a host folder
        # would be a way out of the container's root.
        os.closerange(3, MAX_FD)
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
                return _shell_status(status)
        elif info.si_code != SI_KERNEL:
            os.kill(child, info.si_signo)


def _take_terminal(console, interactive: bool) -> None:
    """In the child, inside the container: open a terminal pair from the container's
    own /dev/ptmx (so the command's `tty` names a device it can see, as runc's
    console socket does), send the master end to the parent and make the slave
    this process's controlling terminal and stdio (stdin only with -i)."""
    master, slave = os.openpty()
    socket.send_fds(console, [b"m"], [master])
    os.close(master)
    console.close()
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in ((0, 1, 2) if interactive else (1, 2)):
        os.dup2(slave, fd)
    os.close(slave)


def _relay_terminal(console, child: int, interactive: bool) -> int:
    """Relay between our terminal and the command's until it exits (its status as a
    shell reports it): our stdin in raw mode, our window size followed."""
    import selectors

    from cnmctl.runtime.attach import raw_mode, window_size

    try:
        _msg, fds, _flags, _addr = socket.recv_fds(console, 1, 1)
    finally:
        console.close()
    if not fds:  # it failed before making the terminal; its status says why
        _done, status = os.waitpid(child, 0)
        return _shell_status(status)
    master = fds[0]

    def resize(*_args) -> None:
        size = window_size()
        if size is not None:
            import fcntl
            import struct
            import termios

            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))

    resize()
    previous = signal.signal(signal.SIGWINCH, resize)
    pidfd = os.pidfd_open(child)
    selector = selectors.PollSelector()  # a stdin that is a file: epoll refuses it
    selector.register(master, selectors.EVENT_READ)
    selector.register(pidfd, selectors.EVENT_READ)
    if interactive:
        selector.register(0, selectors.EVENT_READ)
    try:
        with raw_mode(0 if interactive else -1):
            while True:
                for key, _ in selector.select():
                    if key.fd == 0:
                        data = os.read(0, 32768)
                        if data:
                            _write_all(master, data)
                        else:
                            selector.unregister(0)
                    elif key.fd == master and not _copy_out(master):
                        selector.unregister(master)
                    elif key.fd == pidfd:
                        os.set_blocking(master, False)
                        while _copy_out(master):
                            pass
                        _done, status = os.waitpid(child, 0)
                        return _shell_status(status)
    finally:
        signal.signal(signal.SIGWINCH, previous)
        for fd in (master, pidfd):
            os.close(fd)


def _copy_out(master: int) -> bool:
    """Copy what the terminal shows to our stdout; False once it is closed (EIO: its
    last holder is gone) or, non-blocking, has nothing more."""
    try:
        data = os.read(master, 65536)
    except (BlockingIOError, OSError):
        return False
    if data:
        _write_all(1, data)
    return bool(data)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _shell_status(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code
