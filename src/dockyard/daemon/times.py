"""Times as Docker writes them: RFC 3339 with nanoseconds (Go's RFC3339Nano), Docker's
zero time for "never"; the daemon keeps times as nanoseconds since the epoch."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from dockyard.errors import InvalidArgument

ZERO_TIME = "0001-01-01T00:00:00Z"
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")


def format_ns(ns: int) -> str:
    """``2024-05-01T10:20:30.123456789Z`` (Go's RFC3339Nano: trailing zeros trimmed);
    0 is Docker's zero time."""
    if ns <= 0:
        return ZERO_TIME
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac:
        return f"{base}.{f'{frac:09d}'.rstrip('0')}Z"
    return base + "Z"


def parse_rfc3339(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time (``InvalidArgument`` if malformed)."""
    m = _RFC3339.match(text)
    if m is None:
        raise InvalidArgument(f"invalid time {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac = int((m.group(7) or "0").ljust(9, "0"))
    try:
        dt = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise InvalidArgument(f"invalid time {text!r}: {exc}") from None
    offset = 0
    tz = m.group(8)
    if tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        offset = sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return (int(dt.timestamp()) - offset) * 1_000_000_000 + frac
