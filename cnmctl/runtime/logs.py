"""`logs`: a container's output, one file per stream.

Every line is stored as `SECONDS.MICROSECONDS LINE` (written by the
container's supervisor, or by `run` in the foreground): `logs` prints the
lines, `logs -t` prefixes each with its time in Docker's RFC 3339 form.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from cnmctl.errors import InvalidArgument

STREAMS = (("stdout.log", "stdout"), ("stderr.log", "stderr"))


def stamp_line(line: bytes, when: float | None = None) -> bytes:
    """A log record: the time, a space, the line (ending in a newline)."""
    stamp = f"{time.time() if when is None else when:.6f}".encode()
    return stamp + b" " + (line if line.endswith(b"\n") else line + b"\n")


def rfc3339(seconds: str) -> str:
    """`1700000000.123456` -> `2023-11-14T22:13:20.123456Z` (Docker's -t form)."""
    whole, _, frac = seconds.partition(".")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(whole)))
    frac = frac.rstrip("0")
    return f"{stamp}.{frac}Z" if frac else f"{stamp}Z"


def render(records: list[bytes], timestamps: bool) -> bytes:
    """Log records as `logs` prints them."""
    out = []
    for record in records:
        stamp, _, line = record.partition(b" ")
        if timestamps:
            out.append(rfc3339(stamp.decode()).encode() + b" " + line)
        else:
            out.append(line)
    return b"".join(out)


def _tail_count(tail: str) -> int | None:
    if tail == "all":
        return None
    try:
        count = int(tail)
    except ValueError:
        raise InvalidArgument(f"invalid value for --tail: {tail!r}") from None
    return None if count < 0 else count


def _complete_records(data: bytes) -> tuple[list[bytes], int]:
    """Whole records in `data` and how many bytes they span (a record still
    being written is left for the next read)."""
    end = data.rfind(b"\n") + 1
    return data[:end].splitlines(keepends=True), end


def show_logs(folder: str, *, follow: bool, tail: str, timestamps: bool,
              running: Callable[[], bool]) -> None:
    """Print the logs in `folder` (stdout to stdout, stderr to stderr); with
    `follow`, keep printing until `running()` says the container stopped."""
    count = _tail_count(tail)
    streams = []
    for name, stream in STREAMS:
        path = os.path.join(folder, name)
        out = getattr(sys, stream).buffer
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        records, offset = _complete_records(data)
        if count is not None:
            records = records[-count:] if count else []
        out.write(render(records, timestamps))
        out.flush()
        streams.append((path, out, offset))
    while follow:
        # Its process, not only its record: a container whose supervisor was killed
        # stops all the same (see engine/liveness.py).
        alive = running()
        for i, (path, out, offset) in enumerate(streams):
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    records, used = _complete_records(f.read())
            except FileNotFoundError:
                records, used = [], 0
            if records:
                out.write(render(records, timestamps))
                out.flush()
                streams[i] = (path, out, offset + used)
        if not alive:
            return
        time.sleep(0.1)
