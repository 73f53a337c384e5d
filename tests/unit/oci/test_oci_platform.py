"""Platforms: parsing, normalisation, the host's platform and picking from an index."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci.platform import (
    Platform,
    best_match,
    compatible,
    format_platform,
    host_platform,
    matches,
    normalize,
    parse_platform,
)


@pytest.mark.parametrize(("spec", "expected"), [
    ("linux/amd64", Platform("linux", "amd64")),
    ("linux/amd64/v3", Platform("linux", "amd64", "v3")),
    ("linux/amd64/v1", Platform("linux", "amd64")),
    ("linux/x86_64", Platform("linux", "amd64")),
    ("linux/arm64", Platform("linux", "arm64")),
    ("linux/arm64/v8", Platform("linux", "arm64")),
    ("linux/aarch64", Platform("linux", "arm64")),
    ("linux/arm", Platform("linux", "arm", "v7")),
    ("linux/arm/v6", Platform("linux", "arm", "v6")),
    ("linux/armhf", Platform("linux", "arm", "v7")),
    ("linux/armel", Platform("linux", "arm", "v6")),
    ("linux/i386", Platform("linux", "386")),
    ("Linux/AMD64", Platform("linux", "amd64")),
    ("macos/arm64", Platform("darwin", "arm64")),
    ("arm64", Platform("linux", "arm64")),
    ("amd64", Platform("linux", "amd64")),
    ("windows(10.0.17763)/amd64", Platform("windows", "amd64", "", "10.0.17763")),
])
def test_parse(spec: str, expected: Platform) -> None:
    assert parse_platform(spec) == expected


def test_parse_os_alone_uses_host_arch() -> None:
    p = parse_platform("linux")
    assert p.os == "linux" and p.architecture == host_platform().architecture


@pytest.mark.parametrize("spec", ["", " linux/amd64", "linux/amd64/v3/x", "linux//v3",
                                  "linux/am d64", "plan10"])
def test_parse_invalid(spec: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid platform"):
        parse_platform(spec)


def test_format() -> None:
    assert format_platform(Platform("linux", "arm", "v7")) == "linux/arm/v7"
    assert str(Platform("linux", "amd64")) == "linux/amd64"
    assert str(Platform("windows", "amd64", "", "10.0.1")) == "windows(10.0.1)/amd64"


@pytest.mark.parametrize(("machine", "expected"), [
    ("x86_64", Platform("linux", "amd64")),
    ("aarch64", Platform("linux", "arm64")),
    ("armv7l", Platform("linux", "arm", "v7")),
    ("armv6l", Platform("linux", "arm", "v6")),
    ("i686", Platform("linux", "386")),
    ("s390x", Platform("linux", "s390x")),
])
def test_host_platform(machine: str, expected: Platform) -> None:
    assert host_platform(machine) == expected


def test_host_platform_of_this_machine() -> None:
    assert host_platform().os == "linux"
    assert host_platform().architecture in ("amd64", "arm64", "arm", "386", "ppc64le", "s390x",
                                            "riscv64")


def test_compatible_vectors() -> None:
    assert compatible(Platform("linux", "amd64", "v3")) == (
        Platform("linux", "amd64", "v3"), Platform("linux", "amd64", "v2"),
        Platform("linux", "amd64"), Platform("linux", "386"))
    assert compatible(Platform("linux", "arm", "v7")) == (
        Platform("linux", "arm", "v7"), Platform("linux", "arm", "v6"),
        Platform("linux", "arm", "v5"))
    assert compatible(Platform("linux", "arm64", "v8"))[:2] == (
        Platform("linux", "arm64"), Platform("linux", "arm", "v8"))


def test_matches() -> None:
    amd64 = Platform("linux", "amd64")
    assert matches(amd64, Platform("linux", "amd64"))
    assert matches(amd64, Platform("linux", "amd64", "v1"))
    assert not matches(amd64, Platform("linux", "amd64", "v2"))  # a v2 binary may not run
    assert matches(Platform("linux", "amd64", "v3"), Platform("linux", "amd64", "v2"))
    assert matches(amd64, Platform("linux", "386"))
    assert not matches(amd64, Platform("linux", "arm64"))
    assert not matches(amd64, Platform("windows", "amd64"))
    assert matches(Platform("linux", "arm64"), Platform("linux", "arm64", "v8"))
    assert matches(Platform("linux", "arm64"), Platform("linux", "arm", "v7"))
    assert not matches(Platform("linux", "arm", "v6"), Platform("linux", "arm", "v7"))


def test_best_match_prefers_nearest_then_first() -> None:
    entries: list[Platform | None] = [
        Platform("linux", "386"),
        None,  # e.g. an attestation manifest without platform
        Platform("unknown", "unknown"),
        Platform("linux", "amd64"),
        Platform("linux", "amd64"),
        Platform("linux", "arm64", "v8"),
    ]
    assert best_match(Platform("linux", "amd64"), entries) == 3
    assert best_match(Platform("linux", "arm64"), entries) == 5
    assert best_match(Platform("linux", "s390x"), entries) is None
    assert best_match(Platform("linux", "amd64", "v3"),
                      [Platform("linux", "amd64", "v2"), Platform("linux", "amd64", "v3")]) == 1


def test_json_round_trip() -> None:
    obj = {"architecture": "arm64", "os": "linux", "variant": "v8",
           "os.version": "x", "os.features": ["f"]}
    p = Platform.from_json(obj)
    assert p == Platform("linux", "arm64", "v8", "x", ("f",))
    assert p.to_json() == {"architecture": "arm64", "os": "linux", "os.version": "x",
                           "os.features": ["f"], "variant": "v8"}
    assert normalize(p).variant == ""


@pytest.mark.parametrize(("obj", "message"), [
    ([], "expected an object"),
    ({"os": "linux"}, "platform.architecture: required"),
    ({"architecture": "amd64"}, "platform.os: required"),
    ({"architecture": 1, "os": "linux"}, "expected a string"),
    ({"architecture": "amd64", "os": "linux", "os.features": "x"}, "array of strings"),
])
def test_from_json_invalid(obj: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        Platform.from_json(obj)
