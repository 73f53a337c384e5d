"""``docker load``: images from an archive in any of the layouts Docker and skopeo write.

Accepted (each possibly gzip-, zstd- or xz-compressed as a whole):

1. **OCI image layout** (``oci-layout``, ``index.json``, ``blobs/<alg>/<hex>``), as umoci
   and ``skopeo copy … oci-archive:`` write it. Documents are stored as found, so manifest
   digests and image IDs survive byte for byte. Names come from the index entries'
   ``io.containerd.image.name`` annotation, else from ``org.opencontainers.image.ref.name``
   when it is a whole reference (a bare tag such as ``latest`` names nothing).
2. **dockerd 25+** (an OCI layout *plus* ``manifest.json`` and ``repositories``): read as
   the OCI layout; ``manifest.json``'s ``RepoTags`` name the images the index leaves
   unnamed.
3. **legacy docker-archive** (``manifest.json``, ``<id>/layer.tar`` or ``<hex>.tar``,
   ``<hex>.json`` configs, ``repositories``; what dockerd 20.10 and skopeo write). There
   is no manifest in it, so one is built (Docker schema2 media types) around the config
   bytes found: the image ID is the same, the manifest digest is ours.

Every blob is checked against its digest (blobs named by digest when read; documents
kept in memory before they are stored), layers against the config's diff_ids (directly
for plain tars, by the unpack for compressed ones). Images are unpacked, and named only
once all their content is in place; everything runs under one temporary lease.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, BinaryIO, NamedTuple

from dockyard.archive import Compression, detect_compression
from dockyard.errors import InvalidArgument, NotFound, NotImplementedByDockyard
from dockyard.metadata import Resource
from dockyard.oci import mediatypes as mt
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest, digest_bytes
from dockyard.oci.manifest import (
    Manifest,
    load_json_object,
    new_manifest,
    parse_image_config,
    parse_index,
    parse_manifest,
)

from .create import name_image, store_document
from .model import Image, LoadedImage
from .resolve import normalize_name, platform_manifest, read_document
from .stores import Stores
from .tarball import ArchiveFiles, read_archive
from .unpack import unpack

log = logging.getLogger(__name__)

NAME_ANNOTATION = "io.containerd.image.name"
REF_ANNOTATION = "org.opencontainers.image.ref.name"
_HEX_JSON = re.compile(r"(?:.*/)?([a-f0-9]{64})(?:\.json)?", re.ASCII)


class _Plan(NamedTuple):
    image: Image
    names: list[str]


def load(stores: Stores, stream: BinaryIO, *, do_unpack: bool = True) -> list[LoadedImage]:
    """Load every image of the archive ``stream``; what was loaded, with the names given."""
    with stores.meta.leases.temporary("load") as lease:
        files = read_archive(stores, stream, lease.id)
        if files.has("index.json"):
            plans = _from_oci(stores, files, lease.id)
            _names_from_manifest_json(files, plans)
        elif files.has("manifest.json"):
            plans = _from_docker(stores, files, lease.id)
        elif files.has("repositories"):
            raise NotImplementedByDockyard("archive: the pre-1.10 docker-archive layout "
                                           "(no manifest.json) is not supported")
        else:
            raise InvalidArgument("archive: not an image archive (no index.json, no "
                                  "manifest.json)")
        if not plans:
            raise InvalidArgument("archive: it holds no image")
        out = []
        for plan in plans:
            if do_unpack:
                unpack(stores, plan.image, lease.id)
            name_image(stores, plan.image.id, plan.image.target, plan.names)
            out.append(LoadedImage(plan.image.id, tuple(plan.names)))
            log.info("loaded image %s as %s", plan.image.id.short(),
                     ", ".join(plan.names) or "<none>")
        return out


# --------------------------------------------------------------------------- OCI layout


def _blob(stores: Stores, files: ArchiveFiles, desc: Descriptor, lease_id: str) -> None:
    """Make sure the archive's ``blobs/<alg>/<hex>`` for ``desc`` is in the store, verified."""
    name = f"blobs/{desc.digest.algorithm}/{desc.digest.hex}"
    try:
        member = files.member(name)
    except NotFound as e:
        raise InvalidArgument(f"archive: {desc.media_type} {desc.digest} is missing "
                              f"({name})") from e
    if member.size != desc.size:
        raise InvalidArgument(f"archive: {name} is {member.size} bytes, its descriptor says "
                              f"{desc.size}")
    stores.meta.leases.add(lease_id, Resource.content(desc.digest))
    if member.data is None:
        if member.digest != desc.digest:
            raise InvalidArgument(f"archive: {name} does not hold {desc.digest}")
        return  # stored and verified while reading
    if digest_bytes(member.data, desc.digest.algorithm) != desc.digest:
        raise InvalidArgument(f"archive: {name} does not match its digest")
    stores.content.ingest_bytes(member.data, desc)


