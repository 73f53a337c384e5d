"""Byte streams between the event loop and a worker thread.

The image service is synchronous (files in, files out); requests and responses are
asynchronous. Two adapters join them, both with back-pressure and no whole-image buffer:

- ``blocking_reader(source, loop)``: an async source (a request body) as the blocking
  binary file a worker thread reads. Each read waits for the loop to hand over bytes.
- ``stream_from_thread(work)``: runs ``work(file)`` in a worker thread and yields what it
  writes, in chunks, through a small bounded queue. If the consumer stops early (the client
  went away), the writer's next write raises ``BrokenPipeError`` and the thread ends; an
  error in ``work`` is raised to the consumer after the chunks written before it.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections.abc import AsyncGenerator, Callable
from typing import BinaryIO, Protocol, cast

log = logging.getLogger(__name__)

CHUNK = 1 << 20
QUEUE_DEPTH = 8
READ_BUFFER = 1 << 20


class AsyncSource(Protocol):
    async def read(self, n: int = -1) -> bytes: ...


class _BodyFile(io.RawIOBase):
    """The raw side of ``blocking_reader``: each ``readinto`` is one ``source.read``."""

    def __init__(self, source: AsyncSource, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._source = source
        self._loop = loop
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._eof:
            return 0
        view = memoryview(buffer).cast("B")
        future = asyncio.run_coroutine_threadsafe(self._source.read(len(view)), self._loop)
        data = future.result()
        if not data:
            self._eof = True
            return 0
        view[:len(data)] = data
        return len(data)


def blocking_reader(source: AsyncSource, loop: asyncio.AbstractEventLoop) -> BinaryIO:
    """``source`` as a buffered binary file for a worker thread (never the loop's own
    thread: a read there would wait for itself)."""
    return io.BufferedReader(_BodyFile(source, loop), READ_BUFFER)


class _QueueWriter(io.RawIOBase):
    """The file ``stream_from_thread`` hands to its work: bytes gathered into ``CHUNK``s
    and put on the loop's queue (waiting while it is full)."""

    def __init__(self, queue: asyncio.Queue[bytes | None], loop: asyncio.AbstractEventLoop,
                 stopped: threading.Event) -> None:
        super().__init__()
        self._queue = queue
        self._loop = loop
        self._stopped = stopped
        self._buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self._stopped.is_set():
            raise BrokenPipeError("the reader of the stream went away")
        n = len(data)
        self._buffer += data
        if len(self._buffer) >= CHUNK:
            self.flush()
        return n

    def flush(self) -> None:
        if self._buffer:
            chunk, self._buffer = bytes(self._buffer), bytearray()
            self.put(chunk)

    def put(self, item: bytes | None) -> None:
        future = asyncio.run_coroutine_threadsafe(self._queue.put(item), self._loop)
        while True:
            try:
                future.result(timeout=0.5)
                return
            except TimeoutError:
                if self._stopped.is_set():
                    future.cancel()
                    raise BrokenPipeError("the reader of the stream went away") from None


async def stream_from_thread(work: Callable[[BinaryIO], None]) -> AsyncGenerator[bytes, None]:
    """What ``work`` writes to its file, chunk by chunk (see the module docstring). Close
    the generator (``aclose``) when stopping early."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_DEPTH)
    stopped = threading.Event()
    writer = _QueueWriter(queue, loop, stopped)

    def run() -> None:
        try:
            work(cast(BinaryIO, writer))
            writer.flush()
        finally:
            if not stopped.is_set():
                writer.put(None)

    task = asyncio.ensure_future(asyncio.to_thread(run))
    try:
        while True:
            item = await queue.get()
            if item is None:
                break
            yield item
        await task
    finally:
        if not task.done():
            stopped.set()
            while not task.done():
                while not queue.empty():
                    queue.get_nowait()
                await asyncio.wait({task}, timeout=0.1)
            exc = task.exception()
            if exc is not None and not isinstance(exc, BrokenPipeError):
                log.warning("a stream's writer failed after its reader left: %s", exc)
