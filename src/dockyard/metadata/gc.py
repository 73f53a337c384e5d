"""Mark-and-sweep garbage collection of blobs and snapshots (containerd's ``core/metadata/gc.go``,
simply).

Roots:
    every image record's target, and every leased resource (content, snapshot).
Edges (followed from marked content that is present in the store):
    index      → each manifest it lists
    manifest   → its config and each layer blob
    layer i    → the committed snapshot named ``chain_id(diff_ids[:i+1])`` (read from the
                 config), in every snapshotter given
    snapshot   → its parent
    leased blob whose media type is unknown → sniffed: a small JSON manifest or index is
                 followed like one
Sweep:
    every committed blob not marked is deleted; every snapshot not marked is removed,
    children before parents; rows of ``layer_snapshots`` whose snapshot is gone are
    forgotten; ingests idle for ``ingest_age`` seconds (and not being written) are removed.

The whole mark and sweep runs inside one write transaction of the metadata database, so
no operation can add a root or a lease resource meanwhile: operations add to their lease
*before* creating or reusing a resource (``leases``), so whatever they use is either
marked or not yet created. The stores are reached through the small protocols below
(``metadata`` sits beside ``content`` and ``snapshots`` and does not import them).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Mapping
from typing import BinaryIO, NamedTuple, Protocol

from dockyard.errors import DockyardError, InvalidArgument, NotFound
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, parse_digest
from dockyard.oci.manifest import (
    chain_ids,
    detect_media_type,
    parse_image_config,
    parse_index,
    parse_manifest,
)

from .db import Database

log = logging.getLogger(__name__)

MAX_DOCUMENT = 8 << 20
"""Largest manifest, index or config read while marking (bigger ones are not followed)."""

DEFAULT_INGEST_AGE = 24 * 3600.0


class BlobInfo(Protocol):
    @property
    def digest(self) -> Digest: ...

    @property
    def size(self) -> int: ...


class BlobStore(Protocol):
    """What the collector needs of a content store (``ContentStore`` has it)."""

    def walk(self) -> Iterator[BlobInfo]: ...

    def open_blob(self, digest: Digest) -> BinaryIO: ...

    def delete(self, digest: Digest) -> None: ...

    def clean_stale_ingests(self, older_than: float) -> list[str]: ...


class SnapshotInfo(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def parent(self) -> str | None: ...


class SnapshotUsage(Protocol):
    @property
    def size_bytes(self) -> int: ...


class SnapshotStore(Protocol):
    """What the collector needs of a snapshotter (``Snapshotter`` has it)."""

    def walk(self) -> Iterator[SnapshotInfo]: ...

    def usage(self, key: str) -> SnapshotUsage: ...

    def remove(self, key: str) -> None: ...


class GcResult(NamedTuple):
    """What one collection removed."""

    blobs: tuple[Digest, ...]
    snapshots: tuple[str, ...]  # "<snapshotter>/<name>"
    ingests: tuple[str, ...]
    reclaimed: int  # bytes: blob sizes plus snapshot usage
    errors: tuple[str, ...]  # removals that failed (logged; the next run retries)


def _read_small(content: BlobStore, digest: Digest, size: int) -> bytes | None:
    if size > MAX_DOCUMENT:
        return None
    with content.open_blob(digest) as f:
        return f.read(MAX_DOCUMENT + 1)


class _Marker:
    def __init__(self, content: BlobStore, present: Mapping[Digest, int],
                 snapshotters: Mapping[str, SnapshotStore]) -> None:
        self.content = content
        self.present = present
        self.snapshotter_names = tuple(snapshotters)
        self.blobs: set[Digest] = set()
        self.snapshots: dict[str, set[str]] = {name: set() for name in snapshotters}
        self._queue: list[tuple[Digest, str | None]] = []

    def add(self, digest: Digest, media_type: str | None) -> None:
        self._queue.append((digest, media_type))

    def run(self) -> None:
        while self._queue:
            digest, media_type = self._queue.pop()
            if digest in self.blobs:
                continue
            self.blobs.add(digest)
            size = self.present.get(digest)
            if size is None:
                continue  # not in the store (yet, or any more): nothing to follow
            self._follow(digest, media_type, size)

    def _follow(self, digest: Digest, media_type: str | None, size: int) -> None:
        if media_type is not None and not (mt.is_manifest(media_type)
                                           or mt.is_index(media_type)):
            return
        raw = _read_small(self.content, digest, size)
        if raw is None:
            return
        try:
            if media_type is None:
                if not raw.lstrip().startswith(b"{"):
                    return
                media_type = detect_media_type(raw, str(digest))
            if mt.is_index(media_type):
                for d in parse_index(raw, None, str(digest)).manifests:
                    self.add(d.digest, d.media_type)
            elif mt.is_manifest(media_type):
                m = parse_manifest(raw, None, str(digest))
                self.add(m.config.digest, m.config.media_type)
                for d in m.layers:
                    self.add(d.digest, d.media_type)
                self._config_snapshots(m.config.digest)
        except (InvalidArgument, DockyardError) as e:
            # Not a document we can follow (an artifact, a JSON blob): it is kept (marked)
            # but references nothing.
            log.debug("gc: %s is not a followable document: %s", digest, e)

    def _config_snapshots(self, config: Digest) -> None:
        size = self.present.get(config)
        if size is None:
            return
        raw = _read_small(self.content, config, size)
        if raw is None:
            return
        try:
            cfg = parse_image_config(raw, str(config))
        except DockyardError as e:
            log.debug("gc: config %s is not an image config: %s", config, e)
            return
        for cid in chain_ids(cfg.diff_ids):
            for name in self.snapshotter_names:
                self.snapshots[name].add(str(cid))


def collect(db: Database, content: BlobStore, snapshotters: Mapping[str, SnapshotStore], *,
            ingest_age: float = DEFAULT_INGEST_AGE) -> GcResult:
    """Mark from the roots, sweep the rest (see the module docstring)."""
    errors: list[str] = []
    removed_blobs: list[Digest] = []
    removed_snaps: list[str] = []
    reclaimed = 0
    with db.write() as conn:
        present = {info.digest: info.size for info in content.walk()}
        marker = _Marker(content, present, snapshotters)
        leased_snaps = _roots(conn, marker)
        marker.run()
        for name in snapshotters:
            marker.snapshots[name] |= leased_snaps.get(name, set())
        for digest, size in sorted(present.items()):
            if digest in marker.blobs:
                continue
            try:
                content.delete(digest)
            except NotFound:
                continue  # already gone
            except DockyardError as e:
                errors.append(f"blob {digest}: {e}")
                log.warning("gc: could not delete blob %s: %s", digest, e)
                continue
            removed_blobs.append(digest)
            reclaimed += size
        for name, sn in snapshotters.items():
            n, gone = _sweep_snapshots(conn, name, sn, marker.snapshots[name], errors)
            reclaimed += n
            removed_snaps += [f"{name}/{key}" for key in gone]
    ingests = content.clean_stale_ingests(ingest_age)
    if removed_blobs or removed_snaps or ingests:
        log.info("gc: removed %d blobs, %d snapshots, %d ingests (%d bytes)",
                 len(removed_blobs), len(removed_snaps), len(ingests), reclaimed)
    return GcResult(tuple(removed_blobs), tuple(removed_snaps), tuple(ingests), reclaimed,
                    tuple(errors))


def _roots(conn: sqlite3.Connection, marker: _Marker) -> dict[str, set[str]]:
    for digest, media_type in conn.execute(
            "SELECT DISTINCT target_digest, target_media_type FROM images"):
        marker.add(parse_digest(str(digest)), str(media_type))
    leased: dict[str, set[str]] = {}
    for kind, ref in conn.execute("SELECT DISTINCT kind, ref FROM lease_resources"):
        if kind == "content":
            try:
                marker.add(parse_digest(str(ref)), None)
            except InvalidArgument as e:
                log.warning("gc: lease resource %r is not a digest: %s", ref, e)
        elif kind == "snapshot":
            snapshotter, _, key = str(ref).partition("/")
            leased.setdefault(snapshotter, set()).add(key)
    return leased


def _sweep_snapshots(conn: sqlite3.Connection, name: str, sn: SnapshotStore,
                     marked: set[str], errors: list[str]) -> tuple[int, list[str]]:
    infos = {i.name: i for i in sn.walk()}
    keep: set[str] = set()
    stack = [k for k in marked if k in infos]
    while stack:  # a kept snapshot keeps its parents
        key = stack.pop()
        if key in keep:
            continue
        keep.add(key)
        parent = infos[key].parent
        if parent is not None and parent in infos:
            stack.append(parent)
    doomed = {k for k in infos if k not in keep}
    children: dict[str, int] = {}
    for info in infos.values():
        if info.parent is not None:
            children[info.parent] = children.get(info.parent, 0) + 1
    removed: list[str] = []
    reclaimed = 0
    progress = True
    while doomed and progress:  # leaves first, until nothing more can go
        progress = False
        for key in sorted(doomed):
            if children.get(key, 0):
                continue
            doomed.discard(key)
            progress = True
            try:
                used = sn.usage(key).size_bytes
                sn.remove(key)
            except DockyardError as e:
                errors.append(f"snapshot {name}/{key}: {e}")
                log.warning("gc: could not remove snapshot %s/%s: %s", name, key, e)
                continue
            reclaimed += used
            removed.append(key)
            parent = infos[key].parent
            if parent is not None:
                children[parent] -= 1
    remaining = set(infos) - set(removed)
    for (chain,) in conn.execute("SELECT chain_id FROM layer_snapshots WHERE snapshotter = ?",
                                 (name,)).fetchall():
        if str(chain) not in remaining:
            conn.execute("DELETE FROM layer_snapshots WHERE snapshotter = ? AND chain_id = ?",
                         (name, chain))
    return reclaimed, removed
