"""A snapshotter's own metadata: snapshot records in SQLite (WAL), and its directory layout.

On disk, under the snapshotter's root (``<data-root>/snapshots/<driver>/``)::

    metadata.db            SQLite, WAL; PRAGMA user_version = SCHEMA_VERSION
      snapshots(id INTEGER PRIMARY KEY AUTOINCREMENT,  -- names the directory below
                key TEXT UNIQUE,        -- active/view key, or committed name
                kind TEXT,              -- 'view' | 'active' | 'committed'
                parent TEXT,            -- key of the committed parent, or NULL
                labels TEXT,            -- JSON object of strings
                created REAL, updated REAL,          -- unix seconds
                size INTEGER, inodes INTEGER)        -- usage, frozen at commit
    snapshots/
      <id>/
        fs/                the snapshot's own tree (overlay: its upper dir; native: all)
        work/              overlay work dir (active snapshots only)
      new-<random>/        being prepared: not yet in the database (crash: removed)
      rm-<id>/             being removed: already out of the database (crash: removed)

A directory and its record change together: a new directory is built under ``new-*`` and
renamed to ``<id>`` inside the transaction that inserts its record; a removed one is renamed
to ``rm-<id>`` inside the transaction that deletes its record, and deleted after. So after a
crash, every directory that is not ``<id>`` of a record is garbage: ``cleanup`` removes it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dockyard.errors import AlreadyExists, FailedPrecondition, Internal, InvalidArgument, NotFound
from dockyard.snapshots import Info, Kind

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('view', 'active', 'committed')),
    parent TEXT,
    labels TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    inodes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX snapshots_parent ON snapshots(parent);
"""


@dataclass(frozen=True, slots=True)
class Record:
    """One row: a snapshot's identity (``id`` names its directory) and what ``Info`` shows."""

    id: int
    key: str
    kind: Kind
    parent: str | None
    labels: Mapping[str, str] = field(default_factory=dict)
    created: float = 0.0
    updated: float = 0.0
    size: int = 0
    inodes: int = 0

    def info(self) -> Info:
        return Info(kind=self.kind, name=self.key, parent=self.parent,
                    labels=dict(self.labels),
                    created=datetime.fromtimestamp(self.created, UTC),
                    updated=datetime.fromtimestamp(self.updated, UTC))


_COLUMNS = "id, key, kind, parent, labels, created, updated, size, inodes"


def _record(row: tuple[object, ...]) -> Record:
    rid, key, kind, parent, labels, created, updated, size, inodes = row
    return Record(id=int(str(rid)), key=str(key), kind=Kind(kind),
                  parent=None if parent is None else str(parent),
                  labels=json.loads(str(labels)), created=float(str(created)),
                  updated=float(str(updated)), size=int(str(size)), inodes=int(str(inodes)))


class MetaStore:
    """The records of one snapshotter. Thread-safe (one connection behind a lock).

    Lifecycle: open with the database path (created and migrated as needed), use
    ``transaction()`` for every change that must go with a directory operation, ``close()``.
    """

    def __init__(self, path: str) -> None:
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=30)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise FailedPrecondition(
                f"snapshot metadata has schema {version}, newer than this dockyard's "
                f"{SCHEMA_VERSION}")
        with self.transaction() as db:
            if version == 0:
                db.executescript_in_tx(_SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[_Tx]:
        """An immediate (write-locking) transaction, committed unless the body raises."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield _Tx(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def get(self, key: str) -> Record:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM snapshots WHERE key = ?",
                                   (key,)).fetchone()
        if row is None:
            raise NotFound(f"snapshot {key!r} not found")
        return _record(row)

    def all(self) -> list[Record]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM snapshots ORDER BY id").fetchall()
        return [_record(r) for r in rows]

    def chain(self, key: str) -> list[Record]:
        """The record of ``key`` and its ancestors, nearest first."""
        out = [self.get(key)]
        while out[-1].parent is not None:
            if len(out) > 10_000:
                raise Internal(f"snapshot {key!r}: parent chain loops")
            out.append(self.get(out[-1].parent))
        return out


class _Tx:
    """The operations allowed inside ``MetaStore.transaction``."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, args: tuple[object, ...] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, args)

    def executescript_in_tx(self, script: str) -> None:
        for stmt in script.split(";"):
            if stmt.strip():
                self._db.execute(stmt)

    def get(self, key: str) -> Record | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM snapshots WHERE key = ?",
                               (key,)).fetchone()
        return None if row is None else _record(row)

    def insert(self, key: str, kind: Kind, parent: str | None,
               labels: Mapping[str, str]) -> Record:
        if self.get(key) is not None:
            raise AlreadyExists(f"snapshot {key!r} already exists")
        if parent is not None:
            p = self.get(parent)
            if p is None:
                raise NotFound(f"parent snapshot {parent!r} not found")
            if p.kind is not Kind.COMMITTED:
                raise InvalidArgument(f"parent {parent!r} is not a committed snapshot")
        now = time.time()
        cur = self._db.execute(
            "INSERT INTO snapshots (key, kind, parent, labels, created, updated) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (key, kind.value, parent, json.dumps(dict(labels), sort_keys=True), now, now))
        rid = cur.lastrowid
        if rid is None:
            raise Internal("sqlite returned no row id")
        return Record(rid, key, kind, parent, dict(labels), now, now)

    def children(self, key: str) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM snapshots WHERE parent = ?",
                                    (key,)).fetchone()[0])

    def commit(self, rec: Record, name: str, labels: Mapping[str, str], size: int,
               inodes: int) -> None:
        if self.get(name) is not None:
            raise AlreadyExists(f"snapshot {name!r} already exists")
        self._db.execute(
            "UPDATE snapshots SET key = ?, kind = 'committed', labels = ?, updated = ?, "
            "size = ?, inodes = ? WHERE id = ?",
            (name, json.dumps(dict(labels), sort_keys=True), time.time(), size, inodes,
             rec.id))

    def set_labels(self, key: str, labels: Mapping[str, str]) -> None:
        self._db.execute("UPDATE snapshots SET labels = ?, updated = ? WHERE key = ?",
                         (json.dumps(dict(labels), sort_keys=True), time.time(), key))

    def delete(self, rec: Record) -> None:
        self._db.execute("DELETE FROM snapshots WHERE id = ?", (rec.id,))

