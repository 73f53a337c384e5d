"""The built-in token server: scoped JWTs as Docker's token authentication describes.

Flow (``docs/spec/auth/token.md`` in distribution)::

    client -> registry      GET /v2/<name>/...            (no or insufficient token)
    registry -> client      401 WWW-Authenticate: Bearer realm="<realm>",
                                service="<service>",scope="repository:<name>:pull"
    client -> token server  GET <realm>?service=<service>&scope=...   (Basic credentials,
                                or none for anonymous access; or an OAuth2 POST)
    token server -> client  {"token": "<jwt>", "access_token": ..., "expires_in": ...}
    client -> registry      GET /v2/<name>/...  Authorization: Bearer <jwt>

The JWT's claims are the standard ones (``iss``, ``sub``, ``aud`` = service, ``exp``,
``nbf``, ``iat``, ``jti``) and ``access``: the scopes granted, each narrowed to what the
user may do (``Permissions.grant``). Tokens are signed with HS256 by a key only this
server knows (the token server and the registry are one process, so nothing else needs
to verify them). With several workers the key must be configured
(``auth.token.secret``), or each process would sign with its own.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from dockyard.registry.auth.access import Scope

ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Claims:
    """A verified token: whose it is and what it grants."""

    subject: str
    access: tuple[Scope, ...]


class TokenError(Exception):
    """The token is malformed, badly signed, expired or for another service."""


class TokenIssuer:
    def __init__(self, key: bytes, *, issuer: str, service: str, expiry: int) -> None:
        if len(key) < 32:
            raise ValueError("token signing key must be at least 32 bytes")
        self._key = key
        self.issuer = issuer
        self.service = service
        self.expiry = expiry

    @staticmethod
    def random_key() -> bytes:
        return secrets.token_bytes(32)

    def issue(self, subject: str, granted: list[Scope], now: float | None = None) -> dict[str, Any]:
        """The token server's JSON answer for ``subject`` with ``granted`` scopes."""
        now = int(time.time() if now is None else now)
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + self.expiry,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": [{"type": s.type, "name": s.name, "actions": sorted(s.actions)}
                       for s in granted],
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        return {"token": token, "access_token": token, "expires_in": self.expiry,
                "issued_at": issued}

    def verify(self, token: str) -> Claims:
        try:
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM], audience=self.service,
                                issuer=self.issuer, options={"require": ["exp", "iss", "aud"]})
        except jwt.PyJWTError as e:
            raise TokenError(str(e)) from e
        raw = claims.get("access", [])
        if not isinstance(raw, list):
            raise TokenError("access claim is not a list")
        access = []
        for entry in raw:
            if not isinstance(entry, dict):
                raise TokenError("access entry is not an object")
            actions = entry.get("actions", [])
            if not isinstance(actions, list):
                raise TokenError("access actions is not a list")
            access.append(Scope(str(entry.get("type", "")), str(entry.get("name", "")),
                                frozenset(str(a) for a in actions)))
        return Claims(str(claims.get("sub", "")), tuple(access))
