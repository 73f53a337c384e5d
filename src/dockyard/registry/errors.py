"""The OCI error codes, their HTTP statuses, and the one function mapping errors to them.

The table is the spec's (``spec.md`` "Error Codes") with distribution's statuses
(``registry/api/v2/errors.go``, ``registry/api/errcode/register.go``). The stores raise
the subclasses below, which are also ``dockyard.errors`` classes (so they cross package
boundaries as the one taxonomy); ``error_code`` maps *any* exception to an ``ErrorCode``
and is the only place a status is chosen. Bodies are the spec's::

    {"errors": [{"code": "BLOB_UNKNOWN", "message": "...", "detail": ...}]}
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any

from dockyard import errors as dy
from dockyard.registry.names import DigestInvalid, NameInvalid, TagInvalid

log = logging.getLogger(__name__)


class ErrorCode(Enum):
    """(HTTP status, default message) of each OCI error code."""

    BLOB_UNKNOWN = (404, "blob unknown to registry")
    BLOB_UPLOAD_INVALID = (400, "blob upload invalid")
    BLOB_UPLOAD_UNKNOWN = (404, "blob upload unknown to registry")
    DIGEST_INVALID = (400, "provided digest did not match uploaded content")
    MANIFEST_BLOB_UNKNOWN = (400, "manifest references a manifest or blob unknown to registry")
    MANIFEST_INVALID = (400, "manifest invalid")
    MANIFEST_UNKNOWN = (404, "manifest unknown to registry")
    NAME_INVALID = (400, "invalid repository name")
    NAME_UNKNOWN = (404, "repository name not known to registry")
    SIZE_INVALID = (400, "provided length did not match content length")
    UNAUTHORIZED = (401, "authentication required")
    DENIED = (403, "requested access to the resource is denied")
    UNSUPPORTED = (405, "the operation is unsupported")
    TOOMANYREQUESTS = (429, "too many requests")
    # distribution's extras, used by clients too.
    RANGE_INVALID = (416, "invalid content range")
    TAG_INVALID = (400, "manifest tag did not match URI")
    PAGINATION_NUMBER_INVALID = (400, "invalid number of results requested")
    UNAVAILABLE = (503, "service unavailable")
    UNKNOWN = (500, "unknown error")

    @property
    def status(self) -> int:
        return int(self.value[0])

    @property
    def message(self) -> str:
        return str(self.value[1])


# ---------------------------------------------------------------- errors the stores raise


class BlobUnknown(dy.NotFound):
    code = ErrorCode.BLOB_UNKNOWN


class UploadUnknown(dy.NotFound):
    """No such upload session (BLOB_UPLOAD_UNKNOWN)."""

    code = ErrorCode.BLOB_UPLOAD_UNKNOWN


class BlobUploadInvalid(dy.InvalidArgument):
    code = ErrorCode.BLOB_UPLOAD_INVALID


class ManifestUnknown(dy.NotFound):
    code = ErrorCode.MANIFEST_UNKNOWN


class ManifestInvalid(dy.InvalidArgument):
    code = ErrorCode.MANIFEST_INVALID


class ManifestBlobUnknown(dy.FailedPrecondition):
    code = ErrorCode.MANIFEST_BLOB_UNKNOWN

    def __init__(self, message: str, digest: str = "") -> None:
        super().__init__(message)
        self.digest = digest


class NameUnknown(dy.NotFound):
    code = ErrorCode.NAME_UNKNOWN


class SizeInvalid(dy.InvalidArgument):
    code = ErrorCode.SIZE_INVALID


class DigestMismatch(dy.InvalidArgument):
    """The content received does not hash to the digest given (DIGEST_INVALID)."""

    code = ErrorCode.DIGEST_INVALID


class RangeInvalid(dy.InvalidArgument):
    """Out-of-order chunk, or a Range no byte of the blob satisfies (416)."""

    code = ErrorCode.RANGE_INVALID

    def __init__(self, message: str, size: int | None = None) -> None:
        super().__init__(message)
        self.size = size  # the blob's size, for Content-Range: bytes */<size>


class Unsupported(dy.NotImplementedByDockyard):
    code = ErrorCode.UNSUPPORTED


class Unauthorized(dy.PermissionDenied):
    """No or bad credentials: 401 with a ``WWW-Authenticate`` challenge."""

    code = ErrorCode.UNAUTHORIZED

    def __init__(self, message: str, challenge: str,
                 detail: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.challenge = challenge
        self.detail = detail


class Denied(dy.PermissionDenied):
    code = ErrorCode.DENIED


class TooLarge(dy.InvalidArgument):
    """A manifest or blob over the configured limit: SIZE_INVALID, status 413."""

    code = ErrorCode.SIZE_INVALID
    status = 413


class PaginationInvalid(dy.InvalidArgument):
    code = ErrorCode.PAGINATION_NUMBER_INVALID


# ---------------------------------------------------------------- the one mapping


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """What the HTTP layer sends for an error: status, body and extra headers."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


_BY_CLASS: tuple[tuple[type[BaseException], ErrorCode], ...] = (
    (NameInvalid, ErrorCode.NAME_INVALID),
    (TagInvalid, ErrorCode.TAG_INVALID),
    (DigestInvalid, ErrorCode.DIGEST_INVALID),
    # The generic taxonomy, for errors from dockyard.oci and the drivers.
    (dy.NotFound, ErrorCode.NAME_UNKNOWN),
    (dy.InvalidArgument, ErrorCode.MANIFEST_INVALID),
    (dy.NotImplementedByDockyard, ErrorCode.UNSUPPORTED),
    (dy.PermissionDenied, ErrorCode.DENIED),
    (dy.Unavailable, ErrorCode.UNAVAILABLE),
    (dy.Conflict, ErrorCode.BLOB_UPLOAD_INVALID),
    (dy.AlreadyExists, ErrorCode.BLOB_UPLOAD_INVALID),
    (dy.FailedPrecondition, ErrorCode.BLOB_UPLOAD_INVALID),
)


def error_code(exc: BaseException) -> ErrorCode:
    """The OCI error code for ``exc`` (UNKNOWN for anything that is not ours)."""
    code = getattr(exc, "code", None)
    if isinstance(code, ErrorCode):
        return code
    for cls, c in _BY_CLASS:
        if isinstance(exc, cls):
            return c
    return ErrorCode.UNKNOWN


def error_reply(exc: BaseException) -> ErrorReply:
    """Status, JSON body and headers for ``exc``: the only place statuses are chosen."""
    code = error_code(exc)
    message = str(exc) or code.message
    if code is ErrorCode.UNKNOWN:
        log.error("internal error answering a request", exc_info=exc)
        message = code.message
    detail: Any = None
    headers: list[tuple[str, str]] = []
    if isinstance(exc, Unauthorized):
        headers.append(("WWW-Authenticate", exc.challenge))
        detail = exc.detail
    elif isinstance(exc, ManifestBlobUnknown) and exc.digest:
        detail = {"digest": exc.digest}
    elif isinstance(exc, RangeInvalid) and exc.size is not None:
        headers.append(("Content-Range", f"bytes */{exc.size}"))
    status = getattr(exc, "status", code.status)
    entry: dict[str, Any] = {"code": code.name, "message": message}
    if detail is not None:
        entry["detail"] = detail
    body = json.dumps({"errors": [entry]}).encode()
    return ErrorReply(int(status), body, tuple(headers))
