"""go-units, the words and sizes Docker prints: ``HumanDuration`` ("Up 3 seconds",
"Exited (0) 2 minutes ago", the CLI's "2 hours ago"), ``HumanSize`` (decimal units:
"4.26MB", pull and push progress) and ``BytesSize`` (binary units: "1.5KiB").

One copy for both sides of the wire: the daemon's status and progress text
(``apitypes.containers``, ``apitypes.distribution``) and the CLI's tables and progress
(``cli.format.human``, ``cli.jsonmessage``). It stands alone (no imports at all), so the
CLI may load it on its start-up path.
"""

from __future__ import annotations

__all__ = ["bytes_size", "human_duration", "human_size"]

_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def human_duration(seconds: float) -> str:
    """go-units ``HumanDuration``: "Less than a second", "3 seconds", "About a minute",
    "2 hours", "3 weeks"..."""
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def _size_and_unit(size: float, base: float, units: tuple[str, ...]) -> tuple[float, str]:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return size, units[i]


def human_size(size: float, precision: int = 4) -> str:
    """go-units ``HumanSizeWithPrecision`` (``HumanSize`` is precision 4, Go's ``%.4g``):
    ``human_size(5_242_880)`` → ``5.243MB``; ``docker images`` uses 3 digits."""
    value, unit = _size_and_unit(float(size), 1000.0, _DECIMAL)
    return f"{value:.{precision}g}{unit}"


def bytes_size(size: float) -> str:
    """go-units ``BytesSize``: ``bytes_size(1536)`` → ``1.5KiB``."""
    value, unit = _size_and_unit(float(size), 1024.0, _BINARY)
    return f"{value:.4g}{unit}"
