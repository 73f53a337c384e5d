"""File routes: ``HEAD/GET/PUT /containers/{id}/archive`` (``docker cp``),
``GET /containers/{id}/export``, ``GET /containers/{id}/changes``, ``POST /commit``.

Tar streams go out as ``application/x-tar`` while the backend makes them; an error after
the first byte aborts the connection (the client must see a broken archive, not a short
one that looks whole). ``PUT`` reads the body as it arrives.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Protocol

from aiohttp import web

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
    def stat(self) -> PathStat: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...


class FilesBackend(Protocol):
    async def stat_path(self, ref: str, path: str) -> PathStat: ...

    async def get_archive(self, ref: str, path: str) -> ArchiveStream: ...

    async def put_archive(self, ref: str, path: str, body: BodyReader, *,
                          no_overwrite_dir_non_dir: bool = False,
                          copy_uid_gid: bool = False) -> None: ...

    async def export(self, ref: str) -> AsyncGenerator[bytes, None]: ...

    async def changes(self, ref: str) -> Sequence[Change]: ...


class CommitBackend(Protocol):
    async def commit(self, req: CommitRequest) -> str: ...


async def _send_tar(request: web.Request, chunks: AsyncIterator[bytes], what: str,
                    headers: dict[str, str] | None = None) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers=headers)
    response.content_type = "application/x-tar"
    await response.prepare(request)
    try:
        async for chunk in chunks:
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
            return await _send_tar(request, stream.chunks(), f"archive of {name}",
                                   {PATH_STAT_HEADER: path_stat_header(stream.stat)})
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
        chunks = await self.files.export(name)
        try:
            return await _send_tar(request, chunks, f"export of {name}")
        finally:
            await chunks.aclose()

    async def changes(self, request: web.Request) -> web.Response:
        return json_response(changes_json(await self.files.changes(request.match_info["name"])))

    async def commit(self, request: web.Request) -> web.Response:
        body = await read_json(request, required=False)
        req = parse_commit(request.query, request.query.getall("changes", []), body)
        image_id = await self.committer.commit(req)
        return json_response({"Id": image_id}, status=201)
