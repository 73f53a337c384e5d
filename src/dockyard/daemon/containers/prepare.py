"""Containers made ready to start right after their create, so that ``start`` only
releases them.

The docker CLI's ``run`` sends ``create``, then ``attach`` and ``wait`` (one round trip
each), and only then ``start``. The start's slow part is the runtime's create: the rootfs
mounted, ``config.json`` written, the supervisor's ``create`` (namespaces, mounts,
cgroup; the init waits before execve), loopback up. A preparation does exactly that (the
runner's ``make_task``) in the background, under the container's lock, so that it
overlaps the create's answer and the client's round trips; the start then finds the task
made and only hands over the attach sockets and starts it. The create's own worker
thread goes on with it as soon as the container is made and recorded (``reserve``, then
``adopt``: no hop through the event loop and back); ``begin`` prepares an existing entry.

It stays invisible:

* the start uses a preparation only if the container is the very value it was prepared
  for (an ``update``, a rename, anything recorded since: it is torn down and the start
  makes the task as it always did);
* a mount of the container's rootfs by anyone else (``docker cp``, ``export`` of a
  created container: ``RootfsManager.mount``'s hook) tears it down first: the
  container's layer is never mounted twice, and what a copy changed (``/etc/passwd``)
  is seen by the start;
* ``rm`` of a created container tears it down in the removal's background cleanup;
* one not started within ``TTL`` seconds is torn down; at most ``LIMIT`` are prepared
  or being prepared at once (a burst of ``docker create`` prepares the first few only);
* the daemon's shutdown tears them down; a daemon that dies with some finds records
  ``created`` whose tasks the supervisor holds in state created: recovery discards those
  tasks and unmounts their rootfs, as after a start that died half-way.

Every change of the table of preparations happens under the container's lock (the
preparation holds it while it prepares; ``take``, ``drop``, the expiry and the mount
hook run under it), so a start, a copy or a removal never meets half a preparation.
A preparation that fails is simply forgotten (the start makes the task again and
reports the error then, with Docker's exit code).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from dockyard import errors
from dockyard.daemon.containers.model import Container, Status
from dockyard.daemon.containers.table import Entry
from dockyard.runtime.supervisor.protocol import ContainerInfo

log = logging.getLogger(__name__)

T = TypeVar("T")

LIMIT = 2
"""Preparations (ready or in progress) at once."""
TTL = 5.0
"""Seconds a preparation waits for its start before it is torn down."""
HOOK_TIMEOUT = 60.0


class TaskMaker(Protocol):
    """What a preparation needs of the runner."""

    def make_task(self, c: Container, created: list[ContainerInfo]) -> ContainerInfo:
        """Rootfs, bundle and the supervisor's create (blocking; see ``Runner``)."""

    async def unmake_task(self, container_id: str) -> None:
        """Kill and forget a created task and unmount its rootfs."""

    def background(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task kept until done."""


@dataclass(frozen=True, slots=True)
class Prepared:
    container: Container
    info: ContainerInfo


class Preparations:
    def __init__(self, maker: TaskMaker) -> None:
        self.maker = maker
        self._ready: dict[str, Prepared] = {}
        self._busy: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        """The preparations under way."""
        self._closed = False

    def __contains__(self, container_id: str) -> bool:
        return container_id in self._ready or container_id in self._busy

    def begin(self, entry: Entry) -> None:
        """Prepare ``entry``'s new container in the background (if there is room)."""
        if self._closed or len(self._ready) + len(self._busy) >= LIMIT:
            return
        self._loop = asyncio.get_running_loop()
        self._busy.add(entry.id)
        task = asyncio.create_task(self._prepare(entry), name=f"prepare-{entry.id[:12]}")
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def reserve(self, container_id: str) -> bool:
        """Room for preparing a container still being created (``adopt``, or
        ``abandon``); False if there is none (``LIMIT``, or the daemon stops)."""
        if self._closed or len(self._ready) + len(self._busy) >= LIMIT:
            return False
        self._busy.add(container_id)
        return True

    async def make(self, container_id: str, make: Callable[[], tuple[Container, T]]
                   ) -> tuple[Container, T, Callable[[Entry], None] | None]:
        """``make()`` (the create's blocking part) in a worker thread that goes on with
        the preparation of the container made, if there is room (``reserve``): returns
        what ``make`` did as soon as it is done, with the ``adopt`` to call with the new
        entry (whose lock the caller takes as it adds it), or None (no preparation).
        If ``make`` fails (or this is cancelled), whatever was prepared is torn down."""
        loop = asyncio.get_running_loop()
        prepare = self.reserve(container_id)
        made: asyncio.Future[tuple[Container, T]] = loop.create_future()
        created: list[ContainerInfo] = []

        def work() -> ContainerInfo | None:
            result = make()
            loop.call_soon_threadsafe(_resolve, made, result)
            return self.maker.make_task(result[0], created) if prepare else None

        working = loop.run_in_executor(None, contextvars.copy_context().run, work)
        try:
            await asyncio.wait((made, working), return_when=asyncio.FIRST_COMPLETED)
            if not made.done():
                await working  # the make's error
            c, value = made.result()
        except BaseException:
            if prepare:
                self.abandon(container_id, working, created)
            else:
                working.add_done_callback(_retrieve)
            raise
        if not prepare:
            return c, value, None
        work_done = cast("asyncio.Future[ContainerInfo]", working)
        return c, value, lambda entry: self.adopt(entry, c, work_done, created)

    def adopt(self, entry: Entry, c: Container, work: asyncio.Future[ContainerInfo],
              created: list[ContainerInfo]) -> None:
        """The preparation of ``c`` (``entry``'s new container, reserved) that the
        create's worker thread went on with right after making it (``work``: the
        thread's ``make_task``; ``created`` as it fills it). The caller took the entry's
        lock as it added the entry (a new entry's lock is free: no wait); it is
        released when the preparation has ended."""
        self._loop = asyncio.get_running_loop()
        task = asyncio.create_task(self._adopted(entry, c, work, created),
                                   name=f"prepare-{entry.id[:12]}")
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def abandon(self, container_id: str, work: asyncio.Future[Any],
                created: list[ContainerInfo]) -> None:
        """The create failed (or was cancelled) after ``reserve``: what its thread
        prepared, if anything, is torn down once the thread is done."""

        async def undo() -> None:
            try:
                await asyncio.gather(work, return_exceptions=True)
                if created:
                    await self.maker.unmake_task(container_id)
            finally:
                self._busy.discard(container_id)

        task = asyncio.create_task(undo(), name=f"unprepare-{container_id[:12]}")
        self.tasks.add(task)
        task.add_done_callback(self._done)

    async def _adopted(self, entry: Entry, c: Container, work: asyncio.Future[ContainerInfo],
                       created: list[ContainerInfo]) -> None:
        cid = entry.id
        try:
            info = await self._outcome(cid, work, created)
            if info is None:
                return
            if self._closed or entry.removing or entry.gone:
                await self.maker.unmake_task(cid)
                return
            self._ready[cid] = prepared = Prepared(c, info)
        finally:
            self._busy.discard(cid)
            entry.lock.release()
        self._expire_later(entry, prepared)

    async def _outcome(self, cid: str, work: Awaitable[ContainerInfo],
                       created: list[ContainerInfo]) -> ContainerInfo | None:
        """The prepared task, or None when its making failed (what it created torn
        down; the start makes the task again and reports the error then)."""
        try:
            return await work
        except errors.DockyardError as exc:
            log.debug("preparing %s failed (its start will say): %s", cid[:12], exc)
            if created:
                await self.maker.unmake_task(cid)
            return None
        except BaseException:
            if created:
                await self.maker.unmake_task(cid)
            raise

    def _expire_later(self, entry: Entry, prepared: Prepared) -> None:
        log.debug("container %s prepared (pid %d)", entry.id[:12], prepared.info.pid)
        asyncio.get_running_loop().call_later(
            TTL, lambda: self.maker.background(self._expire(entry, prepared)))

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def _prepare(self, entry: Entry) -> None:
        cid = entry.id
        try:
            async with entry.lock:
                c = entry.container
                if (self._closed or entry.removing or entry.gone
                        or c.state.status is not Status.CREATED):
                    return
                created: list[ContainerInfo] = []
                info = await self._outcome(
                    cid, asyncio.to_thread(self.maker.make_task, c, created), created)
                if info is None:
                    return
                if self._closed:  # the daemon stopped meanwhile
                    await self.maker.unmake_task(cid)
                    return
                self._ready[cid] = prepared = Prepared(c, info)
        finally:
            self._busy.discard(cid)
        self._expire_later(entry, prepared)

    async def _expire(self, entry: Entry, prepared: Prepared) -> None:
        async with entry.lock:
            if self._ready.get(entry.id) is not prepared:
                return
            del self._ready[entry.id]
            log.debug("container %s not started within %ss: unprepared", entry.id[:12], TTL)
            await self.maker.unmake_task(entry.id)

    async def take(self, entry: Entry, c: Container) -> ContainerInfo | None:
        """The task prepared for ``c`` (which is about to start), or None; a
        preparation for another value of the container is torn down. Under the lock."""
        prepared = self._ready.pop(entry.id, None)
        if prepared is None:
            return None
        if prepared.container == c:
            return prepared.info
        log.debug("container %s changed since it was prepared: unprepared", entry.id[:12])
        await self.maker.unmake_task(entry.id)
        return None

    def drop(self, container_id: str) -> bool:
        """Forget the preparation of a container being removed (under its lock); True
        if there was one: the caller tears it down (``maker.unmake_task``)."""
        return self._ready.pop(container_id, None) is not None

    def before_mount(self, container_id: str) -> None:
        """``RootfsManager.mount``'s hook, in a worker thread, under the container's lock
        (``docker cp`` and the like): a preparation is torn down before the layer is
        mounted again."""
        if container_id not in self._ready:
            return
        loop = self._loop
        if loop is None or _on_loop(loop):
            raise errors.Internal(f"rootfs of prepared container {container_id[:12]} "
                                  "mounted from the event loop")
        asyncio.run_coroutine_threadsafe(self._unprepare(container_id),
                                         loop).result(HOOK_TIMEOUT)

    async def _unprepare(self, container_id: str) -> None:
        if self._ready.pop(container_id, None) is not None:
            log.debug("container %s: its rootfs is wanted: unprepared", container_id[:12])
            await self.maker.unmake_task(container_id)

    async def close(self, timeout: float) -> None:
        """Tear every preparation down (the daemon stops); no new ones, and those under
        way undo themselves."""
        self._closed = True
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout)
        ids = list(self._ready)
        self._ready.clear()
        if not ids:
            return
        _done, pending = await asyncio.wait(
            [asyncio.ensure_future(self.maker.unmake_task(i)) for i in ids], timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("%d preparation(s) not torn down: the next start discards them",
                        len(pending))


def _resolve(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()  # retrieved: a failure the caller already reported


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:  # no loop runs in this thread: a worker thread
        return False
