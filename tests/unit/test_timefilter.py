"""Unit tests for cnmctl.cli.timefilter: Docker's `until=` filter values."""

from __future__ import annotations

import calendar
import time
from datetime import datetime

import pytest

from cnmctl.cli.timefilter import parse_duration_ns, parse_until
from cnmctl.errors import InvalidArgument

NS = 1
US = 1_000
MS = 1_000_000
S = 1_000_000_000
M = 60 * S
H = 60 * M


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", 24 * H),
        ("1h30m", H + 30 * M),
        ("10m", 10 * M),
        ("1.5h", 90 * M),
        ("300ms", 300 * MS),
        ("45s", 45 * S),
        ("2h45m30.5s", 2 * H + 45 * M + 30 * S + 500 * MS),
        ("1500ns", 1500 * NS),
        ("7us", 7 * US),
        ("7\u00b5s", 7 * US),  # MICRO SIGN
        ("0h", 0),
        ("0.5s", 500 * MS),
        ("1m1m", 2 * M),  # Go sums repeated units
    ],
)
def test_parse_duration_ns(text: str, expected: int) -> None:
    assert parse_duration_ns(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "abc", "24", "h", "1x", "1h30", "1h 30m", " 1h", "1h ", ".h", "1d", "+", "-",
     "1H", "1h-30m", "yesterday", "2024-01-02T03:04:05Z", "1700000000", "1.5", "00",
     "9223372036854775808ns", "2562048h", "1e3s"],
)
def test_parse_duration_ns_rejects(text: str) -> None:
    assert parse_duration_ns(text) is None


@pytest.mark.parametrize(("text", "expected"), [("2.01s", 2_010_000_000),
                                                ("0.009h", 32_400_000_000)])
def test_parse_duration_ns_decimal_fractions_exact(text: str, expected: int) -> None:
    assert parse_duration_ns(text) == expected


def test_parse_duration_ns_greek_mu() -> None:
    assert parse_duration_ns("5\u03bcs") == 5 * US


@pytest.mark.parametrize(
    ("text", "expected"),
    [(".5h", 30 * M), ("-1h", -H), ("+1h", H), ("5.h", 5 * H), ("0", 0), ("-0", 0),
     ("+0", 0), ("-1.5m30s", -(2 * M)), ("1h0.000000000001s", H),
     ("9223372036854775807ns", (1 << 63) - 1), ("-9223372036854775808ns", -(1 << 63)),
     ("0000000000000000000000001ns", 1), ("1.0000000000000000000000000001s", S)],
)
def test_parse_duration_ns_go_syntax(text: str, expected: int) -> None:
    assert parse_duration_ns(text) == expected


# -- parse_until --------------------------------------------------------------


@pytest.mark.parametrize(("text", "duration"), [("24h", 24 * H), ("1h30m", 90 * M),
                                                ("300ms", 300 * MS)])
def test_parse_until_duration_is_relative_to_now(text: str, duration: int) -> None:
    before = time.time_ns()
    cutoff = parse_until(text)
    after = time.time_ns()
    assert before - duration <= cutoff <= after - duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1700000000", 1_700_000_000 * S),
        ("0", 0),  # Docker treats "0" as a timestamp, not a duration
        ("1700000000.5", 1_700_000_000 * S + 500 * MS),
        ("+1700000000", 1_700_000_000 * S),
        ("1.1234567899", S + 123_456_789),  # nanoseconds: extra digits are dropped
    ],
)
def test_parse_until_unix_timestamp(text: str, expected: int) -> None:
    assert parse_until(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T03:04:05Z",
         calendar.timegm((2024, 1, 2, 3, 4, 5, 0, 0, 0)) * S),
        ("2024-01-02T03:04:05+01:00",
         calendar.timegm((2024, 1, 2, 2, 4, 5, 0, 0, 0)) * S),
        ("2024-01-02T03:04:05.5Z",
         calendar.timegm((2024, 1, 2, 3, 4, 5, 0, 0, 0)) * S + 500 * MS),
    ],
)
def test_parse_until_rfc3339(text: str, expected: int) -> None:
    assert parse_until(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02Z", calendar.timegm((2024, 1, 2, 0, 0, 0, 0, 0, 0)) * S),
        ("2024-01-02-01:00", calendar.timegm((2024, 1, 2, 1, 0, 0, 0, 0, 0)) * S),
        ("2024-01-02T03Z", calendar.timegm((2024, 1, 2, 3, 0, 0, 0, 0, 0)) * S),
        ("2024-01-02T03:04+01:00", calendar.timegm((2024, 1, 2, 2, 4, 0, 0, 0, 0)) * S),
        ("2024-01-02T03:04:05.123456789-02:30",
         calendar.timegm((2024, 1, 2, 5, 34, 5, 0, 0, 0)) * S + 123_456_789),
        ("2024-01-02T03:04:05.1234567899Z",  # Go keeps 9 fraction digits
         calendar.timegm((2024, 1, 2, 3, 4, 5, 0, 0, 0)) * S + 123_456_789),
    ],
)
def test_parse_until_docker_date_layouts(text: str, expected: int) -> None:
    assert parse_until(text) == expected


def test_parse_until_date_without_zone_is_local_time() -> None:
    # Docker parses a zone-less date in the local time zone, as datetime does.
    local = datetime(2024, 1, 2, 3, 4, 5)
    assert parse_until("2024-01-02T03:04:05") == int(local.timestamp()) * S
    midnight = datetime(2024, 1, 2)
    assert parse_until("2024-01-02") == int(midnight.timestamp()) * S


def test_parse_until_orders_times() -> None:
    assert parse_until("2h") < parse_until("1h") < time.time_ns()
    assert parse_until("2020-01-01T00:00:00Z") < parse_until("2021-01-01T00:00:00Z")


@pytest.mark.parametrize("text", ["", "yesterday", "abc", "1h30", "2024-13-45", "1d",
                                  "12:00", "nan", "-5", "1700000000.", ".5",
                                  "99999999999999999999", "2024-02-30", "2024-01-02T24:00:00Z",
                                  "2024-01-02T03:04:05+24:00", "2024-01-02t03:04:05Z",
                                  "2024-01-02T03:04.5Z", "\uff12\uff14h", "1" * 5000])
def test_parse_until_garbage_raises_invalid_argument(text: str) -> None:
    with pytest.raises(InvalidArgument, match="until"):
        parse_until(text)


@pytest.mark.parametrize("text", ["inf", "-Infinity", "1e400"])
def test_parse_until_infinite_raises_invalid_argument(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_until(text)


def test_parse_until_unix_timestamp_nanoseconds_exact() -> None:
    assert parse_until("1700000000.123456789") == 1_700_000_000_123_456_789


@pytest.mark.parametrize("frac", ["999999", "123456789"])
def test_parse_until_rfc3339_fraction_exact(frac: str) -> None:
    expected = calendar.timegm((2024, 1, 2, 3, 4, 5, 0, 0, 0)) * S + int(frac.ljust(9, "0"))
    assert parse_until(f"2024-01-02T03:04:05.{frac}Z") == expected
