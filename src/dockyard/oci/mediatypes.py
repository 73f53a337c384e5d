"""Media types of OCI and Docker image documents and layers, and what each one means.

OCI types are from the image spec (``media-types.md``); Docker's are the schema2 ones
(``distribution/docs/spec/manifest-v2-2.md``) that registries still serve for most
images. The two families are interchangeable where the spec's compatibility matrix says
so: a Docker ``rootfs.diff.tar.gzip`` layer *is* an OCI ``tar+gzip`` layer.

Unknown media types are not an error here: the spec requires implementations that store
or copy manifests to carry types they do not know. Only the helpers that must decide
(``layer_compression``) refuse what they cannot handle.
"""

from __future__ import annotations

import re
from typing import Literal

from dockyard.errors import InvalidArgument

# OCI image spec.
OCI_DESCRIPTOR = "application/vnd.oci.descriptor.v1+json"
OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
# Deprecated by the spec, still to be read.
OCI_LAYER_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDISTRIBUTABLE_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDISTRIBUTABLE_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

# Docker image manifest v2, schema 2.
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar"
DOCKER_LAYER_FOREIGN_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
# Schema 1 is recognised only to be refused with a clear message.
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

Compression = Literal["gzip", "zstd"]

MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})
SCHEMA1_TYPES = frozenset({DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED})

# Layer media type -> compression (None: plain tar).
_LAYERS: dict[str, Compression | None] = {
    OCI_LAYER: None,
    OCI_LAYER_GZIP: "gzip",
    OCI_LAYER_ZSTD: "zstd",
    OCI_LAYER_NONDISTRIBUTABLE: None,
    OCI_LAYER_NONDISTRIBUTABLE_GZIP: "gzip",
    OCI_LAYER_NONDISTRIBUTABLE_ZSTD: "zstd",
    DOCKER_LAYER: None,
    DOCKER_LAYER_GZIP: "gzip",
    DOCKER_LAYER_ZSTD: "zstd",
    DOCKER_LAYER_FOREIGN: None,
    DOCKER_LAYER_FOREIGN_GZIP: "gzip",
}
_NONDISTRIBUTABLE = frozenset({
    OCI_LAYER_NONDISTRIBUTABLE, OCI_LAYER_NONDISTRIBUTABLE_GZIP, OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
    DOCKER_LAYER_FOREIGN, DOCKER_LAYER_FOREIGN_GZIP,
})

# RFC 6838 section 4.2 type/subtype names; parameters after ';' are allowed and ignored.
_RESTRICTED_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MEDIA_TYPE = re.compile(rf"{_RESTRICTED_NAME}/{_RESTRICTED_NAME}", re.ASCII)


def base(media_type: str) -> str:
    """The media type without parameters (``"a/b; charset=utf-8"`` -> ``"a/b"``)."""
    return media_type.split(";", 1)[0].strip()


def is_valid(media_type: str) -> bool:
    """True when ``media_type`` is an RFC 6838 ``type/subtype`` (parameters allowed)."""
    return bool(_MEDIA_TYPE.fullmatch(base(media_type)))


def validate(media_type: str, where: str = "mediaType") -> str:
    """Return ``media_type`` or raise ``InvalidArgument`` naming ``where``."""
    if not isinstance(media_type, str) or not is_valid(media_type):
        raise InvalidArgument(f"{where}: invalid media type {media_type!r}")
    return media_type


def is_manifest(media_type: str) -> bool:
    """An image manifest (OCI or Docker schema2): one config, a list of layers."""
    return base(media_type) in MANIFEST_TYPES


def is_index(media_type: str) -> bool:
    """An index of manifests (OCI image index or Docker manifest list)."""
    return base(media_type) in INDEX_TYPES


def is_config(media_type: str) -> bool:
    """An image configuration (OCI or Docker)."""
    return base(media_type) in CONFIG_TYPES


def is_schema1(media_type: str) -> bool:
    """A Docker schema1 manifest, which dockyard does not support."""
    return base(media_type) in SCHEMA1_TYPES


def is_layer(media_type: str) -> bool:
    """A filesystem layer (tar, possibly compressed) that dockyard can unpack."""
    return base(media_type) in _LAYERS


def is_distributable(media_type: str) -> bool:
    """False for non-distributable (OCI) and foreign (Docker) layers, which are not pushed."""
    return base(media_type) not in _NONDISTRIBUTABLE


def layer_compression(media_type: str) -> Compression | None:
    """``"gzip"``, ``"zstd"`` or ``None`` (plain tar) for a layer media type.

    Raises ``InvalidArgument`` for a media type that is not a known layer, so that a
    caller about to unpack never guesses.
    """
    mt = base(media_type)
    if mt not in _LAYERS:
        raise InvalidArgument(f"media type {media_type!r} is not a known layer type")
    return _LAYERS[mt]


def docker_equivalent(media_type: str) -> str:
    """The Docker schema2 media type for an OCI one (same content), or it unchanged."""
    return _TO_DOCKER.get(base(media_type), media_type)


def oci_equivalent(media_type: str) -> str:
    """The OCI media type for a Docker schema2 one (same content), or it unchanged."""
    return _TO_OCI.get(base(media_type), media_type)


_TO_DOCKER = {
    OCI_MANIFEST: DOCKER_MANIFEST,
    OCI_INDEX: DOCKER_MANIFEST_LIST,
    OCI_CONFIG: DOCKER_CONFIG,
    OCI_LAYER: DOCKER_LAYER,
    OCI_LAYER_GZIP: DOCKER_LAYER_GZIP,
    OCI_LAYER_ZSTD: DOCKER_LAYER_ZSTD,
    OCI_LAYER_NONDISTRIBUTABLE: DOCKER_LAYER_FOREIGN,
    OCI_LAYER_NONDISTRIBUTABLE_GZIP: DOCKER_LAYER_FOREIGN_GZIP,
}
_TO_OCI = {v: k for k, v in _TO_DOCKER.items()}
