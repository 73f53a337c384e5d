"""Exec routes: ``POST /containers/{id}/exec``, ``POST /exec/{id}/start`` (hijacked, or
detached), ``POST /exec/{id}/resize``, ``GET /exec/{id}/json``.

Start, as moby's ``postContainerExecStart``: the exec is looked up first (a JSON 404);
detached, the start's errors are ordinary statuses. Attached, the connection is hijacked
(``attach.hijack``), ``101 UPGRADED`` written, and the socket handed to the backend,
which has the supervisor stream on it; an error past that point (the container stopped,
no such executable) can only be written into the stream, framed as stdout when the
stream is framed, before it is closed. The docker CLI then reads the exit code from
``GET /exec/{id}/json``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Protocol

from aiohttp import web

from dockyard.api.attach import hijack, release, stream_head
from dockyard.api.http import json_response, query_int, read_json
from dockyard.api.routing import Routes
from dockyard.apitypes.execs import (
    ExecConfig,
    ExecStart,
    ExecView,
    exec_inspect_json,
    parse_exec_config,
    parse_exec_start,
)
from dockyard.apitypes.streams import frame
from dockyard.errors import DockyardError, InvalidArgument

log = logging.getLogger(__name__)


class ExecBackend(Protocol):
    async def exec_create(self, ref: str, config: ExecConfig) -> str: ...

    async def exec_inspect(self, exec_id: str) -> ExecView: ...

    async def exec_start(self, exec_id: str, start: ExecStart,
                         sock: socket.socket | None) -> None: ...

    async def exec_resize(self, exec_id: str, height: int, width: int) -> None: ...


class ExecRouter:
    def __init__(self, backend: ExecBackend) -> None:
        self.backend = backend

    def register(self, routes: Routes) -> None:
        routes.add("POST", "/containers/{name}/exec", self.create)
        routes.add("POST", "/exec/{id}/start", self.start)
        routes.add("POST", "/exec/{id}/resize", self.resize)
        routes.add("GET", "/exec/{id}/json", self.inspect)

    async def create(self, request: web.Request) -> web.Response:
        config = parse_exec_config(await read_json(request))
        exec_id = await self.backend.exec_create(request.match_info["name"], config)
        return json_response({"Id": exec_id}, status=201)

    async def inspect(self, request: web.Request) -> web.Response:
        return json_response(exec_inspect_json(
            await self.backend.exec_inspect(request.match_info["id"])))

    async def resize(self, request: web.Request) -> web.Response:
        height = query_int(request, "h", 0, minimum=0) or 0
        width = query_int(request, "w", 0, minimum=0) or 0
        if not (0 < height < 65536 and 0 < width < 65536):
            raise InvalidArgument(f"invalid resize {height}x{width}")
        await self.backend.exec_resize(request.match_info["id"], height, width)
        return web.Response(status=200)

    async def start(self, request: web.Request) -> web.StreamResponse:
        exec_id = request.match_info["id"]
        start = parse_exec_start(await read_json(request, required=False))
        await self.backend.exec_inspect(exec_id)  # a missing exec is an ordinary 404
        if start.detach:
            await self.backend.exec_start(exec_id, start, None)
            return web.Response(status=200)
        framed = not start.tty
        head = stream_head(request, framed)
        sock = hijack(request)
        # From here on ``sock`` is our only descriptor of the connection: the backend
        # closes it as soon as the supervisor holds its own, so that the client's end of
        # stream comes when the supervisor closes the stream, not when we get to it.
        release(request)
        loop = asyncio.get_running_loop()
        try:
            await loop.sock_sendall(sock, head)
            try:
                await self.backend.exec_start(exec_id, start, sock)
            except DockyardError as exc:
                # Past the hijack no status can be sent: say it in the stream (moby does).
                message = f"{exc}\r\n".encode()
                await loop.sock_sendall(sock, frame("stdout", message) if framed else message)
        except OSError as exc:
            log.info("exec %s: the client went away: %s", exec_id[:12], exc)
        finally:
            sock.close()  # (again, if the backend closed it)
        return web.Response()
