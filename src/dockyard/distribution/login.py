"""``POST /auth``: check credentials against a registry (``docker login``)."""

from __future__ import annotations

from dockyard.errors import NotImplementedByDockyard

from .auth import RegistryAuth
from .config import RegistryConfig


def check_login(registry: str, auth: RegistryAuth, config: RegistryConfig) -> str:
    """Ping ``<registry>/v2/`` and answer its challenge with ``auth``.

    ``registry``: ``host[:port]``, a URL (``https://host/v1/`` as docker sends for the
    Hub) or ``""`` (Docker Hub). Returns an identity token (a refresh token the registry's
    token server handed out) or ``""``. Raises ``PermissionDenied`` with Docker's words
    (``Get "http://127.0.0.1:5000/v2/": unauthorized: incorrect username or password``)
    and ``Unavailable`` when the registry cannot be reached.
    """
    raise NotImplementedByDockyard("login: not implemented yet")
