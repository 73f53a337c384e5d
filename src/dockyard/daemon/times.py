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


def parse_timestamp(text: str, now_ns: int | None = None) -> int:
    """A ``since``/``until`` value as Docker's clients send it, in ns since the epoch:
    ``1700000000``, ``1700000000.123456789``, an RFC 3339 time, or a duration (``10m``,
    ``1h30m``: that long before now)."""
    t = text.strip()
    if not t:
        raise InvalidArgument("empty timestamp")
    if re.fullmatch(r"\d+(\.\d{1,9})?", t):
        secs, _, frac = t.partition(".")
        return int(secs) * 1_000_000_000 + int(frac.ljust(9, "0") or "0")
    if re.fullmatch(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+", t):
        now = time.time_ns() if now_ns is None else now_ns
        return now - parse_duration(t)
    return parse_rfc3339(t)


_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
            "m": 60_000_000_000, "h": 3_600_000_000_000}


def parse_duration(text: str) -> int:
    """Go's ``time.ParseDuration`` for positive values, in nanoseconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise InvalidArgument(f"invalid duration {text!r}")
    return int(sum(float(a) * _UNIT_NS[b] for a, b in parts))
