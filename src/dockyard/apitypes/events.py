"""Events as Docker's JSON (``events.Message``), one JSON line per event on the wire."""

from __future__ import annotations

import json
from typing import Any

from dockyard.daemon.eventtypes import Event, EventType

__all__ = ["Event", "EventType", "encode_event", "event_json"]


def event_json(ev: Event) -> dict[str, Any]:
    """moby's ``events.Message``, with the deprecated ``status``/``id``/``from`` that it
    still fills for containers and images (older clients read them)."""
    attrs = ev.attrs
    out: dict[str, Any] = {}
    if ev.type in (EventType.CONTAINER, EventType.IMAGE):
        out["status"] = ev.action
        out["id"] = ev.actor_id
        if ev.type is EventType.CONTAINER and attrs.get("image"):
            out["from"] = attrs["image"]
    out.update({
        "Type": ev.type.value,
        "Action": ev.action,
        "Actor": {"ID": ev.actor_id, "Attributes": attrs},
        "scope": ev.scope,
        "time": ev.time_ns // 1_000_000_000,
        "timeNano": ev.time_ns,
    })
    return out


def encode_event(ev: Event) -> bytes:
    return json.dumps(event_json(ev), separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
