"""The ``filters`` query parameter: ``{"status": ["running"], "label": ["a=b"]}``, or the
older form ``{"status": {"running": true}}``; both become name → values."""

from __future__ import annotations

import json

from dockyard.errors import InvalidArgument

MAX_FILTERS = 64 * 1024


def parse_filters(text: str) -> dict[str, list[str]]:
    if not text:
        return {}
    if len(text) > MAX_FILTERS:
        raise InvalidArgument("filters: too long")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"invalid filter: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument("invalid filter: expected a JSON object")
    out: dict[str, list[str]] = {}
    for name, value in doc.items():
        if isinstance(value, dict):
            values = [k for k, v in value.items() if v]
        elif isinstance(value, list):
            values = value
        else:
            raise InvalidArgument(f"invalid filter '{name}': expected a list or an object")
        if not all(isinstance(v, str) for v in values):
            raise InvalidArgument(f"invalid filter '{name}': values must be strings")
        out[str(name)] = list(values)
    return out
