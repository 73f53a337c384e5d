"""Upload endpoints: the push workflows of the spec.

=====================================  ==============================================
``POST   /v2/<n>/blobs/uploads/``      start (202 + Location); ``?digest=`` with a body:
                                       single-POST monolithic upload (201);
                                       ``?mount=<d>[&from=<repo>]``: cross-repository
                                       mount (201), or a new session if it cannot (202)
``PATCH  /v2/<n>/blobs/uploads/<id>``  a chunk (``Content-Range: a-b``, 416 out of
                                       order) or a stream (chunked encoding, no range)
``PUT    /v2/<n>/blobs/uploads/<id>``  ``?digest=``, optional last chunk: commit (201)
``GET    /v2/<n>/blobs/uploads/<id>``  status: 204 + ``Range: 0-<last>`` (resume)
``DELETE /v2/<n>/blobs/uploads/<id>``  cancel (204)
=====================================  ==============================================

``Location`` is absolute and stable for the whole session (``/v2/<n>/blobs/uploads/<id>``),
so clients may reuse it as given and resume after a failure.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from dockyard.errors import InvalidArgument, PermissionDenied
from dockyard.oci.digest import Digest
from dockyard.registry.auth import AllowAll
from dockyard.registry.auth.access import Scope
from dockyard.registry.errors import RangeInvalid, SizeInvalid
from dockyard.registry.names import DigestInvalid, RepoName, validate_digest, validate_name
from dockyard.registry.ranges import parse_content_range, upload_range_header
from dockyard.registry.routes.base import (
    CONTENT_DIGEST,
    UPLOAD_UUID,
    WRITE_BATCH,
    AppState,
    Route,
    base_url,
    call,
    empty,
)
from dockyard.registry.store.uploads import UploadWriter

log = logging.getLogger(__name__)


def _upload_location(request: web.Request, name: RepoName, upload_id: str) -> str:
    return f"{base_url(request)}/v2/{name}/blobs/uploads/{upload_id}"


def _blob_location(request: web.Request, name: RepoName, d: Digest) -> str:
    return f"{base_url(request)}/v2/{name}/blobs/{d}"


def _session_headers(request: web.Request, name: RepoName, upload_id: str,
                     size: int) -> dict[str, str]:
    return {"Location": _upload_location(request, name, upload_id),
            "Range": upload_range_header(size), UPLOAD_UUID: upload_id}


def _created(request: web.Request, name: RepoName, d: Digest) -> web.Response:
    return empty(201, {"Location": _blob_location(request, name, d), CONTENT_DIGEST: str(d)})


def _query_digest(request: web.Request) -> Digest:
    raw = request.query.get("digest")
    if not raw:
        raise DigestInvalid("the digest parameter is required to complete an upload")
    return validate_digest(raw)


async def _receive(request: web.Request, writer: UploadWriter, expected: int | None) -> int:
    """Stream the request body into ``writer`` in batches; the number of bytes taken."""
    received = 0
    buf = bytearray()
    async for chunk in request.content.iter_chunked(WRITE_BATCH):
        buf += chunk
        received += len(chunk)
        if expected is not None and received > expected:
            raise SizeInvalid(f"body longer than the {expected} bytes announced")
        if len(buf) >= WRITE_BATCH:
            data, buf = bytes(buf), bytearray()
            await call(writer.write, data)
    if buf:
        await call(writer.write, bytes(buf))
    if expected is not None and received != expected:
        raise SizeInvalid(f"received {received} bytes, {expected} announced")
    return received


def _chunk_range(request: web.Request) -> tuple[int | None, int | None]:
    """(start offset, length) from Content-Range/Content-Length, each None if absent."""
    length = request.content_length
    header = request.headers.get("Content-Range")
    if not header:
        return None, length
    rng = parse_content_range(header)
    if length is not None and length != rng.length:
        raise RangeInvalid(f"Content-Range {header!r} is {rng.length} bytes, "
                           f"Content-Length says {length}")
    return rng.start, rng.length


async def _append(request: web.Request, state: AppState, name: RepoName, upload_id: str,
                  at: int | None, expected: int | None) -> int:
    uploads = state.registry.uploads
    writer = await call(uploads.open_writer, upload_id, name, at)
    try:
        await _receive(request, writer, expected)
        return writer.size
    finally:
        await asyncio.shield(call(writer.close))


async def start_upload(request: web.Request, state: AppState, route: Route) -> web.StreamResponse:
    name = route.name
    registry = state.registry
    mount = request.query.get("mount")
    if mount:
        d = validate_digest(mount)
        source = request.query.get("from")
        if await _may_mount(request, state, name, d, source):
            await call(registry.blobs.link, name, d)
            return _created(request, name, d)
    status = await call(registry.uploads.start, name)
    digest_param = request.query.get("digest")
    has_body = (request.content_length or 0) > 0 or request.headers.get(
        "Transfer-Encoding", "").lower() == "chunked"
    if digest_param:
        d = validate_digest(digest_param)
        try:
            await _append(request, state, name, status.id, 0, request.content_length)
            await call(registry.uploads.finish, status.id, name, d)
        except BaseException:
            await asyncio.shield(call(registry.uploads.cancel, status.id, name))
            raise
        return _created(request, name, d)
    size = 0
    if has_body:
        size = await _append(request, state, name, status.id, 0, request.content_length)
    return empty(202, _session_headers(request, name, status.id, size))


async def _may_mount(request: web.Request, state: AppState, name: RepoName, d: Digest,
                     source: str | None) -> bool:
    """Whether blob ``d`` can be linked into ``name`` without an upload.

    With ``from``: the blob must be in that repository and the caller may pull from
    it. Without: the spec lets a registry mount any blob it has; we do so only when
    authentication is off, since otherwise knowing a digest would open private content.
    """
    blobs = state.registry.blobs
    if source:
        try:
            src = validate_name(source)
        except InvalidArgument:
            return False
        if not await call(blobs.is_linked, src, d):
            return False
        try:
            await call(state.authorizer.authorize, request.headers.get("Authorization"),
                       Scope("repository", src, frozenset({"pull"})), "")
        except PermissionDenied:
            return False  # may not read the source: the client uploads instead
        return bool(await call(blobs.exists, d))
    return isinstance(state.authorizer, AllowAll) and bool(await call(blobs.exists, d))


async def patch_upload(request: web.Request, state: AppState, route: Route) -> web.StreamResponse:
    at, expected = _chunk_range(request)
    size = await _append(request, state, route.name, route.value, at, expected)
    return empty(202, _session_headers(request, route.name, route.value, size))


async def put_upload(request: web.Request, state: AppState, route: Route) -> web.StreamResponse:
    d = _query_digest(request)
    uploads = state.registry.uploads
    at, expected = _chunk_range(request)
    if (expected or 0) > 0 or request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        await _append(request, state, route.name, route.value, at, expected)
    else:
        await call(uploads.status, route.value, route.name)  # BLOB_UPLOAD_UNKNOWN
    await call(uploads.finish, route.value, route.name, d)
    return _created(request, route.name, d)


async def get_upload(request: web.Request, state: AppState, route: Route) -> web.StreamResponse:
    status = await call(state.registry.uploads.status, route.value, route.name)
    return empty(204, _session_headers(request, route.name, route.value, status.size))


async def cancel_upload(request: web.Request, state: AppState,
                        route: Route) -> web.StreamResponse:
    await call(state.registry.uploads.cancel, route.value, route.name)
    return empty(204)
