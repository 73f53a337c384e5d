"""Pulls, pushes and logins for the Engine API: the image service's blocking ``pull`` and
``push`` run in a worker thread, and their progress crosses to the event loop.

A ``Transfer`` is one running pull or push (of one tag, or of every tag of a
repository). Its lifecycle, as the router drives it::

    transfer = await registry.pull(ref, auth=..., platform=...)   # started in a thread
    while not transfer.finished:
        item = await transfer.next(timeout)     # Progress | PushResult, None: timed out
        ...write a JSON line...
    await transfer.wait()        # raises the transfer's error, if it failed
    transfer.cancel()            # the client went away: stop at the next chunk

Progress callbacks come from the image service's worker threads (one per layer).
``ProgressPipe`` is the thread-safe ``ProgressFn`` that hands each value to the loop
(``call_soon_threadsafe`` into an ``asyncio.Queue``) and drops the byte-count lines of a
layer that come faster than ``MIN_INTERVAL`` apart (the last one of a layer always goes:
the next action of the layer follows it anyway), so the stream stays small. It also
drops what a layer says after its final status (``Pull complete``, ``Pushed``...): the
image service's threads may report a layer's steps slightly out of order, and the docker
CLI shows a layer's last line.

Events (moby's ``LogImageEvent`` for pulls and pushes): ``pull`` and ``push``, the actor
and ``name`` being the familiar reference (``busybox:latest``), with the image's labels.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from dockyard.distribution import RegistryAuth, RegistryConfig, check_login
from dockyard.errors import NotFound
from dockyard.image import Image, ImageService
from dockyard.image.progress import Progress, ProgressFn, PullResult, PushResult
from dockyard.oci import reference

log = logging.getLogger(__name__)

MIN_INTERVAL = 0.1
"""Seconds between two byte-count lines of one layer (at most 10 a second)."""

FINAL_STATUSES = frozenset({"Pull complete", "Already exists", "Pushed",
                            "Layer already exists"})
"""The last status of a layer's line (and ``Mounted from <repo>``)."""

ImageEventSink = Callable[[str, str, Mapping[str, str]], object]
"""``sink(action, actor_id, attributes)``: an image event."""

Item = Progress | PushResult
T = TypeVar("T")


class _Done:
    """The marker after a transfer's last item (``DONE``)."""

    def __repr__(self) -> str:
        return "DONE"


DONE = _Done()


class ProgressPipe:
    """A thread-safe ``ProgressFn`` feeding an ``asyncio.Queue`` on ``loop``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, min_interval: float = MIN_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Item | _Done] = asyncio.Queue()
        self.min_interval = min_interval
        self.clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._final: set[str] = set()
        self._lock = threading.Lock()
        self.dropped = 0

    def __call__(self, item: Progress) -> None:
        with self._lock:
            if item.id and item.id in self._final:
                # A layer's line ends with its final status: anything after it (a late
                # "Download complete" from another thread) would be drawn over it.
                self.dropped += 1
                return
            if not item.id or item.status.startswith("Pulling from "):
                self._final.clear()  # a new image (pull -a, push of every tag)
            elif item.status in FINAL_STATUSES or item.status.startswith("Mounted from "):
                self._final.add(item.id)
            elif item.current is not None and item.total and item.current < item.total:
                key = (item.id, item.status)
                now = self.clock()
                last = self._last.get(key)
                if last is not None and now - last < self.min_interval:
                    self.dropped += 1
                    return
                self._last[key] = now
            self.put(item)

    def put(self, item: Item | _Done) -> None:
        """Hand ``item`` to the loop (from any thread)."""
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the daemon is stopping
            log.debug("progress after the event loop closed: %s", item)


class Transfer(Generic[T]):
    """A pull or a push running in a worker thread (see the module docstring)."""

    def __init__(self, work: Callable[[ProgressPipe, threading.Event], T],
                 loop: asyncio.AbstractEventLoop) -> None:
        self.pipe = ProgressPipe(loop)
        self.cancelled = threading.Event()
        self._work = work
        self.finished = False
        """Every item was handed out: ``result`` answers."""
        self._future: asyncio.Future[T] = loop.run_in_executor(None, self._run)

    def _run(self) -> T:
        try:
            return self._work(self.pipe, self.cancelled)
        finally:
            self.pipe.put(DONE)

    async def next(self, timeout: float | None = None) -> Item | None:
        """The next item; ``None`` if ``timeout`` passed first or the transfer ended
        (then ``finished`` is true)."""
        if self.finished:
            return None
        try:
            item = await asyncio.wait_for(self.pipe.queue.get(), timeout)
        except TimeoutError:
            return None
        if isinstance(item, _Done):
            self.finished = True
            return None
        return item

    async def wait(self) -> T:
        """The transfer's outcome: its value, or its error raised (the thread's end may
        reach the loop just after the last item: hence a wait, not a plain result)."""
        return await asyncio.shield(self._future)

    def cancel(self) -> None:
        """Ask the work to stop at its next chunk (the client went away)."""
        self.cancelled.set()
        self._future.add_done_callback(_log_cancelled)


def _log_cancelled(future: asyncio.Future[T]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        log.info("transfer cancelled: %s", exc)
    else:
        log.info("transfer finished although its client went away")


def _without_status(report: ProgressFn) -> ProgressFn:
    """``report`` but the "Status: ..." line of one tag's pull (``pull -a``)."""
    def forward(item: Progress) -> None:
        if item.id or not item.status.startswith("Status: "):
            report(item)
    return forward


