"""The log record format and its rendering for `logs` and `logs -t`."""

from __future__ import annotations

from cnmctl.runtime.logs import _complete_records, render, rfc3339, stamp_line


def test_stamp_line_adds_time_and_newline():
    assert stamp_line(b"hello", 1700000000.5) == b"1700000000.500000 hello\n"
    assert stamp_line(b"done\n", 1.0) == b"1.000000 done\n"


def test_rfc3339_trims_trailing_zeros_like_go():
    assert rfc3339("1700000000.123456") == "2023-11-14T22:13:20.123456Z"
    assert rfc3339("1700000000.120000") == "2023-11-14T22:13:20.12Z"
    assert rfc3339("1700000000.000000") == "2023-11-14T22:13:20Z"


def test_render_with_and_without_timestamps():
    records = [b"1700000000.000001 a b\n", b"1700000001.5 \n"]
    assert render(records, False) == b"a b\n\n"
    assert render(records, True) == b"2023-11-14T22:13:20.000001Z a b\n2023-11-14T22:13:21.5Z \n"


def test_a_record_being_written_waits_for_the_next_read():
    records, used = _complete_records(b"1.0 one\n2.0 tw")
    assert records == [b"1.0 one\n"] and used == 8
