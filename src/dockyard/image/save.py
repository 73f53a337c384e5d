"""``docker save``: images as one archive that every loader reads (dockerd 25's layout).

::

    oci-layout                     {"imageLayoutVersion": "1.0.0"}
    index.json                     OCI index: one entry per name (annotations
                                   io.containerd.image.name = full name,
                                   org.opencontainers.image.ref.name = tag), or one bare
                                   entry for an image saved by ID
    blobs/sha256/<hex>             manifests, configs and layers, exactly as stored
    manifest.json                  [{"Config": "blobs/sha256/<config>", "RepoTags": [...],
                                     "Layers": ["blobs/sha256/<layer>", ...]}]
    repositories                   {"<familiar repo>": {"<tag>": "<top layer hex>"}}

An OCI layout reader (skopeo ``oci-archive:``, umoci after extraction) uses ``index.json``;
a docker-archive reader (dockerd 20.10, skopeo ``docker-archive:``) uses ``manifest.json``,
whose layer paths point at the same (compressed) blobs: both decompress layers they find
compressed. The saved manifest is the one for this host's platform (never an index whose
other platforms are not stored), so every blob the archive names is in it.
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
from collections.abc import Sequence
from typing import Any, BinaryIO, cast

from dockyard.archive import CompressingWriter, Compression
from dockyard.errors import InvalidArgument
from dockyard.oci import mediatypes as mt
from dockyard.oci import reference
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest
from dockyard.oci.manifest import canonical_json

from .load import NAME_ANNOTATION, REF_ANNOTATION
from .model import Image
from .resolve import find_record, resolve
from .stores import Stores

log = logging.getLogger(__name__)

_COPY_BUFFER = 1 << 20


def _selection(stores: Stores, refs: Sequence[str]) -> list[tuple[Image, list[str]]]:
    """The images to save, each with the names to save it under (stored form)."""
    chosen: dict[Digest, tuple[Image, list[str]]] = {}
    for text in refs:
        image = resolve(stores.content, stores.meta, text)
        record = find_record(stores.meta, text)
        names = [record.name] if record is not None and not record.dangling else []
        entry = chosen.setdefault(image.id, (image, []))
        entry[1].extend(n for n in names if n not in entry[1])
    return list(chosen.values())


def _blob_path(d: Digest) -> str:
    return f"blobs/{d.algorithm}/{d.hex}"


class _Archive:
    def __init__(self, out: BinaryIO) -> None:
        # Stream mode: ``out`` need not seek (a socket, a compressing writer). Closed by
        # ``close()``.
        self.tar = tarfile.open(fileobj=out, mode="w|",  # noqa: SIM115
                                format=tarfile.PAX_FORMAT)
        # Copy blobs in 1 MiB reads, not tarfile's default 16 KiB (not in typeshed).
        setattr(self.tar, "copybufsize", _COPY_BUFFER)  # noqa: B010
        self.dirs: set[str] = set()
        self.blobs: set[Digest] = set()

    def _dir(self, name: str) -> None:
        if name in self.dirs:
            return
        self.dirs.add(name)
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        self.tar.addfile(info)

    def file(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o644
        self.tar.addfile(info, io.BytesIO(data))

    def blob(self, stores: Stores, desc: Descriptor) -> None:
        if desc.digest in self.blobs:
            return
        self.blobs.add(desc.digest)
        self._dir("blobs")
        self._dir(f"blobs/{desc.digest.algorithm}")
        info = tarfile.TarInfo(_blob_path(desc.digest))
        with stores.content.open_blob(desc.digest) as f:
            size = stores.content.info(desc.digest).size
            if size != desc.size:
                raise InvalidArgument(f"content {desc.digest} is {size} bytes, its descriptor "
                                      f"says {desc.size}")
            info.size = size
            info.mode = 0o644
            self.tar.addfile(info, f)

    def close(self) -> None:
        self.tar.close()


def save(stores: Stores, refs: Sequence[str], out: BinaryIO, *,
         compression: Compression = Compression.NONE) -> None:
    """Write the images ``refs`` name (names or IDs) to ``out`` as one archive."""
    if not refs:
        raise InvalidArgument("save: no image given")
    selection = _selection(stores, refs)
    if compression is not Compression.NONE:
        cw = CompressingWriter(out, compression)
        _write(stores, selection, cast(BinaryIO, cw))
        cw.finish()
    else:
        _write(stores, selection, out)


def _write(stores: Stores, selection: list[tuple[Image, list[str]]], out: BinaryIO) -> None:
    archive = _Archive(out)
    try:
        archive.file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        index_entries: list[dict[str, Any]] = []
        manifest_json: list[dict[str, Any]] = []
        repositories: dict[str, dict[str, str]] = {}
        for image, names in selection:
            m = image.manifest
            archive.blob(stores, m.config)
            for layer in m.layers:
                archive.blob(stores, layer)
            target = m.descriptor(image.config.platform)
            archive.blob(stores, target)
            refs = [reference.parse(n) for n in names]
            for ref in refs:
                desc = target._replace(annotations={NAME_ANNOTATION: str(ref),
                                                    REF_ANNOTATION: ref.tag or str(ref)})
                index_entries.append(desc.to_json())
                if ref.tag and m.layers:
                    repositories.setdefault(reference.familiar_name(ref), {})[ref.tag] = \
                        m.layers[-1].digest.hex
            if not refs:
                index_entries.append(target.to_json())
            manifest_json.append({
                "Config": _blob_path(m.config.digest),
                "RepoTags": [reference.familiar_string(r) for r in refs if r.tag] or None,
                "Layers": [_blob_path(d.digest) for d in m.layers],
            })
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": index_entries}
        archive.file("index.json", canonical_json(index))
        archive.file("manifest.json", json.dumps(manifest_json, separators=(",", ":")).encode())
        if repositories:
            archive.file("repositories", json.dumps(repositories, separators=(",", ":"),
                                                    sort_keys=True).encode())
    finally:
        archive.close()
    log.info("saved %d image(s)", len(selection))
