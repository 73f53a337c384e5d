"""File routes: ``HEAD/GET/PUT /containers/{id}/archive`` (``docker cp``),
``GET /containers/{id}/export``, ``GET /containers/{id}/changes``, ``POST /commit``.

Tar streams go out as ``application/x-tar`` while the backend makes them; an error after
the first byte aborts the connection (the client must see a broken archive, not a short
one that looks whole). ``PUT`` reads the body as it arrives.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import socket
from collections.abc import AsyncIterator, Sequence
from typing import BinaryIO, Protocol, cast

from aiohttp import HttpVersion11, web

from dockyard.api.http import json_response, query_bool, read_json
from dockyard.api.routing import Routes
from dockyard.apitypes.files import (
    PATH_STAT_HEADER,
    CommitRequest,
    PathStat,
    changes_json,
    parse_archive_path,
    parse_commit,
    path_stat_header,
)
from dockyard.archive import Change

log = logging.getLogger(__name__)


class BodyReader(Protocol):
    async def read(self, n: int = -1) -> bytes: ...


class ArchiveStream(Protocol):
    @property
    def stat(self) -> PathStat | None: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def write_to(self, out: BinaryIO) -> None: ...

    async def close(self) -> None: ...


class FilesBackend(Protocol):
    async def stat_path(self, ref: str, path: str) -> PathStat: ...

    async def get_archive(self, ref: str, path: str) -> ArchiveStream: ...

    async def put_archive(self, ref: str, path: str, body: BodyReader, *,
                          no_overwrite_dir_non_dir: bool = False,
                          copy_uid_gid: bool = False) -> None: ...

    async def export(self, ref: str) -> ArchiveStream: ...

    async def changes(self, ref: str) -> Sequence[Change]: ...


class CommitBackend(Protocol):
    async def commit(self, req: CommitRequest) -> str: ...


GATHER = 256 << 10
SEND_TIMEOUT_MS = 600_000


class ChunkedSocketSink:
    """A blocking file over a response's socket (its own duplicate descriptor) that writes
    HTTP/1.1 chunks: small writes gathered into chunks of up to ``GATHER`` bytes, and
    ``sendfile(fd, count)`` sending a file's content as one chunk straight from the page
    cache (zeros after an early end of file). Used from one worker thread while the event
    loop leaves the response alone; the loop writes the last chunk (``write_eof``)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buf = bytearray()
        self._raw = b""  # the CRLF that ends the previous sendfile chunk
        self._poll = select.poll()
        self._poll.register(fd, select.POLLOUT)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._buf += data
        if len(self._buf) >= GATHER:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._buf:
            data = b"%x\r\n" % len(self._buf) + self._buf + b"\r\n"
            self._buf = bytearray()
            self._send(data)

    def sendfile(self, fd: int, count: int) -> int:
        head = b"%x\r\n" % count
        if self._buf:  # the gathered chunk and this one's size line in one write
            head = b"%x\r\n" % len(self._buf) + self._buf + b"\r\n" + head
            self._buf = bytearray()
        self._send(head)
        sent = 0
        while sent < count:
            try:
                n = os.sendfile(self.fd, fd, None, count - sent)
            except BlockingIOError:
                self._wait()
                continue
            except OSError as exc:
                raise BrokenPipeError(f"sending to the client: {exc}") from exc
            if n == 0:
                break
            sent += n
        if sent < count:
            self._send(bytes(count - sent))
        self._raw = b"\r\n"
        return sent

    def close(self) -> None:
        self.flush()
        if self._raw:
            self._send(b"")

    def _wait(self) -> None:
        events = self._poll.poll(SEND_TIMEOUT_MS)
        if not events:
            raise BrokenPipeError("the client stopped reading")
        if events[0][1] & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
            raise BrokenPipeError("the client went away")

    def _send(self, data: bytes) -> None:
        view = memoryview(self._raw + data)
        self._raw = b""
        while view:
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:
                self._wait()
                continue
            except OSError as exc:
                raise BrokenPipeError(f"sending to the client: {exc}") from exc
            view = view[n:]


