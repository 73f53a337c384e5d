"""``DOCKER_MIN_API_VERSION`` lowers the oldest API version served, as moby 25+ (skopeo's
``docker-daemon:`` transport speaks 1.22); out-of-range values are ignored."""

from __future__ import annotations

import re

import pytest

from dockyard.apitypes import version
from dockyard.errors import InvalidArgument


def test_default_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(version.MIN_API_ENV, raising=False)
    with pytest.raises(InvalidArgument, match=re.escape("client version 1.22 is too old. Minimum "
                       "supported API version is 1.24")):
        version.check("1.22")


def test_lowered_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(version.MIN_API_ENV, "1.22")
    assert version.check("1.22") == "1.22"
    assert version.min_api_version() == "1.22"
    with pytest.raises(InvalidArgument, match=re.escape("Minimum supported API version is 1.22")):
        version.check("1.21")
    for bad in ("1.11", "1.30", "x"):
        monkeypatch.setenv(version.MIN_API_ENV, bad)
        assert version.min_api_version() == "1.24"
