"""Docker's JSON progress streams shown on a terminal or a pipe, as the docker CLI shows
them (moby ``pkg/jsonmessage``: ``DisplayJSONMessagesStream``).

Each line of a pull, push, load or import stream is a ``JSONMessage``. On a terminal the
lines of one id (a layer) that carry ``progressDetail`` are one screen line each,
redrawn in place (cursor up, clear, write, cursor down); any other line (a message such
as ``Digest: ...``) starts a new block. Elsewhere (a pipe, a file) the byte-count lines
are left out and every other line is printed once (``abc123: Pull complete``). An
``errorDetail`` ends the display with :class:`StreamError` (the command prints it and
exits 1); ``aux`` lines go to a callback.

Imports only ``shutil`` (for the terminal's width), lazily, and go-units' sizes
(:mod:`dockyard.apitypes.units`, which imports nothing): the CLI's start-up is a goal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from dockyard.apitypes.units import human_size

TYPE_CHECKING = False  # not `typing`'s: importing typing costs milliseconds of start-up
if TYPE_CHECKING:
    from typing import Any, TextIO

CLEAR_LINE = "\x1b[1K\x1b[K"


class StreamError(Exception):
    """The stream's ``errorDetail``: the operation failed after it started."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def progress_text(detail: Mapping[str, Any], width: int) -> str:
    """moby's ``JSONProgress.String`` for a terminal ``width`` columns wide (the bar only
    above 110 columns)."""
    current = _int(detail.get("current"))
    total = _int(detail.get("total"))
    units = str(detail.get("units") or "")
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{current} {units}" if units else f"{human_size(current):>8}"
    filled = min(int(current / total * 100) // 2, 50)
    box = ""
    if width > 110:
        box = "[" + "=" * filled + ">" + " " * (50 - filled) + "] "
    if detail.get("hidecounts"):
        numbers = ""
    elif units:
        numbers = f"{current}/{total} {units}" if current <= total else f"{current} {units}"
    else:
        numbers = f"{human_size(current):>8}"
        if current <= total:
            numbers += "/" + human_size(total)
    return box + numbers


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _terminal_width(out: TextIO) -> int:
    import os

    try:
        return os.get_terminal_size(out.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 80


def display(messages: Iterable[Mapping[str, Any]], out: TextIO, *, tty: bool,
            aux: Callable[[Any], None] | None = None, width: int | None = None) -> None:
    """Show a stream of decoded ``JSONMessage`` values on ``out`` (see the module
    docstring); raises :class:`StreamError` at an ``errorDetail``."""
    if width is None:
        width = _terminal_width(out) if tty else 200
    ids: dict[str, int] = {}
    for jm in messages:
        if not isinstance(jm, Mapping):
            continue
        if "aux" in jm:
            if aux is not None:
                aux(jm["aux"])
            continue
        ident = str(jm.get("id") or "")
        has_progress = isinstance(jm.get("progressDetail"), Mapping)
        diff = 0
        if ident and (has_progress or jm.get("progress")):
            line = ids.get(ident)
            if line is None:
                line = len(ids)
                ids[ident] = line
                if tty:
                    out.write("\n")
            diff = len(ids) - line
            if tty:
                out.write(f"\x1b[{diff}A")
        else:
            # Something that is not a layer's progress: the lines above are final.
            ids = {}
        try:
            _display_one(jm, out, tty=tty, width=width)
        finally:
            if ident and tty and diff:
                out.write(f"\x1b[{diff}B")
            out.flush()


def _display_one(jm: Mapping[str, Any], out: TextIO, *, tty: bool, width: int) -> None:
    error = jm.get("errorDetail")
    if isinstance(error, Mapping) or jm.get("error"):
        fields: Mapping[str, Any] = error if isinstance(error, Mapping) else {}
        code = _int(fields.get("code"))
        message = str(fields.get("message") or jm.get("error") or "")
        if code == 401:
            message = "authentication is required"
        raise StreamError(message, code)
    detail = jm.get("progressDetail")
    stream = str(jm.get("stream") or "")
    status = str(jm.get("status") or "")
    endl = ""
    if tty and not stream and isinstance(detail, Mapping):
        out.write(CLEAR_LINE)
        endl = "\r"
        out.write(endl)
    elif isinstance(detail, Mapping) and progress_text(detail, width):
        return  # no progress bars off a terminal
    ident = str(jm.get("id") or "")
    if ident:
        out.write(f"{ident}: ")
    if jm.get("from"):
        out.write(f"(from {jm['from']}) ")
    if isinstance(detail, Mapping) and tty:
        out.write(f"{status} {progress_text(detail, width)}{endl}")
    elif jm.get("progress"):
        out.write(f"{status} {jm['progress']}{endl}")
    elif stream:
        out.write(f"{stream}{endl}")
    else:
        out.write(f"{status}{endl}\n")
