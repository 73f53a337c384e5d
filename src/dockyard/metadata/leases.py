"""Leases: references that keep content, snapshots and images from removal and from GC.

As containerd's leases (``core/leases``): a lease is an id with labels and a set of
resources. While it exists, the resources it names are garbage-collection roots, and an
image it names cannot be removed without force (a container holds a lease on its image
and on its read-write snapshot). Three kinds of resources:

=============  =========================  ===============================================
kind           ref                        protects
=============  =========================  ===============================================
``content``    a digest                   the blob, and what it references (a manifest
                                          protects its config, layers and their snapshots)
``snapshot``   ``<snapshotter>/<key>``    the snapshot and its parents
``image``      an image ID                the image's records from ``rmi`` (``Conflict``)
=============  =========================  ===============================================

A lease with ``hard=True`` (label ``dockyard.lease.hard``) is one that even a forced
removal respects (Docker: an image used by a *running* container "cannot be forced").

**Temporary leases** belong to one process (its pid and start time, so a reused pid is
not mistaken for it): an operation that writes content or snapshots takes one first and
adds each resource *before* creating it, so that a garbage collection running meanwhile
never sweeps half of its work, and deletes it when done. A process killed in the middle
leaves its lease behind; ``drop_orphans`` (run when the store is opened) removes the
leases of processes that are gone, and the next collection sweeps what they protected.
Leases may also expire (``expires``): expired ones are dropped the same way.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Literal, NamedTuple

from dockyard.errors import AlreadyExists, InvalidArgument, NotFound

from .db import Database

ResourceKind = Literal["content", "snapshot", "image"]
RESOURCE_KINDS: tuple[ResourceKind, ...] = ("content", "snapshot", "image")

HARD_LABEL = "dockyard.lease.hard"


class Resource(NamedTuple):
    """One thing a lease protects."""

    kind: ResourceKind
    ref: str

    @classmethod
    def content(cls, digest: object) -> Resource:
        return cls("content", str(digest))

    @classmethod
    def snapshot(cls, snapshotter: str, key: str) -> Resource:
        return cls("snapshot", f"{snapshotter}/{key}")

    @classmethod
    def image(cls, image_id: object) -> Resource:
        return cls("image", str(image_id))


class Lease(NamedTuple):
    id: str
    created: float
    expires: float | None
    owner_pid: int | None
    labels: Mapping[str, str]

    @property
    def hard(self) -> bool:
        return self.labels.get(HARD_LABEL) == "true"

    @property
    def temporary(self) -> bool:
        return self.owner_pid is not None


def process_start(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (``/proc/<pid>/stat`` field
    22), or ``None`` when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its end.
    rest = data[data.rfind(b")") + 2:].split()
    return rest[19].decode("ascii") if len(rest) > 19 else None


def _lease(row: tuple[object, ...]) -> Lease:
    lid, created, expires, pid, labels = row
    return Lease(id=str(lid), created=float(str(created)),
                 expires=None if expires is None else float(str(expires)),
                 owner_pid=None if pid is None else int(str(pid)),
                 labels=json.loads(str(labels)))


_COLUMNS = "id, created, expires, owner_pid, labels"


class Leases:
    """The ``leases`` and ``lease_resources`` tables."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, lease_id: str | None = None, *, labels: Mapping[str, str] | None = None,
               expires: float | None = None, hard: bool = False,
               temporary: bool = False) -> Lease:
        """A new lease (``AlreadyExists`` if the id is taken); a random id if none given."""
        lid = lease_id or f"lease-{secrets.token_hex(8)}"
        if not lid or len(lid) > 256:
            raise InvalidArgument(f"lease id {lid!r}: must be 1 to 256 characters")
        lab = dict(labels or {})
        if hard:
            lab[HARD_LABEL] = "true"
        pid = os.getpid() if temporary else None
        start = process_start(pid) if pid is not None else None
        now = time.time()
        with self._db.write() as conn:
            if conn.execute("SELECT 1 FROM leases WHERE id = ?", (lid,)).fetchone():
                raise AlreadyExists(f"lease {lid!r} already exists")
            conn.execute("INSERT INTO leases (id, created, expires, owner_pid, owner_start, "
                         "labels) VALUES (?, ?, ?, ?, ?, ?)",
                         (lid, now, expires, pid, start, json.dumps(lab, sort_keys=True)))
        return Lease(lid, now, expires, pid, lab)

    def get(self, lease_id: str) -> Lease:
        row = self._db.read().execute(f"SELECT {_COLUMNS} FROM leases WHERE id = ?",
                                      (lease_id,)).fetchone()
        if row is None:
            raise NotFound(f"lease {lease_id!r} not found")
        return _lease(row)

    def all(self) -> list[Lease]:
        rows = self._db.read().execute(f"SELECT {_COLUMNS} FROM leases ORDER BY id").fetchall()
        return [_lease(r) for r in rows]

    def delete(self, lease_id: str) -> None:
        with self._db.write() as conn:
            if conn.execute("DELETE FROM leases WHERE id = ?", (lease_id,)).rowcount == 0:
                raise NotFound(f"lease {lease_id!r} not found")

    def add(self, lease_id: str, resource: Resource) -> None:
        """Protect ``resource`` (idempotent). Call it *before* creating the resource."""
        if resource.kind not in RESOURCE_KINDS:
            raise InvalidArgument(f"lease resource kind {resource.kind!r}")
        with self._db.write() as conn:
            _require(conn, lease_id)
            conn.execute("INSERT OR IGNORE INTO lease_resources (lease_id, kind, ref) "
                         "VALUES (?, ?, ?)", (lease_id, resource.kind, resource.ref))

    def add_all(self, lease_id: str, resources: Iterable[Resource]) -> None:
        """``add`` for several resources in one transaction."""
        rows = []
        for r in resources:
            if r.kind not in RESOURCE_KINDS:
                raise InvalidArgument(f"lease resource kind {r.kind!r}")
            rows.append((lease_id, r.kind, r.ref))
        with self._db.write() as conn:
            _require(conn, lease_id)
            conn.executemany("INSERT OR IGNORE INTO lease_resources (lease_id, kind, ref) "
                             "VALUES (?, ?, ?)", rows)

    def remove(self, lease_id: str, resource: Resource) -> None:
        with self._db.write() as conn:
            _require(conn, lease_id)
            conn.execute("DELETE FROM lease_resources WHERE lease_id = ? AND kind = ? "
                         "AND ref = ?", (lease_id, resource.kind, resource.ref))

    def resources(self, lease_id: str) -> list[Resource]:
        rows = self._db.read().execute(
            "SELECT kind, ref FROM lease_resources WHERE lease_id = ? ORDER BY kind, ref",
            (lease_id,)).fetchall()
        return [Resource(r[0], str(r[1])) for r in rows]

    def all_resources(self, conn: sqlite3.Connection | None = None) -> list[Resource]:
        """Every leased resource (the GC's roots), read on ``conn`` if given."""
        c = conn or self._db.read()
        rows = c.execute("SELECT DISTINCT kind, ref FROM lease_resources").fetchall()
        return [Resource(r[0], str(r[1])) for r in rows]

    def holders(self, resource: Resource) -> list[Lease]:
        """The leases protecting ``resource``."""
        rows = self._db.read().execute(
            f"SELECT {', '.join('l.' + c.strip() for c in _COLUMNS.split(','))} "
            "FROM leases l JOIN lease_resources r ON r.lease_id = l.id "
            "WHERE r.kind = ? AND r.ref = ? ORDER BY l.id",
            (resource.kind, resource.ref)).fetchall()
        return [_lease(r) for r in rows]

    @contextmanager
    def temporary(self, purpose: str = "") -> Iterator[Lease]:
        """A lease of this process for the body's duration, deleted after (even on error)."""
        lease = self.create(labels={"dockyard.lease.purpose": purpose} if purpose else None,
                            temporary=True)
        try:
            yield lease
        finally:
            self.delete(lease.id)

    def drop_orphans(self, now: float | None = None) -> list[str]:
        """Delete expired leases and temporary ones whose process is gone; their ids."""
        t = time.time() if now is None else now
        with self._db.write() as conn:
            rows = conn.execute("SELECT id, expires, owner_pid, owner_start FROM leases "
                                "WHERE expires IS NOT NULL OR owner_pid IS NOT NULL").fetchall()
            doomed = []
            for lid, expires, pid, start in rows:
                expired = expires is not None and float(expires) <= t
                if expired or (pid is not None and process_start(int(pid)) != start):
                    doomed.append(str(lid))
            for lid in doomed:
                conn.execute("DELETE FROM leases WHERE id = ?", (lid,))
        return doomed


def _require(conn: sqlite3.Connection, lease_id: str) -> None:
    if conn.execute("SELECT 1 FROM leases WHERE id = ?", (lease_id,)).fetchone() is None:
        raise NotFound(f"lease {lease_id!r} not found")
