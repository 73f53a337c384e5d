"""The metadata database: one SQLite file, its schema (drawn below), migrations, connections.

On disk (``<data-root>/metadata.db``, schema version 1)::

    metadata.db                        SQLite, journal_mode=WAL, synchronous=NORMAL
    ├── schema_version(version INTEGER PRIMARY KEY,    one row per migration applied;
    │                  applied_at REAL)                 the highest is the schema version
    ├── images(name TEXT PRIMARY KEY,                   normalised reference, one row per
    │          │                                        tag or digest reference:
    │          │                                        'docker.io/library/busybox:latest',
    │          │                                        'host:5000/a/b@sha256:…', or
    │          │                                        'dangling@<target digest>' for an
    │          │                                        image without any name
    │          image_id TEXT,                           config digest (Docker's image ID)
    │          target_media_type TEXT,                  ┐ the descriptor of the manifest
    │          target_digest TEXT,                      │ (or index) the name points at
    │          target_size INTEGER,                     ┘
    │          created REAL, updated REAL,              unix seconds
    │          labels TEXT)                             JSON object of strings
    ├── leases(id TEXT PRIMARY KEY,                     a reference that protects content,
    │          created REAL,                            snapshots and images from removal
    │          expires REAL NULL,                       and from garbage collection
    │          owner_pid INTEGER NULL,                  ┐ a temporary lease of one process:
    │          owner_start TEXT NULL,                   ┘ dropped once that process is gone
    │          labels TEXT)                             JSON object of strings
    ├── lease_resources(lease_id TEXT → leases ON DELETE CASCADE,
    │                   kind TEXT,                      'content' | 'snapshot' | 'image'
    │                   ref TEXT,                       digest | '<snapshotter>/<key>' |
    │                   PRIMARY KEY (lease_id, kind, ref))   image ID
    └── layer_snapshots(snapshotter TEXT,               which snapshotter holds it
                        chain_id TEXT,                  the committed snapshot's name
                        diff_id TEXT,                   the layer's uncompressed digest
                        parent TEXT NULL,               chain id below (NULL: bottom layer)
                        blob_digest TEXT,               the layer blob it was unpacked from
                        unpacked_size INTEGER,          file bytes the layer wrote
                        created REAL,
                        PRIMARY KEY (snapshotter, chain_id))

The schema only moves forward: ``MIGRATIONS[n]`` turns version ``n - 1`` into ``n``; every
pending migration runs, with its ``schema_version`` row, in the one transaction that opens
the database, so a crash leaves the old version or the new one. A database newer than this
code is refused (``FailedPrecondition``) rather than guessed at.

Connections: one per thread (``sqlite3`` objects must not be shared while in use); every
write is an immediate transaction (``write()``), so writers queue on SQLite's lock and
readers are never blocked (WAL). Garbage collection holds a write transaction across its
mark and sweep, which is what keeps a concurrent operation from adding a reference to
something the sweep is about to delete (see ``gc``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from dockyard.errors import FailedPrecondition, Internal

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_V1 = (
    """CREATE TABLE images (
        name TEXT PRIMARY KEY,
        image_id TEXT NOT NULL,
        target_media_type TEXT NOT NULL,
        target_digest TEXT NOT NULL,
        target_size INTEGER NOT NULL CHECK (target_size >= 0),
        created REAL NOT NULL,
        updated REAL NOT NULL,
        labels TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX images_image_id ON images(image_id)",
    "CREATE INDEX images_target ON images(target_digest)",
    """CREATE TABLE leases (
        id TEXT PRIMARY KEY,
        created REAL NOT NULL,
        expires REAL,
        owner_pid INTEGER,
        owner_start TEXT,
        labels TEXT NOT NULL DEFAULT '{}'
    )""",
    """CREATE TABLE lease_resources (
        lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('content', 'snapshot', 'image')),
        ref TEXT NOT NULL,
        PRIMARY KEY (lease_id, kind, ref)
    )""",
    "CREATE INDEX lease_resources_ref ON lease_resources(kind, ref)",
    """CREATE TABLE layer_snapshots (
        snapshotter TEXT NOT NULL,
        chain_id TEXT NOT NULL,
        diff_id TEXT NOT NULL,
        parent TEXT,
        blob_digest TEXT NOT NULL,
        unpacked_size INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        PRIMARY KEY (snapshotter, chain_id)
    )""",
)

# MIGRATIONS[n]: the statements that take schema version n - 1 to n.
MIGRATIONS: dict[int, tuple[str, ...]] = {1: _V1}

BUSY_TIMEOUT = 600.0
"""Seconds a writer waits for the lock (a garbage collection can hold it a while)."""


class Database:
    """The SQLite file, opened (created and migrated as needed) with one connection per
    thread. Lifecycle: ``Database(path)`` → ``read()``/``write()`` from any thread →
    ``close()`` (closes every thread's connection; the object is unusable after)."""

    def __init__(self, path: str, *, synchronous: str = "NORMAL") -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise Internal(f"synchronous={synchronous!r}: want NORMAL or FULL")
        self.path = os.path.abspath(path)
        self._synchronous = synchronous
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._closed = False
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    # -- connections ----------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise FailedPrecondition(f"metadata database {self.path} is closed")
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT,
                               check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            conn.close()
            raise
        with self._all_lock:
            self._all.append(conn)
        self._local.conn = conn
        return conn

    def read(self) -> sqlite3.Connection:
        """This thread's connection, for reads outside a transaction (autocommit)."""
        return self._connection()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """An immediate transaction on this thread's connection: committed when the body
        returns, rolled back when it raises. Not re-entrant."""
        conn = self._connection()
        if conn.in_transaction:
            raise Internal("metadata: nested write transaction")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        self._closed = True
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()

    # -- schema ---------------------------------------------------------------------------

    def schema_version(self) -> int:
        conn = self.read()
        has = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                           "AND name = 'schema_version'").fetchone()
        if has is None:
            return 0
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def _migrate(self) -> None:
        with self.write() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                         "version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
            current = int(conn.execute(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])
            if current > SCHEMA_VERSION:
                raise FailedPrecondition(
                    f"metadata database {self.path} has schema version {current}, newer "
                    f"than this dockyard's {SCHEMA_VERSION}")
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                             (version, time.time()))
                log.info("metadata %s: migrated to schema version %d", self.path, version)
