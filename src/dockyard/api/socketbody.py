"""A request body read straight off the connection's socket by worker threads, not by the
event loop: ``PUT /containers/{id}/archive`` (``docker cp`` into a container).

Through aiohttp, each socket read is a wake-up of the event loop, a pass through the HTTP
parser and a hop to the worker thread that extracts the tar; 100 MB come in ~2000 reads.
Here, for a body of known length (``Content-Length``, no transfer or content coding), the
loop hands the socket over (``take_body``): what aiohttp had read already is taken from
its stream, the transport stops reading, and a *pump* (one blocking worker thread) reads
the rest into a bounded queue ahead of the *reader* (the extracting thread). The client
never waits for the extraction while the queue has room, and the extraction never waits
for a socket read while the queue holds data.

The HTTP parser then believes the body is still coming: the connection cannot carry
another request and is closed after the response (``Connection: close``).

Lifecycle (``SocketBody``): made on the loop's thread by ``take_body``, which starts the
pump in a thread of its own (not one of the loop's executor: pumps waiting for readers
that wait for a free executor thread would deadlock); ``read()`` from one worker thread;
then ``finish(linger)`` from the loop: an unread rest of the body is read and dropped in
the background for at most ``linger`` seconds, so that a client still sending sees the
response rather than a broken pipe (aiohttp's lingering close); ``abort()`` instead when
the request is cancelled (the pump is woken and ends). The socket's descriptor (a
duplicate: the transport has its own) is closed by whichever of ``finish`` and the pump's
end comes last.
"""

from __future__ import annotations

import collections
import io
import os
import socket
import threading
import time

from aiohttp import HttpVersion11, StreamReader, web

READ_AHEAD = 16 << 20
"""Most bytes the pump queues ahead of the reader."""
RECV_MAX = 4 << 20
IDLE_TIMEOUT = 600.0
"""Seconds without a byte from the client before the body counts as abandoned."""
_TICK = 0.5


class SocketBody(io.RawIOBase):
    """The rest of a request body of known length (see the module's docstring)."""

    def __init__(self, head: bytes, fd: int, remaining: int) -> None:
        super().__init__()
        self._sock = socket.socket(fileno=fd)
        self._sock.settimeout(_TICK)
        self._cond = threading.Condition()
        self._chunks: collections.deque[bytes] = collections.deque([head] if head else [])
        self._queued = len(head)
        self._left = remaining
        self.received = len(head)
        self._pumping = False
        self._pumped = remaining <= 0
        self._error: OSError | None = None
        self._drop_until: float | None = None
        self._released = False

    # -- the pump's thread ------------------------------------------------------------

    def start(self) -> None:
        with self._cond:
            if self._pumped:
                return
            self._pumping = True
        threading.Thread(target=self._pump, name="request-body-pump", daemon=True).start()

    def _pump(self) -> None:
        """Read the rest of the body into the queue (at most ``READ_AHEAD`` bytes ahead);
        after ``finish``, read and drop it until its end or the linger deadline."""
        idle_since = time.monotonic()
        try:
            while self._left > 0:
                with self._cond:
                    while self._queued >= READ_AHEAD and self._drop_until is None:
                        self._cond.wait()
                    drop_until = self._drop_until
                if drop_until is not None and time.monotonic() >= drop_until:
                    return
                try:
                    data = self._sock.recv(min(self._left, RECV_MAX))
                except TimeoutError:
                    if time.monotonic() - idle_since > IDLE_TIMEOUT:
                        raise OSError("the client stopped sending") from None
                    continue
                if not data:
                    raise OSError(f"the connection ended after {self.received} bytes, "
                                  f"{self._left} short")
                idle_since = time.monotonic()
                self._left -= len(data)
                self.received += len(data)
                with self._cond:
                    if self._drop_until is None:
                        self._chunks.append(data)
                        self._queued += len(data)
                        self._cond.notify_all()
        except OSError as exc:
            with self._cond:
                self._error = OSError(f"reading the request body: {exc}")
        finally:
            with self._cond:
                self._pumping = False
                self._pumped = True
                self._cond.notify_all()
                self._release_if_done()

    # -- the reader's thread ----------------------------------------------------------

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        with self._cond:
            while not self._chunks and not self._pumped:
                self._cond.wait()
            if not self._chunks:
                if self._error is not None:
                    raise self._error
                return b""
            data = self._chunks.popleft()
            if size is not None and 0 <= size < len(data):
                self._chunks.appendleft(data[size:])
                data = data[:size]
            self._queued -= len(data)
            self._cond.notify_all()
            return data

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    # -- the loop's side --------------------------------------------------------------

    def finish(self, linger: float) -> None:
        """Stop queueing; the pump drops what is left of the body for at most ``linger``
        seconds, then ends (and closes the socket)."""
        with self._cond:
            self._drop_until = time.monotonic() + linger
            self._chunks.clear()
            self._queued = 0
            self._released = True
            self._cond.notify_all()
            self._release_if_done()

    def abort(self) -> None:
        """Wake the pump at once (the request was cancelled); it ends and closes."""
        with self._cond:
            self._drop_until = 0.0
            self._released = True
            self._cond.notify_all()
            pumping = self._pumping
            self._release_if_done()
        if pumping:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # gone already

    def _release_if_done(self) -> None:
        # Under the lock: the descriptor is closed once neither side needs it.
        if self._released and not self._pumping and not self.closed:
            self._sock.close()
            super().close()

    def close(self) -> None:
        """``io``'s close (also run at collection): only ``finish``/``abort`` release the
        socket, once the pump is done with it."""
        with self._cond:
            self._released = True
            self._release_if_done()


def take_body(request: web.Request) -> SocketBody | None:
    """The request's body as a ``SocketBody`` when it can be read straight off the socket
    (HTTP/1.1 over a socket, ``Content-Length``, no ``Transfer-Encoding``, no
    ``Content-Encoding``), else None (aiohttp's stream is to be read)."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    content = request.content
    length = request.content_length
    if (sock is None or transport is None or transport.is_closing() or length is None
            or request.version < HttpVersion11 or "Transfer-Encoding" in request.headers
            or request.headers.get("Content-Encoding", "identity").lower() != "identity"
            or not isinstance(content, StreamReader) or content.exception() is not None):
        return None
    # What aiohttp has read is taken, then the loop stops reading: all now, with no await
    # between, so no byte can reach aiohttp's stream after it was emptied. Its parser may
    # hold bytes back (after a message's head until the message is taken; while flow
    # control pauses it): an empty feed hands them on, and reads resume a paused parser.
    parts = []
    while True:
        request.protocol.data_received(b"")
        data = content.read_nowait(-1)
        if not data:
            break
        parts.append(data)
    head = b"".join(parts)
    # The parser still waits for the body: the connection cannot carry another request.
    request.protocol.close()
    content.feed_eof()  # (this resumes the transport's reading: it is paused last)
    transport.pause_reading()
    body = SocketBody(head, os.dup(sock.fileno()), max(0, length - len(head)))
    body.start()
    return body
