"""Image routes: list, inspect, history, tag, remove, prune, import, load, save, pull and
push (their progress streams: ``api.transfers``), and the dockyard extension that makes
the offline base images.

Streams: import, load and the base images answer JSON lines (``application/json``); an
error before anything was written is an ordinary error response, one after it a last
``{"errorDetail": ..., "error": ...}`` line (the status was sent already). ``load``
always answers 200 and reports its errors in the stream, as dockerd does. Save answers a
tar stream; the names are resolved first, so a missing image is a 404.

The extension, ``POST /dockyard/images/base?name=busybox|debian[&ref=NAME][&suite=S]``,
makes ``busybox:latest`` from the host's static busybox, or ``debian:<suite>`` from
Debian's packages (slow: a status line every ``HEARTBEAT`` seconds while it works), and
answers JSON lines ending with ``{"aux": {"ID": ..., "Name": ...}}``. No Docker client
calls it; ``dockyard-base-image`` does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Protocol

from aiohttp import web

from dockyard.api.errors import error_message as exception_message
from dockyard.api.errors import http_status
from dockyard.api.http import api_version, json_response, query_bool
from dockyard.api.routing import Routes
from dockyard.api.transfers import TransferStream, stream_transfer
from dockyard.apitypes.distribution import parse_pull, push_reference
from dockyard.apitypes.filters import parse_filters
from dockyard.apitypes.images import (
    BaseRequest,
    DeleteItem,
    ImageSummary,
    ImportRequest,
    LoadedImage,
    PruneReport,
    delete_json,
    error_message,
    inspect_json,
    json_line,
    made_aux,
    made_messages,
    parse_base_request,
    parse_import,
    pull_reference,
    status_message,
    stream_message,
    summary_json,
)
from dockyard.distribution import RegistryAuth
from dockyard.errors import InvalidArgument, NotFound, Unavailable

log = logging.getLogger(__name__)

HEARTBEAT = 5.0


class BodyReader(Protocol):
    """The request body as the backend reads it (aiohttp's ``StreamReader``)."""

    async def read(self, n: int = -1) -> bytes: ...


class ImageBackend(Protocol):
    async def list_images(self, *, filters: Mapping[str, Sequence[str]],
                          shared_size: bool = False) -> list[ImageSummary]: ...

    async def inspect(self, name: str) -> dict[str, Any]: ...

    async def history(self, name: str) -> list[dict[str, Any]]: ...

    async def tag(self, name: str, repository: str, tag: str) -> None: ...

    async def remove(self, name: str, *, force: bool = False) -> list[DeleteItem]: ...

    async def prune(self, filters: Mapping[str, Sequence[str]]) -> PruneReport: ...

    async def import_image(self, body: BodyReader, req: ImportRequest) -> str:
        """The new image's ID."""
        ...

    async def load(self, body: BodyReader) -> list[LoadedImage]: ...

    async def save(self, names: Sequence[str]) -> AsyncGenerator[bytes, None]:
        """The archive's bytes; the names are all resolved before this returns. The
        router closes the generator (``aclose``) however the response ends."""
        ...

    async def make_base(self, req: BaseRequest) -> LoadedImage: ...


class RegistryBackend(Protocol):
    """Pulls and pushes (``daemon.pulls.DaemonRegistry``); each starts a transfer whose
    progress the router streams (``api.transfers``)."""

    async def pull(self, ref: str, *, auth: RegistryAuth, platform: str = ""
                   ) -> TransferStream: ...

    async def push(self, ref: str, *, auth: RegistryAuth) -> TransferStream: ...

    async def distribution_inspect(self, ref: str, *, auth: RegistryAuth) -> dict[str, Any]: ...


class ImageRouter:
    def __init__(self, backend: ImageBackend, registry: RegistryBackend | None = None) -> None:
        self.backend = backend
        self.registry = registry

    def register(self, routes: Routes) -> None:
        # Fixed paths first: "{name:.+}" (names hold slashes) would match some of them.
        routes.add("GET", "/images/json", self.list_images)
        routes.add("GET", "/images/get", self.save_many)
        routes.add("POST", "/images/create", self.create)
        routes.add("POST", "/images/load", self.load)
        routes.add("POST", "/images/prune", self.prune)
        routes.add("POST", "/dockyard/images/base", self.make_base)
        routes.add("GET", "/images/{name:.+}/json", self.inspect)
        routes.add("GET", "/images/{name:.+}/history", self.history)
        routes.add("GET", "/images/{name:.+}/get", self.save_one)
        routes.add("POST", "/images/{name:.+}/tag", self.tag)
        routes.add("POST", "/images/{name:.+}/push", self.push)
        routes.add("DELETE", "/images/{name:.+}", self.remove)
        routes.add("GET", "/distribution/{name:.+}/json", self.distribution_inspect)

    # ------------------------------------------------------------------ reading

    async def list_images(self, request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters", ""))
        if request.query.get("filter"):  # API < 1.41: a reference given on its own
            filters.setdefault("reference", []).append(request.query["filter"])
        rows = await self.backend.list_images(filters=filters,
                                              shared_size=query_bool(request, "shared-size"))
        version = api_version(request)
        return json_response([summary_json(r, version) for r in rows])

    async def inspect(self, request: web.Request) -> web.Response:
        doc = await self.backend.inspect(request.match_info["name"])
        return json_response(inspect_json(doc, api_version(request)))

    async def history(self, request: web.Request) -> web.Response:
        return json_response(await self.backend.history(request.match_info["name"]))

    # ------------------------------------------------------------------ names

    async def tag(self, request: web.Request) -> web.Response:
        await self.backend.tag(request.match_info["name"], request.query.get("repo", ""),
                               request.query.get("tag", ""))
        return web.Response(status=201)

    async def remove(self, request: web.Request) -> web.Response:
        # ``noprune`` concerns parent images, which dockyard's images never have.
        items = await self.backend.remove(request.match_info["name"],
                                          force=query_bool(request, "force"))
        return json_response(delete_json(items))

    async def prune(self, request: web.Request) -> web.Response:
        report = await self.backend.prune(parse_filters(request.query.get("filters", "")))
        return json_response(report.to_json())

    # ------------------------------------------------------------------ streams

    async def create(self, request: web.Request) -> web.StreamResponse:
        """Pull (``fromImage``, ``tag``: a tag or a digest, ``platform``;
        ``X-Registry-Auth``) or import (``fromSrc=-``)."""
        image = request.query.get("fromImage", "")
        if image:
            if self.registry is None:
                ref = pull_reference(image, request.query.get("tag", ""))
                # "No such image" also makes docker-py raise ImageNotFound.
                raise NotFound(f"No such image: {ref}: pull access is not available in "
                               "this daemon (use docker load or docker import)")
            pull = parse_pull(request.query)
            transfer = await self.registry.pull(pull.reference, auth=_registry_auth(request),
                                                platform=pull.platform)
            return await stream_transfer(request, transfer, f"pull of {pull.reference}")
        if "fromSrc" not in request.query:
            raise InvalidArgument("either fromImage or fromSrc is required")
        req = parse_import(request.query, request.query.getall("changes", []))
        image_id = await self.backend.import_image(request.content, req)
        response = await _json_stream(request)
        await response.write(json_line(status_message(image_id)))
        await response.write_eof()
        return response

    async def push(self, request: web.Request) -> web.StreamResponse:
        """``docker push``: one tag (``tag``), or every local tag of the repository."""
        if self.registry is None:
            raise NotFound("this daemon does not push")
        ref = push_reference(request.match_info["name"], request.query.get("tag", ""))
        transfer = await self.registry.push(ref, auth=_registry_auth(request))
        return await stream_transfer(request, transfer, f"push of {ref}")

    async def distribution_inspect(self, request: web.Request) -> web.Response:
        """``GET /distribution/{name}/json``: the registry's descriptor and platforms of
        ``name`` (a bare name means its ``latest`` tag, as moby)."""
        if self.registry is None:
            raise Unavailable("this daemon does not talk to registries")
        doc = await self.registry.distribution_inspect(request.match_info["name"],
                                                       auth=_registry_auth(request))
        return json_response(doc)

    async def load(self, request: web.Request) -> web.StreamResponse:
        """``docker load``: 200 whatever happens, errors as the stream's last line. There
        are no progress bars, so ``quiet`` changes nothing."""
        try:
            loaded = await self.backend.load(request.content)
        except Exception as exc:  # reported in the stream, as dockerd does
            if http_status(exc) >= 500:
                log.error("load failed", exc_info=exc)
            response = await _json_stream(request)
            await response.write(json_line(error_message(exception_message(exc))))
            await response.write_eof()
            return response
        response = await _json_stream(request)
        for image in loaded:
            for text in image.messages():
                await response.write(json_line(stream_message(text + "\n")))
        await response.write_eof()
        return response

    async def save_many(self, request: web.Request) -> web.StreamResponse:
        names = request.query.getall("names", [])
        if not names:
            raise InvalidArgument("no image name given (names=...)")
        return await self._save(request, names)

    async def save_one(self, request: web.Request) -> web.StreamResponse:
        return await self._save(request, [request.match_info["name"]])

    async def _save(self, request: web.Request, names: Sequence[str]) -> web.StreamResponse:
        chunks = await self.backend.save(names)
        try:
            response = web.StreamResponse(status=200)
            response.content_type = "application/x-tar"
            await response.prepare(request)
            try:
                async for chunk in chunks:
                    await response.write(chunk)
            except ConnectionError:
                log.info("save of %s: the client went away", ", ".join(names))
                return response
            except Exception as exc:
                # The status went out with the first bytes: cut the connection so the
                # client sees a broken archive rather than a short one that looks whole.
                log.error("save of %s failed after it started: %s", ", ".join(names), exc,
                          exc_info=exc)
                if request.transport is not None:
                    request.transport.abort()
                return response
            await response.write_eof()
            return response
        finally:
            await chunks.aclose()

    async def make_base(self, request: web.Request) -> web.StreamResponse:
        req = parse_base_request(request.query)
        response = await _json_stream(request)
        what = req.name or (f"debian:{req.suite}" if req.kind == "debian" else "busybox:latest")
        await response.write(json_line(status_message(f"Making {what} offline ({req.kind})")))
        task = asyncio.ensure_future(self.backend.make_base(req))
        waited = 0.0
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=HEARTBEAT)
                if done:
                    break
                waited += HEARTBEAT
                await response.write(json_line(status_message(
                    f"Still making {what} ({waited:.0f} s)")))
        finally:
            if not task.done():
                # The client left: the image is still made (the work runs in a thread).
                log.info("base image %s: the client left; finishing anyway", what)
                task.add_done_callback(_log_outcome)
        try:
            image = task.result()
        except Exception as exc:
            log.warning("base image %s failed: %s", what, exc)
            await response.write(json_line(error_message(exception_message(exc))))
            await response.write_eof()
            return response
        for text in made_messages(image):
            await response.write(json_line(stream_message(text + "\n")))
        await response.write(json_line({"aux": made_aux(image)}))
        await response.write_eof()
        return response


def _log_outcome(task: asyncio.Future[LoadedImage]) -> None:
    if task.cancelled():
        log.info("base image: cancelled")
    elif task.exception() is not None:
        log.warning("base image failed: %s", task.exception())
    else:
        log.info("base image made: %s", ", ".join(made_messages(task.result())))


def _registry_auth(request: web.Request) -> RegistryAuth:
    """``X-Registry-Auth``: base64url JSON (``AuthConfig``), padded or not; none is
    anonymous."""
    return RegistryAuth.from_header(request.headers.get("X-Registry-Auth", ""))


async def _json_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    await response.prepare(request)
    return response
