"""Descriptors: validation of the wire object, and the wire object back."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci import mediatypes as mt
from dockyard.oci.descriptor import Descriptor, new_descriptor
from dockyard.oci.digest import digest_bytes, parse_digest
from dockyard.oci.platform import Platform

D = "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270"


def test_spec_examples() -> None:
    d = Descriptor.from_json({"mediaType": mt.OCI_MANIFEST, "size": 7682, "digest": D,
                              "urls": ["https://example.com/example-manifest"]})
    assert d.media_type == mt.OCI_MANIFEST and d.size == 7682 and d.digest == parse_digest(D)
    assert d.urls == ("https://example.com/example-manifest",)
    d2 = Descriptor.from_json({"mediaType": mt.OCI_MANIFEST, "size": 123, "digest": D,
                               "artifactType": "application/vnd.example.sbom.v1"})
    assert d2.artifact_type == "application/vnd.example.sbom.v1"


def test_to_json_order_and_omitempty() -> None:
    d = Descriptor(mt.OCI_MANIFEST, parse_digest(D), 10,
                   annotations={"b": "2", "a": "1"}, platform=Platform("linux", "amd64"))
    out = d.to_json()
    assert list(out) == ["mediaType", "digest", "size", "annotations", "platform"]
    assert list(out["annotations"]) == ["a", "b"]
    assert Descriptor.from_json(out) == d
    plain = Descriptor(mt.OCI_CONFIG, parse_digest(D), 1).to_json()
    assert plain == {"mediaType": mt.OCI_CONFIG, "digest": D, "size": 1}


def test_embedded_data_is_verified() -> None:
    good = {"mediaType": mt.OCI_EMPTY, "size": 2, "data": "e30=",
            "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}
    d = Descriptor.from_json(good)
    assert d.data == b"{}"
    assert d.to_json()["data"] == "e30="
    with pytest.raises(InvalidArgument, match="does not match digest"):
        Descriptor.from_json({**good, "data": base64.b64encode(b"[]").decode()})
    with pytest.raises(InvalidArgument, match="size says 2"):
        Descriptor.from_json({**good, "data": base64.b64encode(b"{ }").decode()})
    with pytest.raises(InvalidArgument, match="invalid base64"):
        Descriptor.from_json({**good, "data": "!!"})


BASE: dict[str, Any] = {"mediaType": mt.OCI_LAYER_GZIP, "digest": D, "size": 1}


@pytest.mark.parametrize(("change", "message"), [
    ({"mediaType": None}, r"layers\[0\].mediaType: required"),
    ({"mediaType": "nonsense"}, "invalid media type"),
    ({"digest": None}, "digest: required"),
    ({"digest": "sha256:abc"}, r"layers\[0\].digest: invalid digest"),
    ({"size": None}, "size: required"),
    ({"size": -1}, "must not be negative"),
    ({"size": "1"}, "expected an integer"),
    ({"size": True}, "expected an integer"),
    ({"size": 1.5}, "expected an integer"),
    ({"urls": "http://x"}, "urls: expected an array"),
    ({"annotations": {"a": 1}}, "annotations.a: expected a string"),
    ({"annotations": []}, "annotations: expected an object"),
    ({"platform": {"os": "linux"}}, "platform.architecture: required"),
])
def test_invalid(change: dict[str, Any], message: str) -> None:
    obj = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    with pytest.raises(InvalidArgument, match=message):
        Descriptor.from_json(obj, "manifest.layers[0]")


def test_not_an_object() -> None:
    with pytest.raises(InvalidArgument, match="expected an object"):
        Descriptor.from_json(["x"])


def test_new_descriptor() -> None:
    d = new_descriptor(mt.OCI_CONFIG, b"{}")
    assert d.digest == digest_bytes(b"{}") and d.size == 2 and not d.annotations
