"""Crash points for the crash-injection tests: nothing happens unless the test-only
variable CNMCTL_TEST_KILL_AT=N is set, in which case the process SIGKILLs itself
at the Nth crash point it passes (each store write, each recorded kernel object,
each step, the gate). With CNMCTL_TEST_KILL_AT=count it prints the number of
points it passed to stderr at exit instead, so a test knows how far to go."""

from __future__ import annotations

import os

_SPEC = os.environ.get("CNMCTL_TEST_KILL_AT", "")
_passed = 0


def point() -> None:
    """One crash point (a no-op outside crash tests)."""
    if not _SPEC:
        return
    global _passed
    _passed += 1
    if _SPEC == "count":
        if _passed == 1:
            import atexit

            atexit.register(lambda: os.write(2, f"crash points: {_passed}\n".encode()))
        return
    if _passed == int(_SPEC):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
