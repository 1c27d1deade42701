"""Docker's `until=` filter values: a Go duration, a Unix timestamp or an RFC 3339 date."""

from __future__ import annotations

import re
import time

from cnmctl.errors import InvalidArgument

_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
            "m": 60_000_000_000, "h": 3_600_000_000_000}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def parse_duration_ns(text: str) -> int | None:
    """A Go duration such as `24h` or `1h30m` in nanoseconds, or None if it is not one."""
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT_NS[match.group(2)]
        pos = match.end()
    return int(total) if pos == len(text) and text else None


def parse_until(text: str) -> int:
    """The cut-off time of `until=TEXT` in Unix nanoseconds."""
    duration = parse_duration_ns(text)
    if duration is not None:
        return time.time_ns() - duration
    try:
        return int(float(text) * 1_000_000_000)
    except ValueError:
        pass
    from datetime import datetime

    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(f"invalid value for until filter: {text!r}") from None
    return int(stamp.timestamp() * 1_000_000_000)
