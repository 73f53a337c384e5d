"""The ``/v2/`` route table: which handler answers a path and method, and what it needs.

Repository names contain slashes, so ``/v2/<name>/...`` is matched here rather than by
aiohttp's router: the patterns are tried in order, the name is whatever precedes the
endpoint's suffix (``a/blobs/uploads/`` is an upload of ``a``; ``x/manifests/y/manifests/z``
is manifest ``z`` of ``x/manifests/y``), and then validated against the grammar (so a
path that has the shape of an endpoint but a bad name is NAME_INVALID, not 404).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.registry.auth.access import Scope
from dockyard.registry.errors import Unsupported
from dockyard.registry.names import validate_name
from dockyard.registry.routes import blobs, discovery, manifests, uploads
from dockyard.registry.routes.base import Handler, Route

PULL, PUSH, DELETE = "pull", "push", "delete"


@dataclass(frozen=True, slots=True)
class Endpoint:
    pattern: re.Pattern[str]
    methods: dict[str, tuple[Handler, str]]  # method -> (handler, action needed)


def _ep(pattern: str, methods: dict[str, tuple[Handler, str]]) -> Endpoint:
    return Endpoint(re.compile(pattern, re.ASCII | re.DOTALL), methods)


ENDPOINTS: tuple[Endpoint, ...] = (
    _ep(r"(?P<name>.+)/blobs/uploads/?", {"POST": (uploads.start_upload, PUSH)}),
    _ep(r"(?P<name>.+)/blobs/uploads/(?P<value>[^/]+)", {
        "GET": (uploads.get_upload, PUSH),
        "PATCH": (uploads.patch_upload, PUSH),
        "PUT": (uploads.put_upload, PUSH),
        "DELETE": (uploads.cancel_upload, PUSH),
    }),
    _ep(r"(?P<name>.+)/blobs/(?P<value>[^/]+)", {
        "GET": (blobs.get_blob, PULL),
        "HEAD": (blobs.get_blob, PULL),
        "DELETE": (blobs.delete_blob, DELETE),
    }),
    _ep(r"(?P<name>.+)/manifests/(?P<value>[^/]+)", {
        "GET": (manifests.get_manifest, PULL),
        "HEAD": (manifests.get_manifest, PULL),
        "PUT": (manifests.put_manifest, PUSH),
        "DELETE": (manifests.delete_manifest, DELETE),
    }),
    _ep(r"(?P<name>.+)/tags/list", {"GET": (discovery.list_tags, PULL)}),
    _ep(r"(?P<name>.+)/referrers/(?P<value>[^/]+)", {"GET": (discovery.referrers, PULL)}),
)


@dataclass(frozen=True, slots=True)
class Match:
    handler: Handler
    route: Route
    scope: Scope


def match(tail: str, method: str) -> Match | None:
    """The endpoint for ``/v2/<tail>``; None when no endpoint has that shape.

    A known path with a method it does not serve is UNSUPPORTED (405).
    """
    for ep in ENDPOINTS:
        m = ep.pattern.fullmatch(tail)
        if m is None:
            continue
        name = validate_name(m.group("name"))
        entry = ep.methods.get(method)
        if entry is None:
            raise Unsupported(f"{method} is not supported on this endpoint")
        handler, action = entry
        groups = m.groupdict()
        route = Route(name, groups.get("value") or "")
        return Match(handler, route, Scope("repository", name, frozenset({action})))
    return None


__all__ = ["ENDPOINTS", "Match", "match"]
