"""`exec`: run a command inside a running container's namespaces and root."""

from __future__ import annotations

import os
import sys

from cnmctl import linux
from cnmctl.errors import Conflict
from cnmctl.runtime.enter import container_env, exec_failure, find_executable
from cnmctl.sandbox.files import hostname_of

NAMESPACES = (("net", linux.CLONE_NEWNET), ("uts", linux.CLONE_NEWUTS), ("mnt", linux.CLONE_NEWNS))


def exec_in_container(ctr, argv: list[str], *, env: list[str], workdir: str,
                      detach: bool, interactive: bool, link_env: list[str] = ()) -> int:
    """Enter the container and exec `argv` (this process becomes the command);
    with `detach`, do so in a background child and return 0 at once. `link_env`:
    the legacy link variables, before run's -e and exec's -e, as Docker's exec."""
    from cnmctl.runtime import process

    if ctr.status != "running" or not process.alive(ctr.pid, ctr.pid_start_time):
        raise Conflict(f"Container {ctr.id} is not running")
    try:
        fds = [(os.open(f"/proc/{ctr.pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC), kind)
               for name, kind in NAMESPACES]
        root = os.open(f"/proc/{ctr.pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:  # it exited since the check above
        raise Conflict(f"Container {ctr.id} is not running") from None
    environ = container_env(hostname_of(ctr), [*link_env, *ctr.env, *env])
    if detach:
        if os.fork():
            return 0
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
    elif not interactive:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
    for fd, kind in fds:
        linux.setns(fd, kind)
    os.fchdir(root)
    os.chroot(".")
    cwd = workdir or ctr.workdir or "/"
    try:
        os.chdir(cwd)
    except OSError as exc:  # runc's words; Docker exits 126 for it
        code, message = 126, (f'chdir to cwd ("{cwd}") set in config.json failed: '
                              f"{(exc.strerror or str(exc)).lower()}")
    else:
        sys.stdout.flush()
        try:
            # Looked up as the container's own process is (inside its root, on its PATH).
            os.execve(find_executable(argv[0], environ), argv, environ)
        except OSError as exc:
            code, message = exec_failure(argv[0], exc)
    if detach:
        os._exit(code)
    from cnmctl.validate import printable

    print(f"Error: {printable(message)}", file=sys.stderr)
    return code
