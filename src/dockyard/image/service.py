"""``ImageService``: the image operations the daemon serves, as one plain synchronous API.

It is a thin facade: each method resolves its arguments and calls one function of the
module that owns the noun (``create``, ``naming``, ``query``, ``load``, ``save``,
``unpack``, ``base``). The daemon calls it with ``asyncio.to_thread``; every store below
is thread-safe.

Lifecycle: ``ImageService.open(data_root, snapshotter)`` (recovers from a crash, see
``stores``) → operations → ``close()``. Containers protect their image with ``hold``
(a lease naming the image and its content) and give it back with ``release``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, BinaryIO

from dockyard.archive import Compression
from dockyard.distribution import RegistryAuth, RegistryConfig
from dockyard.metadata import GcResult, Lease, Resource
from dockyard.oci.manifest import ContainerConfig
from dockyard.oci.platform import Platform
from dockyard.snapshots.plugins import DEFAULT

from . import base, commit, create, load, naming, pull, push, query, save
from .model import DeleteItem, Image, ImageSummary, LoadedImage, PruneReport, UnpackResult
from .progress import ProgressFn, PullResult, PushResult
from .resolve import Parsed, resolve
from .stores import Stores
from .unpack import is_unpacked, unpack

log = logging.getLogger(__name__)


def freed_layers(result: GcResult) -> list[DeleteItem]:
    """The layer snapshots (named by chain id) a collection removed, as ``Deleted`` items."""
    out = []
    for name in result.snapshots:
        key = name.split("/", 1)[-1]
        if key.startswith("sha256:"):
            out.append(DeleteItem(deleted=key))
    return out


class ImageService:
    """Images over one data root (content, a snapshotter, metadata)."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self._parsed = Parsed()

    @classmethod
    def open(cls, root: str, snapshotter: str = DEFAULT, *, recover: bool = True
             ) -> ImageService:
        return cls(Stores.open(root, snapshotter, recover=recover))

    def close(self) -> None:
        self.stores.close()

    def __enter__(self) -> ImageService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------

    def get(self, ref: str) -> Image:
        """The image a name, an ID or an ID prefix names (``NotFound``)."""
        return resolve(self.stores.content, self.stores.meta, ref, self._parsed)

    def images(self, filters: Mapping[str, Sequence[str]] | None = None, *,
               shared_size: bool = False) -> list[ImageSummary]:
        """``docker images`` (filters: dangling, reference, label, before, since, until);
        ``shared_size``: count the bytes of layers other images share."""
        return query.list_images(self.stores, filters, shared_size=shared_size)

    def inspect(self, ref: str) -> dict[str, Any]:
        return query.inspect(self.stores, self.get(ref))

    def history(self, ref: str) -> list[dict[str, Any]]:
        return query.history(self.stores, self.get(ref))

    def size(self, ref: str) -> int:
        return query.image_size(self.stores, self.get(ref))

    # -- making ----------------------------------------------------------------------------

    def unpack(self, ref: str | Image) -> UnpackResult:
        """Every layer of the image (a reference, or the ``Image`` already resolved) a
        committed snapshot."""
        return unpack(self.stores, ref if isinstance(ref, Image) else self.get(ref))

    def is_unpacked(self, ref: str) -> bool:
        return is_unpacked(self.stores, self.get(ref))

    def commit(self, snapshot_key: str, parent: Image, config: ContainerConfig, *,
               names: Sequence[str] = (), author: str = "", comment: str = "",
               created_by: str = "", container_id: str = "",
               container_fields: Mapping[str, Any] | None = None) -> Image:
        """``docker commit``: a child of ``parent`` adding the changes of the active
        snapshot ``snapshot_key`` (quiescent while this runs)."""
        return commit.commit_snapshot(self.stores, snapshot_key, parent, config, names=names,
                                      author=author, comment=comment, created_by=created_by,
                                      container_id=container_id,
                                      container_fields=container_fields)

    def import_image(self, stream: BinaryIO, *, repository: str = "", tag: str = "",
                     changes: Sequence[str] = (), message: str = "",
                     platform: Platform | None = None, source: str = "-",
                     created: str | None = None) -> Image:
        """``docker import`` (``created``: an RFC 3339 time instead of now)."""
        return create.import_rootfs(self.stores, stream, repository=repository, tag=tag,
                                    changes=changes, message=message, platform=platform,
                                    source=source, created=created)

    def load(self, stream: BinaryIO) -> list[LoadedImage]:
        """``docker load``."""
        return load.load(self.stores, stream)

    def save(self, refs: Sequence[str], out: BinaryIO, *,
             compression: Compression = Compression.NONE) -> None:
        """``docker save``."""
        save.save(self.stores, refs, out, compression=compression)

    def make_busybox(self, name: str = "busybox:latest") -> Image:
        return base.make_busybox_image(self.stores, name)

    def make_debian(self, suite: str = "bookworm", name: str = "") -> Image:
        return base.make_debian_image(self.stores, suite, name)

    # -- registries ------------------------------------------------------------------------

    def pull(self, ref: str, *, auth: RegistryAuth | None = None, platform: str = "",
             progress: ProgressFn | None = None, config: RegistryConfig | None = None,
             cancel: threading.Event | None = None) -> PullResult:
        """``docker pull`` (blocking: run it in a thread); see ``pull.pull``."""
        return pull.pull(self.stores, ref, auth=auth, platform=platform, progress=progress,
                         config=config, cancel=cancel)

    def distribution_inspect(self, ref: str, *, auth: RegistryAuth | None = None,
                             config: RegistryConfig | None = None) -> dict[str, Any]:
        """``GET /distribution/{name}/json`` (blocking); see ``pull.distribution_inspect``."""
        return pull.distribution_inspect(ref, auth=auth, config=config)

    def remote_tags(self, ref: str, *, auth: RegistryAuth | None = None,
                    config: RegistryConfig | None = None) -> list[str]:
        """The tags of ``ref``'s repository on its registry (``docker pull -a``)."""
        return pull.remote_tags(ref, auth=auth, config=config)

    def push(self, ref: str, *, auth: RegistryAuth | None = None,
             progress: ProgressFn | None = None, config: RegistryConfig | None = None,
             cancel: threading.Event | None = None) -> PushResult:
        """``docker push`` of one tag (blocking); see ``push.push``."""
        return push.push(self.stores, ref, auth=auth, progress=progress, config=config,
                         cancel=cancel)

    # -- naming and removing -------------------------------------------------------------

    def tag(self, source: str, target: str, tag: str = "") -> Image:
        return naming.tag(self.stores, source, target, tag)

    def remove(self, ref: str, *, force: bool = False, collect: bool = True,
               users_of: naming.UsersOf | None = None) -> list[DeleteItem]:
        """``docker rmi [-f]``; a garbage collection follows when an image was deleted, and
        the layers it freed are listed as Docker lists them (``Deleted: <chain id>``).
        ``users_of``: the containers using an image (default: the leases tell)."""
        items = naming.remove(self.stores, ref, force=force, users_of=users_of)
        if collect and any(i.deleted for i in items):
            items += freed_layers(self.collect())
        return items

    def prune(self, *, all_unused: bool = False,
              filters: Mapping[str, Sequence[str]] | None = None) -> PruneReport:
        """``docker image prune [-a]``: what was deleted and the bytes the GC freed."""
        items = naming.prune(self.stores, all_unused=all_unused, filters=filters)
        result = self.collect()
        return PruneReport(tuple(items) + tuple(freed_layers(result)), result.reclaimed)

    def collect(self) -> GcResult:
        return self.stores.collect()

    # -- use by containers ---------------------------------------------------------------

    def hold(self, lease_id: str, ref: str | Image, *, hard: bool = False,
             labels: Mapping[str, str] | None = None,
             also: Iterable[Resource] = ()) -> Lease:
        """Protect the image (a reference, or the ``Image`` already resolved) and its
        content for a container: ``rmi`` then refuses it unless forced (never, with
        ``hard``, for a running container). ``also``: more resources of the same lease
        (the container's snapshot), added in the same transaction."""
        image = ref if isinstance(ref, Image) else self.get(ref)
        leases = self.stores.meta.leases
        lease = leases.create(lease_id, labels=labels, hard=hard)
        leases.add_all(lease.id, (Resource.image(image.id),
                                  Resource.content(image.target.digest),
                                  Resource.content(image.manifest.digest), *also))
        return lease

    def release(self, lease_id: str) -> None:
        self.stores.meta.leases.delete(lease_id)
