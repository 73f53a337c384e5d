"""Timestamps as Docker writes them: RFC 3339 in UTC with nanoseconds (Go's RFC3339Nano).

Go's ``time.RFC3339Nano`` layout trims trailing zeros of the fraction (and the dot when the
fraction is zero); moby's json-file driver and its API use that layout, so we do too.
"""

from __future__ import annotations

import time


def rfc3339nano(ns: int) -> str:
    """Format nanoseconds since the epoch like Go's ``t.UTC().Format(time.RFC3339Nano)``."""
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac == 0:
        return base + "Z"
    return f"{base}.{frac:09d}".rstrip("0") + "Z"


def now() -> str:
    """The current time, formatted with :func:`rfc3339nano`."""
    return rfc3339nano(time.time_ns())
