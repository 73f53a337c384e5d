"""Blob endpoints: ``GET``/``HEAD``/``DELETE /v2/<name>/blobs/<digest>``.

Blobs are served with ``sendfile`` (zero copy) when the driver has a local file, with
``Range`` support either way (206 and ``Content-Range``; 416 when nothing satisfies).
"""

from __future__ import annotations

from typing import BinaryIO

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from dockyard.oci.digest import Digest
from dockyard.registry.names import validate_digest
from dockyard.registry.ranges import ByteRange, parse_range
from dockyard.registry.routes.base import (
    CONTENT_DIGEST,
    OCTET_STREAM,
    AppState,
    Route,
    call,
    empty,
    head_response,
)

_CHUNK = 1 << 20


class SendfileResponse(web.StreamResponse):
    """Sends ``count`` bytes of an open file from ``offset`` with ``loop.sendfile``
    (falling back to reads where the transport cannot), then closes the file."""

    def __init__(self, f: BinaryIO, offset: int, count: int, *, status: int,
                 headers: dict[str, str]) -> None:
        super().__init__(status=status, headers=headers)
        self._file, self._offset, self._count = f, offset, count
        self.content_length = count

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        try:
            writer = await super().prepare(request)
            if request.method == "HEAD" or self._count == 0:
                return writer
            transport = request.transport
            if transport is None:
                raise ConnectionResetError("connection lost")
            loop = request._loop
            try:
                await loop.sendfile(transport, self._file, self._offset, self._count)
            except NotImplementedError:
                await self._copy(self._offset, self._count)
            await super().write_eof()
            return writer
        finally:
            self._file.close()

    async def _copy(self, offset: int, count: int) -> None:
        self._file.seek(offset)
        while count > 0:
            chunk = self._file.read(min(_CHUNK, count))
            if not chunk:
                break
            await self.write(chunk)
            count -= len(chunk)


def _headers(d: Digest, size: int, rng: ByteRange | None) -> dict[str, str]:
    h = {CONTENT_DIGEST: str(d), "Content-Type": OCTET_STREAM, "Accept-Ranges": "bytes",
         "ETag": f'"{d}"'}
    if rng is not None:
        h["Content-Range"] = f"bytes {rng.start}-{rng.end}/{size}"
    return h


async def get_blob(request: web.Request, state: AppState, route: Route) -> web.StreamResponse:
    d = validate_digest(route.value)
    blobs = state.registry.blobs
    size = await call(blobs.linked_size, route.name, d)
    rng = parse_range(request.headers.get("Range"), size)
    offset, count = (rng.start, rng.length) if rng else (0, size)
    status = 206 if rng else 200
    headers = _headers(d, size, rng)
    if request.method == "HEAD":
        await call(blobs.touch, d)  # a client deciding to skip an upload uses the blob
        return head_response(status, headers, count)
    local = blobs.local_path(d)
    if local is not None:
        try:
            f: BinaryIO = await call(open, local, "rb")
        except FileNotFoundError:
            f = await call(blobs.open, d)  # raises BlobUnknown: collected meanwhile
        return SendfileResponse(f, offset, count, status=status, headers=headers)
    f = await call(blobs.open, d)
    return SendfileResponse(f, offset, count, status=status, headers=headers)


async def delete_blob(request: web.Request, state: AppState, route: Route) -> web.StreamResponse:
    d = validate_digest(route.value)
    await call(state.registry.blobs.unlink, route.name, d)
    return empty(202, {CONTENT_DIGEST: str(d)})
