"""`logs`: a container's output, from the files its stdout and stderr write to.

The process writes straight into the files (no logging process per
container), so no per-line timestamps exist to show with -t.
"""

from __future__ import annotations

import os
import sys
import time

from cnmctl.errors import InvalidArgument


def _tail(data: bytes, tail: str) -> bytes:
    if tail == "all":
        return data
    try:
        count = int(tail)
    except ValueError:
        raise InvalidArgument(f"invalid value for --tail: {tail!r}") from None
    if count < 0:
        return data
    lines = data.splitlines(keepends=True)
    return b"".join(lines[-count:] if count else [])


def show_logs(engine, ctr, *, follow: bool, tail: str, timestamps: bool) -> None:
    """Print the logs (stdout to stdout, stderr to stderr); with `follow`, keep
    printing until the container stops."""
    if timestamps:
        raise InvalidArgument("--timestamps: cnmctl keeps no per-line timestamps (containers "
                              "write their logs directly, without a logging daemon)")
    folder = engine.container_dir(ctr.id)
    streams = []
    for name, out in (("stdout.log", sys.stdout.buffer), ("stderr.log", sys.stderr.buffer)):
        path = os.path.join(folder, name)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        out.write(_tail(data, tail))
        out.flush()
        streams.append((path, out, len(data)))
    while follow:
        doc = engine.store.get("containers", ctr.id)
        running = doc is not None and doc["status"] == "running"
        for i, (path, out, offset) in enumerate(streams):
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    data = f.read()
            except FileNotFoundError:
                data = b""
            if data:
                out.write(data)
                out.flush()
                streams[i] = (path, out, offset + len(data))
        if not running:
            return
        time.sleep(0.1)
