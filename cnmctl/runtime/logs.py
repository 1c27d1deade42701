"""`logs`: a container's output, stdout and stderr in one file, in the order written.

The file is `container.log` in the container's folder under the run root. This is
the contract between its writer (the container's monitor, runtime/shim.c) and this
reader. One record per line:

    SECONDS.MICROSECONDS STREAM FLAG DATA\\n

- `SECONDS.MICROSECONDS`: when the writer read the output (Unix time, six digits
  after the dot);
- `STREAM`: `stdout` or `stderr` (a container with a terminal, `-t`, logs what
  the terminal shows as `stdout`, as Docker does);
- `FLAG`: `F`, a full line: DATA is the line without its newline; or `P`, a
  partial line: output cut without a newline (a line longer than the writer's
  limit, 16 KiB, or the last bytes before the exit), continued by the next record
  of the same stream;
- `DATA`: the bytes as the container wrote them, any byte but a newline.

Records are appended in the order the container wrote the output (its stdout and
stderr reach the monitor through one datagram socket), each with one write(2). A
record is complete once its newline is there: a reader leaves a last line without
one for its next read. The reader takes any record length.

`logs` prints the records in file order (stdout records to stdout, stderr records
to stderr, a `P` record without a newline); `-t` prefixes each record with its time
as Docker prints it; `--tail N` keeps the last N lines, a line being an F record
and the P records of its stream before it (or a last P record of its stream).
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO

from cnmctl.errors import InvalidArgument

LOG_FILE = "container.log"
LEGACY_FILES = (("stdout.log", b"stdout"), ("stderr.log", b"stderr"))  # before issue 10
PARTIAL_LIMIT = 16384  # the longest DATA a writer puts in one record
_BLOCK = 65536  # read size when reading the file backwards for --tail
_BATCH = 4096  # records printed at a time without --tail


class Record:
    """One parsed log record (a plain class: see model._Document on dataclasses)."""

    __slots__ = ("ns", "stamp", "stream", "partial", "data")

    def __init__(self, stamp: bytes, stream: str, partial: bool, data: bytes) -> None:
        whole, _, frac = stamp.partition(b".")
        self.ns = int(whole) * 1_000_000_000 + int(frac.ljust(9, b"0")[:9] or b"0")
        self.stamp, self.stream, self.partial, self.data = stamp, stream, partial, data


def parse(raw: bytes) -> Record | None:
    """A record from one line of the file (without its newline); None if malformed."""
    parts = raw.split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"F", b"P"):
        return None
    stamp = parts[0]
    whole, dot, frac = stamp.partition(b".")
    if not whole.isdigit() or (dot and not frac.isdigit()):
        return None
    return Record(stamp, parts[1].decode(), parts[2] == b"P", parts[3] if len(parts) > 3 else b"")


def rfc3339(ns: int) -> str:
    """Unix nanoseconds as Docker's `logs -t` prints them: RFC 3339, UTC, always
    nine digits (Go's RFC3339NanoFixed)."""
    seconds, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:09d}Z"


def render(rec: Record, timestamps: bool = False, details: bool = False) -> bytes:
    """A record as `logs` prints it (Docker: the time, then the details, then the line)."""
    prefix = (rfc3339(rec.ns) + " ").encode() if timestamps else b""
    if details:
        prefix += b" "  # Docker prints the log attributes (cnmctl has none) and a space
    return prefix + rec.data + (b"" if rec.partial else b"\n")


def tail_count(tail: str) -> int | None:
    """`--tail` as a number of lines, None for all (`all`, or negative as in Docker)."""
    if tail == "all":
        return None
    try:
        count = int(tail)
    except ValueError:
        raise InvalidArgument(f"invalid value for --tail: {tail!r}") from None
    return None if count < 0 else count


def _complete_end(f: BinaryIO) -> int:
    """The offset just after the file's last newline (0 if there is none)."""
    pos = f.seek(0, os.SEEK_END)
    while pos > 0:
        size = min(_BLOCK, pos)
        pos -= size
        f.seek(pos)
        found = f.read(size).rfind(b"\n")
        if found >= 0:
            return pos + found + 1
    return 0


def _lines_backwards(f: BinaryIO, end: int) -> Iterator[bytes]:
    """The lines before `end` (just after a newline), last first, read a block at a
    time from the end: --tail never loads the whole file."""
    pos, head = end - 1, b""  # the last newline excluded
    while pos > 0:
        size = min(_BLOCK, pos)
        pos -= size
        f.seek(pos)
        parts = (f.read(size) + head).split(b"\n")
        head = parts[0]
        yield from reversed(parts[1:])
    if end > 0:
        yield head


