"""Registry credentials as Docker carries them: ``AuthConfig``.

The client sends them with each request in ``X-Registry-Auth`` (base64url of a JSON
object, padding optional) and ``POST /auth`` carries the same object as its body. The
daemon never reads a user's config file: what arrives here is all it knows.

JSON keys (moby ``api/types/registry/authconfig.go``): ``username``, ``password``,
``auth`` (base64 of ``user:pass``, the ``config.json`` style), ``email`` (ignored),
``serveraddress``, ``identitytoken`` (an OAuth refresh token from an earlier login) and
``registrytoken`` (a bearer token sent as it is).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass

from dockyard.errors import InvalidArgument


def _b64decode(value: str, *, urlsafe: bool) -> bytes:
    """Decode base64 with or without padding (Docker's clients send both)."""
    data = value.strip().encode("ascii", "replace")
    data += b"=" * (-len(data) % 4)
    try:
        if urlsafe:
            return base64.urlsafe_b64decode(data)
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidArgument(f"invalid base64: {e}") from e


@dataclass(frozen=True, slots=True)
class RegistryAuth:
    """Docker's ``AuthConfig``: what a client gives to reach one registry."""

    username: str = ""
    password: str = ""
    auth: str = ""
    """base64 ``user:pass`` (``~/.docker/config.json`` style); used when username is empty."""
    identity_token: str = ""
    """``identitytoken``: an OAuth2 refresh token (sent to the token endpoint by POST)."""
    registry_token: str = ""
    """``registrytoken``: a bearer token sent to the registry as it is."""
    server_address: str = ""
    """``serveraddress``: the registry these credentials are for (``POST /auth``)."""

    @classmethod
    def from_json(cls, obj: Mapping[str, object]) -> RegistryAuth:
        """From the JSON object (keys as Docker spells them, case-insensitive)."""
        low = {str(k).lower(): v for k, v in obj.items()}

        def s(key: str) -> str:
            v = low.get(key)
            if v is None:
                return ""
            if not isinstance(v, str):
                raise InvalidArgument(f"auth: {key} must be a string")
            return v

        return cls(username=s("username"), password=s("password"), auth=s("auth"),
                   identity_token=s("identitytoken"), registry_token=s("registrytoken"),
                   server_address=s("serveraddress"))

    @classmethod
    def from_header(cls, value: str) -> RegistryAuth:
        """From ``X-Registry-Auth``: base64url (padding optional) of the JSON object;
        an empty header (or ``{}``) is anonymous. Bad input is ``InvalidArgument``."""
        value = value.strip()
        if not value:
            return cls()
        raw = _b64decode(value, urlsafe=True)
        try:
            obj = json.loads(raw)
        except ValueError as e:
            raise InvalidArgument(f"X-Registry-Auth: not valid JSON: {e}") from e
        if obj is None:
            return cls()
        if not isinstance(obj, dict):
            raise InvalidArgument("X-Registry-Auth: expected a JSON object")
        return cls.from_json(obj)

    def credentials(self) -> tuple[str, str]:
        """``(username, password)``: the explicit ones, else those in ``auth``."""
        if self.username or self.password:
            return self.username, self.password
        if self.auth:
            user, sep, password = _b64decode(self.auth, urlsafe=False).decode(
                "utf-8", "replace").partition(":")
            if not sep:
                raise InvalidArgument("auth: expected base64 of 'user:password'")
            return user, password
        return "", ""

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.password or self.auth or self.identity_token
                    or self.registry_token)
