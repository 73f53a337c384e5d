"""Garbage collection: mark the blobs manifests reference, sweep the rest, purge stale
uploads. It runs while the registry serves (``dockyard-registry gc`` beside ``serve``,
or the same function from inside the server).

How it stays safe while pushes go on — both a grace period and a file lock, each for
the race it can close:

* **Grace period for young blobs (multi-request pushes).** A push is many requests:
  blobs first, the manifest last. Between them a blob is referenced by nothing, and no
  lock can be held across requests by a client that may never come back. So the sweep
  leaves alone every blob used in the last ``grace`` seconds: a blob's mtime is
  refreshed when an upload commits it, when it is mounted or linked, and when a client
  asks for it (``HEAD``/``GET``, which is how clients decide to skip an upload).
  Uploads in flight are not blobs yet; they are only purged after ``upload_max_age``
  seconds without a write.
* **A file lock for the last step (manifest PUT).** A manifest PUT checks that the blobs
  it references exist and then links the manifest; the collector marks from the linked
  manifests and then deletes. Those two sequences must not interleave, across worker
  processes and across the separate ``gc`` command, so both take the driver's ``gc``
  lock (``flock`` on the filesystem): the PUT shared, the collector exclusive for its
  whole mark-and-sweep. A thread lock would not hold across processes.

The worst a race can then do is make a manifest PUT fail with MANIFEST_BLOB_UNKNOWN
(a blob older than the grace period swept just before the PUT took the lock), and the
client pushes the blob again; a committed manifest never loses a blob.

Deletion order makes a crash harmless: a blob's directory is removed whole (the driver
renames it away first), and links to swept blobs are removed after them, so a killed
collector leaves at worst a link, and a renamed-away directory, that the next run removes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument, NotFound, NotImplementedByDockyard
from dockyard.oci.digest import Digest
from dockyard.oci.manifest import Manifest, parse_manifest_or_index
from dockyard.registry.errors import BlobUnknown, ManifestUnknown
from dockyard.registry.names import validate_name
from dockyard.registry.store import Registry
from dockyard.registry.store.manifests import GC_LOCK

log = logging.getLogger(__name__)

DEFAULT_GRACE = 3600.0
DEFAULT_UPLOAD_MAX_AGE = 24 * 3600.0


@dataclass(slots=True)
class GCReport:
    """What one collection found and (unless ``dry_run``) removed."""

    dry_run: bool
    marked: set[Digest] = field(default_factory=set)
    swept: list[Digest] = field(default_factory=list)
    kept_young: list[Digest] = field(default_factory=list)
    links_removed: list[tuple[str, Digest]] = field(default_factory=list)
    uploads_purged: list[str] = field(default_factory=list)
    bytes_freed: int = 0


def mark(registry: Registry) -> set[Digest]:
    """Every blob a manifest of some repository references, manifests included."""
    marked: set[Digest] = set()
    for repo in registry.manifests.repositories():
        name = validate_name(repo)
        for d in registry.manifests.revisions(name):
            marked.add(d)
            try:
                stored = registry.manifests.get(name, d)
                doc = parse_manifest_or_index(stored.raw, stored.media_type)
            except (ManifestUnknown, BlobUnknown):
                log.warning("gc: manifest %s of %s has no blob", d, repo)
                continue
            except (InvalidArgument, NotImplementedByDockyard) as e:
                log.warning("gc: manifest %s of %s does not parse (%s): kept, not followed",
                            d, repo, e)
                continue
            if isinstance(doc, Manifest):
                marked.add(doc.config.digest)
                marked.update(layer.digest for layer in doc.layers)
            else:
                marked.update(m.digest for m in doc.manifests)
    return marked


def collect(registry: Registry, *, grace: float = DEFAULT_GRACE,
            upload_max_age: float = DEFAULT_UPLOAD_MAX_AGE, dry_run: bool = False,
            now: float | None = None) -> GCReport:
    """One garbage collection (see the module docstring for why it is safe online)."""
    now = time.time() if now is None else now
    report = GCReport(dry_run=dry_run)
    report.uploads_purged = registry.uploads.purge(upload_max_age, dry_run=dry_run, now=now)
    if not dry_run:
        registry.driver.purge_temporaries()
    with registry.driver.lock(GC_LOCK, exclusive=True):
        report.marked = mark(registry)
        gone: set[Digest] = set()
        for d in list(registry.blobs.all()):
            if d in report.marked:
                continue
            try:
                mtime = registry.blobs.mtime(d)
                size = registry.blobs.size(d)
            except BlobUnknown:
                continue
            if now - mtime < grace:
                report.kept_young.append(d)
                continue
            report.swept.append(d)
            report.bytes_freed += size
            gone.add(d)
            if not dry_run:
                try:
                    registry.blobs.delete(d)
                except BlobUnknown:
                    pass
        for repo in registry.manifests.repositories():
            name = validate_name(repo)
            for d in list(registry.blobs.links(name)):
                if d in gone or (not dry_run and not registry.blobs.exists(d)):
                    report.links_removed.append((repo, d))
                    if not dry_run:
                        try:
                            registry.blobs.unlink(name, d)
                        except (BlobUnknown, NotFound):
                            pass
    log.info("gc%s: %d blobs in use, %d swept (%d bytes), %d kept as young, "
             "%d links removed, %d stale uploads", " (dry run)" if dry_run else "",
             len(report.marked), len(report.swept), report.bytes_freed,
             len(report.kept_young), len(report.links_removed), len(report.uploads_purged))
    return report