def _document(stores: Stores, files: ArchiveFiles, desc: Descriptor, lease_id: str) -> bytes:
    _blob(stores, files, desc, lease_id)
    return read_document(stores.content, desc.digest, desc.media_type)


def _store_tree(stores: Stores, files: ArchiveFiles, desc: Descriptor, lease_id: str,
                depth: int = 0) -> None:
    """Store ``desc`` (manifest or index) and everything it references that is there."""
    if depth > 8:
        raise InvalidArgument("archive: indexes nested too deep")
    raw = _document(stores, files, desc, lease_id)
    if mt.is_index(desc.media_type):
        index = parse_index(raw, desc.media_type, str(desc.digest))
        for child in index.manifests:
            if not (mt.is_manifest(child.media_type) or mt.is_index(child.media_type)):
                continue
            if files.has(f"blobs/{child.digest.algorithm}/{child.digest.hex}"):
                _store_tree(stores, files, child, lease_id, depth + 1)
        return
    m = parse_manifest(raw, desc.media_type, str(desc.digest))
    _blob(stores, files, m.config, lease_id)
    for layer in m.layers:
        _blob(stores, files, layer, lease_id)


def _oci_names(desc: Descriptor) -> list[str]:
    full = desc.annotations.get(NAME_ANNOTATION, "")
    ref = desc.annotations.get(REF_ANNOTATION, "")
    for candidate in (full, ref):
        if not candidate or (candidate is ref and ":" not in ref and "/" not in ref):
            continue
        try:
            return [normalize_name(candidate)]
        except InvalidArgument:
            log.warning("archive: ignoring name %r: not a valid reference", candidate)
    return []


def _from_oci(stores: Stores, files: ArchiveFiles, lease_id: str) -> list[_Plan]:
    raw = files.read("index.json")
    index = parse_index(raw, None, "index.json")
    if files.has("oci-layout"):
        layout = load_json_object(files.read("oci-layout"), "oci-layout")
        if layout.get("imageLayoutVersion") != "1.0.0":
            raise InvalidArgument(f"oci-layout: unsupported imageLayoutVersion "
                                  f"{layout.get('imageLayoutVersion')!r}")
    plans: dict[Digest, _Plan] = {}
    for desc in index.manifests:
        if not (mt.is_manifest(desc.media_type) or mt.is_index(desc.media_type)):
            log.info("archive: skipping index entry %s of type %s", desc.digest,
                     desc.media_type)
            continue
        _store_tree(stores, files, desc, lease_id)
        target = Descriptor(desc.media_type, desc.digest, desc.size)
        manifest = platform_manifest(stores.content, target)
        config = parse_image_config(read_document(stores.content, manifest.config.digest,
                                                  "image config"), str(manifest.config.digest))
        names = _oci_names(desc)
        if config.digest in plans:
            plans[config.digest].names.extend(n for n in names
                                              if n not in plans[config.digest].names)
        else:
            plans[config.digest] = _Plan(Image(config.digest, target, manifest, config, ()),
                                         names)
    return list(plans.values())


