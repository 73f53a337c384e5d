"""What every handler shares: the application state, the parsed route, header helpers.

Handlers are thin: parse the request, call one store method in a thread
(``asyncio.to_thread``: the stores are synchronous), write the status and headers.
Errors are raised, never answered here: ``app.error_middleware`` maps them once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from aiohttp import web

from dockyard.registry.auth import Authorizer
from dockyard.registry.config import RegistryConfig
from dockyard.registry.names import RepoName
from dockyard.registry.store import Registry

P = ParamSpec("P")
T = TypeVar("T")

API_VERSION_HEADER = "Docker-Distribution-API-Version"
API_VERSION = "registry/2.0"
CONTENT_DIGEST = "Docker-Content-Digest"
UPLOAD_UUID = "Docker-Upload-UUID"
OCI_SUBJECT = "OCI-Subject"
OCI_FILTERS_APPLIED = "OCI-Filters-Applied"
JSON = "application/json"
OCTET_STREAM = "application/octet-stream"
# Bodies are streamed to disk in pieces of about this size (one thread hop each).
WRITE_BATCH = 1 << 20


@dataclass(frozen=True, slots=True)
class AppState:
    """Everything handlers use; built once by ``app.make_app``."""

    registry: Registry
    authorizer: Authorizer
    config: RegistryConfig


STATE = web.AppKey("dockyard_registry_state", AppState)


@dataclass(frozen=True, slots=True)
class Route:
    """A matched ``/v2/...`` path: the repository and the rest of the path's values."""

    name: RepoName
    value: str = ""  # digest, reference or upload id, by route


Handler = Callable[[web.Request, AppState, Route], Awaitable[web.StreamResponse]]


async def call(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a synchronous store call in a thread."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def base_url(request: web.Request) -> str:
    """``scheme://host`` as the client reached us (for absolute Location headers)."""
    return f"{request.scheme}://{request.host}"


def empty(status: int, headers: dict[str, str] | None = None) -> web.Response:
    """A response without a body (``Content-Length: 0``)."""
    return web.Response(status=status, headers=headers)


def head_response(status: int, headers: dict[str, str], length: int) -> web.StreamResponse:
    """The answer to a HEAD: the headers a GET would have, ``Content-Length`` included."""
    resp = web.StreamResponse(status=status, headers=headers)
    resp.content_length = length
    return resp


def merged_accept(request: web.Request) -> list[str]:
    """Every media type of every ``Accept`` header line (clients send several)."""
    out: list[str] = []
    for line in request.headers.getall("Accept", []):
        for part in line.split(","):
            value = part.split(";", 1)[0].strip()
            if value:
                out.append(value)
    return out
