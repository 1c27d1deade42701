"""Attaching to a container: `run` in the foreground, `attach`, `start -a [-i]`.

Each is a client of the container's shim (runtime/shim.c, runtime/attach.py). A
client connects once the start is committed and before the process passes its
gate, so it misses none of its output; it leaves with the detach keys (the
container goes on) or once the exit is recorded, with the command's status.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from cnmctl.engine.liveness import EXIT_LOST
from cnmctl.errors import CnmError, Conflict, InvalidArgument
from cnmctl.model import Container


class AttachOps:
    """Mixed into Engine; relies on LifecycleOps (run_container, start_container,
    _await_exit) and LivenessOps (still_running)."""

    def run_attached(self, argv: list[str], options: dict, *, detach_keys: str,
                     sig_proxy: bool,
                     created: Callable[[Container], None] | None = None) -> int:
        """`run` in the foreground: create and start in one transaction (a failure
        leaves nothing), attached to its shim before it runs; its status once its
        exit is recorded (and --rm done), or 0 if the detach keys were typed.
        `created` is called with the container before any of its output is copied
        (the CLI's warnings go there, as Docker prints them before attaching)."""
        ctr, attachment = self.run_container(argv, attach=self._attach_to, **options)
        if created is not None:
            created(ctr)
        return self._relay(ctr, attachment, stdin=ctr.interactive, close_stdin=True,
                           detach_keys=detach_keys, sig_proxy=sig_proxy)

    def attach_container(self, ref: str, *, stdin: bool, detach_keys: str,
                         sig_proxy: bool) -> int:
        """`attach`: join a running container's terminal or output (and stdin, if
        it keeps one open and `stdin`); its status when it exits, 0 on detach."""
        ctr = self.find_container(ref)
        if ctr.status != "running" or not self.still_running(ctr.id):
            raise Conflict("You cannot attach to a stopped container, start it first")
        require_terminal(ctr.tty and stdin)
        try:
            attachment = self._attach_to(ctr)
        except CnmError:
            if not self.still_running(ctr.id):
                raise Conflict("You cannot attach to a stopped container, start it first") \
                    from None
            raise
        return self._relay(ctr, attachment, stdin=stdin and ctr.interactive, close_stdin=False,
                           detach_keys=detach_keys, sig_proxy=sig_proxy)

    def start_attached(self, ref: str, *, stdin: bool, detach_keys: str) -> int:
        """`start -a [-i]`: start, attached before the process runs; as attach_container."""
        require_terminal(self.find_container(ref).tty and stdin)
        attachment = self.start_container(ref, attach=self._attach_to)
        ctr = self.find_container(ref)
        return self._relay(ctr, attachment, stdin=stdin and ctr.interactive,
                           close_stdin=stdin, detach_keys=detach_keys, sig_proxy=True)

    def _attach_to(self, ctr: Container):
        """A connection to the container's shim (runtime/attach.py)."""
        from cnmctl.runtime.attach import Attachment

        try:
            return Attachment(self.container_dir(ctr.id))
        except OSError as exc:
            raise CnmError(f"cannot attach to container {ctr.id}: {exc.strerror}") from None

    def _relay(self, ctr: Container, attachment, *, stdin: bool, close_stdin: bool,
               detach_keys: str, sig_proxy: bool) -> int:
        """Relay between our terminal and the container until it exits or we detach;
        its status (as recorded) or 0."""
        from cnmctl.runtime import process
        from cnmctl.runtime.attach import DETACHED

        def proxy(sig: int) -> None:
            if process.alive(ctr.pid, ctr.pid_start_time):
                os.kill(ctr.pid, sig)

        try:
            code = attachment.relay(stdin=stdin, tty=ctr.tty, detach_keys=detach_keys,
                                    close_stdin=close_stdin,
                                    proxy=proxy if sig_proxy and not ctr.tty else None)
        finally:
            attachment.close()
        if code == DETACHED:
            import sys

            sys.stderr.write("read escape sequence\n")  # what Docker's client prints
            return 0
        if code is None and process.alive(ctr.pid, ctr.pid_start_time):
            raise CnmError(f"lost the connection to container {ctr.id}'s monitor; "
                           "it is still running")
        # The shim execs the exit hook after its last word: let it record the exit
        # (and remove a --rm container) before we return, as `docker run` does.
        self._await_exit(ctr, EXIT_LOST if code is None else code)
        if code is None:
            doc = self.store.get("containers", ctr.id)
            code = doc["exit_code"] if doc else EXIT_LOST
        return code


def require_terminal(needed: bool) -> None:
    """Docker's refusal to attach a container's terminal to a stdin that is not one
    (`echo x | run -it`): raw mode and the window size need a terminal."""
    import sys

    if needed and not sys.stdin.isatty():
        raise InvalidArgument("the input device is not a TTY")
