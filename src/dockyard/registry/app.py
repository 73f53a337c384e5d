"""The registry's aiohttp application: routes, the error mapping, auth, common headers.

``make_app(state)`` is everything HTTP; ``server.py`` runs it (sockets, TLS, workers).
Request flow: ``error_middleware`` (the one place an exception becomes a status, via
``errors.error_reply``) -> ``v2_dispatch`` (route table, then the ``Authorizer`` with the
scope the endpoint needs) -> a handler. Every response carries
``Docker-Distribution-API-Version: registry/2.0``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Handler as AiohttpHandler

from dockyard.errors import DockyardError
from dockyard.registry import gc
from dockyard.registry.auth import AllowAll, TokenAuthorizer
from dockyard.registry.auth.access import Scope
from dockyard.registry.errors import Unauthorized, Unsupported, error_reply
from dockyard.registry.routes import discovery, match
from dockyard.registry.routes.base import (
    API_VERSION,
    API_VERSION_HEADER,
    JSON,
    STATE,
    AppState,
    base_url,
    call,
)

log = logging.getLogger(__name__)

CATALOG_SCOPE = Scope("registry", "catalog", frozenset({"*"}))


def _error_response(exc: BaseException) -> web.Response:
    reply = error_reply(exc)
    resp = web.Response(status=reply.status, body=reply.body, headers=dict(reply.headers))
    resp.content_type = JSON
    return resp


@web.middleware
async def error_middleware(request: web.Request,
                           handler: AiohttpHandler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except DockyardError as e:
        if request.method == "HEAD":
            reply = error_reply(e)
            return web.Response(status=reply.status, headers=dict(reply.headers))
        return _error_response(e)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as e:
        return _error_response(e)


async def _authorize(request: web.Request, state: AppState, scope: Scope | None) -> str | None:
    authorizer = state.authorizer
    if isinstance(authorizer, AllowAll):
        return None
    return await call(authorizer.authorize, request.headers.get("Authorization"), scope,
                      f"{base_url(request)}/token")


async def v2_base(request: web.Request) -> web.StreamResponse:
    """``GET /v2/``: 200 when the caller may use the registry (401 with a challenge not)."""
    await _authorize(request, request.app[STATE], None)
    resp = web.Response(status=200, body=b"{}")
    resp.content_type = JSON
    return resp


async def v2_catalog(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    await _authorize(request, state, CATALOG_SCOPE)
    return await discovery.catalog(request, state)


async def v2_dispatch(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    tail = request.match_info["tail"]
    m = match(tail, request.method)
    if m is None:
        raise web.HTTPNotFound()
    await _authorize(request, state, m.scope)
    return await m.handler(request, state, m.route)


async def token_endpoint(request: web.Request) -> web.StreamResponse:
    """The built-in token server (GET with Basic credentials, or an OAuth2 POST)."""
    state = request.app[STATE]
    authorizer = state.authorizer
    if not isinstance(authorizer, TokenAuthorizer):
        raise Unsupported("this registry does not use token authentication")
    if request.method == "POST":
        form = await request.post()
        grant = str(form.get("grant_type", ""))
        if grant != "password":
            raise Unsupported(f"grant_type {grant!r} is not supported (use password)")
        user, password = str(form.get("username", "")), str(form.get("password", ""))
        if not await call(authorizer.checker.check, user, password):
            raise Unauthorized("invalid username or password", "")
        scopes = [str(s) for s in form.getall("scope", [])]
        body = await call(authorizer.issue_for, user, scopes, str(form.get("service", "")))
    else:
        scopes = request.query.getall("scope", [])
        body = await call(authorizer.token_response, request.headers.get("Authorization"),
                          scopes, request.query.get("service", ""))
    return web.json_response(body)


async def _on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[API_VERSION_HEADER] = API_VERSION


async def _gc_loop(state: AppState) -> None:
    interval = state.config.gc_interval
    while True:
        await asyncio.sleep(interval)
        try:
            await call(gc.collect, state.registry, grace=state.config.gc_grace,
                       upload_max_age=state.config.upload_max_age)
        except DockyardError:
            log.exception("background garbage collection failed")


async def _gc_context(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    task = asyncio.create_task(_gc_loop(state)) if state.config.gc_interval > 0 else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def make_app(state: AppState) -> web.Application:
    """The registry application over ``state`` (nothing is started until it is run)."""
    app = web.Application(middlewares=[error_middleware], client_max_size=64 * 1024)
    app[STATE] = state
    app.on_response_prepare.append(_on_prepare)
    app.cleanup_ctx.append(_gc_context)
    app.router.add_get("/v2/", v2_base)
    app.router.add_get("/v2", v2_base)
    app.router.add_get("/v2/_catalog", v2_catalog)
    app.router.add_route("*", "/v2/{tail:.+}", v2_dispatch)
    app.router.add_get("/token", token_endpoint)
    app.router.add_route("POST", "/token", token_endpoint)
    return app


__all__ = ["AppState", "make_app"]
