"""``GET /containers/{id}/logs``: the json-file log as a raw or multiplexed stream."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Protocol

from aiohttp import web

from dockyard.api.http import api_version
from dockyard.api.routing import Routes
from dockyard.apitypes.streams import (
    MULTIPLEXED_STREAM,
    RAW_STREAM,
    LogChunk,
    LogQuery,
    encode_log_chunk,
    parse_log_query,
)
from dockyard.apitypes.version import at_least

log = logging.getLogger(__name__)


class LogStreamLike(Protocol):
    @property
    def tty(self) -> bool: ...

    @property
    def chunks(self) -> AsyncGenerator[LogChunk, None]: ...


class LogsBackend(Protocol):
    async def logs(self, ref: str, query: LogQuery) -> LogStreamLike: ...


class LogsRouter:
    def __init__(self, backend: LogsBackend) -> None:
        self.backend = backend

    def register(self, routes: Routes) -> None:
        routes.add("GET", "/containers/{name}/logs", self.logs)

    async def logs(self, request: web.Request) -> web.StreamResponse:
        query = parse_log_query(request.query)
        stream = await self.backend.logs(request.match_info["name"], query)
        response = web.StreamResponse(status=200)
        response.content_type = MULTIPLEXED_STREAM if not stream.tty and at_least(
            api_version(request), "1.42") else RAW_STREAM
        await response.prepare(request)
        chunks = stream.chunks
        try:
            async for c in chunks:
                await response.write(encode_log_chunk(c, tty=stream.tty))
            await response.write_eof()
        except ConnectionError:
            log.debug("the reader of the logs of %s went away", request.match_info["name"])
        finally:
            await chunks.aclose()
        return response
