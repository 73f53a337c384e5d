"""``--since``/``--until`` values as the Engine API wants them (``logs``, ``events``).

The docker CLI's ``timetypes.GetTimestamp``: a Go duration (``10m``, ``1h30m``) is that
long before now, in whole seconds; an RFC 3339 date or date-time (``2024-01-02``,
``2024-01-02T15:04:05Z``, with fractions or an offset; local time without a zone) is its
Unix time with nanoseconds (``1704207845.000000000``); a Unix timestamp
(``1704207845`` or ``1704207845.5``) is passed as is.
"""

from __future__ import annotations

import time

from dockyard.cli.values import go_duration


def api_timestamp(value: str, now: float | None = None) -> str:
    """``value`` as a ``seconds[.nanoseconds]`` string; ValueError with Docker's words."""
    if value != "0":
        try:
            d = go_duration(value)
        except ValueError:
            pass
        else:
            ref = time.time() if now is None else now
            return str(int(ref - d / 1e9))
    if "-" in value or "T" in value or ":" in value:
        from datetime import datetime

        text = value.replace("z", "Z")
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        head, dot, frac = text.partition(".")
        nanos = 0
        if dot:
            n = 0
            while n < len(frac) and frac[n].isdigit():
                n += 1
            digits, zone = frac[:n], frac[n:]
            nanos = int((digits + "000000000")[:9]) if digits else 0
            text = head + zone
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f'parsing time "{value}": cannot parse as RFC 3339') from None
        return f"{int(parsed.timestamp())}.{nanos:09d}"
    sec, dot, frac = value.partition(".")
    if not sec.isdigit() or (dot and not frac.isdigit()):
        raise ValueError(f'failed to parse value as time or duration: "{value}"')
    return value
