"""The one-file log format (runtime/logs.py): records, rendering, --tail read backwards,
--since/--until, partial lines, the files of older cnmctl, and bad time values."""

from __future__ import annotations

import io
import time

import pytest

from cnmctl.cli.timefilter import parse_log_time
from cnmctl.errors import InvalidArgument
from cnmctl.runtime import logs
from cnmctl.runtime.logs import (
    parse,
    records_from,
    render,
    rfc3339,
    show_logs,
    tail_records,
)


def record(stream: str, data: bytes, partial: bool = False, when: float = 0.0) -> bytes:
    """A record as the shim writes it (runtime/shim.c, log_record)."""
    return f"{when:.6f} {stream} {'P' if partial else 'F'} ".encode() + data + b"\n"


# out1, err1, out2 as three records one second apart, then a line cut in two with a
# stderr record between its pieces, then a last stdout line without its newline.
LOG = (b"100.000001 stdout F out1\n"
       b"101.000002 stderr F err1\n"
       b"102.000003 stdout F out2\n"
       b"103.000000 stdout P long-\n"
       b"103.500000 stderr F err2\n"
       b"104.000000 stdout F line\n"
       b"105.000000 stdout P no newline\n")


def test_record_and_parse_round_trip():
    raw = record("stderr", b"a b  c\r", partial=True, when=1700000000.5)
    assert raw == b"1700000000.500000 stderr P a b  c\r\n"
    rec = parse(raw[:-1])
    assert (rec.ns, rec.stream, rec.partial, rec.data) == (
        1700000000_500000000, "stderr", True, b"a b  c\r")
    empty = parse(record("stdout", b"", when=1.0)[:-1])
    assert (empty.data, empty.partial) == (b"", False)


@pytest.mark.parametrize("raw", [b"", b"garbage", b"1.0 stdin F x", b"1.0 stdout X x",
                                 b"abc stdout F x", b"1.x stdout F x", b"1.0 stdout"])
def test_malformed_records_are_none(raw):
    assert parse(raw) is None


def test_rfc3339_is_dockers_fixed_nanosecond_form():
    assert rfc3339(1700000000_123456000) == "2023-11-14T22:13:20.123456000Z"
    assert rfc3339(1700000000_000000000) == "2023-11-14T22:13:20.000000000Z"


def test_render_partial_timestamps_and_details():
    full, part = parse(b"100.000001 stdout F out1"), parse(b"103.000000 stdout P long-")
    assert render(full) == b"out1\n" and render(part) == b"long-"
    assert render(full, timestamps=True) == b"1970-01-01T00:01:40.000001000Z out1\n"
    assert render(full, details=True) == b" out1\n"
    assert render(full, True, True) == b"1970-01-01T00:01:40.000001000Z  out1\n"


def _data(records) -> list[bytes]:
    return [r.data for r in records]


@pytest.mark.parametrize(("count", "expected"), [
    (0, []),
    (1, [b"no newline"]),
    # the line "long-line" is two records with err2 between them: both pieces come back
    (2, [b"long-", b"line", b"no newline"]),
    (3, [b"long-", b"err2", b"line", b"no newline"]),
    (4, [b"out2", b"long-", b"err2", b"line", b"no newline"]),
    (100, [b"out1", b"err1", b"out2", b"long-", b"err2", b"line", b"no newline"]),
])
def test_tail_counts_lines_across_streams_and_partial_records(count, expected):
    records, end = tail_records(io.BytesIO(LOG + b"106.0 stdout F unfinish"), count)
    assert _data(records) == expected
    assert end == len(LOG)  # the record still being written is not read


def test_tail_reads_backwards_in_blocks(monkeypatch):
    """Across block boundaries, and without reading the file whole: with a block of
    16 bytes, the last line of 1000 comes from the last blocks only."""
    monkeypatch.setattr(logs, "_BLOCK", 16)
    data = b"".join(record("stdout", str(i).encode(), when=i) for i in range(1000))

    class Counting(io.BytesIO):
        read_bytes = 0

        def read(self, size=-1):
            chunk = super().read(size)
            Counting.read_bytes += len(chunk)
            return chunk

    f = Counting(data)
    records, _end = tail_records(f, 3)
    assert _data(records) == [b"997", b"998", b"999"]
    assert Counting.read_bytes < 200


