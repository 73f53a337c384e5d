"""The byte streams between the event loop and worker threads (``daemon.pipes``)."""

from __future__ import annotations

import asyncio
import threading
from typing import BinaryIO

import pytest

from dockyard.daemon import pipes
from dockyard.daemon.pipes import blocking_reader, stream_from_thread


class Source:
    """An async body that hands out its bytes in small pieces."""

    def __init__(self, data: bytes, piece: int = 7) -> None:
        self.data = data
        self.piece = piece
        self.reads = 0

    async def read(self, n: int = -1) -> bytes:
        self.reads += 1
        await asyncio.sleep(0)
        size = self.piece if n < 0 else min(n, self.piece)
        out, self.data = self.data[:size], self.data[size:]
        return out


def test_blocking_reader_reads_the_body_from_a_thread() -> None:
    data = bytes(range(256)) * 1000

    async def main() -> None:
        src = Source(data, piece=4096)
        f = blocking_reader(src, asyncio.get_running_loop())
        got = await asyncio.to_thread(lambda: f.read(10) + f.read())
        assert got == data and src.reads > 1

    asyncio.run(main())


def test_stream_from_thread_yields_everything_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipes, "CHUNK", 1000)

    def work(out: BinaryIO) -> None:
        for i in range(100):
            out.write(b"%04d" % i * 50)

    async def main() -> bytes:
        return b"".join([c async for c in stream_from_thread(work)])

    assert asyncio.run(main()) == b"".join(b"%04d" % i * 50 for i in range(100))


def test_an_error_comes_after_the_bytes_written_before_it() -> None:
    def work(out: BinaryIO) -> None:
        out.write(b"x" * 10)
        out.flush()
        raise OSError("disk on fire")

    async def main() -> list[bytes]:
        got = []
        with pytest.raises(OSError, match="disk on fire"):
            async for c in stream_from_thread(work):
                got.append(c)
        return got

    assert asyncio.run(main()) == [b"x" * 10]


def test_a_reader_that_leaves_stops_the_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipes, "CHUNK", 10)
    monkeypatch.setattr(pipes, "QUEUE_DEPTH", 1)
    ended = threading.Event()
    errors: list[BaseException] = []

    def work(out: BinaryIO) -> None:
        try:
            while True:  # an endless archive: only the reader's leaving ends it
                out.write(b"y" * 10)
        except BaseException as exc:
            errors.append(exc)
            raise
        finally:
            ended.set()

    async def main() -> None:
        gen = stream_from_thread(work)
        assert await gen.__anext__() == b"y" * 10
        await gen.aclose()

    asyncio.run(main())
    assert ended.wait(5) and isinstance(errors[0], BrokenPipeError)
