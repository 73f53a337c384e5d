#!/usr/bin/env python3
"""The floor of ``bench/ops.py``'s ``docker cp`` rows: an Engine API stub that does no file
work at all. ``HEAD`` archive says every path is a directory, ``PUT`` reads the body and
drops it, ``GET`` sends a tar prepared in advance. The docker CLI's own share of a
``docker cp`` (making or unpacking the tar on the host, the socket) is what remains.

``python3 bench/ops_null.py SOCKET TAR``: serve on the unix socket ``SOCKET``; ``GET``
answers with the file ``TAR``. Only aiohttp, nothing of dockyard.
"""

from __future__ import annotations

import base64
import json
import os
import sys

from aiohttp import web

STAT = base64.b64encode(json.dumps({
    "name": "data", "size": 4096, "mode": (1 << 31) | 0o755,
    "mtime": "2026-01-01T00:00:00Z", "linkTarget": ""}).encode()).decode()
HEADERS = {"X-Docker-Container-Path-Stat": STAT}


async def ping(request: web.Request) -> web.Response:
    return web.Response(text="OK", headers={"API-Version": "1.45"})


async def version(request: web.Request) -> web.Response:
    return web.json_response({"ApiVersion": "1.45", "MinAPIVersion": "1.24",
                              "Version": "28.2.2", "Os": "linux", "Arch": "amd64"})


async def head(request: web.Request) -> web.Response:
    return web.Response(headers=HEADERS)


async def get(request: web.Request) -> web.StreamResponse:
    # sendfile (aiohttp's FileResponse), nothing through Python's memory: written in 1 MiB
    # pieces, the stub took more CPU beside the CLI than dockyardd does, and the "floor"
    # came out above dockyardd's own figure.
    response = web.FileResponse(request.app["tar"], headers=HEADERS)
    response.content_type = "application/x-tar"
    return response


async def put(request: web.Request) -> web.Response:
    async for _ in request.content.iter_any():
        pass
    return web.Response()


def main() -> None:
    sock, tar = sys.argv[1], sys.argv[2]
    app = web.Application(client_max_size=1 << 40)
    app["tar"] = tar
    for prefix in ("", "/v{version:[0-9.]+}"):
        app.router.add_get(prefix + "/_ping", ping)
        app.router.add_get(prefix + "/version", version)
        app.router.add_head(prefix + "/containers/{name}/archive", head)
        app.router.add_get(prefix + "/containers/{name}/archive", get, allow_head=False)
        app.router.add_put(prefix + "/containers/{name}/archive", put)
    if os.path.exists(sock):
        os.unlink(sock)
    web.run_app(app, path=sock, print=None, handle_signals=True)


if __name__ == "__main__":
    main()
