"""Container routes: create, inspect, list, start, stop, kill, restart, wait, rm, resize,
rename, pause, unpause, top, prune.

The extension ``POST /dockyard/containers/settle`` answers 204 once the background
cleanup of every removed container (unmount, snapshot, files: done after ``rm`` answered)
has ended; for clients that check a removal left nothing behind.

Attach is in ``attach`` (hijacking), logs in ``logs`` (streaming).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

from aiohttp import web

from dockyard.api.http import (
    json_response,
    no_content,
    not_modified,
    query_bool,
    query_int,
    read_json,
)
from dockyard.api.routing import Routes
from dockyard.apitypes.containers import (
    Container,
    CreateResult,
    PruneResult,
    TopResult,
    WaitCondition,
    WaitResult,
    create_json,
    inspect_json,
    parse_wait_condition,
    prune_json,
    summary_json,
    top_json,
    wait_json,
)
from dockyard.apitypes.create import CreateRequest, parse_create
from dockyard.apitypes.diskuse import ContainerSize, sized_summary_json
from dockyard.apitypes.filters import parse_filters
from dockyard.errors import InvalidArgument

log = logging.getLogger(__name__)

DISCONNECT_POLL = 1.0


class ContainerBackend(Protocol):
    async def create(self, req: CreateRequest) -> CreateResult: ...

    async def get(self, ref: str) -> Container: ...

    async def list(self, *, all: bool = False, limit: int = -1,
                   filters: Mapping[str, Sequence[str]] | None = None) -> list[Container]: ...

    async def start(self, ref: str) -> bool: ...

    async def stop(self, ref: str, *, timeout: int | None = None, signal: str = "") -> bool: ...

    async def kill(self, ref: str, signal: str = "") -> None: ...

    async def restart(self, ref: str, *, timeout: int | None = None,
                      signal: str = "") -> None: ...

    async def wait(self, ref: str, condition: WaitCondition) -> asyncio.Future[WaitResult]: ...

    async def remove(self, ref: str, *, force: bool = False) -> None: ...

    async def resize(self, ref: str, height: int, width: int) -> None: ...

    async def rename(self, ref: str, new_name: str) -> None: ...

    async def pause(self, ref: str) -> None: ...

    async def unpause(self, ref: str) -> None: ...

    async def top(self, ref: str, ps_args: str = "") -> TopResult: ...

    async def prune(self, filters: Mapping[str, Sequence[str]]) -> PruneResult: ...

    async def sizes(self, cs: Sequence[Container]) -> Sequence[ContainerSize]: ...

    async def settle(self) -> None: ...


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


class ContainerRouter:
    def __init__(self, backend: ContainerBackend) -> None:
        self.backend = backend

    def register(self, routes: Routes) -> None:
        routes.add("POST", "/containers/create", self.create)
        routes.add("GET", "/containers/json", self.list)
        routes.add("GET", "/containers/{name}/json", self.inspect)
        routes.add("POST", "/containers/{name}/start", self.start)
        routes.add("POST", "/containers/{name}/stop", self.stop)
        routes.add("POST", "/containers/{name}/kill", self.kill)
        routes.add("POST", "/containers/{name}/restart", self.restart)
        routes.add("POST", "/containers/{name}/wait", self.wait)
        routes.add("DELETE", "/containers/{name}", self.remove)
        routes.add("POST", "/containers/{name}/resize", self.resize)
        routes.add("POST", "/containers/{name}/rename", self.rename)
        routes.add("POST", "/containers/{name}/pause", self.pause)
        routes.add("POST", "/containers/{name}/unpause", self.unpause)
        routes.add("GET", "/containers/{name}/top", self.top)
        routes.add("POST", "/containers/prune", self.prune)
        routes.add("POST", "/dockyard/containers/settle", self.settle)

    async def create(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        req = parse_create(body, request.query.get("name", ""),
                           request.query.get("platform", ""))
        return json_response(create_json(await self.backend.create(req)), status=201)

    async def list(self, request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters", ""))
        limit = query_int(request, "limit", -1)
        containers = await self.backend.list(all=query_bool(request, "all"),
                                             limit=limit if limit is not None else -1,
                                             filters=filters)
        if query_bool(request, "size"):
            sizes = await self.backend.sizes(containers)
            return json_response([sized_summary_json(c, s)
                                  for c, s in zip(containers, sizes, strict=True)])
        return json_response([summary_json(c) for c in containers])

    async def inspect(self, request: web.Request) -> web.Response:
        c = await self.backend.get(request.match_info["name"])
        if not query_bool(request, "size"):
            return json_response(inspect_json(c))
        (size,) = await self.backend.sizes([c])
        return json_response(inspect_json(c, (size.rw, size.root_fs)))

    async def start(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > 7:
            raise InvalidArgument("starting container with non-empty request body was "
                                  "deprecated since API v1.22 and removed in v1.24")
        if request.query.get("checkpoint"):
            raise InvalidArgument("checkpoints are not supported by dockyard")
        started = await self.backend.start(request.match_info["name"])
        return no_content() if started else not_modified()

    async def stop(self, request: web.Request) -> web.Response:
        stopped = await self.backend.stop(request.match_info["name"],
                                          timeout=query_int(request, "t"),
                                          signal=request.query.get("signal", ""))
        return no_content() if stopped else not_modified()

    async def kill(self, request: web.Request) -> web.Response:
        await self.backend.kill(request.match_info["name"], request.query.get("signal", ""))
        return no_content()

    async def restart(self, request: web.Request) -> web.Response:
        await self.backend.restart(request.match_info["name"], timeout=query_int(request, "t"),
                                   signal=request.query.get("signal", ""))
        return no_content()

    async def wait(self, request: web.Request) -> web.StreamResponse:
        """Register the wait, send status and headers at once (the docker CLI sends start
        only once it has them), the body when the condition is met."""
        condition = parse_wait_condition(request.query.get("condition", ""))
        fut = await self.backend.wait(request.match_info["name"], condition)
        response = web.StreamResponse(status=200)
        response.content_type = "application/json"
        await response.prepare(request)
        while True:
            done, _ = await asyncio.wait({fut}, timeout=DISCONNECT_POLL)
            if done:
                break
            if _client_gone(request):
                fut.cancel()
                return response
        body = json.dumps(wait_json(fut.result()), separators=(",", ":")).encode() + b"\n"
        try:
            await response.write_eof(body)  # the body and the last chunk in one write
        except ConnectionError:
            # The client left without the answer (``docker run -d`` registers a wait and
            # exits after the start): nobody is listening, nothing to report.
            log.debug("the waiter of %s went away", request.match_info["name"])
        return response

    async def remove(self, request: web.Request) -> web.Response:
        if query_bool(request, "link"):
            raise InvalidArgument("links are not supported by dockyard")
        await self.backend.remove(request.match_info["name"], force=query_bool(request, "force"))
        return no_content()

    async def settle(self, request: web.Request) -> web.Response:
        await self.backend.settle()
        return no_content()

    async def rename(self, request: web.Request) -> web.Response:
        await self.backend.rename(request.match_info["name"], request.query.get("name", ""))
        return no_content()

    async def resize(self, request: web.Request) -> web.Response:
        height = query_int(request, "h", 0, minimum=0) or 0
        width = query_int(request, "w", 0, minimum=0) or 0
        if not (0 < height < 65536 and 0 < width < 65536):
            raise InvalidArgument(f"invalid resize {height}x{width}")
        await self.backend.resize(request.match_info["name"], height, width)
        return web.Response(status=200)

    async def pause(self, request: web.Request) -> web.Response:
        await self.backend.pause(request.match_info["name"])
        return no_content()

    async def unpause(self, request: web.Request) -> web.Response:
        await self.backend.unpause(request.match_info["name"])
        return no_content()

    async def top(self, request: web.Request) -> web.Response:
        result = await self.backend.top(request.match_info["name"],
                                        request.query.get("ps_args", ""))
        return json_response(top_json(result))

    async def prune(self, request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters", ""))
        return json_response(prune_json(await self.backend.prune(filters)))
