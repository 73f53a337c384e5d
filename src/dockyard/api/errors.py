"""Errors to HTTP: the one place where an error becomes a status code (moby's
``httpstatus.FromError``), and Docker's ``{"message": ...}`` error body."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from dockyard import errors

log = logging.getLogger(__name__)


def http_status(exc: BaseException) -> int:
    """The HTTP status for an error (the only such mapping in the API)."""
    if isinstance(exc, web.HTTPException):
        return exc.status
    if isinstance(exc, errors.NotFound):
        return 404
    if isinstance(exc, errors.InvalidArgument | errors.FailedPrecondition):
        return 400
    if isinstance(exc, errors.Conflict | errors.AlreadyExists):
        return 409
    if isinstance(exc, errors.PermissionDenied):
        return 403
    if isinstance(exc, errors.Unavailable):
        return 503
    if isinstance(exc, errors.NotImplementedByDockyard):
        return 501
    return 500


_HTTP_MESSAGES = {404: "page not found", 405: "page not found",
                  413: "request body too large"}


def error_message(exc: BaseException) -> str:
    if isinstance(exc, web.HTTPException):
        return _HTTP_MESSAGES.get(exc.status, exc.reason)
    return str(exc) or type(exc).__name__


def error_body(message: str) -> bytes:
    return json.dumps({"message": message}).encode() + b"\n"


def error_response(exc: BaseException) -> web.Response:
    status = http_status(exc)
    if status >= 500:
        log.error("request failed: %s", error_message(exc), exc_info=exc)
    return web.Response(status=status, body=error_body(error_message(exc)),
                        content_type="application/json")
