"""Content descriptors: what a piece of content is (media type), its digest and its size.

Descriptors are how every OCI document points at other content. ``Descriptor.from_json``
validates the decoded wire object (naming the offending field in errors, for example
``manifest.layers[2].size: must not be negative``); ``to_json`` gives the wire dict back,
keys in the order of Go's ``ocispec.Descriptor`` so our documents look like everyone
else's. Mapping fields are read-only by type (``Mapping``); never mutate them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, NamedTuple

from dockyard.errors import InvalidArgument
from dockyard.oci import mediatypes
from dockyard.oci.digest import Digest, digest_bytes, parse_digest
from dockyard.oci.platform import Platform

_NO_ANNOTATIONS: Mapping[str, str] = {}


class Descriptor(NamedTuple):
    """A validated descriptor (``application/vnd.oci.descriptor.v1+json``)."""

    media_type: str
    digest: Digest
    size: int
    annotations: Mapping[str, str] = _NO_ANNOTATIONS
    platform: Platform | None = None
    urls: tuple[str, ...] = ()
    artifact_type: str = ""
    data: bytes | None = None  # the embedded content, verified against digest and size

    @classmethod
    def from_json(cls, obj: Any, where: str = "descriptor") -> Descriptor:
        """Validate a decoded descriptor object; ``InvalidArgument`` names the field."""
        if not isinstance(obj, Mapping):
            raise InvalidArgument(f"{where}: expected an object, got {type(obj).__name__}")
        media_type = obj.get("mediaType")
        if media_type is None:
            raise InvalidArgument(f"{where}.mediaType: required")
        mediatypes.validate(media_type, f"{where}.mediaType")
        raw_digest = obj.get("digest")
        if raw_digest is None:
            raise InvalidArgument(f"{where}.digest: required")
        try:
            digest = parse_digest(raw_digest)
        except InvalidArgument as e:
            raise InvalidArgument(f"{where}.digest: {e}") from e
        size = obj.get("size")
        if size is None:
            raise InvalidArgument(f"{where}.size: required")
        if isinstance(size, bool) or not isinstance(size, int):
            raise InvalidArgument(f"{where}.size: expected an integer, got {size!r}")
        if size < 0:
            raise InvalidArgument(f"{where}.size: must not be negative, got {size}")
        urls = obj.get("urls")
        if urls is None:
            urls = []
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise InvalidArgument(f"{where}.urls: expected an array of strings")
        platform = None
        if obj.get("platform") is not None:
            platform = Platform.from_json(obj["platform"], f"{where}.platform")
        artifact_type = obj.get("artifactType") or ""
        if artifact_type:
            mediatypes.validate(artifact_type, f"{where}.artifactType")
        data = _data(obj.get("data"), digest, size, where)
        return cls(media_type=media_type, digest=digest, size=size,
                   annotations=parse_annotations(obj.get("annotations"), f"{where}.annotations"),
                   platform=platform, urls=tuple(urls), artifact_type=artifact_type, data=data)

    def to_json(self) -> dict[str, Any]:
        """The wire dict (``omitempty`` like Go: empty optional fields are left out)."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations.items()))
        if self.data is not None:
            out["data"] = base64.b64encode(self.data).decode("ascii")
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out


def _data(value: Any, digest: Digest, size: int, where: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f"{where}.data: expected a base64 string")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidArgument(f"{where}.data: invalid base64: {e}") from e
    if len(data) != size:
        raise InvalidArgument(f"{where}.data: {len(data)} bytes, but size says {size}")
    if digest_bytes(data, digest.algorithm) != digest:
        raise InvalidArgument(f"{where}.data: content does not match digest {digest}")
    return data


def parse_annotations(value: Any, where: str = "annotations") -> Mapping[str, str]:
    """Validate a string-to-string map (annotations, labels); ``None`` is empty."""
    if value is None:
        return _NO_ANNOTATIONS
    if not isinstance(value, Mapping):
        raise InvalidArgument(f"{where}: expected an object of strings")
    for k, v in value.items():
        if not isinstance(v, str):
            raise InvalidArgument(f"{where}.{k}: expected a string, got {type(v).__name__}")
    return dict(value)


def new_descriptor(media_type: str, data: bytes, annotations: Mapping[str, str] | None = None,
                   platform: Platform | None = None) -> Descriptor:
    """A descriptor for ``data`` (sha256), e.g. for a blob we are about to write."""
    mediatypes.validate(media_type)
    return Descriptor(media_type=media_type, digest=digest_bytes(data), size=len(data),
                      annotations=dict(annotations) if annotations else _NO_ANNOTATIONS,
                      platform=platform)
