"""The three stores an image service works on, opened under one data root, and recovery.

Under ``<data-root>`` (each part's own layout is drawn in its owner)::

    <data-root>/
    ├── content/               LocalContentStore (dockyard.content.layout)
    ├── snapshots/<driver>/    the snapshotter (dockyard.snapshots.storage)
    ├── metadata.db            MetadataStore (dockyard.metadata.db)
    └── tmp/                   scratch of load/save/import (emptied on open)

``Stores.open`` creates what is missing and *recovers* from a crash before handing the
stores out: the snapshotter drops directories its records do not know, the leases of
processes that are gone are dropped, and a garbage collection sweeps what they protected
(half-loaded blobs, half-unpacked snapshots) along with ingests nobody is writing.
"""

from __future__ import annotations

import logging
import os
import shutil
from typing import NamedTuple

from dockyard.content import ContentStore, LocalContentStore
from dockyard.errors import InvalidArgument
from dockyard.metadata import GcResult, MetadataStore
from dockyard.snapshots import Snapshotter
from dockyard.snapshots.plugins import DEFAULT, SNAPSHOTTERS

log = logging.getLogger(__name__)


class Stores(NamedTuple):
    """Content, one snapshotter (and its name) and the metadata, under one root."""

    root: str
    content: ContentStore
    snapshotter: Snapshotter
    snapshotter_name: str
    meta: MetadataStore

    @property
    def tmp(self) -> str:
        return os.path.join(self.root, "tmp")

    @classmethod
    def open(cls, root: str, snapshotter: str = DEFAULT, *, recover: bool = True,
             recover_ingest_age: float = 0.0) -> Stores:
        """Open (creating) the stores under ``root``; see the module docstring."""
        root = os.path.abspath(root)
        factory = SNAPSHOTTERS.get(snapshotter)
        if factory is None:
            raise InvalidArgument(f"unknown snapshotter {snapshotter!r} "
                                  f"(known: {', '.join(sorted(SNAPSHOTTERS))})")
        os.makedirs(root, mode=0o711, exist_ok=True)
        content = LocalContentStore(os.path.join(root, "content"))
        meta = MetadataStore(os.path.join(root, "metadata.db"))
        try:
            sn = factory(os.path.join(root, "snapshots", snapshotter))
        except BaseException:
            meta.close()
            raise
        stores = cls(root, content, sn, snapshotter, meta)
        try:
            tmp = stores.tmp
            if os.path.isdir(tmp) and recover:
                shutil.rmtree(tmp)
            os.makedirs(tmp, mode=0o700, exist_ok=True)
            if recover:
                stores.recover(recover_ingest_age)
        except BaseException:
            stores.close()
            raise
        return stores

    def recover(self, ingest_age: float = 0.0) -> GcResult:
        """Clean what a crash left: unknown snapshot directories, orphaned leases, and then
        everything only they protected (a garbage collection)."""
        removed_dirs = self.snapshotter.cleanup()
        dropped = self.meta.leases.drop_orphans()
        if removed_dirs or dropped:
            log.info("recovery: %d snapshot directories removed, leases dropped: %s",
                     len(removed_dirs), ", ".join(dropped) or "none")
        return self.collect(ingest_age=ingest_age)

    def collect(self, ingest_age: float | None = None) -> GcResult:
        """A garbage collection of content and snapshots (``metadata.gc``)."""
        if ingest_age is None:
            return self.meta.collect(self.content, {self.snapshotter_name: self.snapshotter})
        return self.meta.collect(self.content, {self.snapshotter_name: self.snapshotter},
                                 ingest_age=ingest_age)

    def close(self) -> None:
        try:
            self.snapshotter.close()
        finally:
            self.meta.close()
