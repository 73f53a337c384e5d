"""Repository names, tags, digests and references: the spec's grammar, and no escape."""

from __future__ import annotations

import pytest

from dockyard.oci.digest import Digest
from dockyard.registry.names import (
    DigestInvalid,
    NameInvalid,
    TagInvalid,
    parse_reference,
    validate_digest,
    validate_name,
    validate_tag,
)
from dockyard.registry.store import paths

GOOD_NAMES = ["a", "library/busybox", "a/b/c/d", "my-repo", "my__repo", "a.b_c-d",
              "x" * 255, "0", "a--b", "127.0.0.1/x"]
BAD_NAMES = ["", "A", "Upper/case", "a/", "/a", "a//b", "-a", "a-", "_a", "a/_layers",
             ".", "..", "a/../b", "a/./b", "a___b", "a b", "a\x00", "x" * 256,
             "a/b/", "a:b", "a@b", "\u00e9"]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_names(name: str) -> None:
    with pytest.raises(NameInvalid):
        validate_name(name)


@pytest.mark.parametrize("tag", ["latest", "v1.0", "A_b-c.d", "_x", "x" * 128])
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", "-x", ".x", "x" * 129, "a/b", "a:b", "..", "a b"])
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(TagInvalid):
        validate_tag(tag)


def test_digests_sha256_and_sha512() -> None:
    assert validate_digest("sha256:" + "a" * 64) == Digest("sha256", "a" * 64)
    assert validate_digest("sha512:" + "b" * 128) == Digest("sha512", "b" * 128)


@pytest.mark.parametrize("s", ["sha256:" + "a" * 63, "sha256:" + "A" * 64, "md5:abc",
                               "sha256:../../etc", "sha256", "", "sha512:" + "a" * 64])
def test_invalid_digests(s: str) -> None:
    with pytest.raises(DigestInvalid):
        validate_digest(s)


def test_reference_tag_or_digest() -> None:
    assert parse_reference("v1") == "v1"
    assert parse_reference("sha256:" + "c" * 64) == Digest("sha256", "c" * 64)
    with pytest.raises(DigestInvalid):
        parse_reference("sha256:zz")
    with pytest.raises(TagInvalid):
        parse_reference("-bad")


def test_paths_built_from_validated_values_stay_under_their_roots() -> None:
    d = Digest("sha256", "ab" * 32)
    name = validate_name("a/b")
    assert paths.blob_data(d) == f"/blobs/sha256/ab/{'ab' * 32}/data"
    assert paths.layer_link(name, d).startswith("/repositories/a/b/_layers/")
    assert paths.tag_link(name, validate_tag("v1")) == "/repositories/a/b/_manifests/tags/v1/current/link"


@pytest.mark.parametrize("upload_id", ["../x", "ABC", "0" * 31, "g" * 32, "", "a/b"])
def test_upload_ids_are_ours_only(upload_id: str) -> None:
    with pytest.raises(Exception) as info:
        paths.upload_dir(upload_id)
    assert type(info.value).__name__ == "UploadUnknown"
