"""Authentication and authorization of registry requests.

An ``Authorizer`` decides one request: given its ``Authorization`` header and the
``Scope`` it needs (``None`` for ``GET /v2/``, which only needs *someone* when auth is
on), it returns the user name (``None``: anonymous) or raises ``Unauthorized`` (401
with a challenge) or ``Denied`` (403). ``AUTHORIZERS`` picks one by ``auth.type``:

* ``none``: everything is allowed;
* ``htpasswd``: HTTP Basic against a bcrypt htpasswd file, then the ``[[access]]``
  rules (401 without or with bad credentials; 403 when the user may not);
* ``token``: Bearer JWTs from the built-in token server (``/token``); a token that lacks
  the scope is answered 401 ``insufficient_scope`` with the scope to ask for, which is
  how clients know to fetch a wider token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import time
from collections.abc import Callable
from typing import Protocol

from dockyard.registry.auth.access import Permissions, Scope, parse_scope, satisfies
from dockyard.registry.auth.htpasswd import Htpasswd
from dockyard.registry.auth.token import TokenError, TokenIssuer
from dockyard.registry.config import AuthConfig, AuthType
from dockyard.registry.errors import Denied, Unauthorized

_CACHE_SECONDS = 300.0


class Authorizer(Protocol):
    def authorize(self, authorization: str | None, needed: Scope | None,
                  token_realm: str) -> str | None: ...


class AllowAll:
    def authorize(self, authorization: str | None, needed: Scope | None,
                  token_realm: str) -> str | None:
        return None


def parse_basic(authorization: str | None) -> tuple[str, str] | None:
    """The (user, password) of a Basic ``Authorization`` header, or None."""
    if not authorization:
        return None
    kind, _, value = authorization.partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class CredentialChecker:
    """htpasswd checks with a short cache of successes (bcrypt costs ~50 ms a check)."""

    def __init__(self, htpasswd: Htpasswd) -> None:
        self._htpasswd = htpasswd
        self._mu = threading.Lock()
        self._ok: dict[tuple[str, bytes], float] = {}

    def check(self, user: str, password: str) -> bool:
        key = (user, hashlib.sha256(password.encode()).digest())
        now = time.monotonic()
        with self._mu:
            until = self._ok.get(key)
        if until is not None and until > now:
            return True
        if not self._htpasswd.check(user, password):
            return False
        with self._mu:
            if len(self._ok) > 10000:
                self._ok.clear()
            self._ok[key] = now + _CACHE_SECONDS
        return True


class BasicAuthorizer:
    def __init__(self, checker: CredentialChecker, permissions: Permissions,
                 realm: str) -> None:
        self.checker, self.permissions, self.realm = checker, permissions, realm

    def authorize(self, authorization: str | None, needed: Scope | None,
                  token_realm: str) -> str | None:
        challenge = f'Basic realm="{self.realm}"'
        creds = parse_basic(authorization)
        user: str | None = None
        if creds is not None:
            if not self.checker.check(*creds):
                raise Unauthorized("invalid username or password", challenge)
            user = creds[0]
        if needed is None:
            if user is None:
                raise Unauthorized("authentication required", challenge)
            return user
        granted = self.permissions.grant(user, needed)
        if satisfies([granted], needed):
            return user
        if user is None:
            raise Unauthorized("authentication required", challenge)
        raise Denied(f"user {user!r} may not {','.join(sorted(needed.actions))} "
                     f"{needed.type} {needed.name}")


class TokenAuthorizer:
    def __init__(self, checker: CredentialChecker, permissions: Permissions,
                 issuer: TokenIssuer, realm: str) -> None:
        self.checker, self.permissions, self.issuer = checker, permissions, issuer
        self.realm = realm

    def challenge(self, token_realm: str, needed: Scope | None, error: str = "") -> str:
        parts = [f'Bearer realm="{self.realm or token_realm}"',
                 f'service="{self.issuer.service}"']
        if needed is not None:
            parts.append(f'scope="{needed}"')
        if error:
            parts.append(f'error="{error}"')
        return ",".join(parts)

    def authorize(self, authorization: str | None, needed: Scope | None,
                  token_realm: str) -> str | None:
        kind, _, value = (authorization or "").partition(" ")
        if kind.lower() != "bearer" or not value.strip():
            raise Unauthorized("authentication required",
                               self.challenge(token_realm, needed))
        try:
            claims = self.issuer.verify(value.strip())
        except TokenError as e:
            raise Unauthorized(f"invalid token: {e}",
                               self.challenge(token_realm, needed, "invalid_token")) from e
        if needed is None or satisfies(list(claims.access), needed):
            return claims.subject or None
        detail = [{"Type": needed.type, "Name": needed.name, "Action": a}
                  for a in sorted(needed.actions)]
        raise Unauthorized("insufficient scope: the token does not grant "
                           f"{needed}", self.challenge(token_realm, needed,
                                                       "insufficient_scope"), detail)

    def token_response(self, authorization: str | None, scopes: list[str],
                       service: str) -> dict[str, object]:
        """What the token endpoint answers (raises ``Unauthorized`` on bad credentials)."""
        user: str | None = None
        creds = parse_basic(authorization)
        if creds is not None:
            if not self.checker.check(*creds):
                raise Unauthorized("invalid username or password",
                                   'Basic realm="dockyard-registry token"')
            user = creds[0]
        return self.issue_for(user, scopes, service)

    def issue_for(self, user: str | None, scopes: list[str], service: str) -> dict[str, object]:
        if service and service != self.issuer.service:
            raise Denied(f"this token server serves {self.issuer.service!r}, not {service!r}")
        asked = [parse_scope(part) for s in scopes for part in s.split() if part]
        granted = [g for g in (self.permissions.grant(user, s) for s in asked) if g.actions]
        return self.issuer.issue(user or "", granted)


def make_authorizer(cfg: AuthConfig, token_key: bytes | None = None) -> Authorizer:
    """The authorizer ``cfg`` asks for (reads the htpasswd file)."""
    factory = AUTHORIZERS[cfg.type]
    return factory(cfg, token_key)


def _basic(cfg: AuthConfig, key: bytes | None) -> Authorizer:
    return BasicAuthorizer(CredentialChecker(Htpasswd.load(cfg.htpasswd)),
                           Permissions(cfg.access), cfg.realm)


def _token(cfg: AuthConfig, key: bytes | None) -> Authorizer:
    if cfg.token.secret:
        key = hashlib.sha256(cfg.token.secret.encode()).digest()
    issuer = TokenIssuer(key or TokenIssuer.random_key(), issuer=cfg.token.issuer,
                         service=cfg.token.service, expiry=cfg.token.expiry)
    return TokenAuthorizer(CredentialChecker(Htpasswd.load(cfg.htpasswd)),
                           Permissions(cfg.access), issuer, cfg.token.realm)


AUTHORIZERS: dict[AuthType, Callable[[AuthConfig, bytes | None], Authorizer]] = {
    AuthType.NONE: lambda cfg, key: AllowAll(),
    AuthType.HTPASSWD: _basic,
    AuthType.TOKEN: _token,
}

__all__ = [
    "AUTHORIZERS",
    "AllowAll",
    "Authorizer",
    "BasicAuthorizer",
    "CredentialChecker",
    "Htpasswd",
    "Permissions",
    "Scope",
    "TokenAuthorizer",
    "TokenIssuer",
    "make_authorizer",
    "parse_basic",
]