def _manifest_json(files: ArchiveFiles) -> list[dict[str, Any]]:
    try:
        doc = json.loads(files.read("manifest.json"))
    except ValueError as e:
        raise InvalidArgument(f"manifest.json: not valid JSON: {e}") from e
    if not isinstance(doc, list) or not all(isinstance(e, dict) for e in doc):
        raise InvalidArgument("manifest.json: expected an array of objects")
    return doc


def _repo_tags(entry: dict[str, Any], i: int) -> list[str]:
    tags = entry.get("RepoTags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidArgument(f"manifest.json[{i}].RepoTags: expected an array of strings")
    out = []
    for t in tags:
        try:
            out.append(normalize_name(t))
        except InvalidArgument as e:
            raise InvalidArgument(f"manifest.json[{i}].RepoTags: {e}") from e
    return out


def _names_from_manifest_json(files: ArchiveFiles, plans: list[_Plan]) -> None:
    if not files.has("manifest.json"):
        return
    by_config = {p.image.id.hex: p for p in plans}
    for i, entry in enumerate(_manifest_json(files)):
        m = _HEX_JSON.fullmatch(str(entry.get("Config", "")))
        plan = by_config.get(m.group(1)) if m else None
        if plan is not None and not plan.names:
            plan.names.extend(_repo_tags(entry, i))


# --------------------------------------------------------------------------- docker-archive

_LEGACY_LAYER_TYPES = {
    Compression.NONE: mt.DOCKER_LAYER,
    Compression.GZIP: mt.DOCKER_LAYER_GZIP,
    Compression.ZSTD: mt.DOCKER_LAYER_ZSTD,
}


def _legacy_layer(stores: Stores, files: ArchiveFiles, path: str, diff_id: Digest,
                  lease_id: str, where: str) -> Descriptor:
    with files.open(path) as f:
        head = f.read(8)
    compression = detect_compression(head)
    media_type = _LEGACY_LAYER_TYPES.get(compression)
    if media_type is None:
        raise NotImplementedByDockyard(f"{where}: {compression.value} layers are not "
                                       "supported in a docker-archive")
    digest, size = files.blob(path, lease_id)
    if compression is Compression.NONE and digest != diff_id:
        raise InvalidArgument(f"{where}: {path} has digest {digest} but the config's "
                              f"diff_id is {diff_id}")
    return Descriptor(media_type, digest, size)


def _from_docker(stores: Stores, files: ArchiveFiles, lease_id: str) -> list[_Plan]:
    plans: dict[Digest, _Plan] = {}
    for i, entry in enumerate(_manifest_json(files)):
        where = f"manifest.json[{i}]"
        config_path = entry.get("Config")
        layers = entry.get("Layers") or []
        if not isinstance(config_path, str) or not config_path:
            raise InvalidArgument(f"{where}.Config: required")
        if not isinstance(layers, list) or not all(isinstance(p, str) for p in layers):
            raise InvalidArgument(f"{where}.Layers: expected an array of paths")
        config_raw = files.read(config_path)
        config = parse_image_config(config_raw, f"{where} config {config_path}")
        m = _HEX_JSON.fullmatch(config_path)
        if m and m.group(1) != config.digest.hex:
            raise InvalidArgument(f"{where}: config {config_path} does not match its name "
                                  f"(its digest is {config.digest})")
        if len(layers) != len(config.diff_ids):
            raise InvalidArgument(f"{where}: {len(layers)} layers but the config lists "
                                  f"{len(config.diff_ids)} diff_ids")
        descs = [_legacy_layer(stores, files, p, d, lease_id, where)
                 for p, d in zip(layers, config.diff_ids, strict=True)]
        config_desc = store_document(stores, lease_id, mt.DOCKER_CONFIG, config_raw)
        manifest: Manifest = new_manifest(config_desc, descs, media_type=mt.DOCKER_MANIFEST)
        target = store_document(stores, lease_id, manifest.media_type, manifest.raw)
        names = _repo_tags(entry, i)
        if config.digest in plans:
            plans[config.digest].names.extend(n for n in names
                                              if n not in plans[config.digest].names)
        else:
            plans[config.digest] = _Plan(Image(config.digest, target, manifest, config, ()),
                                         names)
    return list(plans.values())
