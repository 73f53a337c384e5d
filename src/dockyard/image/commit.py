"""``docker commit``: a new image from a container's changes (moby's ``CommitImage`` and
``image.NewChildImage``).

The container's active snapshot is diffed against its parent (``snapshots.diffs``) into a
new layer blob, stored *uncompressed* as Docker's own layer store keeps them (no gzip pass
over the data: the commit is as fast as a copy; a push may compress). A diff that is the
empty tar adds no layer, only a history entry marked ``empty_layer``, as moby does.

The new layer's snapshot is made by copying the container's upper directory
(``archive.treecopy``, the kernel moving the bytes), not by applying the blob just
written: the same tree, without reading, hashing and parsing it all again.

The new config is the parent's document (unknown fields kept) with the container's config
(changes and override applied by the caller), ``created``, ``author``, ``comment``,
``container``, the new diff_id appended to ``rootfs`` and one history entry whose
``created_by`` is the container's command. Manifest and media types follow the parent: a
Docker schema2 parent gives a Docker schema2 child, anything else OCI. The new image's
records carry the parent's ID (``PARENT_LABEL``), which inspect shows as ``Parent``.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO, cast

from dockyard.archive import DiffMode
from dockyard.archive.treecopy import copy_tree
from dockyard.errors import AlreadyExists
from dockyard.metadata import LayerSnapshot, Resource
from dockyard.oci import mediatypes as mt
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest, parse_digest
from dockyard.oci.manifest import ContainerConfig, canonical_json, chain_id
from dockyard.snapshots import layer_dirs
from dockyard.snapshots.diffs import write_snapshot_diff

from .create import _commit_leased, _WriterFile, commit_image
from .model import Image
from .stores import Stores
from .times import format_time
from .unpack import snapshot_exists

log = logging.getLogger(__name__)

PARENT_LABEL = "org.mobyproject.image.parent"
"""The label of a committed image's records naming the image its container ran (moby's
``imageLabelClassicBuilderParent``): ``Parent`` in ``docker image inspect``."""

EMPTY_LAYER_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
"""The diff_id of a tar holding nothing (two zero blocks)."""


def _docker_types(parent: Image) -> bool:
    return parent.manifest.media_type == mt.DOCKER_MANIFEST


def store_snapshot_layer(stores: Stores, lease_id: str, key: str, *,
                         media_type: str) -> tuple[Descriptor, str]:
    """The diff of active snapshot ``key`` as an uncompressed layer blob; (descriptor,
    diff_id). Uncompressed, the blob's digest is its diff_id: the tar goes straight into
    the content writer."""
    with stores.content.writer(f"commit-{lease_id}-{secrets.token_hex(4)}") as w:
        w.truncate(0)
        result = write_snapshot_diff(stores.snapshotter, key, cast(BinaryIO, _WriterFile(w)),
                                     scratch=stores.tmp)
        _commit_leased(stores, lease_id, w, result.size, result.diff_id)
    return Descriptor(media_type, result.diff_id, result.size), str(result.diff_id)


def snapshot_from_upper(stores: Stores, lease_id: str, key: str, layer: Descriptor,
                        diff_id: Digest, parent: Image) -> bool:
    """Make the new layer's committed snapshot by copying the container's upper directory
    (``archive.treecopy``) rather than applying the blob just written (the unpack then
    finds it); False when the snapshotter does not keep an overlay upper directory."""
    sn = stores.snapshotter
    mounts = sn.mounts(key)
    if sn.diff_mode is not DiffMode.OVERLAY or not mounts or mounts[0].type != "overlay":
        return False
    upper = layer_dirs(mounts).upper
    below = parent.config.chain_id()
    chain = chain_id([*parent.config.diff_ids, diff_id])
    name = stores.snapshotter_name
    stores.meta.leases.add(lease_id, Resource.snapshot(name, str(chain)))
    if snapshot_exists(stores, str(chain)):
        return True
    work = f"extract-{secrets.token_hex(6)}-{chain.hex[:12]}"
    stores.meta.leases.add(lease_id, Resource.snapshot(name, work))
    target = sn.prepare(work, None if below is None else str(below))
    committed = False
    try:
        size = copy_tree(upper, layer_dirs(target).upper)
        try:
            sn.commit(str(chain), work)
            committed = True
        except AlreadyExists:
            log.debug("snapshot %s was committed meanwhile", chain)
    finally:
        if not committed:
            sn.remove(work)
        stores.meta.leases.remove(lease_id, Resource.snapshot(name, work))
    if committed:
        stores.meta.layers.record(LayerSnapshot(name, chain, diff_id, below, layer.digest,
                                                size))
    return True


def commit_snapshot(stores: Stores, key: str, parent: Image, config: ContainerConfig, *,
                    names: Sequence[str] = (), author: str = "", comment: str = "",
                    created_by: str = "", container_id: str = "",
                    created: str | None = None,
                    container_fields: Mapping[str, Any] | None = None) -> Image:
    """A child image of ``parent`` adding the changes of active snapshot ``key`` (the
    snapshot must not change meanwhile: the caller pauses or stops the container).
    ``container_fields``: the container-only keys moby's committed config keeps
    (``Hostname``, ``Image``, ...), written before the image config's own."""
    docker = _docker_types(parent)
    when = created or format_time()
    with stores.meta.leases.temporary("commit") as lease:
        layer, diff_id = store_snapshot_layer(
            stores, lease.id, key, media_type=mt.DOCKER_LAYER if docker else mt.OCI_LAYER)
        empty = diff_id == EMPTY_LAYER_DIFF_ID
        doc: dict[str, Any] = json.loads(parent.config.raw)
        # moby's merge leaves Labels a map, never null: {} when nothing set one.
        doc["config"] = {**(container_fields or {}), "Labels": {}, **config.to_json()}
        doc["created"] = when
        doc.pop("author", None)
        doc.pop("comment", None)
        if author:
            doc["author"] = author
        if comment:
            doc["comment"] = comment
        if container_id:
            doc["container"] = container_id
        history = list(doc.get("history") or [])
        entry: dict[str, Any] = {"created": when}
        if author:
            entry["author"] = author
        if created_by:
            entry["created_by"] = created_by
        if comment:
            entry["comment"] = comment
        if empty:
            entry["empty_layer"] = True
        history.append(entry)
        doc["history"] = history
        diff_ids = [str(d) for d in parent.config.diff_ids]
        layers = list(parent.manifest.layers)
        if not empty:
            diff_ids.append(diff_id)
            layers.append(layer)
        doc["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
        if not empty:
            snapshot_from_upper(stores, lease.id, key, layer, parse_digest(diff_id), parent)
        image = commit_image(
            stores, lease.id, canonical_json(doc), layers, list(names),
            config_media_type=mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG,
            manifest_media_type=mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST,
            labels={PARENT_LABEL: str(parent.id)})
    log.info("committed %s as image %s (%s)", key[:12], image.id.short(),
             "no new layer" if empty else f"layer {layer.digest.short()}, {layer.size} bytes")
    return image
