"""``POST /containers/{id}/attach``: the connection is hijacked and handed to the daemon.

The sequence (moby's ``postContainersAttach``): the container is looked up first, so a
missing one gets an ordinary JSON 404; then aiohttp stops reading the connection, a
duplicate of its socket is taken, ``101 UPGRADED`` (or ``200 OK`` without ``Upgrade``) is
written on it, and the socket goes to the backend, which hands it to the supervisor (now,
or at the container's start). aiohttp's transport is then closed: that releases only
aiohttp's descriptor; the connection lives on in the supervisor's. aiohttp never sees the
client's half-close (it closes a transport on EOF), so the output half keeps flowing.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import socket
import sys
import termios
from typing import Protocol

from aiohttp import web

from dockyard.api.http import api_version, query_bool
from dockyard.api.logs import LogStreamLike
from dockyard.api.routing import Routes
from dockyard.apitypes.containers import Container
from dockyard.apitypes.streams import (
    MULTIPLEXED_STREAM,
    RAW_STREAM,
    AttachOptions,
    LogQuery,
    encode_log_chunk,
    parse_attach_options,
)
from dockyard.apitypes.version import at_least
from dockyard.errors import Conflict, DockyardError, FailedPrecondition

log = logging.getLogger(__name__)


class AttachBackend(Protocol):
    async def get(self, ref: str) -> Container: ...

    async def attach(self, ref: str, sock: socket.socket, options: AttachOptions) -> None: ...

    async def logs(self, ref: str, query: LogQuery) -> LogStreamLike: ...


def stream_head(request: web.Request, multiplexed: bool) -> bytes:
    """The response head written on a hijacked connection before the stream: ``101
    UPGRADED`` when the client asked to upgrade, else a plain 200; the content type says
    whether the 8-byte stdout/stderr framing is used (API 1.42 and later)."""
    ctype = MULTIPLEXED_STREAM if multiplexed and at_least(api_version(request), "1.42") \
        else RAW_STREAM
    if "Upgrade" in request.headers:
        return (f"HTTP/1.1 101 UPGRADED\r\nContent-Type: {ctype}\r\n"
                "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n").encode()
    return f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n\r\n".encode()


def hijack(request: web.Request) -> socket.socket:
    """Stop aiohttp reading the request's connection; a duplicate of its socket."""
    transport = request.transport
    if transport is None or transport.is_closing():
        raise FailedPrecondition("the client went away before the attach")
    transport.pause_reading()
    raw = transport.get_extra_info("socket")
    if raw is None:
        raise FailedPrecondition("the connection has no socket to hijack")
    fd = os.dup(raw.fileno())
    sock = socket.socket(fileno=fd)
    sock.setblocking(False)
    return sock


async def head_taken(sock: socket.socket, timeout: float = 0.25) -> None:
    """Wait (at most ``timeout``) until the client has read what was written on a unix
    socket so far: the response head. docker-py reads the head through http.client's
    buffered reader and the stream from the raw socket after it, so stream bytes that
    arrive together with the head are lost to it (an attach with ``logs=1`` got ``b''``
    now and then). A unix socket's SIOCOUTQ counts the bytes its peer has not read yet;
    other sockets are not waited for."""
    if sock.family != socket.AF_UNIX:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    buf = bytearray(4)
    while True:
        try:
            fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf)  # SIOCOUTQ == TIOCOUTQ
        except OSError:
            return
        if int.from_bytes(buf, sys.byteorder) == 0 or loop.time() > deadline:
            return
        await asyncio.sleep(0.0005)


def release(request: web.Request) -> None:
    """Close aiohttp's side of a hijacked connection (its descriptor only)."""
    if request.transport is not None:
        request.transport.close()


class AttachRouter:
    def __init__(self, backend: AttachBackend) -> None:
        self.backend = backend

    def register(self, routes: Routes) -> None:
        routes.add("POST", "/containers/{name}/attach", self.attach)

    async def attach(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        options = parse_attach_options(request.query)
        stream = query_bool(request, "stream")
        c = await self.backend.get(name)
        if c.state.status.value == "restarting":  # moby's words, before the hijack
            raise Conflict("You cannot attach to a restarting container, wait until it is "
                           "running")
        multiplexed = not c.config.tty
        head = stream_head(request, multiplexed)
        sock = hijack(request)
        loop = asyncio.get_running_loop()
        try:
            await loop.sock_sendall(sock, head)
            if query_bool(request, "logs"):
                await head_taken(sock)
                await self._replay_logs(name, sock, options, tty=not multiplexed)
            if not stream:
                sock.close()
                return web.Response()
            await self.backend.attach(name, sock, options)  # the backend owns it now
        except (DockyardError, OSError) as exc:
            # Past the hijack no status can be sent: the client sees the stream end.
            log.info("attach to %s failed after the hijack: %s", name, exc)
            sock.close()
        finally:
            release(request)
        return web.Response()

    async def _replay_logs(self, name: str, sock: socket.socket, options: AttachOptions, *,
                           tty: bool) -> None:
        """``logs=1``: what the container wrote so far, before the live stream."""
        if not (options.stdout or options.stderr):
            return
        logs = await self.backend.logs(name, LogQuery(stdout=options.stdout,
                                                      stderr=options.stderr))
        loop = asyncio.get_running_loop()
        chunks = logs.chunks
        try:
            async for c in chunks:
                await loop.sock_sendall(sock, encode_log_chunk(c, tty=tty))
        finally:
            await chunks.aclose()


__all__ = ["AttachRouter", "LogQuery", "head_taken", "hijack", "release"]
