"""The part of a container's removal nobody waits for, done after the answer.

A removal (``docker rm``, ``AutoRemove``) answers as soon as the container is gone from
the API: its record marked ``removing``, its name free, out of the table, ``destroy``
published, the ``removed`` waiters answered. What takes time and changes nothing anyone
can see through the API runs afterwards, here, as a background task per container: the
supervisor forgetting the exited task (when the exit left it to the removal), the rootfs
unmounted, the bundle, the snapshot and its lease, the container's directory (record,
log, etc files) removed.

A daemon that stops before a cleanup ended finds the record still marked ``removing`` at
its next start and finishes the removal (``ContainerService.recover``). ``settle`` waits
until no cleanup is pending: an image removal waits for it (a container's lease holds its
image until its cleanup ends), so does the daemon's shutdown, and
``POST /dockyard/containers/settle`` lets a client (the tests checking that a removal
leaves nothing behind) wait for it too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Cleanups:
    """Background cleanup tasks, kept until done (a failure is logged)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def add(self, container_id: str, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro, name=f"cleanup-{container_id[:12]}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed; the next daemon start finishes it", task.get_name(),
                      exc_info=task.exception())

    async def settle(self, timeout: float | None = None) -> bool:
        """Wait until no cleanup is pending, those begun meanwhile included; False if
        some still are after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._tasks:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=left)
        return True
