"""The daemon's image operations: the Engine API's image backend over ``ImageService``.

Every operation runs the blocking image service in a worker thread. Around it, this
module adds what only the daemon knows:

- who uses an image: ``rmi`` asks the container service which containers use the image and
  which of them run (moby's conflicts: "cannot be forced" for a running one);
- request bodies and responses as streams (``pipes``): ``import`` and ``load`` read the
  body as it arrives, ``save`` writes the archive as it is made;
- image events (Docker's actions and attributes: ``tag``, ``untag``, ``delete``,
  ``import``, ``load``, ``save``, ``prune``), all sent through ``_publish``.

``ImageCounter`` serves ``/info``'s image count.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any, BinaryIO, Protocol

from dockyard.daemon.containers.model import Container
from dockyard.daemon.pipes import AsyncSource, blocking_reader, stream_from_thread
from dockyard.image import DeleteItem, Image, ImageService, ImageSummary, LoadedImage
from dockyard.image import PruneReport as Report
from dockyard.image.naming import ImageUser, UsersOf
from dockyard.image.resolve import normalize_name, tag_name
from dockyard.oci import reference
from dockyard.oci.digest import Digest
from dockyard.oci.platform import Platform

log = logging.getLogger(__name__)

ImageEventSink = Callable[[str, str, Mapping[str, str]], object]
"""``sink(action, actor_id, attributes)``: an image event (the event bus, with its type
bound to ``image``)."""


class ContainerLister(Protocol):
    async def list(self, *, all: bool = False, limit: int = -1,
                   filters: Mapping[str, Sequence[str]] | None = None) -> list[Container]: ...

    async def settle(self) -> None:
        """Wait for the background cleanup of removed containers (their leases hold
        their images until it ends)."""


class ImportOptions(Protocol):
    """The fields of an import request (``apitypes.images.ImportRequest``)."""

    @property
    def repository(self) -> str: ...

    @property
    def tag(self) -> str: ...

    @property
    def changes(self) -> tuple[str, ...]: ...

    @property
    def message(self) -> str: ...

    @property
    def platform(self) -> Platform | None: ...


class BaseOptions(Protocol):
    """Which base image to make (``apitypes.images.BaseRequest``)."""

    @property
    def kind(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def suite(self) -> str: ...


class ImageCounter:
    """``SystemService``'s ``ImageCounts`` over the image service (blocking)."""

    def __init__(self, images: ImageService) -> None:
        self.images = images

    def count(self) -> int:
        return len(self.images.images())


