"""``docker commit``: a new image from a container's changes (moby's ``CommitImage`` and
``image.NewChildImage``).

The container's active snapshot is diffed against its parent (``snapshots.diffs``) into a
new layer blob, stored *uncompressed* as Docker's own layer store keeps them (no gzip pass
over the data: the commit is as fast as a copy; a push may compress). A diff that is the
empty tar adds no layer, only a history entry marked ``empty_layer``, as moby does.

The new layer's snapshot is made by copying the container's upper directory
(``archive.treecopy``, the kernel moving the bytes), not by applying the blob just
written: the same tree, without reading, hashing and parsing it all again; the copy runs
beside the writing of the blob (``UpperCopy``).

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
import threading
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


class UpperCopy:
    """The new layer's snapshot made by copying the container's upper directory
    (``archive.treecopy``) rather than applying the blob just written (the unpack then
    finds it). The copy runs in a thread *while* the blob is written (both only read the
    upper directory, and on two cores the kernel's copying and the tar's hashing overlap,
    as dockerd's do): into a working snapshot first, committed under its chain ID once
    the diff_id is known. ``start`` gives None when the snapshotter keeps no overlay upper
    directory."""

    def __init__(self, stores: Stores, lease_id: str, work: str, upper: str,
                 target: str, below: Digest | None) -> None:
        self.stores, self.lease_id, self.work, self.below = stores, lease_id, work, below
        self._size = 0
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._copy, args=(upper, target),
                                        name="commit-copy", daemon=True)
        self._thread.start()

    @classmethod
    def start(cls, stores: Stores, lease_id: str, key: str, parent: Image
              ) -> UpperCopy | None:
        sn = stores.snapshotter
        mounts = sn.mounts(key)
        if sn.diff_mode is not DiffMode.OVERLAY or not mounts or mounts[0].type != "overlay":
            return None
        below = parent.config.chain_id()
        work = f"extract-{secrets.token_hex(8)}"
        stores.meta.leases.add(lease_id, Resource.snapshot(stores.snapshotter_name, work))
        target = sn.prepare(work, None if below is None else str(below))
        return cls(stores, lease_id, work, layer_dirs(mounts).upper,
                   layer_dirs(target).upper, below)

    def _copy(self, upper: str, target: str) -> None:
        try:
            self._size = copy_tree(upper, target)
        except BaseException as e:  # re-raised by finish()
            self._error = e

    def finish(self, parent: Image, layer: Descriptor, diff_id: Digest) -> None:
        """Wait for the copy and commit it as the snapshot of ``parent``'s chain plus
        ``diff_id`` (unless that snapshot exists already); the copy's error, if any."""
        self._thread.join()
        sn, name = self.stores.snapshotter, self.stores.snapshotter_name
        committed = False
        try:
            if self._error is not None:
                raise self._error
            chain = chain_id([*parent.config.diff_ids, diff_id])
            self.stores.meta.leases.add(self.lease_id, Resource.snapshot(name, str(chain)))
            if snapshot_exists(self.stores, str(chain)):
                return
            try:
                sn.commit(str(chain), self.work)
                committed = True
            except AlreadyExists:
                log.debug("snapshot %s was committed meanwhile", chain)
                return
            self.stores.meta.layers.record(LayerSnapshot(name, chain, diff_id, self.below,
                                                         layer.digest, self._size))
        finally:
            if not committed:
                sn.remove(self.work)
            self.stores.meta.leases.remove(self.lease_id, Resource.snapshot(name, self.work))

    def discard(self) -> None:
        """Wait for the copy and remove it (the commit failed, or adds no layer)."""
        self._thread.join()
        sn, name = self.stores.snapshotter, self.stores.snapshotter_name
        sn.remove(self.work)
        self.stores.meta.leases.remove(self.lease_id, Resource.snapshot(name, self.work))


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
        copy = UpperCopy.start(stores, lease.id, key, parent)
        try:
            layer, diff_id = store_snapshot_layer(
                stores, lease.id, key, media_type=mt.DOCKER_LAYER if docker else mt.OCI_LAYER)
        except BaseException:
            if copy is not None:
                copy.discard()
            raise
        empty = diff_id == EMPTY_LAYER_DIFF_ID
        if copy is not None:
            if empty:
                copy.discard()
            else:
                copy.finish(parent, layer, parse_digest(diff_id))
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
        image = commit_image(
            stores, lease.id, canonical_json(doc), layers, list(names),
            config_media_type=mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG,
            manifest_media_type=mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST,
            labels={PARENT_LABEL: str(parent.id)})
    log.info("committed %s as image %s (%s)", key[:12], image.id.short(),
             "no new layer" if empty else f"layer {layer.digest.short()}, {layer.size} bytes")
    return image
