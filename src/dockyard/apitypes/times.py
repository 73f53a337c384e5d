"""Times in query strings: ``since``/``until`` as Docker's clients send them."""

from __future__ import annotations

import re
import time

from dockyard.daemon.times import ZERO_TIME, format_ns, parse_rfc3339
from dockyard.errors import InvalidArgument

__all__ = ["ZERO_TIME", "format_ns", "parse_duration", "parse_rfc3339", "parse_timestamp"]


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
