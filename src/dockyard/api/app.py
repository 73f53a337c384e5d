"""The aiohttp application: routers put together, the version and error middlewares."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from aiohttp import web

from dockyard.api.errors import error_response
from dockyard.api.http import MAX_JSON_BODY
from dockyard.api.routing import Handler, Routes
from dockyard.api.system import COMMON_HEADERS
from dockyard.apitypes import version as versions
from dockyard.errors import DockyardError

log = logging.getLogger(__name__)

SERVER_HEADER = "Docker/28.2.2-dockyard (linux)"


class Router(Protocol):
    def register(self, routes: Routes) -> None: ...


@web.middleware
async def version_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check the ``/v1.NN`` prefix: 400 with Docker's words if it is not served
    (``http.api_version`` reads it for the handlers)."""
    version = request.match_info.get("api_version")
    if version is not None:
        versions.check(version)
    return await handler(request)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error becomes ``{"message": ...}`` with its status (``errors.http_status``)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc)
    except DockyardError as exc:
        return error_response(exc)
    except Exception as exc:  # a bug: answer 500 with the message, log the traceback
        return error_response(exc)


async def _common_headers(request: web.Request, response: web.StreamResponse) -> None:
    for key, value in COMMON_HEADERS.items():
        response.headers.setdefault(key, value)
    response.headers["Server"] = SERVER_HEADER


def build_app(routers: Sequence[Router]) -> web.Application:
    """The application serving every router (order matters only for overlapping paths)."""
    app = web.Application(middlewares=[error_middleware, version_middleware],
                          client_max_size=MAX_JSON_BODY)
    routes = Routes(app.router)
    for router in routers:
        router.register(routes)
    app.on_response_prepare.append(_common_headers)
    return app