SEND_BUFFER = 8 << 20
_SO_SNDBUFFORCE = 32  # Linux; not in Python's socket module


def _grow_send_buffer(fd: int) -> None:
    """Let the worker run ``SEND_BUFFER`` bytes ahead of the client (the default, ~200 KiB,
    makes a ping-pong of wake-ups between the two on a busy machine)."""
    s = socket.socket(fileno=os.dup(fd))
    try:
        s.setsockopt(socket.SOL_SOCKET, _SO_SNDBUFFORCE, SEND_BUFFER)
    except OSError:  # not root (CAP_NET_ADMIN): the default stays
        pass
    finally:
        s.close()


async def _send_tar(request: web.Request, stream: ArchiveStream, what: str,
                    headers: dict[str, str] | None = None) -> web.StreamResponse:
    """The tar as the response: straight onto the socket from the worker thread when the
    connection allows (HTTP/1.1 over a socket), else chunk by chunk through aiohttp."""
    response = web.StreamResponse(status=200, headers=headers)
    response.content_type = "application/x-tar"
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    direct = sock is not None and request.version >= HttpVersion11
    if direct:
        response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        if direct and transport is not None and sock is not None:
            while transport.get_write_buffer_size() and not transport.is_closing():
                await asyncio.sleep(0.001)  # the head must leave before the body
            fd = os.dup(sock.fileno())
            try:
                _grow_send_buffer(fd)
                sink = ChunkedSocketSink(fd)
                await stream.write_to(cast(BinaryIO, sink))
                await asyncio.to_thread(sink.close)
            finally:
                os.close(fd)
        else:
            async for chunk in stream.chunks():
                await response.write(chunk)
        await response.write_eof()
    except ConnectionError:
        log.info("%s: the client went away", what)
        return response
    except Exception as exc:
        log.error("%s failed after it started: %s", what, exc, exc_info=exc)
        if request.transport is not None:
            request.transport.abort()
        return response
    return response


class FilesRouter:
    def __init__(self, files: FilesBackend, committer: CommitBackend) -> None:
        self.files = files
        self.committer = committer

    def register(self, routes: Routes) -> None:
        routes.add("HEAD", "/containers/{name}/archive", self.head_archive)
        routes.add("GET", "/containers/{name}/archive", self.get_archive)
        routes.add("PUT", "/containers/{name}/archive", self.put_archive)
        routes.add("GET", "/containers/{name}/export", self.export)
        routes.add("GET", "/containers/{name}/changes", self.changes)
        routes.add("POST", "/commit", self.commit)

    async def head_archive(self, request: web.Request) -> web.Response:
        st = await self.files.stat_path(request.match_info["name"],
                                        parse_archive_path(request.query))
        return web.Response(status=200, headers={PATH_STAT_HEADER: path_stat_header(st)})

    async def get_archive(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        stream = await self.files.get_archive(name, parse_archive_path(request.query))
        try:
            st = stream.stat
            return await _send_tar(request, stream, f"archive of {name}",
                                   {PATH_STAT_HEADER: path_stat_header(st)} if st else None)
        finally:
            await stream.close()

    async def put_archive(self, request: web.Request) -> web.Response:
        await self.files.put_archive(
            request.match_info["name"], parse_archive_path(request.query), request.content,
            no_overwrite_dir_non_dir=query_bool(request, "noOverwriteDirNonDir"),
            copy_uid_gid=query_bool(request, "copyUIDGID"))
        return web.Response(status=200)

    async def export(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        stream = await self.files.export(name)
        try:
            return await _send_tar(request, stream, f"export of {name}")
        finally:
            await stream.close()

    async def changes(self, request: web.Request) -> web.Response:
        return json_response(changes_json(await self.files.changes(request.match_info["name"])))

    async def commit(self, request: web.Request) -> web.Response:
        body = await read_json(request, required=False)
        req = parse_commit(request.query, request.query.getall("changes", []), body)
        image_id = await self.committer.commit(req)
        return json_response({"Id": image_id}, status=201)
