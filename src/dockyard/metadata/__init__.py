"""The metadata store: image records, leases, unpacked layers, and garbage collection.

One SQLite database (schema drawn in ``db``) holds what the content store and the
snapshotters cannot know on their own: which names point at which images, which content
and snapshots are in use (``leases``), and which snapshot each layer was unpacked into
(``layers``). It owns garbage collection (``gc``): everything not reachable from an image
record or a lease is swept.

``MetadataStore(path)`` opens it; its tables are reached by noun: ``.images``, ``.leases``,
``.layers``; ``.collect(content, snapshotters)`` runs a collection.
"""

from __future__ import annotations

from collections.abc import Mapping

from .db import SCHEMA_VERSION, Database
from .gc import DEFAULT_INGEST_AGE, BlobStore, GcResult, SnapshotStore, collect
from .images import DANGLING_PREFIX, ImageRecord, Images, dangling_name, is_dangling
from .layers import Layers, LayerSnapshot
from .leases import HARD_LABEL, Lease, Leases, Resource, ResourceKind


class MetadataStore:
    """The metadata database and its tables. Thread-safe; ``close()`` when done."""

    def __init__(self, path: str, *, synchronous: str = "NORMAL") -> None:
        self.db = Database(path, synchronous=synchronous)
        self.images = Images(self.db)
        self.leases = Leases(self.db)
        self.layers = Layers(self.db)

    @property
    def path(self) -> str:
        return self.db.path

    def collect(self, content: BlobStore, snapshotters: Mapping[str, SnapshotStore], *,
                ingest_age: float = DEFAULT_INGEST_AGE) -> GcResult:
        """Garbage-collect ``content`` and ``snapshotters`` (see ``gc``)."""
        return collect(self.db, content, snapshotters, ingest_age=ingest_age)

    def close(self) -> None:
        self.db.close()


__all__ = [
    "DANGLING_PREFIX",
    "DEFAULT_INGEST_AGE",
    "HARD_LABEL",
    "SCHEMA_VERSION",
    "BlobStore",
    "Database",
    "GcResult",
    "ImageRecord",
    "Images",
    "LayerSnapshot",
    "Layers",
    "Lease",
    "Leases",
    "MetadataStore",
    "Resource",
    "ResourceKind",
    "SnapshotStore",
    "collect",
    "dangling_name",
    "is_dangling",
]
