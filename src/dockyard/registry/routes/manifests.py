"""Manifest endpoints: ``GET``/``HEAD``/``PUT``/``DELETE /v2/<name>/manifests/<reference>``.

``HEAD`` answers what ``GET`` would, without the body: ``Docker-Content-Digest``,
``Content-Type`` (the one the manifest was pushed with) and ``Content-Length`` (dockerd
pulls with a ``HEAD`` first and needs all three).

``Accept``: every header line is merged. As distribution does, a client that lists
media types but not the manifest's (and not ``*/*``) gets MANIFEST_UNKNOWN when it
asks by tag, since it could not read what it would get; by digest it gets the bytes.
A request without ``Accept`` gets whatever is stored.
"""

from __future__ import annotations

from aiohttp import web

from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest
from dockyard.registry.errors import ManifestUnknown, TooLarge
from dockyard.registry.names import parse_reference
from dockyard.registry.routes.base import (
    CONTENT_DIGEST,
    OCI_SUBJECT,
    AppState,
    Route,
    base_url,
    call,
    empty,
    head_response,
    merged_accept,
)

_STRICT = frozenset({mt.OCI_MANIFEST, mt.OCI_INDEX})


def _acceptable(accept: list[str], media_type: str) -> bool:
    """Whether a client that sent ``accept`` can read a manifest of ``media_type``."""
    if not accept or "*/*" in accept:
        return True
    base = mt.base(media_type)
    if base in accept:
        return True
    if base in (mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST):
        return mt.oci_equivalent(base) in accept
    return base not in _STRICT  # artifacts and other types: served as they are


async def get_manifest(request: web.Request, state: AppState,
                       route: Route) -> web.StreamResponse:
    ref = parse_reference(route.value)
    manifests = state.registry.manifests
    if request.method == "HEAD":
        d, media_type, size = await call(manifests.stat, route.name, ref)
        body = None
    else:
        stored = await call(manifests.get, route.name, ref)
        d, media_type, body = stored.digest, stored.media_type, stored.raw
        size = len(body)
    if not isinstance(ref, Digest) and not _acceptable(merged_accept(request), media_type):
        raise ManifestUnknown(f"manifest {route.value!r} of {route.name} is a {media_type}, "
                              "which the request's Accept does not list")
    headers = {CONTENT_DIGEST: str(d), "Content-Type": media_type, "ETag": f'"{d}"'}
    if body is None:
        return head_response(200, headers, size)
    return web.Response(status=200, body=body, headers=headers)


async def put_manifest(request: web.Request, state: AppState,
                       route: Route) -> web.StreamResponse:
    ref = parse_reference(route.value)
    limit = state.registry.manifests.policy.max_size
    if (request.content_length or 0) > limit:
        raise TooLarge(f"manifest of {request.content_length} bytes exceeds the limit of "
                       f"{limit}")
    buf = bytearray()
    async for chunk in request.content.iter_any():  # read() may return early: loop to EOF
        buf += chunk
        if len(buf) > limit:
            raise TooLarge(f"manifest exceeds the limit of {limit} bytes")
    raw = bytes(buf)
    content_type = request.headers.get("Content-Type", "")
    result = await call(state.registry.manifests.put, route.name, ref, raw, content_type)
    headers = {"Location": f"{base_url(request)}/v2/{route.name}/manifests/{result.digest}",
               CONTENT_DIGEST: str(result.digest)}
    if result.subject is not None:
        headers[OCI_SUBJECT] = str(result.subject)
    return empty(201, headers)


async def delete_manifest(request: web.Request, state: AppState,
                          route: Route) -> web.StreamResponse:
    ref = parse_reference(route.value)
    await call(state.registry.manifests.delete, route.name, ref)
    return empty(202)
