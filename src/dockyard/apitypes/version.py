"""API versions: what we serve, and how a request's ``/v1.NN/`` prefix is checked."""

from __future__ import annotations

import re

from dockyard.errors import InvalidArgument

API_VERSION = "1.45"
MIN_API_VERSION = "1.24"

_VERSION_RE = re.compile(r"^(\d{1,4})\.(\d{1,4})$")


def parse(version: str) -> tuple[int, int]:
    m = _VERSION_RE.match(version)
    if m is None:
        raise InvalidArgument(f"invalid API version {version!r}")
    return int(m.group(1)), int(m.group(2))


def check(version: str) -> str:
    """``version`` if this daemon serves it; Docker's messages otherwise."""
    v = parse(version)
    if v > parse(API_VERSION):
        raise InvalidArgument(f"client version {version} is too new. Maximum supported API "
                              f"version is {API_VERSION}")
    if v < parse(MIN_API_VERSION):
        raise InvalidArgument(f"client version {version} is too old. Minimum supported API "
                              f"version is {MIN_API_VERSION}, please upgrade your client to "
                              "a newer version")
    return version


def at_least(version: str, minimum: str) -> bool:
    return parse(version) >= parse(minimum)
