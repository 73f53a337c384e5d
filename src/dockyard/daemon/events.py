"""The daemon's event bus: what happened to containers and images, for ``GET /events``.

Publishing (any service, from the event loop or from a worker thread)::

    bus.publish(EventType.IMAGE, "tag", image_id, {"name": "busybox:mine"})
    bus.publish(EventType.CONTAINER, "die", c.id, {"exitCode": "3", ...})

``publish`` never blocks and never fails: it stamps the event with the time, keeps it in
a bounded ring (the last ``capacity`` events, so ``since``/``until`` can replay the past)
and hands it to every subscriber. Actions and attributes are Docker's (moby's
``daemon/events.go``): containers carry ``name``, ``image`` and their labels (see
``container_attributes``); images carry ``name`` (the reference acted on) and their
labels; ``die`` adds ``exitCode`` and ``execDuration``, ``kill`` adds ``signal``,
``exec_die`` ``execID`` and ``exitCode``, ``rename`` ``oldName``, ``resize`` ``height`` and
``width``. An image service that only needs to publish depends on the ``Publisher``
protocol below, not on the bus.

Subscribing (the events endpoint)::

    sub = bus.subscribe(since_ns, until_ns, EventFilter.parse(filters))
    for ev in sub.past: ...                      # from the ring, oldest first
    while (ev := await sub.next(timeout)) ...    # live, None on timeout
    sub.close()

A subscriber that falls ``QUEUE_LIMIT`` events behind is dropped (``sub.overflowed``;
``next`` raises ``Unavailable``): a stalled reader must never hold the daemon back or grow
its memory without bound.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from dockyard import errors
from dockyard.daemon.eventtypes import Event, EventType
from dockyard.oci import reference

log = logging.getLogger(__name__)

RING_CAPACITY = 1024
QUEUE_LIMIT = 4096

__all__ = ["Event", "EventBus", "EventFilter", "EventType", "Publisher", "Subscription",
           "container_attributes"]


class Publisher(Protocol):
    """What a service needs to report events."""

    def publish(self, type: EventType, action: str, actor_id: str,
                attributes: Mapping[str, str] | None = None) -> Event: ...


def container_attributes(name: str, image: str, labels: Mapping[str, str],
                         extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """moby's ``LogContainerEventWithAttributes``: the extra attributes, the container's
    labels, then ``image`` (as the user gave it) and ``name`` (no leading ``/``)."""
    attrs = dict(extra or {})
    attrs.update(labels)
    if image:
        attrs["image"] = image
    attrs["name"] = name.lstrip("/")
    return attrs


# --------------------------------------------------------------------------- filters


def _strip_tag(image: str) -> str:
    """moby ``stripTag``: the familiar name without tag or digest (``busybox``)."""
    try:
        return reference.familiar_name(reference.parse_normalized_named(image))
    except errors.InvalidArgument:
        return image


@dataclass(frozen=True, slots=True)
class EventFilter:
    """The ``filters`` of ``GET /events``, as moby's ``daemon/events/filter.go`` reads them.

    Every named filter must match (AND); within one name, any value (OR). ``type``,
    ``scope`` and ``event`` are exact (``event=exec_start`` also matches the action
    ``exec_start: sh -c ...``, as in moby); ``container`` (and ``daemon``, ``network``,
    ``volume``) match the actor's ID or ``name`` attribute, exactly or by prefix;
    ``image`` matches the image ID or name, with or without tag; ``label`` (``k`` or
    ``k=v``) must all be present in the attributes. Unknown names are ignored, as moby
    does.
    """

    args: tuple[tuple[str, frozenset[str]], ...] = ()

    @classmethod
    def parse(cls, filters: Mapping[str, Sequence[str]]) -> EventFilter:
        return cls(tuple(sorted((k, frozenset(v)) for k, v in filters.items() if v)))

    def _values(self, key: str) -> frozenset[str]:
        for k, v in self.args:
            if k == key:
                return v
        return frozenset()

    def _exact(self, key: str, *sources: str) -> bool:
        values = self._values(key)
        return not values or any(s in values for s in sources)

    def _fuzzy(self, key: str, *sources: str) -> bool:
        values = self._values(key)
        if not values:
            return True
        return any(s in values or any(s.startswith(v) for v in values)
                   for s in sources if s)

    def _event(self, ev: Event) -> bool:
        values = self._values("event")
        if not values:
            return True
        if ev.action in values:
            return True
        fuzzy = {"exec_create", "exec_start", "health_status"}
        return any(v in fuzzy and ev.action.startswith(v) for v in values)

    def _name(self, key: str, ev: Event) -> bool:
        return self._fuzzy(key, ev.actor_id, ev.attrs.get("name", ""))

    def _image(self, ev: Event) -> bool:
        values = self._values("image")
        if not values:
            return True
        name = ev.attrs.get("name" if ev.type is EventType.IMAGE else "image", "")
        candidates = {ev.actor_id, name, _strip_tag(ev.actor_id) if ev.actor_id else "",
                      _strip_tag(name) if name else ""}
        return bool(candidates & values)

    def _labels(self, ev: Event) -> bool:
        values = self._values("label")
        if not values:
            return True
        attrs = ev.attrs
        for v in values:
            key, eq, want = v.partition("=")
            if key not in attrs or (eq and attrs[key] != want):
                return False
        return True

    def matches(self, ev: Event) -> bool:
        if not self.args:
            return True
        return (self._event(ev) and self._exact("type", ev.type.value)
                and self._exact("scope", ev.scope)
                and self._name("container", ev) and self._name("daemon", ev)
                and self._name("network", ev) and self._name("volume", ev)
                and self._image(ev) and self._labels(ev))


# --------------------------------------------------------------------------- the bus


class Subscription:
    """One reader of the bus: the matching past events, then the live ones."""

    def __init__(self, bus: EventBus, match: EventFilter, until_ns: int,
                 past: list[Event]) -> None:
        self._bus = bus
        self.match = match
        self.until_ns = until_ns
        self.past = past
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._queue: collections.deque[Event] = collections.deque()
        self._ready = asyncio.Event()
        self.overflowed = False
        self.closed = False

    def offer(self, ev: Event) -> None:
        """Called by the bus for every event (any thread)."""
        if self.closed or not self.match.matches(ev):
            return
        if self.until_ns and ev.time_ns > self.until_ns:
            return
        if threading.get_ident() == self._thread:
            self._put(ev)
        else:
            try:
                self._loop.call_soon_threadsafe(self._put, ev)
            except RuntimeError:  # the loop has closed: nobody is reading any more
                self.closed = True

    def _put(self, ev: Event) -> None:
        if self.closed:
            return
        if len(self._queue) >= QUEUE_LIMIT:
            log.warning("dropping an events reader %d events behind", len(self._queue))
            self.overflowed = True
            self.close()
            self._ready.set()
            return
        self._queue.append(ev)
        self._ready.set()

    async def next(self, timeout: float | None = None) -> Event | None:
        """The next live event, or None if ``timeout`` passed first."""
        if not self._queue:
            if self.overflowed:
                raise errors.Unavailable("the events reader fell too far behind")
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
            if not self._queue:
                if self.overflowed:
                    raise errors.Unavailable("the events reader fell too far behind")
                return None
        return self._queue.popleft()

    def close(self) -> None:
        self.closed = True
        self._bus.unsubscribe(self)


class EventBus:
    """Publish and subscribe; see the module docstring."""

    def __init__(self, capacity: int = RING_CAPACITY,
                 clock: Callable[[], int] = time.time_ns) -> None:
        # Re-entrant: a subscriber dropped while an event is offered to it (on the loop's
        # thread) unsubscribes from inside ``publish``.
        self._lock = threading.RLock()
        self._ring: collections.deque[Event] = collections.deque(maxlen=capacity)
        self._subs: list[Subscription] = []
        self._clock = clock

    def publish(self, type: EventType, action: str, actor_id: str,
                attributes: Mapping[str, str] | None = None) -> Event:
        attrs = tuple(sorted((str(k), str(v)) for k, v in (attributes or {}).items()))
        with self._lock:
            ev = Event(type, action, actor_id, attrs, self._clock())
            self._ring.append(ev)
            # Offered under the lock: every subscriber sees events in the ring's order.
            for sub in list(self._subs):
                sub.offer(ev)
        log.debug("event %s %s %s", type.value, action, actor_id[:12])
        return ev

    def subscribe(self, since_ns: int = 0, until_ns: int = 0,
                  match: EventFilter | None = None) -> Subscription:
        """A subscription from now on; with ``since`` or ``until``, the ring's matching
        events in that window come first (``sub.past``). Call from the event loop."""
        f = match or EventFilter()
        with self._lock:
            past: list[Event] = []
            if since_ns or until_ns:
                past = [e for e in self._ring
                        if e.time_ns >= since_ns and (not until_ns or e.time_ns <= until_ns)
                        and f.matches(e)]
            sub = Subscription(self, f, until_ns, past)
            self._subs.append(sub)
        return sub

    def subscribe_events(self, since_ns: int, until_ns: int,
                         filters: Mapping[str, Sequence[str]]) -> Subscription:
        """``subscribe`` with the ``filters`` of the query (the events router's backend)."""
        return self.subscribe(since_ns, until_ns, EventFilter.parse(filters))

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    def recent(self) -> list[Event]:
        """The ring's events, oldest first (for tests and diagnostics)."""
        with self._lock:
            return list(self._ring)
