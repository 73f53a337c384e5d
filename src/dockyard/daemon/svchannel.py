"""One asyncio connection to the supervisor, shared by every request, replies matched by
``seq``.

The supervisor answers the requests of one connection out of order (``protocol``: a
``delete`` that must first see the container die is answered later than what follows
it). This channel writes each request line whole — a lock keeps lines from interleaving,
and descriptors ride on the first bytes of their line by ``sendmsg`` — and hands each
reply to the request with its ``seq``. No worker thread carries a request and none waits
for another's reply: a container's start costs the event loop one wake-up per request,
not two thread switches, and a slow ``create`` does not hold up a ``kill``. Requests are
written in the order of the ``call``s (the connect and send locks are FIFO, and a call
makes its write task before it first yields once connected): a caller may send several
without waiting for each answer (the start's attach sockets, then its ``start``).

A lost connection fails the requests in flight with ``Unavailable``; the next request
connects again. A request not answered within ``timeout`` seconds fails with
``Unavailable`` too (its reply, if it ever comes, is dropped).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dockyard import errors
from dockyard.runtime.supervisor.protocol import MAX_LINE, encode, error_from_reply

log = logging.getLogger(__name__)


class SupervisorChannel:
    def __init__(self, socket_path: str, *, timeout: float | None = 120.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self._seq = itertools.count(1)
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._buf = bytearray()
        self._send_lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()

    async def call(self, op: str, args: Mapping[str, Any], *, fds: Sequence[int] = (),
                   untimed: bool = False,
                   on_sent: Callable[[], None] | None = None) -> dict[str, Any]:
        """One request; the reply's ``result``, or its error raised. ``untimed``: no
        ``timeout`` (a ``wait``, answered when the process exits). ``on_sent`` is called
        once the request is written whole (not if the write fails): work to overlap with
        the supervisor's handling of it."""
        sock = await self._connected()
        loop = asyncio.get_running_loop()
        seq = next(self._seq)
        msg: dict[str, Any] = {"seq": seq, "op": op, "args": dict(args)}
        if fds:
            msg["fds"] = len(fds)
        fut: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending[seq] = fut
        try:
            # Shielded: a caller cancelled mid-line must not leave half a line behind.
            write = asyncio.ensure_future(self._write(sock, encode(msg), list(fds)))
            write.add_done_callback(_retrieve)
            await asyncio.shield(write)
            if on_sent is not None:
                on_sent()
            reply = await (fut if untimed else asyncio.wait_for(fut, self.timeout))
        except TimeoutError:
            raise errors.Unavailable(f"the supervisor did not answer {op} within "
                                     f"{self.timeout:g}s") from None
        finally:
            self._pending.pop(seq, None)
        if not reply.get("ok"):
            raise error_from_reply(reply.get("error"))
        result = reply.get("result", {})
        if not isinstance(result, dict):
            raise errors.Internal(f"malformed reply: {reply!r}")
        return result

    async def _connected(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        async with self._connect_lock:
            if self._sock is None:
                loop = asyncio.get_running_loop()
                sock = socket.socket(socket.AF_UNIX,
                                     socket.SOCK_STREAM | socket.SOCK_CLOEXEC
                                     | socket.SOCK_NONBLOCK)
                try:
                    await loop.sock_connect(sock, self.socket_path)
                except (FileNotFoundError, ConnectionRefusedError) as exc:
                    sock.close()
                    raise errors.Unavailable(
                        f"no supervisor at {self.socket_path}: {exc}") from None
                except BaseException:
                    sock.close()
                    raise
                loop.add_reader(sock.fileno(), self._readable)
                self._loop = loop
                self._sock = sock
            return self._sock

    async def _write(self, sock: socket.socket, data: bytes, fds: list[int]) -> None:
        async with self._send_lock:
            if sock is not self._sock:
                raise errors.Unavailable("the connection to the supervisor was lost")
            try:
                await self._send(sock, data, fds)
            except OSError as exc:
                self._lost(f"writing to the supervisor: {exc}")
                raise errors.Unavailable(f"writing to the supervisor: {exc}") from None

    async def _send(self, sock: socket.socket, data: bytes, fds: list[int]) -> None:
        loop = asyncio.get_running_loop()
        view = memoryview(data)
        if fds:
            while True:
                try:
                    sent = socket.send_fds(sock, [view], fds)
                    break
                except (BlockingIOError, InterruptedError):
                    ready = loop.create_future()
                    loop.add_writer(sock.fileno(), ready.set_result, None)
                    try:
                        await ready
                    finally:
                        loop.remove_writer(sock.fileno())
            view = view[sent:]
        if view:
            await loop.sock_sendall(sock, view)

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            chunk = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(f"reading from the supervisor: {exc}")
            return
        if not chunk:
            self._lost("the supervisor closed the connection")
            return
        self._buf += chunk
        while (nl := self._buf.find(b"\n")) >= 0:
            line = bytes(self._buf[:nl])
            del self._buf[:nl + 1]
            try:
                reply = json.loads(line)
            except ValueError:
                log.error("the supervisor sent a line that is not JSON: %.200r", line)
                continue
            seq = reply.get("seq") if isinstance(reply, dict) else None
            fut = self._pending.pop(seq, None) if isinstance(seq, int) else None
            if fut is None:
                log.debug("a supervisor reply nobody waits for: %.200r", line)
            elif not fut.done():
                fut.set_result(reply)
        if len(self._buf) > MAX_LINE:
            self._lost(f"a supervisor reply longer than {MAX_LINE} bytes")

    def _lost(self, reason: str) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._buf.clear()
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(errors.Unavailable(reason))

    def close(self) -> None:
        self._lost("the daemon closed its connection to the supervisor")


def _retrieve(task: asyncio.Future[None]) -> None:
    """Mark a write's failure seen (its caller, cancelled, no longer awaits it)."""
    if not task.cancelled():
        task.exception()
