"""Resource routes: ``GET /containers/{id}/stats``, ``POST /containers/{id}/update`` and
``GET /system/df``.

Stats answer one JSON object (``stream=false``, ``one-shot``) or a JSON object per line,
one a second, until the client leaves or the container is removed (``stream=true``, the
default). See ``dockyard.daemon.containers.stats`` for what each way measures.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, Sequence
from typing import Protocol

from aiohttp import web

from dockyard.api.http import api_version, json_response, query_bool, read_json
from dockyard.api.routing import Routes
from dockyard.apitypes.containers import Container
from dockyard.apitypes.diskuse import ContainerSize, ImageSummary, df_json, parse_kinds
from dockyard.apitypes.stats import StatsSample, stats_json
from dockyard.apitypes.update import UpdateRequest, parse_update, update_json

log = logging.getLogger(__name__)


class StatsBackend(Protocol):
    async def stats(self, ref: str, *, stream: bool,
                    one_shot: bool) -> AsyncGenerator[StatsSample, None]: ...


class UpdateBackend(Protocol):
    async def update(self, ref: str, u: UpdateRequest) -> tuple[str, ...]: ...


class DiskUsageBackend(Protocol):
    async def container_usage(self) -> Sequence[tuple[Container, ContainerSize]]: ...

    async def image_usage(self) -> tuple[int, Sequence[ImageSummary]]: ...


def _line(sample: StatsSample) -> bytes:
    return json.dumps(stats_json(sample), separators=(",", ":")).encode() + b"\n"


class ResourceRouter:
    def __init__(self, stats: StatsBackend, update: UpdateBackend,
                 disk: DiskUsageBackend) -> None:
        self.stats_backend = stats
        self.update_backend = update
        self.disk = disk

    def register(self, routes: Routes) -> None:
        routes.add("GET", "/containers/{name}/stats", self.stats)
        routes.add("POST", "/containers/{name}/update", self.update)
        routes.add("GET", "/system/df", self.df)

    async def stats(self, request: web.Request) -> web.StreamResponse:
        stream = query_bool(request, "stream", True)
        samples = await self.stats_backend.stats(
            request.match_info["name"], stream=stream,
            one_shot=query_bool(request, "one-shot"))
        try:
            if not stream:
                async for s in samples:
                    return web.Response(body=_line(s), content_type="application/json")
                raise web.HTTPInternalServerError(text="no stats sample")
            response = web.StreamResponse(status=200)
            response.content_type = "application/json"
            await response.prepare(request)
            try:
                async for s in samples:
                    await response.write(_line(s))
                await response.write_eof()
            except ConnectionError:
                log.debug("the reader of the stats of %s went away",
                          request.match_info["name"])
            return response
        finally:
            await samples.aclose()

    async def update(self, request: web.Request) -> web.Response:
        req = parse_update(await read_json(request))
        warnings = await self.update_backend.update(request.match_info["name"], req)
        return json_response(update_json(warnings))

    async def df(self, request: web.Request) -> web.Response:
        kinds = parse_kinds(request.query.getall("type", []))
        containers: Sequence[tuple[Container, ContainerSize]] = ()
        layers = 0
        images: Sequence[ImageSummary] = ()
        if "container" in kinds:
            containers = await self.disk.container_usage()
        if "image" in kinds:
            layers, images = await self.disk.image_usage()
        return json_response(df_json(kinds, api_version(request), containers=containers,
                                     layers_size=layers, images=images))
