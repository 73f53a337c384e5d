"""Timestamps as image configs carry them: RFC 3339 with nanoseconds, UTC (Go's RFC3339Nano)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from dockyard.errors import InvalidArgument

_FRACTION = re.compile(r"\.(\d+)")
ZERO_TIME = "0001-01-01T00:00:00Z"


def format_time(seconds: float | None = None, *, ns: int | None = None) -> str:
    """``2024-05-01T12:00:00.123456789Z`` (trailing zeros of the fraction dropped, as Go)."""
    total = ns if ns is not None else (
        time.time_ns() if seconds is None else round(seconds * 1e9))
    whole, frac = divmod(total, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    fraction = f".{frac:09d}".rstrip("0") if frac else ""
    return f"{base}{fraction}Z"


def parse_time(text: str) -> float:
    """Unix seconds of an RFC 3339 time (any fraction length, ``Z`` or an offset)."""
    if not text:
        raise InvalidArgument("empty timestamp")
    s = text.strip()
    m = _FRACTION.search(s)
    if m:
        s = s[:m.start()] + "." + m.group(1)[:6].ljust(6, "0") + s[m.end():]
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError as e:
        raise InvalidArgument(f"invalid timestamp {text!r}: {e}") from e
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def parse_time_or_zero(text: str) -> float:
    """Like ``parse_time`` but ``0.0`` for an empty or unreadable time (configs without one)."""
    if not text:
        return 0.0
    try:
        return parse_time(text)
    except InvalidArgument:
        return 0.0
