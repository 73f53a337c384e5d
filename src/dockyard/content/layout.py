"""The local content store's on-disk layout (schema version 1), and its paths.

::

    <data-root>/content/              LocalContentStore(root=<data-root>/content)
    ├── version                       "1": this layout's schema version
    ├── blobs/
    │   └── <alg>/                    sha256 | sha512
    │       └── <hex>                 a committed blob: complete, verified, mode 0444,
    │                                 mtime = commit time. Present only once committed.
    ├── labels/
    │   ├── lock                      flock(2)ed around every read-modify-write of labels
    │   └── <alg>/
    │       └── <hex>.json            {"key": "value", ...}: the blob's mutable labels,
    │                                 replaced atomically; its mtime is the blob's updated
    │                                 time. Absent: never labelled.
    └── ingest/
        ├── <sha256 of ref>/          one write in progress ("ingest"), named by a hash
        │   │                         of its ref so that any ref string is a safe name
        │   ├── lock                  flock(2)ed by the one writer of this ref (any process;
        │   │                         the kernel releases it if that process dies)
        │   ├── total                 expected size, when known            } written before
        │   ├── expected              expected digest, when known          } "ref", each
        │   ├── startedat             ISO 8601 UTC                         } atomically
        │   ├── updatedat             ISO 8601 UTC, written on close
        │   ├── ref                   the ref itself, written last: its presence marks a
        │   │                         complete header
        │   └── data                  the bytes written so far (renamed to blobs/ on commit)
        └── .trash-<name>-<random>/   an ingest being removed: renamed here first (so the
                                      name is free at once), then deleted; leftovers of a
                                      crash are deleted when the store is opened

Crash consistency: a blob appears in ``blobs/`` only by ``rename(2)`` of a fsynced, verified
``data`` file (then ``blobs/<alg>`` is fsynced), so after a crash a blob is either absent
or complete. A crash mid-write leaves an ingest that the next ``writer(ref)`` resumes
(re-hashing its data) or that ``clean_stale_ingests`` removes; a crash after the rename
leaves an ingest without ``data``, which resumes from zero or is cleaned likewise.

Labels live in sidecar files rather than in the metadata database so that the store is
complete on its own (and its conformance suite needs nothing else); if the metadata
store takes labels over later, this directory simply stays empty.
"""

from __future__ import annotations

import hashlib
import logging
import os

from dockyard.errors import FailedPrecondition
from dockyard.oci.digest import ALGORITHMS, Digest

from .files import read_text, remove_tree, write_atomic

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
TRASH_PREFIX = ".trash-"


class Layout:
    """Paths under one content store root (no I/O but ``init``)."""

    __slots__ = ("blobs", "ingest", "labels", "root")

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.blobs = os.path.join(self.root, "blobs")
        self.labels = os.path.join(self.root, "labels")
        self.ingest = os.path.join(self.root, "ingest")

    def blob_path(self, digest: Digest) -> str:
        return os.path.join(self.blobs, digest.algorithm, digest.hex)

    def labels_path(self, digest: Digest) -> str:
        return os.path.join(self.labels, digest.algorithm, digest.hex + ".json")

    def labels_lock(self) -> str:
        return os.path.join(self.labels, "lock")

    def ingest_dir(self, ref: str) -> str:
        return os.path.join(self.ingest, hashlib.sha256(ref.encode("utf-8")).hexdigest())

    def init(self) -> None:
        """Create the tree (or check an existing one's version) and remove the trash a
        crash may have left in ``ingest/``."""
        os.makedirs(self.root, mode=0o755, exist_ok=True)
        version_file = os.path.join(self.root, "version")
        text = read_text(version_file)
        if text is None:
            write_atomic(version_file, f"{SCHEMA_VERSION}\n".encode())
        else:
            try:
                version = int(text.strip())
            except ValueError as e:
                raise FailedPrecondition(f"content store {self.root}: unreadable version file "
                                         f"{text!r}") from e
            if version != SCHEMA_VERSION:
                raise FailedPrecondition(f"content store {self.root}: layout version {version}, "
                                         f"this dockyard reads version {SCHEMA_VERSION}")
        for d in (self.ingest, self.labels, *[os.path.join(self.blobs, a) for a in ALGORITHMS],
                  *[os.path.join(self.labels, a) for a in ALGORITHMS]):
            os.makedirs(d, mode=0o755, exist_ok=True)
        for name in os.listdir(self.ingest):
            if name.startswith(TRASH_PREFIX):
                log.info("content store %s: removing leftover %s", self.root, name)
                remove_tree(os.path.join(self.ingest, name))
