"""Unpack an image's layers into committed snapshots named by chain id.

For layer ``i`` with diff_id ``D[i]`` the snapshot is ``chain_id(D[0..i])``; one that exists
already is skipped (layers are shared between images). A missing one is made as
containerd's unpacker does::

    key = "extract-<random>-<chain>"            (leased first, so GC leaves it alone)
    mounts = prepare(key, parent=chain_id(D[0..i-1]))
    apply_layer(blob, layer_dirs(mounts).upper, expected_diff_id=D[i])
    commit(chain_id(D[0..i]), key)              (AlreadyExists: another unpack won: fine)

A layer whose content does not hash to the config's diff_id is refused (``InvalidArgument``)
and its active snapshot removed. A crash leaves at most an ``extract-*`` snapshot held by a
dead process's lease: recovery removes it.
"""

from __future__ import annotations

import logging
import secrets

from dockyard.archive import apply_layer
from dockyard.errors import AlreadyExists, DockyardError, InvalidArgument, NotFound
from dockyard.metadata import LayerSnapshot, Resource
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest
from dockyard.oci.manifest import chain_ids
from dockyard.snapshots import Kind, layer_dirs

from .model import Image, UnpackResult
from .stores import Stores

log = logging.getLogger(__name__)


def snapshot_exists(stores: Stores, name: str) -> bool:
    try:
        info = stores.snapshotter.stat(name)
    except NotFound:
        return False
    return info.kind is Kind.COMMITTED


def is_unpacked(stores: Stores, image: Image) -> bool:
    top = image.config.chain_id()
    return top is None or snapshot_exists(stores, str(top))


def unpack(stores: Stores, image: Image, lease_id: str | None = None) -> UnpackResult:
    """Make sure every layer of ``image`` is a committed snapshot (see module docstring).

    ``lease_id``: a lease to hold the snapshots with (else a temporary one of this call).
    """
    layers = image.manifest.layers
    diff_ids = image.config.diff_ids
    if len(layers) != len(diff_ids):
        raise InvalidArgument(f"image {image.id.short()}: the manifest has {len(layers)} "
                              f"layers but the config {len(diff_ids)} diff_ids")
    for d in layers:
        if not mt.is_layer(d.media_type):
            raise InvalidArgument(f"image {image.id.short()}: {d.digest} has media type "
                                  f"{d.media_type!r}, not a layer dockyard can unpack")
    chains = chain_ids(diff_ids)
    if lease_id is not None:
        return _unpack(stores, image, chains, lease_id)
    with stores.meta.leases.temporary("unpack") as lease:
        return _unpack(stores, image, chains, lease.id)


def _unpack(stores: Stores, image: Image, chains: tuple[Digest, ...],
            lease_id: str) -> UnpackResult:
    name = stores.snapshotter_name
    done = skipped = 0
    parent: Digest | None = None
    for i, (layer, diff_id, chain) in enumerate(zip(image.manifest.layers,
                                                    image.config.diff_ids, chains,
                                                    strict=True)):
        stores.meta.leases.add(lease_id, Resource.snapshot(name, str(chain)))
        if snapshot_exists(stores, str(chain)):
            skipped += 1
            if stores.meta.layers.find(name, chain) is None:
                used = stores.snapshotter.usage(str(chain)).size_bytes
                stores.meta.layers.record(LayerSnapshot(name, chain, diff_id, parent,
                                                        layer.digest, used))
        else:
            stores.meta.leases.add(lease_id, Resource.content(layer.digest))
            size = _apply_one(stores, lease_id, layer.digest, diff_id, chain, parent, i)
            stores.meta.layers.record(LayerSnapshot(name, chain, diff_id, parent,
                                                    layer.digest, size))
            done += 1
        parent = chain
    return UnpackResult(chain_id=chains[-1] if chains else None, unpacked=done,
                        skipped=skipped)


def _apply_one(stores: Stores, lease_id: str, blob: Digest, diff_id: Digest, chain: Digest,
               parent: Digest | None, index: int) -> int:
    sn = stores.snapshotter
    key = f"extract-{secrets.token_hex(6)}-{chain.hex[:12]}"
    stores.meta.leases.add(lease_id, Resource.snapshot(stores.snapshotter_name, key))
    mounts = sn.prepare(key, None if parent is None else str(parent))
    committed = False
    try:
        dirs = layer_dirs(mounts)
        try:
            f = stores.content.open_blob(blob)
        except NotFound as e:
            raise NotFound(f"layer {index} ({blob}) is missing from the content store") from e
        with f:
            try:
                result = apply_layer(f, dirs.upper, whiteout_mode=dirs.whiteout_mode,
                                     parents=dirs.lowers, expected_diff_id=str(diff_id))
            except DockyardError as e:
                raise type(e)(f"layer {index} ({blob}): {e}") from e
        try:
            sn.commit(str(chain), key)
            committed = True
        except AlreadyExists:
            log.debug("snapshot %s was committed meanwhile by another unpack", chain)
    finally:
        if not committed:
            sn.remove(key)
        stores.meta.leases.remove(lease_id, Resource.snapshot(stores.snapshotter_name, key))
    log.debug("unpacked layer %d (%s) as %s: %d bytes", index, blob, chain,
              result.unpacked_size)
    return result.unpacked_size
