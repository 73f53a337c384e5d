"""Content discovery: ``tags/list``, ``_catalog`` (both paginated) and ``referrers``.

Pagination (spec "Listing Tags"): ``n`` caps the list, ``last`` starts after that
entry; when more remain, ``Link: </v2/...?n=<n>&last=<last>>; rel="next"`` says where.
"""

from __future__ import annotations

import json
import urllib.parse

from aiohttp import web

from dockyard.oci import mediatypes as mt
from dockyard.registry.errors import PaginationInvalid
from dockyard.registry.names import validate_digest
from dockyard.registry.routes.base import (
    JSON,
    OCI_FILTERS_APPLIED,
    AppState,
    Route,
    call,
)

MAX_PAGE = 10000


def _page(items: list[str], request: web.Request) -> tuple[list[str], str | None]:
    """The page of sorted ``items`` the query asks for, and the ``last`` of the next."""
    raw_n = request.query.get("n")
    last = request.query.get("last")
    if last:
        items = [i for i in items if i > last]
    if raw_n is None or raw_n == "":
        n = MAX_PAGE
    else:
        if not raw_n.isdigit():
            raise PaginationInvalid(f"n={raw_n[:50]!r} is not a non-negative integer")
        n = min(int(raw_n), MAX_PAGE)
    page = items[:n]
    more = len(items) > n and bool(page)
    return page, page[-1] if more else None


def _link(path: str, n: int, last: str) -> str:
    query = urllib.parse.urlencode({"n": n, "last": last})
    return f'<{path}?{query}>; rel="next"'


def _json(obj: object, headers: dict[str, str] | None = None,
          content_type: str = JSON) -> web.Response:
    resp = web.Response(status=200, body=json.dumps(obj).encode(), headers=headers)
    resp.content_type = content_type
    return resp


async def list_tags(request: web.Request, state: AppState, route: Route) -> web.StreamResponse:
    tags = await call(state.registry.manifests.tags, route.name)
    page, next_last = _page(tags, request)
    headers = {}
    if next_last is not None:
        headers["Link"] = _link(f"/v2/{route.name}/tags/list", len(page), next_last)
    return _json({"name": route.name, "tags": page}, headers)


async def catalog(request: web.Request, state: AppState) -> web.StreamResponse:
    repos = await call(state.registry.manifests.repositories)
    page, next_last = _page(repos, request)
    headers = {}
    if next_last is not None:
        headers["Link"] = _link("/v2/_catalog", len(page), next_last)
    return _json({"repositories": page}, headers)


async def referrers(request: web.Request, state: AppState, route: Route) -> web.StreamResponse:
    subject = validate_digest(route.value)
    artifact_type = request.query.get("artifactType") or None
    found = await call(state.registry.manifests.referrers, route.name, subject, artifact_type)
    headers = {OCI_FILTERS_APPLIED: "artifactType"} if artifact_type else {}
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": found}
    return _json(index, headers, mt.OCI_INDEX)
