"""The human formats docker's tables print (go-units, docker's formatter helpers).

- ``human_size``: go-units ``HumanSizeWithPrecision`` (decimal units B kB MB GB...,
  ``%.4g`` by default; ``docker images`` and ``ps -s`` use 3 digits: "4.26MB");
- ``bytes_size``: go-units ``BytesSize`` (binary units KiB MiB..., ``%.4g``);
- ``human_duration``: go-units ``HumanDuration`` ("Less than a second", "About a
  minute", "2 hours", "3 weeks"...) and ``since`` ("2 hours ago");
- ``truncate_id``: ``stringid.TruncateID`` (algorithm prefix dropped, 12 characters);
- ``ellipsis``: docker's ``Ellipsis`` (display width, "…" at the end);
- ``command``: ``docker ps``'s COMMAND column (ellipsised to 20, Go-quoted);
- ``go_time``: Go's ``time.Time.String()`` of a unix time, local zone;
- ``rfc3339``, ``rfc3339_nano``: Go's RFC 3339 layouts, local zone.

The go-units three are :mod:`dockyard.apitypes.units`' (the one copy; the daemon's
status and progress texts use it too).
"""

from __future__ import annotations

import time

from dockyard.apitypes.units import bytes_size as bytes_size
from dockyard.apitypes.units import human_duration
from dockyard.apitypes.units import human_size as human_size
from dockyard.cli.format.gofmt import quote
from dockyard.cli.format.table import display_width


def since(unix_seconds: float, now: float | None = None) -> str:
    """``"2 hours ago"``: docker's CREATED column for an image or a container."""
    current = time.time() if now is None else now
    return human_duration(current - unix_seconds) + " ago"


def truncate_id(ident: str) -> str:
    """``stringid.TruncateID``: ``sha256:0123…`` → ``0123456789ab``."""
    colon = ident.find(":")
    if colon >= 0:
        ident = ident[colon + 1 :]
    return ident[:12]


def ellipsis(text: str, max_width: int) -> str:
    """docker's ``Ellipsis``: at most ``max_width`` columns, the last one "…"."""
    if max_width <= 0:
        return ""
    if max_width == 1:
        return text[:1]
    if display_width(text) <= max_width:
        return text
    out: list[str] = []
    width = 0
    for ch in text:
        w = display_width(ch)
        if width + w > max_width - 1:
            break
        out.append(ch)
        width += w
    return "".join(out) + "…"


def command(cmd: str, *, trunc: bool = True) -> str:
    """``docker ps``'s COMMAND: ``"sh -c 'echo hel…"`` (20 columns, then Go-quoted)."""
    return quote(ellipsis(cmd, 20) if trunc else cmd)


def go_time(unix_seconds: float) -> str:
    """Go's ``time.Unix(s, 0).String()`` in the local zone:
    ``2024-05-01 12:00:00 +0000 UTC``."""
    local = time.localtime(int(unix_seconds))
    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", local)


def _local_time(seconds: int, fraction: str) -> str:
    """Go's RFC 3339 layouts in the local zone: the date and time, ``fraction`` (the
    seconds' decimals, if any) and the zone (``Z`` or ``+02:00``)."""
    local = time.localtime(seconds)
    offset = local.tm_gmtoff or 0
    zone = (
        "Z"
        if offset == 0
        else f"{'+' if offset > 0 else '-'}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"
    )
    return time.strftime("%Y-%m-%dT%H:%M:%S", local) + fraction + zone


def rfc3339(unix_seconds: int) -> str:
    """Go's ``time.Unix(s, 0).Format(time.RFC3339)`` in the local zone (``docker
    history``'s CREATED AT): ``2024-05-01T12:00:00Z`` or ``...+02:00``."""
    return _local_time(unix_seconds, "")


def rfc3339_nano(unix_nanos: int) -> str:
    """``jsonmessage.RFC3339NanoFixed`` in the local zone (``docker events``' time):
    ``2024-05-01T12:00:00.000000000Z`` or ``...+02:00``."""
    seconds, nanos = divmod(unix_nanos, 1_000_000_000)
    return _local_time(seconds, f".{nanos:09d}")


def status(
    *,
    running: bool,
    paused: bool = False,
    restarting: bool = False,
    dead: bool = False,
    removing: bool = False,
    exit_code: int = 0,
    started: float = 0.0,
    finished: float = 0.0,
    health: str = "",
    now: float | None = None,
) -> str:
    """moby's ``State.String()``, the STATUS column: ``Up 3 seconds``, ``Up 2 hours
    (Paused)``, ``Up 5 minutes (healthy)``, ``Restarting (1) 2 seconds ago``, ``Exited (0)
    2 minutes ago``, ``Created``, ``Dead``; times are unix seconds, 0 when unset."""
    current = time.time() if now is None else now
    if running:
        up = human_duration(current - started)
        if paused:
            return f"Up {up} (Paused)"
        if restarting:
            return f"Restarting ({exit_code}) {human_duration(current - finished)} ago"
        if health:
            return f"Up {up} ({'health: starting' if health == 'starting' else health})"
        return f"Up {up}"
    if removing:
        return "Removal In Progress"
    if dead:
        return "Dead"
    if not started:
        return "Created"
    if not finished:
        return ""
    return f"Exited ({exit_code}) {human_duration(current - finished)} ago"
