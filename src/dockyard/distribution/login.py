"""``POST /auth``: check credentials against a registry (``docker login``)."""

from __future__ import annotations

import urllib.parse

from dockyard.errors import PermissionDenied

from .auth import RegistryAuth
from .config import RegistryConfig
from .endpoints import DOCKER_IO
from .errors import describe, status_text
from .transport import Transport

_HUB_ALIASES = {"", "docker.io", "index.docker.io", "registry-1.docker.io",
                "https://index.docker.io/v1/", "https://index.docker.io/v1",
                "https://registry-1.docker.io"}


def registry_host(server: str) -> str:
    """``https://host:5000/v2/`` or ``host:5000`` → ``host:5000``; Hub aliases → docker.io."""
    if server.strip().rstrip("/") in {a.rstrip("/") for a in _HUB_ALIASES}:
        return DOCKER_IO
    s = server.strip()
    if "://" in s:
        s = urllib.parse.urlsplit(s).netloc
    return s.split("/", 1)[0]


def check_login(registry: str, auth: RegistryAuth, config: RegistryConfig) -> str:
    """Ping ``<registry>/v2/`` and answer its challenge with ``auth``.

    ``registry``: ``host[:port]``, a URL (``https://host/v1/`` as docker sends for the
    Hub) or ``""`` (Docker Hub). Returns an identity token (a refresh token the registry's
    token server handed out) or ``""``. Raises ``PermissionDenied`` with Docker's words
    (``Get "http://127.0.0.1:5000/v2/": unauthorized: incorrect username or password``,
    ``login attempt to http://127.0.0.1:5000/v2/ failed with status: 401 Unauthorized``)
    and ``Unavailable`` when the registry cannot be reached.
    """
    host = registry_host(registry or auth.server_address)
    with Transport(host, auth, config, for_push=True) as t:
        resp = t.ping()
        url = f"{t.base_url}/v2/"
        if resp.status == 200:
            return ""
        if resp.status != 401 or t.auth.scheme == "":
            raise PermissionDenied(f'Get "{url}": {describe(resp.status, resp.data)}')
        # a token for no scope at all proves the credentials (as docker does)
        again = t.request("GET", "/v2/", scopes=())
        if again.status != 200:
            if t.auth.scheme == "basic":
                raise PermissionDenied(f"login attempt to {url} failed with status: "
                                       f"{status_text(again.status)}")
            raise PermissionDenied(f'Get "{url}": {describe(again.status, again.data)}')
        return t.auth.refresh_token
