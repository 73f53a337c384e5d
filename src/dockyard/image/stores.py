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
(half-loaded blobs, half-unpacked snapshots). Partial ingests are kept as containerd keeps
them: a pull's (``pull-<digest>``, see ``image.fetch``) idle for less than a day stays for
the next pull to resume with ``Range``, even across a daemon restart; older ones, those of
other writers (a load cannot resume) and those whose header is unreadable are removed.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from typing import NamedTuple

from dockyard.content import ContentStore, LocalContentStore
from dockyard.errors import InvalidArgument
from dockyard.metadata import DEFAULT_INGEST_AGE, GcResult, MetadataStore
from dockyard.snapshots import Snapshotter
from dockyard.snapshots.plugins import DEFAULT, SNAPSHOTTERS

log = logging.getLogger(__name__)

RESUMABLE_INGEST = re.compile(r"pull-sha256:[0-9a-f]{64}")
"""The refs of the ingests a pull resumes (``image.fetch.ingest_ref``)."""


def resumable(ref: str) -> bool:
    return RESUMABLE_INGEST.fullmatch(ref) is not None


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
             recover_ingest_age: float = DEFAULT_INGEST_AGE) -> Stores:
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

    def recover(self, ingest_age: float = DEFAULT_INGEST_AGE) -> GcResult:
        """Clean what a crash left: unknown snapshot directories, orphaned leases, and then
        everything only they protected (a garbage collection); the idle ingests but those
        a pull can resume that are younger than ``ingest_age``."""
        removed_dirs = self.snapshotter.cleanup()
        dropped = self.meta.leases.drop_orphans()
        if removed_dirs or dropped:
            log.info("recovery: %d snapshot directories removed, leases dropped: %s",
                     len(removed_dirs), ", ".join(dropped) or "none")
        result = self.collect(ingest_age=ingest_age)
        gone = self.content.clean_stale_ingests(ingest_age, keep=resumable)
        return result._replace(ingests=result.ingests + tuple(gone)) if gone else result

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
