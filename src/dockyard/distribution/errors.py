"""Registry answers turned into ``dockyard.errors`` kinds, with Docker's words.

A registry's error body is ``{"errors": [{"code": "MANIFEST_UNKNOWN", "message": ..,
"detail": ..}]}`` (OCI distribution spec, "Error Codes"); token servers answer
``{"details": ..}`` or ``{"error": ..}``. Docker prints an error as ``<code lower-cased
with spaces>: <message>`` (``manifest unknown: manifest unknown``), prefixed with the
request for transport-level failures (``Get "http://127.0.0.1:5000/v2/": ...``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from dockyard.errors import (
    DockyardError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)


@dataclass(frozen=True, slots=True)
class RegistryError:
    """One entry of a registry's error body."""

    code: str
    message: str

    def __str__(self) -> str:
        words = self.code.lower().replace("_", " ") if self.code else "unknown"
        return f"{words}: {self.message}" if self.message else words


_STATUS_WORDS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                 405: "Method Not Allowed", 416: "Requested Range Not Satisfiable",
                 429: "Too Many Requests", 500: "Internal Server Error",
                 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def status_text(status: int) -> str:
    """``401 Unauthorized``: the status line as Go prints it."""
    return f"{status} {_STATUS_WORDS.get(status, '')}".rstrip()


def parse_errors(body: bytes) -> list[RegistryError]:
    """The errors of a registry (or token server) error body; ``[]`` if it has none."""
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        return []
    if not isinstance(doc, dict):
        return []
    out: list[RegistryError] = []
    entries = doc.get("errors")
    if isinstance(entries, list):
        for e in entries:
            if isinstance(e, dict):
                out.append(RegistryError(str(e.get("code") or ""),
                                         str(e.get("message") or "")))
    elif isinstance(doc.get("details"), str):  # Docker Hub's token server
        out.append(RegistryError("UNAUTHORIZED", doc["details"]))
    elif isinstance(doc.get("error"), str):
        out.append(RegistryError("", doc["error"]))
    return out


def describe(status: int, body: bytes) -> str:
    """What Docker prints for an error answer: its registry errors, or the status."""
    errors = parse_errors(body)
    if errors:
        return ", ".join(str(e) for e in errors)
    if status == 401:
        return "unauthorized: authentication required"
    if status == 403:
        return "denied: requested access to the resource is denied"
    return f"unexpected status from registry: {status_text(status)}"


def codes(body: bytes) -> set[str]:
    return {e.code for e in parse_errors(body)}


CHALLENGE_ERRORS = {"invalid_token": "UNAUTHORIZED", "insufficient_scope": "DENIED"}
"""A Bearer challenge's ``error`` (RFC 6750 3.1) as the registry error code it stands for
(docker/distribution's ``HandleErrorResponse``)."""


def challenge_error(error: str, description: str = "") -> RegistryError | None:
    """The registry error a 401's Bearer challenge carries (``error="insufficient_scope"``
    → ``denied: requested access to the resource is denied``), or ``None``."""
    code = CHALLENGE_ERRORS.get(error)
    if code is None:
        return None
    default = ("requested access to the resource is denied" if code == "DENIED"
               else "authentication required")
    return RegistryError(code, description or default)


NO_BASIC_CREDENTIALS = "no basic auth credentials"
"""What Docker says for a Basic challenge it has no credentials for."""


def request_error(method: str, url: str, status: int, body: bytes,
                  challenge: RegistryError | str | None = None) -> DockyardError:
    """The error for a failed request (``Head "<url>": <what>``), by status. A Bearer
    challenge's error comes first and alone, as moby reports the first of the merged
    errors (a private repository: ``denied: ...``, not the body's ``unauthorized``); a
    text stands for the answer as it is (``no basic auth credentials``)."""
    what = str(challenge) if challenge is not None else describe(status, body)
    text = f'{method.capitalize()} "{url}": {what}'
    if status in (401, 403):
        return PermissionDenied(text)
    if status == 404:
        return NotFound(text)
    if status in (400, 405, 413, 416, 422):
        return InvalidArgument(text)
    return Unavailable(text)


def detail_of(e: DockyardError) -> str:
    """The registry's words of a ``request_error`` (without ``Method "url": ``)."""
    text = str(e)
    head, sep, rest = text.partition('": ')
    return rest if sep and head.count('"') == 1 else text


def pull_error(e: DockyardError, familiar_name: str, familiar_ref: str) -> DockyardError:
    """moby's ``translatePullError``: denied, unknown manifests and unknown repositories
    are "not found" errors with Docker's words; the rest stays as it is."""
    detail = detail_of(e)
    if detail.startswith("manifest unknown"):
        return NotFound(f"manifest for {familiar_ref} not found: {detail}")
    if detail.startswith("name unknown"):
        return NotFound(f"repository {familiar_name} not found: {detail}")
    if detail.startswith("denied"):
        return NotFound(f"pull access denied for {familiar_name}, repository does not exist "
                        f"or may require 'docker login': {detail}")
    return e


def push_error(e: DockyardError) -> DockyardError:
    """What ``docker push`` prints for a refused push: the registry's words alone
    (``denied: requested access to the resource is denied``)."""
    if isinstance(e, PermissionDenied):
        return PermissionDenied(detail_of(e))
    return e
