"""``GET /events``: past events from the daemon's ring, then live ones, as JSON lines.

moby's ``getEvents``: ``since``/``until`` are Docker timestamps; ``until`` before ``since``
is a 400; an ``until`` already past sends the matching past events and ends the stream;
a future ``until`` ends it at that time; otherwise it streams until the client leaves.
Headers go out at once (clients wait for them before they report being subscribed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Protocol

from aiohttp import web

from dockyard.api.routing import Routes
from dockyard.apitypes.events import Event, encode_event
from dockyard.apitypes.filters import parse_filters
from dockyard.apitypes.times import parse_timestamp
from dockyard.errors import InvalidArgument, Unavailable

log = logging.getLogger(__name__)

DISCONNECT_POLL = 1.0


class EventStreamLike(Protocol):
    @property
    def past(self) -> list[Event]: ...

    async def next(self, timeout: float | None = None) -> Event | None: ...

    def close(self) -> None: ...


class EventsBackend(Protocol):
    def subscribe_events(self, since_ns: int, until_ns: int,
                         filters: Mapping[str, Sequence[str]]) -> EventStreamLike: ...


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


class EventsRouter:
    def __init__(self, backend: EventsBackend) -> None:
        self.backend = backend

    def register(self, routes: Routes) -> None:
        routes.add("GET", "/events", self.events)

    async def events(self, request: web.Request) -> web.StreamResponse:
        now = time.time_ns()
        since = request.query.get("since", "")
        until = request.query.get("until", "")
        since_ns = parse_timestamp(since, now) if since else 0
        until_ns = parse_timestamp(until, now) if until else 0
        if until_ns and until_ns < since_ns:
            raise InvalidArgument(f"`since` time ({since}) cannot be after `until` time "
                                  f"({until})")
        only_past = bool(until_ns) and until_ns < now
        filters = parse_filters(request.query.get("filters", ""))
        sub = self.backend.subscribe_events(since_ns, until_ns, filters)
        try:
            response = web.StreamResponse(status=200)
            response.content_type = "application/json"
            await response.prepare(request)
            try:
                if sub.past:
                    await response.write(b"".join(encode_event(e) for e in sub.past))
                if not only_past:
                    await self._live(request, response, sub, until_ns)
                await response.write_eof()
            except ConnectionError:
                log.debug("an events reader went away")
            except Unavailable as exc:
                log.warning("events stream ended: %s", exc)
            return response
        finally:
            sub.close()

    async def _live(self, request: web.Request, response: web.StreamResponse,
                    sub: EventStreamLike, until_ns: int) -> None:
        while True:
            timeout = DISCONNECT_POLL
            if until_ns:
                left = (until_ns - time.time_ns()) / 1e9
                if left <= 0:
                    return
                timeout = min(timeout, left)
            ev = await sub.next(timeout)
            if ev is None:
                if _client_gone(request):
                    return
                continue
            await response.write(encode_event(ev))
