"""A minimal single-threaded reactor: descriptor callbacks, timers and idle work over
``selectors``.

Why not asyncio: the supervisor forks (it is the zygote) and may ``setns`` into mount
namespaces, which needs a single-threaded process, and it must stay small. Every callback
runs to completion on the one thread; nothing here blocks except ``select`` itself.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
import selectors
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

Callback = Callable[[], None]


class Timer:
    """A pending call; ``cancel`` keeps it from running."""

    __slots__ = ("callback", "cancelled", "seq", "when")

    def __init__(self, when: float, seq: int, callback: Callback) -> None:
        self.when = when
        self.seq = seq
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: Timer) -> bool:
        return (self.when, self.seq) < (other.when, other.seq)


class Loop:
    """Reader and writer callbacks per descriptor, timers, idle callbacks, and ``run``
    until ``stop``."""

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._timers: list[Timer] = []
        self._seq = itertools.count()
        self._stopping = False
        self._idle: collections.deque[tuple[float, Callback]] = collections.deque()
        self._last_activity = time.monotonic()

    # A selector key's data is [reader, writer]; a None slot means "not interested".
    def _update(self, fd: int, slot: int, cb: Callback | None) -> None:
        key = self._sel.get_map().get(fd)
        if key is None:
            if cb is None:
                return
            cbs: list[Callback | None] = [None, None]
            cbs[slot] = cb
            self._sel.register(fd, _events(cbs), cbs)
            return
        cbs = key.data
        cbs[slot] = cb
        events = _events(cbs)
        if events == 0:
            self._sel.unregister(fd)
        elif events != key.events:
            self._sel.modify(fd, events, cbs)

    def add_reader(self, fd: int, cb: Callback) -> None:
        self._update(fd, 0, cb)

    def remove_reader(self, fd: int) -> None:
        self._update(fd, 0, None)

    def add_writer(self, fd: int, cb: Callback) -> None:
        self._update(fd, 1, cb)

    def remove_writer(self, fd: int) -> None:
        self._update(fd, 1, None)

    def forget(self, fd: int) -> None:
        """Drop every interest in ``fd`` (call before closing it)."""
        if fd in self._sel.get_map():
            self._sel.unregister(fd)

    def call_later(self, delay: float, cb: Callback) -> Timer:
        t = Timer(time.monotonic() + delay, next(self._seq), cb)
        heapq.heappush(self._timers, t)
        return t

    def call_when_idle(self, cb: Callback, quiet: float = 0.005) -> None:
        """Run ``cb`` once nothing (no descriptor event, no timer) has happened for
        ``quiet`` seconds: work that must never delay a request, such as forking spares.
        One idle callback runs per quiet loop turn, in the order they were added; running
        one does not count as activity."""
        self._idle.append((quiet, cb))

    def stop(self) -> None:
        self._stopping = True

    def run(self) -> None:
        """Dispatch until :meth:`stop`. A failing callback is logged, never fatal: the
        supervisor is the parent of every container and must outlive its own bugs."""
        self._stopping = False
        while not self._stopping:
            timeout = None
            while self._timers and self._timers[0].cancelled:
                heapq.heappop(self._timers)
            if self._timers:
                timeout = max(0.0, self._timers[0].when - time.monotonic())
            if self._idle:
                until_idle = max(0.0, self._last_activity + self._idle[0][0] - time.monotonic())
                timeout = until_idle if timeout is None else min(timeout, until_idle)
            events = self._sel.select(timeout)
            for key, mask in events:
                if mask & selectors.EVENT_READ:
                    self._dispatch(key.fd, 0)
                if mask & selectors.EVENT_WRITE:
                    self._dispatch(key.fd, 1)
            now = time.monotonic()
            busy = bool(events)
            while self._timers and self._timers[0].when <= now:
                t = heapq.heappop(self._timers)
                if not t.cancelled:
                    busy = True
                    _guarded(t.callback)
            if busy:
                self._last_activity = time.monotonic()
            elif self._idle and now >= self._last_activity + self._idle[0][0]:
                _guarded(self._idle.popleft()[1])

    def _dispatch(self, fd: int, slot: int) -> None:
        # Re-read the key: an earlier callback of this round may have changed or dropped it.
        key = self._sel.get_map().get(fd)
        if key is None:
            return
        cb = key.data[slot]
        if cb is not None:
            _guarded(cb)

    def close(self) -> None:
        self._sel.close()


def _events(cbs: list[Callback | None]) -> int:
    return ((selectors.EVENT_READ if cbs[0] is not None else 0)
            | (selectors.EVENT_WRITE if cbs[1] is not None else 0))


def _guarded(cb: Callback) -> None:
    try:
        cb()
    except Exception:
        log.exception("callback %r failed", cb)
