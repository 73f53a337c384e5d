"""``POST /auth``: check a registry's credentials for ``docker login``.

The body is Docker's ``AuthConfig`` (``username``, ``password``, ``serveraddress``...);
the daemon asks the registry and answers ``{"Status": "Login Succeeded",
"IdentityToken": ...}``. It keeps nothing: the client stores the credentials and sends
them again with each pull and push (``X-Registry-Auth``).

Refused credentials are a 401, as moby's (``errdefs.Unauthorized``), which the docker CLI
prints as ``Error response from daemon: <the registry's words>``. The error kinds have no
"unauthenticated" of their own, so this route alone turns ``PermissionDenied`` into 401;
everywhere else it stays a 403.
"""

from __future__ import annotations

import logging
from typing import Protocol

from aiohttp import web

from dockyard.api.errors import error_body, http_status
from dockyard.api.http import json_response, read_json
from dockyard.api.routing import Routes
from dockyard.apitypes.distribution import auth_json
from dockyard.distribution import RegistryAuth
from dockyard.errors import DockyardError, Internal, InvalidArgument, PermissionDenied

log = logging.getLogger(__name__)


class AuthBackend(Protocol):
    async def login(self, auth: RegistryAuth) -> str:
        """The identity token the registry gave, or ``""``; ``PermissionDenied`` when the
        registry refuses the credentials."""
        ...


class AuthRouter:
    def __init__(self, backend: AuthBackend) -> None:
        self.backend = backend

    def register(self, routes: Routes) -> None:
        routes.add("POST", "/auth", self.auth)

    async def auth(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise InvalidArgument("invalid JSON: expected an object (AuthConfig)")
        auth = RegistryAuth.from_json(body)
        try:
            token = await self.backend.login(auth)
        except PermissionDenied as exc:
            log.info("login to %s refused: %s", auth.server_address or "docker.io", exc)
            return web.Response(status=401, body=error_body(str(exc)),
                                content_type="application/json")
        except DockyardError as exc:
            if isinstance(exc, Internal):
                raise  # a bug: the error middleware logs its traceback
            # An unreachable registry is the user's news, not a daemon error.
            log.warning("login to %s failed: %s", auth.server_address or "docker.io", exc)
            return web.Response(status=http_status(exc), body=error_body(str(exc)),
                                content_type="application/json")
        return json_response(auth_json(token))
