"""System routes: ``/_ping``, ``/version``, ``/info``."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from dockyard.api.http import json_response
from dockyard.api.routing import Routes
from dockyard.apitypes.system import SystemInfo, VersionInfo, info_json, version_json
from dockyard.apitypes.version import API_VERSION


class SystemBackend(Protocol):
    async def version(self) -> VersionInfo: ...

    async def info(self) -> SystemInfo: ...


# Sent with every response, as dockerd does; the CLI negotiates its version from them.
COMMON_HEADERS = {
    "Api-Version": API_VERSION,
    "Docker-Experimental": "false",
    "Ostype": "linux",
}
PING_HEADERS = {
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
    "Builder-Version": "1",
    "Swarm": "inactive",
}


class SystemRouter:
    def __init__(self, backend: SystemBackend) -> None:
        self.backend = backend

    def register(self, routes: Routes) -> None:
        routes.add("GET", "/_ping", self.ping)
        routes.add("HEAD", "/_ping", self.ping)
        routes.add("GET", "/version", self.version)
        routes.add("GET", "/info", self.info)

    async def ping(self, request: web.Request) -> web.Response:
        body = b"" if request.method == "HEAD" else b"OK"
        return web.Response(body=body, headers=PING_HEADERS, content_type="text/plain",
                            charset="utf-8")

    async def version(self, request: web.Request) -> web.Response:
        return json_response(version_json(await self.backend.version()))

    async def info(self, request: web.Request) -> web.Response:
        return json_response(info_json(await self.backend.info()))
