"""A container's root filesystem: an active snapshot of its image, mounted while it runs.

Lifecycle (all blocking; the service calls it from worker threads)::

    prepare(id, image)   create: lease "container-<id>" holding the image and the snapshot,
                         the image unpacked (layers as committed snapshots), then an active
                         snapshot keyed by the container id on top of the image's chain id
    mount(id, target)    start: the snapshot's mounts at <bundle>/rootfs, over Docker's init
                         layer (``initlayer``); ``before_mount`` first (a preparation of
                         the container is torn down: ``prepare``)
    unmount(target)      exit: unmounted (the snapshot keeps the container's changes)
    remove(id)           rm: the snapshot removed, the lease deleted (the image may go)

The lease is taken *before* the snapshot is made, so a garbage collection running
meanwhile never sweeps it; recovery deletes the leases and snapshots of containers that
have no record (a create that died half-way).
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable

from dockyard.daemon.containers.initlayer import InitLayers
from dockyard.errors import DockyardError, NotFound
from dockyard.image import Image, ImageService
from dockyard.metadata import Resource
from dockyard.snapshots import Kind
from dockyard.snapshots.mount import mount_all, unmount

log = logging.getLogger(__name__)

LEASE_PREFIX = "container-"


def lease_id(container_id: str) -> str:
    return LEASE_PREFIX + container_id


class RootfsManager:
    def __init__(self, images: ImageService, init_root: str | None = None) -> None:
        self.images = images
        self.init_layers = InitLayers(init_root) if init_root is not None else None
        """Docker's init layer under each container's layer (``initlayer``)."""
        self.before_mount: Callable[[str], None] | None = None
        """Called with the container's id before each mount (a worker thread)."""

    @property
    def driver(self) -> str:
        return self.images.stores.snapshotter_name

    def prepare(self, container_id: str, image: Image) -> None:
        stores = self.images.stores
        lease = lease_id(container_id)
        self.images.hold(lease, image, labels={"dockyard.container": container_id},
                         also=(Resource.snapshot(self.driver, container_id),))
        try:
            top = image.config.chain_id()
            labels = {"dockyard.container": "true"}
            try:
                # The image's top layer is a committed snapshot already (it was unpacked
                # before): the common case, without the unpack's look at every layer.
                stores.snapshotter.prepare(container_id, None if top is None else str(top),
                                           labels=labels)
            except NotFound:
                result = self.images.unpack(image)
                stores.snapshotter.prepare(
                    container_id, None if result.chain_id is None else str(result.chain_id),
                    labels=labels)
        except BaseException:
            self.images.release(lease)
            raise

    def mount(self, container_id: str, target: str) -> None:
        if self.before_mount is not None:
            self.before_mount(container_id)
        os.makedirs(target, mode=0o755, exist_ok=True)
        mounts = self.images.stores.snapshotter.mounts(container_id)
        if self.init_layers is not None:
            mounts = self.init_layers.over(mounts)
        mount_all(mounts, target)

    def unmount(self, target: str) -> None:
        try:
            unmount(target)
        except DockyardError as exc:
            log.warning("unmount %s: %s; detaching it", target, exc)
            unmount(target, detach=True)

    def is_mounted(self, target: str) -> bool:
        try:
            return os.path.ismount(target)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return False
            raise

    def usage(self, container_id: str) -> int:
        """Bytes used by the container's own layer (its changes to the image)."""
        return self.images.stores.snapshotter.usage(container_id).size_bytes

    def remove(self, container_id: str) -> None:
        try:
            self.images.stores.snapshotter.remove(container_id)
        except NotFound:
            log.info("snapshot of %s was already gone", container_id[:12])
        self.release(container_id)

    def release(self, container_id: str) -> None:
        try:
            self.images.release(lease_id(container_id))
        except NotFound:
            log.debug("no lease for %s", container_id[:12])

    def orphans(self, known: set[str]) -> tuple[list[str], list[str]]:
        """(active snapshots, container leases) of containers not in ``known``."""
        stores = self.images.stores
        snaps = [i.name for i in stores.snapshotter.walk()
                 if i.kind is Kind.ACTIVE and i.labels.get("dockyard.container") == "true"
                 and i.name not in known]
        leases = [lease.id for lease in stores.meta.leases.all()
                  if lease.id.startswith(LEASE_PREFIX)
                  and lease.id[len(LEASE_PREFIX):] not in known]
        return snaps, leases

    def collect(self) -> None:
        self.images.collect()