def tail_records(f: BinaryIO, count: int) -> tuple[list[Record], int]:
    """The records of the last `count` lines and the offset after them.

    Read backwards: an F record ends a line, and so does a P record that is the
    last of its stream; the P records of its stream before it belong to it, even
    with records of the other stream between them."""
    end = _complete_end(f)
    chosen: list[Record] = []
    lines, inside, seen = 0, set(), set()
    for raw in _lines_backwards(f, end) if count else ():
        rec = parse(raw)
        if rec is None:
            continue
        if rec.stream in inside:
            if rec.partial:
                chosen.append(rec)
                continue
            inside.discard(rec.stream)
        ends_line = not rec.partial or rec.stream not in seen
        seen.add(rec.stream)
        if ends_line and lines < count:
            lines += 1
            chosen.append(rec)
            inside.add(rec.stream)
        elif lines >= count and not inside:
            break
    chosen.reverse()
    return chosen, end


def records_from(f: BinaryIO, offset: int, limit: int | None = None) -> tuple[list[Record], int]:
    """The complete records from `offset` on (at most `limit` lines) and the offset
    after them (a record still being written is left for the next read)."""
    f.seek(offset)
    found = []
    for count, line in enumerate(f):
        if not line.endswith(b"\n") or count == limit:
            break
        offset += len(line)
        rec = parse(line[:-1])
        if rec is not None:
            found.append(rec)
    return found, offset


def _legacy(folder: str) -> BinaryIO | None:
    """The two files of cnmctl before container.log (`SECONDS LINE` per line, one
    file per stream) as one file of records, merged by time; None if neither exists.
    Only a container started by an older cnmctl still has them (the run root is a
    tmpfs), and its old supervisor keeps writing them until it exits."""
    import heapq

    streams = []
    for name, stream in LEGACY_FILES:
        try:
            with open(os.path.join(folder, name), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue
        lines = data[:data.rfind(b"\n") + 1].splitlines()
        streams.append([(float(stamp or 0), stamp + b" " + stream + b" F " + line)
                        for stamp, _, line in (ln.partition(b" ") for ln in lines)])
    if not streams:
        return None
    merged = heapq.merge(*streams, key=lambda pair: pair[0])
    return io.BytesIO(b"".join(line + b"\n" for _, line in merged))


class _Output:
    """stdout records to stdout, stderr records to stderr, flushed at each switch so
    that a terminal showing both shows them in order."""

    def __init__(self) -> None:
        self.current: BinaryIO | None = None

    def write(self, stream: str, data: bytes) -> None:
        out = sys.stdout.buffer if stream == "stdout" else sys.stderr.buffer
        if self.current is not None and self.current is not out:
            self.current.flush()
        self.current = out
        out.write(data)

    def flush(self) -> None:
        if self.current is not None:
            self.current.flush()


def show_logs(folder: str, *, follow: bool, tail: int | None, timestamps: bool,
              details: bool = False, since: int | None = None, until: int | None = None,
              running: Callable[[], bool]) -> None:
    """Print the logs in `folder`: the last `tail` lines (all if None), of those the
    records written from `since` to `until` (Unix ns, both included, as in Docker);
    with `follow`, keep printing until `running()` says the container stopped or
    the time passes `until`."""
    out = _Output()

    def emit(records: list[Record]) -> bool:
        """Print `records`; False once one is after `until` (nothing more to print)."""
        for rec in records:
            if until is not None and rec.ns > until:
                out.flush()
                return False
            if since is None or rec.ns >= since:
                out.write(rec.stream, render(rec, timestamps, details))
        out.flush()
        return True

    path = os.path.join(folder, LOG_FILE)
    offset = 0
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, by `with`
    except FileNotFoundError:
        f = _legacy(folder)
    legacy = f is not None and not isinstance(f, io.BufferedReader)
    if f is not None:
        with f:
            if tail is not None:
                records, offset = tail_records(f, tail)
                if not emit(records):
                    return
            while tail is None:  # a batch of lines at a time, never the whole file
                records, end = records_from(f, offset, _BATCH)
                if not emit(records):
                    return
                if end == offset:
                    break
                offset = end
    if legacy:
        offset = 0  # the old files are shown; container.log comes with the next start
    if not follow:
        return
    while True:
        # Its process, not only its record: a container whose supervisor was killed
        # stops all the same (see engine/liveness.py).
        alive = running()
        try:
            with open(path, "rb") as f:
                records, offset = records_from(f, offset)
        except FileNotFoundError:
            records = []
        if not emit(records):
            return
        if not alive or (until is not None and time.time_ns() > until):
            return
        time.sleep(0.1)
