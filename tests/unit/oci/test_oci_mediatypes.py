"""Media types: classification and layer compression."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci import mediatypes as mt


@pytest.mark.parametrize(("media_type", "compression"), [
    (mt.OCI_LAYER, None),
    (mt.OCI_LAYER_GZIP, "gzip"),
    (mt.OCI_LAYER_ZSTD, "zstd"),
    (mt.OCI_LAYER_NONDISTRIBUTABLE, None),
    (mt.OCI_LAYER_NONDISTRIBUTABLE_GZIP, "gzip"),
    (mt.OCI_LAYER_NONDISTRIBUTABLE_ZSTD, "zstd"),
    (mt.DOCKER_LAYER, None),
    (mt.DOCKER_LAYER_GZIP, "gzip"),
    (mt.DOCKER_LAYER_ZSTD, "zstd"),
    (mt.DOCKER_LAYER_FOREIGN_GZIP, "gzip"),
])
def test_layer_compression(media_type: str, compression: str | None) -> None:
    assert mt.is_layer(media_type)
    assert mt.layer_compression(media_type) == compression
    assert not mt.is_manifest(media_type) and not mt.is_index(media_type)


def test_layer_compression_refuses_non_layers() -> None:
    for media_type in (mt.OCI_MANIFEST, mt.OCI_CONFIG, "application/octet-stream"):
        with pytest.raises(InvalidArgument, match="not a known layer type"):
            mt.layer_compression(media_type)


def test_classification() -> None:
    assert mt.is_manifest(mt.OCI_MANIFEST) and mt.is_manifest(mt.DOCKER_MANIFEST)
    assert mt.is_index(mt.OCI_INDEX) and mt.is_index(mt.DOCKER_MANIFEST_LIST)
    assert mt.is_config(mt.OCI_CONFIG) and mt.is_config(mt.DOCKER_CONFIG)
    assert not mt.is_manifest(mt.OCI_INDEX) and not mt.is_index(mt.OCI_MANIFEST)
    assert mt.is_schema1(mt.DOCKER_MANIFEST_V1_SIGNED)
    # Parameters (as in a Content-Type header) are ignored.
    assert mt.is_manifest(mt.OCI_MANIFEST + "; charset=utf-8")


def test_distributable() -> None:
    assert mt.is_distributable(mt.OCI_LAYER_GZIP)
    assert not mt.is_distributable(mt.DOCKER_LAYER_FOREIGN_GZIP)
    assert not mt.is_distributable(mt.OCI_LAYER_NONDISTRIBUTABLE)


def test_equivalents() -> None:
    assert mt.docker_equivalent(mt.OCI_LAYER_GZIP) == mt.DOCKER_LAYER_GZIP
    assert mt.oci_equivalent(mt.DOCKER_MANIFEST_LIST) == mt.OCI_INDEX
    assert mt.oci_equivalent("application/x-unknown") == "application/x-unknown"


@pytest.mark.parametrize("media_type", [
    "application/vnd.example+type", "text/plain; charset=utf-8", mt.OCI_LAYER_GZIP])
def test_valid(media_type: str) -> None:
    assert mt.validate(media_type) == media_type


@pytest.mark.parametrize("media_type", ["", "application", "/json", "a/b/c", "app lication/x"])
def test_invalid(media_type: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid media type"):
        mt.validate(media_type, "x.mediaType")
