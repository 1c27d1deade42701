"""Docker's time values (`until=` filters, `logs --since/--until`): a Go duration, a
Unix timestamp or an RFC 3339 date.

Everything is computed with integers, as Go does, so values are exact to the nanosecond.
"""

from __future__ import annotations

import re
import time

from cnmctl.errors import InvalidArgument

_INT64_MAX = (1 << 63) - 1
_UNIT_NS = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000,
            "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
# One component of a Go duration: [0-9]*(.[0-9]*)? then a unit (anything up to a digit or dot).
_COMPONENT = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")
# Docker's parseTimestamp: SECONDS[.NANOS], read with strconv.ParseInt.
_UNIX = re.compile(r"\+?([0-9]+)(?:\.([0-9]+))?")
# The date layouts Docker's GetTimestamp tries: 2006-01-02, ...T15, ...T15:04,
# ...T15:04:05, ...T15:04:05.999999999, each with an optional Z07:00 zone.
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
                   r"(?:T([0-9]{2})(?::([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?)?)?"
                   r"(Z|[+-][0-9]{2}:[0-9]{2})?")


def _int(digits: str, limit: int = _INT64_MAX) -> int | None:
    """A decimal digit string as an int, or None above `limit` (Go's ParseInt: int64)."""
    digits = digits.lstrip("0") or "0"
    value = int(digits) if len(digits) <= 19 else limit + 1
    return value if value <= limit else None


def parse_duration_ns(text: str) -> int | None:
    """A Go duration such as `24h`, `-1.5h` or `1h30m` in nanoseconds, or None if not one.

    Accepts exactly what Go's time.ParseDuration accepts, including its int64 range.
    """
    body = text[1:] if text[:1] in ("+", "-") else text
    if body == "0":
        return 0
    if not body:
        return None
    total, pos = 0, 0
    while pos < len(body):
        match = _COMPONENT.match(body, pos)
        whole, frac, unit = match.groups()
        if not (whole or frac) or unit not in _UNIT_NS:
            return None
        value = _int(whole, 1 << 63)  # Go's leadingInt allows 1<<63
        if value is None:
            return None
        # Go stops reading fraction digits once they would overflow int64 (about 19).
        frac = (frac or "")[:18]
        scale = _UNIT_NS[unit]
        total += value * scale + int(frac or "0") * scale // 10 ** len(frac)
        pos = match.end()
    negative = text[:1] == "-"
    if total > _INT64_MAX + negative:
        return None
    return -total if negative else total


def _unix_ns(text: str) -> int | None:
    """Docker's `SECONDS[.NANOS]` Unix timestamp in nanoseconds, or None."""
    match = _UNIX.fullmatch(text)
    if match is None:
        return None
    seconds, frac = match.group(1), match.group(2) or ""
    if _int(seconds) is None or (frac and _int(frac) is None):
        return None
    return _int(seconds) * 1_000_000_000 + int(frac[:9].ljust(9, "0"))


def _date_ns(text: str) -> int | None:
    """An RFC 3339-like date in Unix nanoseconds (exact: the fraction is read here), or None."""
    import calendar
    from datetime import datetime

    match = _DATE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, frac, zone = match.groups()
    try:
        stamp = datetime(int(year), int(month), int(day),
                         int(hour or 0), int(minute or 0), int(second or 0))
        # Docker reads a date without a zone in local time (ParseInLocation), and so
        # does datetime.timestamp() for a naive datetime; whole seconds, so exact.
        seconds = (int(stamp.timestamp()) if zone is None
                   else calendar.timegm(stamp.timetuple()))
    except (ValueError, OverflowError, OSError):
        return None
    if zone and zone != "Z":
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            return None
        seconds -= (-1 if zone[0] == "-" else 1) * (hours * 3600 + minutes * 60)
    # Go keeps at most 9 fraction digits and ignores the rest.
    return seconds * 1_000_000_000 + int((frac or "")[:9].ljust(9, "0"))


def get_timestamp(text: str) -> int | None:
    """Docker's GetTimestamp (moby api/types/time): a Go duration back from now, an
    RFC 3339-like date (a date alone, to the hour, minute, second or fraction, with
    or without a zone: local time without), or Unix `SECONDS[.NANOS]`; in Unix
    nanoseconds, or None if TEXT is none of those."""
    if text != "0":  # Docker reads a bare "0" as the Unix epoch, not a zero duration
        duration = parse_duration_ns(text)
        if duration is not None:
            return time.time_ns() - duration
    for parse in (_date_ns, _unix_ns):
        stamp = parse(text)
        if stamp is not None:
            return stamp
    return None


def parse_until(text: str) -> int:
    """The cut-off time of `until=TEXT` in Unix nanoseconds (Docker's GetTimestamp)."""
    stamp = get_timestamp(text)
    if stamp is None:
        raise InvalidArgument(f"invalid value for until filter: {text!r}")
    return stamp


def parse_log_time(text: str) -> int:
    """`logs --since/--until TEXT` in Unix nanoseconds, refused as Docker's CLI
    refuses it: a value with a dash was meant as a date, any other as a time or
    duration."""
    import json

    stamp = get_timestamp(text)
    if stamp is None:
        if "-" in text:
            raise InvalidArgument(f"parsing time {json.dumps(text)}: not a valid date or time "
                                  "(2006-01-02, 2006-01-02T15:04, RFC 3339)")
        raise InvalidArgument(f"failed to parse value as time or duration: {json.dumps(text)}")
    return stamp
