"""Disk use: ``GET /system/df`` and the sizes ``GET /containers/json?size=true`` shows.

What is counted, in Docker's fields (moby ``daemon/disk_usage.go``):

* ``LayersSize``: every image layer once (layers are shared by chain id), as unpacked;
* ``Images``: each image's ``Size`` (all its layers), ``SharedSize`` (the bytes of its
  layers another image has too) and ``Containers`` (how many containers use it);
* ``Containers``: ``SizeRw`` and ``SizeRootFs`` of each container (below);
* ``Volumes`` and ``BuildCache``: empty lists (dockyard has neither yet).

A container's ``SizeRw`` is its own writable layer (the snapshot's upper directory) **plus
its log files** (the json-file log and its rotated files): dockerd keeps logs outside the
layer and counts them nowhere, so ``docker system df`` hides what can be the largest
thing a container holds. Counting them in ``SizeRw`` keeps every client working (they
read only the standard fields) and makes the "reclaimable" figure of ``docker system df``
true: removing a stopped container frees its logs too. ``SizeRootFs`` is ``SizeRw`` plus
the image's size, as in Docker. ``docker ps -s`` shows the same two figures.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from typing import Protocol

from dockyard.daemon.containers import logs as logfiles
from dockyard.daemon.containers.model import Container
from dockyard.daemon.resourcetypes import ContainerSize
from dockyard.errors import DockyardError, NotFound
from dockyard.image import ImageService
from dockyard.image.model import ImageSummary
from dockyard.image.query import layer_sizes
from dockyard.image.resolve import all_images
from dockyard.oci.manifest import chain_ids

log = logging.getLogger(__name__)

def log_bytes(log_path: str) -> int:
    """The bytes of a container's json-file log, rotated files included."""
    total = 0
    if not log_path:
        return 0
    for p in logfiles.log_files(log_path):
        try:
            total += os.stat(p).st_size
        except FileNotFoundError:
            continue  # rotated away meanwhile
    return total


def layers_size(images: ImageService) -> int:
    """Every layer of every image once (by chain id)."""
    stores = images.stores
    seen: dict[str, int] = {}
    for image in all_images(stores.content, stores.meta):
        chains = chain_ids(image.config.diff_ids)
        for chain, size in zip(chains, layer_sizes(stores, image), strict=False):
            seen[str(chain)] = size
    return sum(seen.values())


def container_sizes(cs: Sequence[Container], layer_usage: Callable[[str], int],
                    image_size: Callable[[str], int]) -> list[ContainerSize]:
    """Blocking: walks each container's writable layer. ``layer_usage`` gives a
    container's own layer by id, ``image_size`` an image's size by id."""
    image_sizes: dict[str, int] = {}
    out = []
    for c in cs:
        try:
            own = layer_usage(c.id)
        except (NotFound, OSError) as exc:
            log.info("size of %s unknown: %s", c.short_id, exc)
            own = 0
        rw = own + log_bytes(c.log_path)
        if c.image_id not in image_sizes:
            try:
                image_sizes[c.image_id] = image_size(c.image_id)
            except DockyardError as exc:
                log.info("size of image %s unknown: %s", c.image_id[:19], exc)
                image_sizes[c.image_id] = 0
        out.append(ContainerSize(rw, rw + image_sizes[c.image_id]))
    return out


class ContainersWithSizes(Protocol):
    """What disk use needs of the container service (``ContainerService`` is one)."""

    async def sizes(self, cs: Sequence[Container]) -> Sequence[ContainerSize]: ...

    async def list(self, *, all: bool = False) -> list[Container]: ...


class DiskUsageService:
    """The daemon's ``/system/df`` backend: each kind is computed only when asked for."""

    def __init__(self, images: ImageService, containers: ContainersWithSizes) -> None:
        self.images = images
        self.containers = containers

    async def container_usage(self) -> list[tuple[Container, ContainerSize]]:
        """Every container with its sizes."""
        cs = await self.containers.list(all=True)
        sizes = await self.containers.sizes(cs)
        return list(zip(cs, sizes, strict=True))

    async def image_usage(self) -> tuple[int, list[ImageSummary]]:
        """``LayersSize`` and the images with ``SharedSize`` and ``Containers``."""
        def work() -> tuple[int, list[ImageSummary]]:
            return layers_size(self.images), self.images.images(shared_size=True)

        return await asyncio.to_thread(work)
