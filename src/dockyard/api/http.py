"""Request and response helpers shared by the routers: query values as Docker reads them,
JSON bodies read with a size limit, JSON responses."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from dockyard.apitypes.version import API_VERSION
from dockyard.errors import InvalidArgument

MAX_JSON_BODY = 4 << 20


def api_version(request: web.Request) -> str:
    """The API version of the request: its ``/v1.NN`` prefix (checked by the version
    middleware), or ours."""
    return request.match_info.get("api_version") or API_VERSION


def json_response(data: Any, status: int = 200) -> web.Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    return web.Response(status=status, body=body, content_type="application/json")


def no_content() -> web.Response:
    return web.Response(status=204)


def not_modified() -> web.Response:
    return web.Response(status=304)


def query_bool(request: web.Request, key: str, default: bool = False) -> bool:
    """Docker's ``httputils.BoolValue``: absent → default; "", 0, no, false, none → false."""
    if key not in request.query:
        return default
    value = request.query[key].strip().lower()
    return value not in ("", "0", "no", "false", "none")


def query_int(request: web.Request, key: str, default: int | None = None, *,
              minimum: int | None = None) -> int | None:
    raw = request.query.get(key, "")
    if raw == "":
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        raise InvalidArgument(f"invalid value for {key!r}: {raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise InvalidArgument(f"invalid value for {key!r}: {value} is below {minimum}")
    return value


async def read_json(request: web.Request, *, required: bool = True) -> Any:
    """The request's JSON body (``None`` if absent and not required)."""
    if request.content_length is not None and request.content_length > MAX_JSON_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_JSON_BODY,
                                            actual_size=request.content_length)
    raw = await request.content.read(MAX_JSON_BODY + 1)
    if len(raw) > MAX_JSON_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_JSON_BODY, actual_size=len(raw))
    if not raw.strip():
        if required:
            raise InvalidArgument("invalid JSON: the request body is empty")
        return None
    ctype = request.headers.get("Content-Type", "application/json")
    if ctype.split(";")[0].strip().lower() not in ("application/json", ""):
        raise InvalidArgument(f"unsupported Content-Type header ({ctype}): must be "
                              "'application/json'")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgument(f"invalid JSON: {exc}") from None
