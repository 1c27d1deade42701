"""`top`: a container's processes as the host's `ps` shows them, picked out as
Docker's daemon does (its parsePSOutput): the header, then the rows whose PID
is one of the container's."""

from __future__ import annotations

import os
import re

from cnmctl.errors import CnmError, InvalidArgument


def container_pids(pid: int) -> set[int]:
    """The processes (as this PID namespace numbers them) of the container whose
    first process is `pid`: those in its PID namespace when it has its own, else
    those in both its network and mount namespaces (`exec` joins both; cnmctl's
    helpers stay in the host's mount namespace)."""
    from cnmctl.runtime.process import namespace_of

    own = namespace_of(f"/proc/{pid}/ns/pid") != namespace_of("/proc/self/ns/pid")
    kinds = ("pid",) if own else ("net", "mnt")
    wanted = [namespace_of(f"/proc/{pid}/ns/{kind}") for kind in kinds]
    return {int(entry) for entry in os.listdir("/proc") if entry.isdigit()
            and [namespace_of(f"/proc/{entry}/ns/{kind}") for kind in kinds] == wanted}


def check_ps_args(args: list[str]) -> None:
    """Docker's validatePSArgs: a `KEY=PID...` column header other than pid= would
    hide the PID column from the parser."""
    for key, value in re.findall(r"\s+(\S*)=\s*(PID\S*)", " " + " ".join(args)):
        if key != "pid":
            raise InvalidArgument(f'specifying "{key}={value}" is not allowed')


def parse_ps(output: str, pids: set[int]) -> tuple[list[str], list[list[str]]]:
    """ps's titles and the rows of `pids`: each row's whitespace-separated fields,
    those past the last title joined by one space (the command and its
    arguments), as moby's appendProcess2ProcList merges them."""
    lines = output.split("\n")
    titles = lines[0].split()
    if "PID" not in titles:
        raise CnmError("Couldn't find PID field in ps output")
    column = titles.index("PID")
    rows = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) <= column:
            continue
        if fields[column] == "-":  # a thread line of `ps -L`
            continue
        if not fields[column].isdigit():
            raise CnmError(f"Unexpected pid '{fields[column]}'")
        if int(fields[column]) in pids:
            rows.append([*fields[:len(titles) - 1], " ".join(fields[len(titles) - 1:])])
    return titles, rows


def top(pid: int, args: list[str]) -> tuple[list[str], list[list[str]]]:
    """Run `ps ARGS` (no shell) and keep the container's rows."""
    import subprocess

    check_ps_args(args)
    try:
        done = subprocess.run(["ps", *args], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise CnmError(f"Error running ps: {exc.strerror}") from None
    if done.returncode:
        raise CnmError(f"Error running ps: exit status {done.returncode}")
    return parse_ps(done.stdout, container_pids(pid))
