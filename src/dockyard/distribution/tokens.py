"""Registry authentication: the ``WWW-Authenticate`` challenge and the token dance.

As Docker's client (``distribution/registry/client/auth``): the ``/v2/`` ping (or any
401) carries a challenge. ``Basic realm=..`` → the credentials go with every request.
``Bearer realm=..,service=..[,scope=..][,error=..]`` → a token is fetched from the realm::

    GET <realm>?service=<service>&scope=repository:<name>:pull[,push]&scope=...
        (Basic credentials when there are some; anonymous otherwise)
    POST <realm>  grant_type=refresh_token&refresh_token=<identity token>&service=..
        &scope=..&client_id=dockyard            (when given an identity token)
    → {"token" | "access_token": .., "expires_in": .., "refresh_token": ..}

Tokens are cached per set of scopes until they expire. A 401 on a request (a token
lacking a scope: ``error="insufficient_scope"``, or an expired one) drops the cached token
and adds the challenge's scope, and the request is sent once more. ``registrytoken``
credentials are sent as a bearer token as they are.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import urllib3

from dockyard.errors import PermissionDenied

from .auth import RegistryAuth
from .errors import describe

log = logging.getLogger(__name__)

CLIENT_ID = "dockyard"
_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?', re.ASCII)

RawSend = Callable[[str, str, Mapping[str, str], bytes | None], urllib3.BaseHTTPResponse]


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str
    """``basic`` or ``bearer`` (lower case)."""
    params: Mapping[str, str] = field(default_factory=dict)


def parse_challenges(header: str) -> list[Challenge]:
    """The challenges of a ``WWW-Authenticate`` value (``Bearer realm="..",scope=".."``)."""
    out: list[Challenge] = []
    rest = header.strip()
    while rest:
        m = re.match(r"([A-Za-z][A-Za-z0-9_-]*)\s*", rest)
        if m is None:
            break
        scheme = m.group(1).lower()
        rest = rest[m.end():]
        params: dict[str, str] = {}
        while True:
            p = _PARAM.match(rest)
            if p is None or (not p.group(2) and p.end() == 0):
                break
            value = p.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params[p.group(1).lower()] = value
            rest = rest[p.end():]
        out.append(Challenge(scheme, params))
    return out


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Authenticator:
    """The credentials a transport adds to its requests (thread-safe)."""

    def __init__(self, auth: RegistryAuth, send: RawSend) -> None:
        self.credentials = auth
        self._send = send
        self._lock = threading.Lock()
        self._challenge: Challenge | None = None
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}
        self._extra: dict[tuple[str, ...], set[str]] = {}
        self.refresh_token = ""
        """The last refresh token a token server handed out (``docker login``'s
        ``IdentityToken``)."""

    @property
    def scheme(self) -> str:
        return self._challenge.scheme if self._challenge else ""

    def learn(self, resp: urllib3.BaseHTTPResponse, url: str,
              scopes: tuple[str, ...] = ()) -> bool:
        """Take the challenge of a 401 answer; whether sending again may now succeed."""
        if resp.status != 401:
            return False
        header = resp.headers.get("WWW-Authenticate", "")
        known = [c for c in parse_challenges(header) if c.scheme in ("basic", "bearer")]
        if not known:
            return False
        challenge = next((c for c in known if c.scheme == "bearer"), known[0])
        with self._lock:
            self._challenge = challenge
            self._tokens.pop(scopes, None)
            scope = challenge.params.get("scope", "")
            if scope:
                self._extra.setdefault(scopes, set()).update(scope.split())
        if challenge.scheme == "basic":
            return not self.credentials.anonymous
        return True

    def header(self, scopes: tuple[str, ...], url: str = "", method: str = "GET") -> str:
        """The ``Authorization`` value for a request needing ``scopes`` (``""``: none).

        A refused token request is reported as the failure of the request it was for
        (``Head "<url>": unauthorized: ...``), as Docker reports it."""
        if self.credentials.registry_token:
            return f"Bearer {self.credentials.registry_token}"
        challenge = self._challenge
        if challenge is None:
            return ""
        if challenge.scheme == "basic":
            user, password = self.credentials.credentials()
            return _basic(user, password) if user or password else ""
        with self._lock:
            cached = self._tokens.get(scopes)
            extra = sorted(self._extra.get(scopes, ()))
        if cached is not None and cached[1] > time.monotonic():
            return f"Bearer {cached[0]}"
        token, expires_in = self.fetch_token(challenge, [*scopes, *extra], url, method)
        with self._lock:
            self._tokens[scopes] = (token, time.monotonic() + max(expires_in - 5, 1))
        return f"Bearer {token}"

    def fetch_token(self, challenge: Challenge, scopes: list[str], url: str,
                    for_method: str = "GET") -> tuple[str, int]:
        """Ask the challenge's realm for a token; ``(token, expires_in)``."""
        realm = challenge.params.get("realm", "")
        if not realm.startswith(("http://", "https://")):
            raise PermissionDenied(f"unauthorized: bad token realm {realm!r}")
        service = challenge.params.get("service", "")
        scopes = list(dict.fromkeys(s for s in scopes if s))
        creds = self.credentials
        if creds.identity_token:
            form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token,
                    "service": service, "client_id": CLIENT_ID, "access_type": "offline",
                    "scope": " ".join(scopes)}
            resp = self._send("POST", realm, {"Content-Type":
                                              "application/x-www-form-urlencoded"},
                              urllib.parse.urlencode(form).encode())
        else:
            user, password = creds.credentials()
            query: list[tuple[str, str]] = []
            if service:
                query.append(("service", service))
            query += [("scope", s) for s in scopes]
            headers: dict[str, str] = {}
            if user or password:
                query.append(("account", user))
                headers["Authorization"] = _basic(user, password)
            sep = "&" if "?" in realm else "?"
            target = realm + (sep + urllib.parse.urlencode(query) if query else "")
            resp = self._send("GET", target, headers, None)
        body = resp.data
        if resp.status != 200:
            where = url or realm
            raise PermissionDenied(f'{for_method.capitalize()} "{where}": '
                                   f'{describe(resp.status, body)}')
        try:
            doc = json.loads(body)
        except ValueError as e:
            raise PermissionDenied(f"token server {realm}: unreadable answer: {e}") from e
        token = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise PermissionDenied(f"token server {realm}: no token in its answer")
        expires = doc.get("expires_in")
        refresh = doc.get("refresh_token")
        if isinstance(refresh, str) and refresh:
            self.refresh_token = refresh
        return token, expires if isinstance(expires, int) and expires > 0 else 60
