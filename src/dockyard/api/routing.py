"""Route registration: every path is served unversioned and under ``/v1.NN``.

Handlers are registered through ``Routes.add``, which adds both forms; the version
middleware (``app.version_middleware``) checks the prefix and stores the version in the
request (``request["api_version"]``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
VERSION_PREFIX = r"/v{api_version:[0-9]+\.[0-9]+}"


class Routes:
    """Adds routes to a router in both forms."""

    def __init__(self, router: web.UrlDispatcher) -> None:
        self.router = router

    def add(self, method: str, path: str, handler: Handler) -> None:
        for p in (path, VERSION_PREFIX + path):
            self.router.add_route(method, p, handler)
