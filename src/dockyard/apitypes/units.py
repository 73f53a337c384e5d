"""go-units ``HumanDuration``, the words of Docker's ``Status`` strings ("Up 3 seconds",
"Exited (0) 2 minutes ago") and of the docker CLI's CREATED columns ("2 hours ago").

One copy for both sides of the wire: the daemon's status text (``apitypes.containers``)
and the CLI's tables (``cli.format.human``). It stands alone (no imports at all), so the
CLI may load it on its start-up path.
"""

from __future__ import annotations

__all__ = ["human_duration"]


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
