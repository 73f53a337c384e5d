"""The daemon's shared supervisor connection: replies matched by seq (out of order),
descriptors with their line, errors raised, a lost connection failing what is in flight
and the next request connecting again."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from dockyard import errors
from dockyard.daemon.svchannel import SupervisorChannel
from dockyard.runtime.supervisor.protocol import LineReader, encode, recv_with_fds

Handler = Callable[[socket.socket, dict[str, Any], list[int]], None]


@asynccontextmanager
async def fake_supervisor(handle: Handler) -> AsyncIterator[tuple[str, list[socket.socket]]]:
    """A listener on a temp socket; ``handle(conn, msg, fds)`` for each request."""
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "sv.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen()
        listener.setblocking(False)
        conns: list[socket.socket] = []
        tasks: list[asyncio.Task[None]] = []

        async def serve_one(conn: socket.socket) -> None:
            reader = LineReader()
            while True:
                await asyncio.sleep(0)
                try:
                    data, fds = recv_with_fds(conn)
                except BlockingIOError:
                    await asyncio.sleep(0.001)
                    continue
                except OSError:
                    return
                if not data:
                    return
                reader.feed(data, fds)
                while (item := reader.next_message()) is not None:
                    handle(conn, *item)

        async def accept() -> None:
            while True:
                conn, _ = await loop.sock_accept(listener)
                conn.setblocking(False)
                conns.append(conn)
                tasks.append(asyncio.create_task(serve_one(conn)))

        acceptor = asyncio.create_task(accept())
        try:
            yield path, conns
        finally:
            acceptor.cancel()
            for t in tasks:
                t.cancel()
            for c in conns:
                c.close()
            listener.close()


def reply(conn: socket.socket, seq: Any, result: dict[str, Any] | None = None, *,
          error: tuple[str, str] | None = None) -> None:
    msg: dict[str, Any] = {"seq": seq, "ok": error is None}
    if error is None:
        msg["result"] = result or {}
    else:
        msg["error"] = {"kind": error[0], "message": error[1]}
    conn.sendall(encode(msg))


def test_replies_out_of_order_reach_their_requests() -> None:
    held: list[tuple[socket.socket, dict[str, Any]]] = []

    def handle(conn: socket.socket, msg: dict[str, Any], fds: list[int]) -> None:
        if msg["op"] == "slow":
            held.append((conn, msg))
            return
        reply(conn, msg["seq"], {"echo": msg["args"]})
        for c, m in held:  # answered after the fast one
            reply(c, m["seq"], {"slow": True})
        held.clear()

    async def main() -> None:
        async with fake_supervisor(handle) as (path, conns):
            ch = SupervisorChannel(path, timeout=10)
            slow = asyncio.create_task(ch.call("slow", {}))
            await asyncio.sleep(0.01)
            assert await ch.call("fast", {"x": 1}) == {"echo": {"x": 1}}
            assert await slow == {"slow": True}
            assert len(conns) == 1  # one shared connection
            ch.close()
    asyncio.run(main())


def test_descriptors_travel_with_their_line_and_errors_are_raised() -> None:
    def handle(conn: socket.socket, msg: dict[str, Any], fds: list[int]) -> None:
        if msg["op"] == "attach":
            assert msg["fds"] == len(fds) == 1
            data = os.read(fds[0], 100).decode()
            os.close(fds[0])
            reply(conn, msg["seq"], {"read": data, "n": msg["args"]["n"]})
        else:
            reply(conn, msg["seq"], error=("NotFound", "no such container c9"))

    async def main() -> None:
        async with fake_supervisor(handle) as (path, _):
            ch = SupervisorChannel(path, timeout=10)
            pipes = [os.pipe() for _ in range(5)]
            try:
                for i, (_, w) in enumerate(pipes):
                    os.write(w, f"pipe {i}".encode())
                results = await asyncio.gather(
                    *(ch.call("attach", {"n": i}, fds=[r]) for i, (r, _) in enumerate(pipes)))
            finally:
                for r, w in pipes:
                    os.close(r)
                    os.close(w)
            # Each line got its own descriptor, though the lines were sent back to back.
            assert results == [{"read": f"pipe {i}", "n": i} for i in range(5)]
            with pytest.raises(errors.NotFound, match="no such container c9"):
                await ch.call("state", {"id": "c9"})
            ch.close()
    asyncio.run(main())


def test_a_lost_connection_fails_requests_in_flight_and_the_next_one_reconnects() -> None:
    def handle(conn: socket.socket, msg: dict[str, Any], fds: list[int]) -> None:
        if msg["op"] == "die":
            conn.shutdown(socket.SHUT_RDWR)
        else:
            reply(conn, msg["seq"], {"ok": 1})

    async def main() -> None:
        async with fake_supervisor(handle) as (path, conns):
            ch = SupervisorChannel(path, timeout=10)
            with pytest.raises(errors.Unavailable, match="closed the connection"):
                await ch.call("die", {})
            assert await ch.call("ping", {}) == {"ok": 1}
            assert len(conns) == 2
            ch.close()
    asyncio.run(main())


def test_no_supervisor_and_no_answer_are_unavailable() -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory() as d, \
                pytest.raises(errors.Unavailable, match="no supervisor"):
            await SupervisorChannel(os.path.join(d, "none.sock")).call("ping", {})

        async with fake_supervisor(lambda conn, msg, fds: None) as (path, _):
            ch = SupervisorChannel(path, timeout=0.2)
            with pytest.raises(errors.Unavailable, match="did not answer ping"):
                await ch.call("ping", {})
            ch.close()
    asyncio.run(main())


def test_untimed_calls_outlive_the_timeout_and_requests_keep_their_order() -> None:
    seen: list[str] = []
    waiting: list[tuple[socket.socket, Any]] = []

    def handle(conn: socket.socket, msg: dict[str, Any], fds: list[int]) -> None:
        seen.append(msg["op"])
        for f in fds:
            os.close(f)
        if msg["op"] == "wait":
            waiting.append((conn, msg["seq"]))  # answered when "exit" comes
        elif msg["op"] == "exit":
            for c, seq in waiting:
                reply(c, seq, {"exit": {"code": 0}})
            reply(conn, msg["seq"])
        else:
            reply(conn, msg["seq"])

    async def main() -> None:
        async with fake_supervisor(handle) as (path, _):
            ch = SupervisorChannel(path, timeout=0.1)
            waiter = asyncio.ensure_future(ch.call("wait", {}, untimed=True))
            r, w = os.pipe()
            try:
                # Made in this order, written in this order (attach sockets, then start).
                calls = [asyncio.ensure_future(ch.call("attach", {}, fds=[r])),
                         asyncio.ensure_future(ch.call("attach", {}, fds=[r])),
                         asyncio.ensure_future(ch.call("start", {}))]
                await asyncio.gather(*calls)
            finally:
                os.close(r)
                os.close(w)
            await asyncio.sleep(0.3)  # beyond the channel's timeout
            assert not waiter.done()
            await ch.call("exit", {})
            assert await waiter == {"exit": {"code": 0}}
            assert seen == ["wait", "attach", "attach", "start", "exit"]
            ch.close()
    asyncio.run(main())
