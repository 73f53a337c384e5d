"""``dockyard events``: the daemon's event stream as the docker CLI prints it.

Each event is one line, ``<time> <Type> <Action> <Actor.ID> (<attributes sorted, k=v>)``
(docker's ``prettyPrintEvent``), or the ``--format`` template over the event with Go's
field names (``.Type``, ``.Action``, ``.Actor.Attributes.name``, ``.Time``,
``.TimeNano``, ``.Status``, ``.ID``, ``.From``, ``.Scope``); ``{{json .}}`` prints the
event as the daemon sent it. ``--since``/``--until`` take what docker's
``GetTimestamp`` takes: Go durations (``10m``, ``1h30m``: before now), RFC 3339 dates
and times (local when they carry no zone), and unix timestamps.
"""

from __future__ import annotations

from datetime import UTC

from dockyard.cli.args import LIST, STRING, Flag, Spec
from dockyard.cli.context import PROG, Context, StatusError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

P = PROG

EVENTS = Spec(
    f"{P} events",
    f"{P} events [OPTIONS]",
    "Get real time events from the server",
    [
        Flag("filter", LIST, "Filter output based on conditions provided", short="f"),
        Flag("format", STRING, "Format output using a custom template"),
        Flag("since", STRING, "Show all events created since timestamp"),
        Flag("until", STRING, "Stream events until this timestamp"),
    ],
    max_args=0,
    aliases=[f"{P} system events", f"{P} events"],
)

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(text: str) -> float | None:
    """Go's ``time.ParseDuration`` in seconds (``1h30m``, ``-1.5h``, ``300ms``); None when
    ``text`` is not a duration."""
    if not text:
        return None
    sign = 1.0
    rest = text
    if rest[0] in "+-":
        sign = -1.0 if rest[0] == "-" else 1.0
        rest = rest[1:]
    if rest == "0":
        return 0.0
    total = 0.0
    if not rest:
        return None
    while rest:
        i = 0
        while i < len(rest) and (rest[i].isdigit() or rest[i] == "."):
            i += 1
        number = rest[:i]
        if not number or number == ".":
            return None
        j = i
        while j < len(rest) and not (rest[j].isdigit() or rest[j] == "."):
            j += 1
        unit = rest[i:j]
        if unit not in _UNITS:
            return None
        total += float(number) * _UNITS[unit]
        rest = rest[j:]
    return sign * total


def get_timestamp(value: str, now: float | None = None) -> str:
    """docker's ``timetypes.GetTimestamp``: the value as the ``since``/``until`` query
    wants it (``seconds`` or ``seconds.nanoseconds``)."""
    import time

    current = time.time() if now is None else now
    duration = parse_duration(value)
    if duration is not None and value != "0":
        return str(int(current - duration))
    from datetime import datetime, timedelta, timezone

    text = value
    has_zone = any(c in value for c in "zZ+") or value.count("-") == 3
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed: datetime | None = None
    if "-" in value or "T" in value:
        candidate = text if "T" in text or len(text) > 10 else text + "T00:00:00"
        if (
            "T" in candidate
            and candidate.split("T", 1)[1].count(":") == 0
            and len(candidate.split("T", 1)[1]) == 2
        ):
            candidate += ":00"
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            raise StatusError(
                f'parsing time "{value}": cannot parse "{value}" as a timestamp', 125
            ) from None
        if parsed.tzinfo is None:
            offset = time.localtime(current).tm_gmtoff or 0
            parsed = parsed.replace(
                tzinfo=timezone(timedelta(seconds=offset)) if not has_zone else UTC
            )
        stamp = parsed.timestamp()
        seconds = int(stamp // 1)
        nanos = parsed.microsecond * 1000
        return f"{seconds}.{nanos:09d}"
    head, dot, tail = value.partition(".")
    if head.lstrip("-").isdigit() and (not dot or tail.isdigit()):
        return value
    raise StatusError(f'failed to parse value as time or duration: "{value}"', 125)


_OMITEMPTY = frozenset({"status", "id", "from", "time", "timeNano"})


class Event:
    """An event with Go's field names for templates; ``{{json .}}`` is the wire form."""

    __slots__ = ("_msg",)

    def __init__(self, msg: dict[str, Any]) -> None:
        self._msg = msg

    @property
    def Status(self) -> object:
        return self._msg.get("status", "")

    @property
    def ID(self) -> object:
        return self._msg.get("id", "")

    @property
    def From(self) -> object:
        return self._msg.get("from", "")

    @property
    def Type(self) -> object:
        return self._msg.get("Type", "")

    @property
    def Action(self) -> object:
        return self._msg.get("Action", "")

    @property
    def Actor(self) -> object:
        actor = self._msg.get("Actor") or {}
        return {"ID": actor.get("ID", ""), "Attributes": actor.get("Attributes") or {}}

    @property
    def Scope(self) -> object:
        return self._msg.get("scope", "")

    @property
    def Time(self) -> object:
        return self._msg.get("time", 0)

    @property
    def TimeNano(self) -> object:
        return self._msg.get("timeNano", 0)

    def wire(self) -> object:
        """The Go struct's JSON: ``status``, ``id``, ``from``, ``time`` and ``timeNano``
        are ``omitempty`` there, the attributes a map (sorted keys)."""
        wired = {k: v for k, v in self._msg.items() if v or k not in _OMITEMPTY}
        actor = wired.get("Actor")
        if isinstance(actor, dict) and isinstance(actor.get("Attributes"), dict):
            attrs = actor["Attributes"]  # a Go map: its JSON keys are sorted
            wired["Actor"] = {**actor, "Attributes": {k: attrs[k] for k in sorted(attrs)}}
        return wired


def pretty(msg: dict[str, Any]) -> str:
    """docker's ``prettyPrintEvent``."""
    from dockyard.cli.format.human import rfc3339_nano

    parts = []
    if msg.get("timeNano"):
        parts.append(rfc3339_nano(int(msg["timeNano"])) + " ")
    elif msg.get("time"):
        parts.append(rfc3339_nano(int(msg["time"]) * 1_000_000_000) + " ")
    actor = msg.get("Actor") or {}
    parts.append(f"{msg.get('Type', '')} {msg.get('Action', '')} {actor.get('ID', '')}")
    attrs = actor.get("Attributes") or {}
    if attrs:
        parts.append(" (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")")
    return "".join(parts) + "\n"


def events(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(EVENTS, argv)
    from dockyard.cli.filters import filters_query

    query: dict[str, str] = {}
    if opts.text("since"):
        query["since"] = get_timestamp(opts.text("since"))
    if opts.text("until"):
        query["until"] = get_timestamp(opts.text("until"))
    query.update(filters_query(opts.values("filter")))
    fmt = opts.text("format")
    tmpl = None
    if fmt:
        from dockyard.cli.format.template import TemplateError, compile

        try:
            tmpl = compile("{{json .}}" if fmt == "json" else fmt)
        except TemplateError as err:
            raise StatusError(f"template parsing error: {err}", 64) from None
    resp = ctx.client().get("/events", query)
    try:
        for msg in resp.iter_json():
            if not isinstance(msg, dict):
                continue
            if tmpl is None:
                ctx.write(pretty(msg))
            else:
                from dockyard.cli.format.template import TemplateError

                try:
                    ctx.write(tmpl.execute(Event(msg)) + "\n")
                except TemplateError as err:
                    raise StatusError(str(err), 1) from None
            ctx.out.flush()
    finally:
        resp.close()
    return 0
