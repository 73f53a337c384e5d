"""Digests: grammar, supported algorithms and lengths, incremental hashing."""

from __future__ import annotations

import hashlib

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest, Digester, digest_bytes, is_digest, parse_digest

EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_parse_round_trip() -> None:
    d = parse_digest(EMPTY_SHA256)
    assert d == Digest("sha256", EMPTY_SHA256[7:])
    assert str(d) == EMPTY_SHA256
    assert d.encoded == d.hex
    assert d.short() == "e3b0c44298fc"


def test_sha512() -> None:
    hexd = hashlib.sha512(b"x").hexdigest()
    d = parse_digest("sha512:" + hexd)
    assert d.algorithm == "sha512" and len(d.hex) == 128
    assert digest_bytes(b"x", "sha512") == d


@pytest.mark.parametrize(("s", "message"), [
    ("", "empty"),
    ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "missing"),
    ("sha256:", "does not match"),
    (":abc", "does not match"),
    ("SHA256:" + "a" * 64, "does not match"),
    ("sha256:" + "A" * 64, "lower-case hex"),
    ("sha256:" + "a" * 63, "needs 64 hex digits, got 63"),
    ("sha256:" + "a" * 65, "needs 64 hex digits, got 65"),
    ("sha256:" + "g" * 64, "lower-case hex"),
    ("sha512:" + "a" * 64, "needs 128 hex digits"),
    ("md5:d41d8cd98f00b204e9800998ecf8427e", "unsupported algorithm 'md5'"),
    ("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", "unsupported"),
    ("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", "unsupported"),
    ("sha256:" + "a" * 64 + "\n", "does not match"),
    ("sha256 :" + "a" * 64, "does not match"),
])
def test_invalid(s: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_digest(s)
    assert not is_digest(s)


def test_not_a_string() -> None:
    with pytest.raises(InvalidArgument, match="not a string"):
        parse_digest(42)  # type: ignore[arg-type]


def test_digest_bytes_known_values() -> None:
    assert str(digest_bytes(b"")) == EMPTY_SHA256
    # The OCI spec's empty descriptor: the digest of "{}".
    assert str(digest_bytes(b"{}")) == (
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")


def test_digester_incremental_equals_whole() -> None:
    data = bytes(range(256)) * 1000
    d = Digester()
    for i in range(0, len(data), 4096):
        d.update(memoryview(data)[i:i + 4096])
    assert d.size == len(data)
    assert d.digest() == digest_bytes(data)
    snapshot = d.copy()
    d.update(b"more")
    assert snapshot.digest() == digest_bytes(data)
    assert d.digest() == digest_bytes(data + b"more")
    d.reset()
    assert d.digest() == digest_bytes(b"") and d.size == 0


def test_digester_unknown_algorithm() -> None:
    with pytest.raises(InvalidArgument, match="unsupported digest algorithm"):
        Digester("md5")
