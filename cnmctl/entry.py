"""The `cnmctl` console script: the click-free path for the commands scripts run in
loops first, else click."""

from __future__ import annotations

import os
import sys

# Commands that change containers, networks or the kernel: without CAP_NET_ADMIN and
# CAP_SYS_ADMIN they are refused before anything is touched (help aside).
MUTATING = {"run": 125, "create": 1, "start": 1, "stop": 1, "restart": 1, "kill": 1,
            "rm": 1, "remove": 1, "exec": 1, "internal": 1, "pause": 1, "unpause": 1,
            "rename": 1, "system boot": 1, "import": 1, "rmi": 1}
MUTATING_NETWORK = ("create", "rm", "remove", "prune", "connect", "disconnect")
MUTATING_IMAGE = ("import", "rm", "remove")


def privileged_exit(argv: list[str]) -> int:
    """The exit code for argv if it needs privileges this process lacks, else 0."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):  # global options
        i += 2 if argv[i] in ("--root", "--run-root") else 1
    words = argv[i:]
    if not words:
        return 0
    verb, rest = words[0], words[1:]
    if words[:2] == ["system", "boot"]:
        verb, rest = "system boot", rest[1:]
    elif verb in ("network", "image"):
        if not rest or rest[0] not in (MUTATING_NETWORK if verb == "network" else MUTATING_IMAGE):
            return 0
        rest = rest[1:]
    elif verb == "container" and rest and rest[0] in MUTATING:  # `container run`...
        verb, rest = rest[0], rest[1:]
    elif verb not in MUTATING:
        return 0
    # Help is not a mutation: `--help` (or `-h`, except for run and create, where
    # it is --hostname) among the options, before the command of run/create/exec.
    helps = ("--help",) if verb in ("run", "create") else ("--help", "-h")
    for arg in rest:
        if arg in helps:
            return 0
        if verb in ("run", "create", "exec") and not arg.startswith("-"):
            break
    from cnmctl.validate import missing_privileges

    return MUTATING.get(verb, 1) if missing_privileges() else 0


def main() -> None:
    """Run cnmctl with the process's arguments."""
    code = privileged_exit(sys.argv[1:])
    if code:
        from cnmctl.validate import NEEDS_ROOT

        sys.stderr.write(f"Error: {NEEDS_ROOT}\n")
        sys.exit(code)
    from cnmctl.cli.direct import fast_path

    try:
        code = fast_path(sys.argv[1:])
        if code is not None:
            sys.stdout.flush()
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:  # the reader went away (`| head`): quiet, exit 1 as click does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    if code is not None:
        sys.exit(code)
    from cnmctl.cli.app import main as click_main

    click_main()
