"""Making new images: store layer blobs and documents under a lease, then name the image.

``store_layer`` turns a tar stream (plain or compressed, any of gzip/zstd/xz) into a
compressed layer blob and its diff_id in one pass; ``store_document`` stores a config or
manifest as the exact bytes given; ``commit_image`` builds the manifest, unpacks the
layers (which also proves every layer safe to apply) and only then writes the records.
``import_rootfs`` is ``docker import``.

Every blob is added to the operation's lease before it is committed (its digest is known
from the bytes written), so a garbage collection never sees it unprotected.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO, cast

from dockyard.archive import (
    CompressingWriter,
    Compression,
    DecompressingReader,
    DiffMode,
    Limits,
    write_diff,
)
from dockyard.content import Writer
from dockyard.errors import AlreadyExists
from dockyard.metadata import ImageRecord, Resource
from dockyard.oci import mediatypes as mt
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest, digest_bytes, parse_digest
from dockyard.oci.manifest import (
    ContainerConfig,
    canonical_json,
    new_manifest,
    parse_image_config,
)
from dockyard.oci.platform import Platform, host_platform

from .changes import apply_changes
from .model import Image
from .resolve import image_of_records, tag_name
from .stores import Stores
from .times import format_time
from .unpack import unpack

log = logging.getLogger(__name__)

_LAYER_TYPES = {
    Compression.NONE: mt.OCI_LAYER,
    Compression.GZIP: mt.OCI_LAYER_GZIP,
    Compression.ZSTD: mt.OCI_LAYER_ZSTD,
}


class _WriterFile:
    """A content ``Writer`` seen as the binary file ``CompressingWriter`` writes to."""

    def __init__(self, writer: Writer) -> None:
        self._w = writer

    def write(self, data: bytes | bytearray | memoryview) -> int:
        return self._w.write(data)

    def flush(self) -> None:
        pass  # the writer fsyncs at commit

    def digest(self) -> Digest:
        """What the writer has digested so far (``archive.diff.DigestingOut``)."""
        return self._w.digest()

    @property
    def offset(self) -> int:
        return self._w.offset


def _commit_leased(stores: Stores, lease_id: str, w: Writer, size: int,
                   digest: Digest) -> None:
    stores.meta.leases.add(lease_id, Resource.content(digest))
    try:
        w.commit(size, digest)
    except AlreadyExists:
        pass  # the same bytes are there already: success


def store_layer(stores: Stores, lease_id: str, stream: BinaryIO, *,
                compression: Compression = Compression.GZIP, level: int | None = None,
                limits: Limits | None = None) -> tuple[Descriptor, Digest]:
    """Store the tar ``stream`` (decompressed if it is compressed) as a layer blob
    compressed with ``compression``; returns its descriptor and diff_id."""
    if compression is Compression.XZ:
        compression = Compression.GZIP  # no OCI media type for xz layers
    source = DecompressingReader(stream, limits or Limits())
    with stores.content.writer(f"layer-{lease_id}-{secrets.token_hex(4)}") as w:
        w.truncate(0)
        cw = CompressingWriter(cast(BinaryIO, _WriterFile(w)), compression, level=level)
        while True:
            chunk = source.read_chunk()
            if not chunk:
                break
            cw.write(chunk)
        result = cw.finish()
        digest = parse_digest(result.digest)
        _commit_leased(stores, lease_id, w, result.size, digest)
    desc = Descriptor(_LAYER_TYPES[compression], digest, result.size)
    return desc, parse_digest(result.diff_id)


def store_tree_layer(stores: Stores, lease_id: str, rootfs: str, *,
                     compression: Compression = Compression.GZIP,
                     level: int | None = None) -> tuple[Descriptor, Digest]:
    """Store the whole tree ``rootfs`` as one layer (every path an addition)."""
    with stores.content.writer(f"tree-{lease_id}-{secrets.token_hex(4)}") as w:
        w.truncate(0)
        cw = CompressingWriter(cast(BinaryIO, _WriterFile(w)), compression, level=level)
        write_diff(None, rootfs, cast(BinaryIO, cw), mode=DiffMode.TREE)
        result = cw.finish()
        digest = parse_digest(result.digest)
        _commit_leased(stores, lease_id, w, result.size, digest)
    return Descriptor(_LAYER_TYPES[compression], digest, result.size), parse_digest(
        result.diff_id)


def store_document(stores: Stores, lease_id: str, media_type: str, raw: bytes) -> Descriptor:
    """Store ``raw`` exactly (a config, a manifest, an index) and describe it."""
    desc = Descriptor(media_type, digest_bytes(raw), len(raw))
    stores.meta.leases.add(lease_id, Resource.content(desc.digest))
    stores.content.ingest_bytes(raw, desc)
    return desc


def commit_image(stores: Stores, lease_id: str, config_raw: bytes,
                 layers: Sequence[Descriptor], names: Sequence[str], *,
                 config_media_type: str = mt.OCI_CONFIG,
                 manifest_media_type: str = mt.OCI_MANIFEST,
                 labels: Mapping[str, str] | None = None) -> Image:
    """Store config and manifest, unpack, then point ``names`` (stored form) at the image."""
    config = parse_image_config(config_raw)
    config_desc = store_document(stores, lease_id, config_media_type, config_raw)
    manifest = new_manifest(config_desc, layers, media_type=manifest_media_type)
    target = store_document(stores, lease_id, manifest.media_type, manifest.raw)
    unpack(stores, Image(config.digest, target, manifest, config, ()), lease_id)
    records = name_image(stores, config.digest, target, names, labels)
    return image_of_records(stores.content, records)


def name_image(stores: Stores, image_id: Digest, target: Descriptor, names: Sequence[str],
               labels: Mapping[str, str] | None = None) -> list[ImageRecord]:
    """Point ``names`` at the image (a dangling record when there are none); its records."""
    moved = stores.meta.images.set_names(names, image_id, target, labels)
    for old in moved:
        log.info("name %s moved from image %s to %s", old.name, old.image_id.short(),
                 image_id.short())
    return stores.meta.images.by_image_id(image_id)


def image_config_doc(config: ContainerConfig, diff_ids: Sequence[Digest], *,
                     platform: Platform, created: str, comment: str = "",
                     author: str = "", history: Sequence[Mapping[str, Any]] = ()
                     ) -> dict[str, Any]:
    """An image config document (keys sorted, as moby's ``image.Image`` marshals)."""
    doc: dict[str, Any] = {"architecture": platform.architecture}
    if author:
        doc["author"] = author
    if comment:
        doc["comment"] = comment
    doc["config"] = config.to_json()
    doc["created"] = created
    if history:
        doc["history"] = [dict(h) for h in history]
    doc["os"] = platform.os
    if platform.os_version:
        doc["os.version"] = platform.os_version
    doc["rootfs"] = {"type": "layers", "diff_ids": [str(d) for d in diff_ids]}
    if platform.variant:
        doc["variant"] = platform.variant
    return doc


def import_rootfs(stores: Stores, stream: BinaryIO, *, repository: str = "", tag: str = "",
                  changes: Sequence[str] = (), message: str = "",
                  platform: Platform | None = None, source: str = "-",
                  created: str | None = None) -> Image:
    """``docker import``: the tarball ``stream`` (any compression) as a one-layer image."""
    names = [tag_name(repository, tag)] if repository else []
    config = apply_changes(ContainerConfig(), changes)
    plat = platform or host_platform()
    when = created or format_time()
    comment = message or f"Imported from {source}"
    with stores.meta.leases.temporary("import") as lease:
        layer, diff_id = store_layer(stores, lease.id, stream)
        doc = image_config_doc(config, [diff_id], platform=plat, created=when, comment=comment,
                               history=[{"created": when, "comment": comment}])
        return commit_image(stores, lease.id, canonical_json(doc), [layer], names)
