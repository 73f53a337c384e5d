"""Times in query strings: ``since``/``until`` as Docker's clients send them (the parsing
lives with the daemon's times, which prune filters need too)."""

from __future__ import annotations

from dockyard.daemon.times import (
    ZERO_TIME,
    format_ns,
    parse_duration,
    parse_rfc3339,
    parse_timestamp,
)

__all__ = ["ZERO_TIME", "format_ns", "parse_duration", "parse_rfc3339", "parse_timestamp"]