class DaemonImages:
    """The image backend of the API (``api.images.ImageBackend``)."""

    def __init__(self, images: ImageService, containers: ContainerLister,
                 events: ImageEventSink | None = None) -> None:
        self.images = images
        self.containers = containers
        self.events = events

    # ------------------------------------------------------------------ events

    def _publish(self, action: str, image_id: str, name: str = "",
                 labels: Mapping[str, str] | None = None) -> None:
        """The one place image events leave (moby's ``LogImageEvent``: the image's labels,
        then ``name``, the reference acted on)."""
        if self.events is None:
            return
        attributes = dict(labels or {})
        if name:
            attributes["name"] = name
        self.events(action, image_id, attributes)

    def _publish_named(self, action: str, image: Image, names: Sequence[str]) -> None:
        labels = image.config.config.labels
        for name in names or (str(image.id),):
            self._publish(action, str(image.id), name, labels)

    # ------------------------------------------------------------------ reading

    async def list_images(self, *, filters: Mapping[str, Sequence[str]],
                   shared_size: bool = False) -> list[ImageSummary]:
        return await asyncio.to_thread(self.images.images, filters, shared_size=shared_size)

    async def inspect(self, name: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.images.inspect, name)

    async def history(self, name: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.images.history, name)

    # ------------------------------------------------------------------ names

    async def tag(self, name: str, repository: str, tag: str) -> None:
        target = tag_name(repository, tag)
        image = await asyncio.to_thread(self.images.tag, name, target)
        self._publish("tag", str(image.id), _familiar(target), image.config.config.labels)

    async def _users(self) -> UsersOf:
        """A snapshot of which containers use which image (the leases cover a container
        created after it)."""
        by_image: dict[str, list[ImageUser]] = {}
        await self.containers.settle()
        for c in await self.containers.list(all=True):
            by_image.setdefault(c.image_id, []).append(ImageUser(c.id, c.state.running))

        def users_of(image_id: Digest) -> list[ImageUser]:
            return by_image.get(str(image_id), [])
        return users_of

    async def remove(self, name: str, *, force: bool = False) -> list[DeleteItem]:
        users_of = await self._users()

        def work() -> tuple[Image, list[DeleteItem]]:
            image = self.images.get(name)
            return image, self.images.remove(name, force=force, users_of=users_of)

        image, items = await asyncio.to_thread(work)
        for item in items:
            if item.untagged:
                self._publish("untag", str(image.id), str(image.id))
            elif item.deleted == str(image.id):
                self._publish("delete", str(image.id), str(image.id))
        return items

    async def prune(self, filters: Mapping[str, Sequence[str]]) -> Report:
        """``docker image prune``: dangling images, or every unused one with the filter
        ``dangling=false`` (``-a``)."""
        await self.containers.settle()

        def work() -> tuple[set[str], Report]:
            before = {str(s.id) for s in self.images.images()}
            return before, self.images.prune(filters=filters)

        before, report = await asyncio.to_thread(work)
        for item in report.deleted:
            if item.deleted in before:
                self._publish("delete", item.deleted, item.deleted)
        self._publish("prune", "", "", {"reclaimed": str(report.space_reclaimed)})
        return report

    # ------------------------------------------------------------------ streams

    async def import_image(self, body: AsyncSource, req: ImportOptions) -> str:
        names = [tag_name(req.repository, req.tag)] if req.repository else []
        loop = asyncio.get_running_loop()
        stream = blocking_reader(body, loop)
        image = await asyncio.to_thread(
            self.images.import_image, stream, repository=req.repository, tag=req.tag,
            changes=req.changes, message=req.message, platform=req.platform)
        for name in names:
            self._publish("tag", str(image.id), _familiar(name), image.config.config.labels)
        self._publish("import", str(image.id), str(image.id), image.config.config.labels)
        return str(image.id)

    async def load(self, body: AsyncSource) -> list[LoadedImage]:
        stream = blocking_reader(body, asyncio.get_running_loop())
        loaded = await asyncio.to_thread(self.images.load, stream)
        for image in loaded:
            self._publish("load", str(image.id), str(image.id))
        return loaded

    async def save(self, names: Sequence[str]) -> AsyncGenerator[bytes, None]:
        refs = list(names)
        images = await asyncio.to_thread(lambda: [self.images.get(n) for n in refs])

        def work(out: BinaryIO) -> None:
            self.images.save(refs, out)

        return self._saved(stream_from_thread(work), images)

    async def _saved(self, chunks: AsyncGenerator[bytes, None], images: Sequence[Image]
                     ) -> AsyncGenerator[bytes, None]:
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()
        for image_id in dict.fromkeys(str(i.id) for i in images):
            self._publish("save", image_id, image_id)

    async def make_base(self, req: BaseOptions) -> LoadedImage:
        """Make an offline base image (``busybox`` or ``debian``), named ``req.name`` or
        the default."""
        if req.kind == "busybox":
            name = normalize_name(req.name or "busybox:latest")
            image = await asyncio.to_thread(self.images.make_busybox, name)
        else:
            name = normalize_name(req.name or f"debian:{req.suite}")
            image = await asyncio.to_thread(self.images.make_debian, req.suite, name)
        self._publish("tag", str(image.id), _familiar(name), image.config.config.labels)
        self._publish("import", str(image.id), str(image.id), image.config.config.labels)
        return LoadedImage(image.id, (name,))


def _familiar(name: str) -> str:
    return reference.familiar_string(reference.parse(name))