def test_records_from_leaves_an_unfinished_record():
    f = io.BytesIO(b"1.0 stdout F one\nbad line\n2.0 stderr F tw")
    records, offset = records_from(f, 0)
    assert _data(records) == [b"one"] and offset == len(b"1.0 stdout F one\nbad line\n")
    assert records_from(f, 0, limit=1)[1] == len(b"1.0 stdout F one\n")


def _show(tmp_path, capfdbinary, **options) -> tuple[bytes, bytes]:
    options.setdefault("tail", None)
    show_logs(str(tmp_path), follow=False, timestamps=False, running=lambda: False, **options)
    captured = capfdbinary.readouterr()
    return captured.out, captured.err


def test_show_logs_splits_streams_in_file_order(tmp_path, capfdbinary, monkeypatch):
    (tmp_path / "container.log").write_bytes(LOG)
    written = []
    monkeypatch.setattr(logs._Output, "write",
                        lambda self, stream, data: written.append((stream, data)))
    show_logs(str(tmp_path), follow=False, tail=None, timestamps=False, running=lambda: False)
    assert written == [("stdout", b"out1\n"), ("stderr", b"err1\n"), ("stdout", b"out2\n"),
                       ("stdout", b"long-"), ("stderr", b"err2\n"), ("stdout", b"line\n"),
                       ("stdout", b"no newline")]


def test_show_logs_since_and_until_include_their_bounds(tmp_path, capfdbinary):
    (tmp_path / "container.log").write_bytes(LOG)
    second = 1_000_000_000
    out, err = _show(tmp_path, capfdbinary, since=101 * second + 2000)
    assert (out, err) == (b"out2\nlong-line\nno newline", b"err1\nerr2\n")
    out, err = _show(tmp_path, capfdbinary, until=102 * second + 3000)
    assert (out, err) == (b"out1\nout2\n", b"err1\n")
    out, err = _show(tmp_path, capfdbinary, since=101 * second, until=103 * second)
    assert (out, err) == (b"out2\nlong-", b"err1\n")
    # --tail first, then the time filter (Docker's order)
    out, err = _show(tmp_path, capfdbinary, tail=4, since=104 * second)
    assert (out, err) == (b"line\nno newline", b"")


def test_show_logs_in_batches(tmp_path, capfdbinary, monkeypatch):
    monkeypatch.setattr(logs, "_BATCH", 2)
    (tmp_path / "container.log").write_bytes(LOG)
    assert _show(tmp_path, capfdbinary) == (b"out1\nout2\nlong-line\nno newline",
                                           b"err1\nerr2\n")


def test_files_of_older_cnmctl_are_merged_by_time(tmp_path, capfdbinary):
    (tmp_path / "stdout.log").write_bytes(b"10.000000 out1\n12.000000 out2\n13.0 unfinish")
    (tmp_path / "stderr.log").write_bytes(b"11.000000 err1\n")
    out, err = _show(tmp_path, capfdbinary, tail=2)
    assert (out, err) == (b"out2\n", b"err1\n")
    assert _show(tmp_path, capfdbinary) == (b"out1\nout2\n", b"err1\n")
    assert _show(tmp_path / "nothing", capfdbinary) == (b"", b"")


def test_log_times_in_dockers_forms():
    assert parse_log_time("2023-11-14T22:13:20Z") == 1700000000_000000000
    assert parse_log_time("2023-11-14T22:13:20.5+01:00") == 1699996400_500000000
    assert parse_log_time("1700000000.25") == 1700000000_250000000
    assert parse_log_time("0") == 0
    now = time.time_ns()
    assert abs(parse_log_time("1h30m") - (now - 5400 * 1_000_000_000)) < 5_000_000_000
    assert abs(parse_log_time("90s") - (now - 90 * 1_000_000_000)) < 5_000_000_000


@pytest.mark.parametrize(("text", "message"), [
    ("abc", 'failed to parse value as time or duration: "abc"'),
    ("10x", 'failed to parse value as time or duration: "10x"'),
    ("2023-13-01", 'parsing time "2023-13-01": not a valid date or time'),
    ("2023-11-14T25:00", 'parsing time "2023-11-14T25:00": not a valid date or time'),
])
def test_bad_log_times_are_refused_as_docker_refuses_them(text, message):
    with pytest.raises(InvalidArgument) as caught:
        parse_log_time(text)
    assert str(caught.value).startswith(message)
