"""API versions: what we serve, and how a request's ``/v1.NN/`` prefix is checked."""

from __future__ import annotations

import os
import re

from dockyard.errors import InvalidArgument

API_VERSION = "1.45"
MIN_API_VERSION = "1.24"
LOWEST_API_VERSION = "1.12"
MIN_API_ENV = "DOCKER_MIN_API_VERSION"
"""As moby 25+: this variable in the daemon's environment lowers the minimum (down to
1.12) for old clients, e.g. skopeo's ``docker-daemon:`` transport, which speaks 1.22."""

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
    minimum = min_api_version()
    if v < parse(minimum):
        raise InvalidArgument(f"client version {version} is too old. Minimum supported API "
                              f"version is {minimum}, please upgrade your client to "
                              "a newer version")
    return version


def min_api_version() -> str:
    """The oldest version served: ``MIN_API_VERSION``, or ``$DOCKER_MIN_API_VERSION`` when
    it is a version between 1.12 and that (anything else is ignored)."""
    wanted = os.environ.get(MIN_API_ENV, "")
    if (_VERSION_RE.match(wanted) and parse(LOWEST_API_VERSION) <= parse(wanted)
            <= parse(MIN_API_VERSION)):
        return wanted
    return MIN_API_VERSION


def at_least(version: str, minimum: str) -> bool:
    return parse(version) >= parse(minimum)