def _without_preamble(report: ProgressFn) -> ProgressFn:
    """``report`` but "The push refers to repository [...]" (the later tags of -a)."""
    def forward(item: Progress) -> None:
        if item.id or not item.status.startswith("The push refers to repository "):
            report(item)
    return forward


def familiar(ref: str) -> str:
    return reference.familiar_string(reference.parse(ref))


class DaemonRegistry:
    """The registry backend of the API (``api.images.RegistryBackend`` and
    ``api.auth.AuthBackend``)."""

    def __init__(self, images: ImageService, config: RegistryConfig,
                 events: ImageEventSink | None = None) -> None:
        self.images = images
        self.config = config
        self.events = events

    def _publish(self, action: str, name: str, image: Image | None) -> None:
        if self.events is None:
            return
        attributes = dict(image.config.config.labels) if image is not None else {}
        attributes["name"] = name
        self.events(action, name, attributes)

    # ------------------------------------------------------------------ pull

    async def pull(self, ref: str, *, auth: RegistryAuth, platform: str = ""
                   ) -> Transfer[list[PullResult]]:
        """Start pulling ``ref`` (normalised; a bare repository: every tag the registry
        lists, as ``docker pull -a``)."""
        parsed = reference.parse(ref)

        def work(pipe: ProgressPipe, cancel: threading.Event) -> list[PullResult]:
            refs = [ref]
            if parsed.is_name_only:  # docker pull -a: every tag the registry lists
                tags = self.images.remote_tags(ref, auth=auth, config=self.config)
                if not tags:
                    raise NotFound("no tags available for "
                                   f"{reference.familiar_name(parsed)}")
                refs = [str(reference.with_tag(parsed, tag)) for tag in sorted(set(tags))]
            results = []
            every = parsed.is_name_only
            for one in refs:
                if cancel.is_set():
                    break
                result = self.images.pull(one, auth=auth, platform=platform,
                                          progress=_without_status(pipe) if every else pipe,
                                          config=self.config, cancel=cancel)
                self._publish("pull", familiar(one), result.image)
                results.append(result)
            if every and results:  # moby's writeStatus: once, for the repository
                done = ("Downloaded newer image" if any(r.updated for r in results)
                        else "Image is up to date")
                pipe(Progress(f"Status: {done} for {reference.familiar_string(parsed)}"))
            return results

        return Transfer(work, asyncio.get_running_loop())

    async def distribution_inspect(self, ref: str, *, auth: RegistryAuth) -> dict[str, Any]:
        """``GET /distribution/{name}/json``: what the registry holds for ``ref``."""
        return await asyncio.to_thread(self.images.distribution_inspect, ref, auth=auth,
                                       config=self.config)

    # ------------------------------------------------------------------ push

    def _local_tags(self, ref: str) -> list[str]:
        """The references to push: ``ref`` itself, or every local tag of its repository
        (moby: "An image does not exist locally with the tag: ...")."""
        parsed = reference.parse(ref)
        missing = NotFound("An image does not exist locally with the tag: "
                           f"{reference.familiar_name(parsed)}")
        if not parsed.is_name_only:
            try:
                self.images.get(ref)
            except NotFound:
                raise missing from None
            return [ref]
        tags: list[str] = []
        for summary in self.images.images():
            for tagged in summary.repo_tags:
                named = reference.parse_normalized_named(tagged)
                if named.name == parsed.name and named.tag:
                    tags.append(str(named))
        if not tags:
            raise missing
        return sorted(set(tags))

    async def push(self, ref: str, *, auth: RegistryAuth) -> Transfer[list[PushResult]]:
        """Start pushing ``ref`` (normalised; a bare repository: every local tag). The
        local names are checked before this returns (a missing one is ``NotFound``)."""
        refs = await asyncio.to_thread(self._local_tags, ref)

        def work(pipe: ProgressPipe, cancel: threading.Event) -> list[PushResult]:
            results = []
            for n, one in enumerate(refs):
                if cancel.is_set():
                    break
                # moby says "The push refers to repository [...]" once, not per tag
                result = self.images.push(one, auth=auth,
                                          progress=_without_preamble(pipe) if n else pipe,
                                          config=self.config, cancel=cancel)
                pipe.put(result)
                results.append(result)
                try:
                    image: Image | None = self.images.get(one)
                except NotFound:  # removed meanwhile: the event still says what was pushed
                    image = None
                self._publish("push", familiar(one), image)
            return results

        return Transfer(work, asyncio.get_running_loop())

    # ------------------------------------------------------------------ login

    async def login(self, auth: RegistryAuth) -> str:
        """``POST /auth``: check ``auth`` against its ``server_address``; the identity
        token the registry handed out, or ``""``."""
        return await asyncio.to_thread(check_login, auth.server_address, auth, self.config)
