"""Image records: a name (a normalised tag or digest reference) pointing at a target.

A record is containerd's ``images.Image`` with Docker's identity beside it: ``image_id`` is
the digest of the config the target resolves to, so records naming the same image are
found together. Names are stored exactly as given: callers normalise them
(``docker.io/library/busybox:latest``); an image without any name keeps one record named
``dangling@<target digest>`` (``dangling_name``), which no normalised reference can equal
(those always contain a ``/``).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from dockyard.errors import AlreadyExists, NotFound
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest, parse_digest

from .db import Database

DANGLING_PREFIX = "dangling@"

_COLUMNS = ("name, image_id, target_media_type, target_digest, target_size, created, "
            "updated, labels")


class ImageRecord(NamedTuple):
    """One name of an image."""

    name: str
    image_id: Digest
    target: Descriptor
    created: float
    updated: float
    labels: Mapping[str, str]

    @property
    def dangling(self) -> bool:
        return is_dangling(self.name)


def dangling_name(target: Digest) -> str:
    return f"{DANGLING_PREFIX}{target}"


def is_dangling(name: str) -> bool:
    return name.startswith(DANGLING_PREFIX)


def _record(row: tuple[object, ...]) -> ImageRecord:
    name, image_id, mt, digest, size, created, updated, labels = row
    return ImageRecord(name=str(name), image_id=parse_digest(str(image_id)),
                       target=Descriptor(str(mt), parse_digest(str(digest)), int(str(size))),
                       created=float(str(created)), updated=float(str(updated)),
                       labels=json.loads(str(labels)))


class Images:
    """The ``images`` table. Every method is one transaction (or one read)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, name: str) -> ImageRecord:
        row = self._db.read().execute(f"SELECT {_COLUMNS} FROM images WHERE name = ?",
                                      (name,)).fetchone()
        if row is None:
            raise NotFound(f"image {name!r} not found")
        return _record(row)

    def all(self) -> list[ImageRecord]:
        rows = self._db.read().execute(
            f"SELECT {_COLUMNS} FROM images ORDER BY name").fetchall()
        return [_record(r) for r in rows]

    def by_image_id(self, image_id: Digest) -> list[ImageRecord]:
        rows = self._db.read().execute(
            f"SELECT {_COLUMNS} FROM images WHERE image_id = ? ORDER BY name",
            (str(image_id),)).fetchall()
        return [_record(r) for r in rows]

    def image_ids(self) -> list[Digest]:
        rows = self._db.read().execute(
            "SELECT DISTINCT image_id FROM images ORDER BY image_id").fetchall()
        return [parse_digest(str(r[0])) for r in rows]

    def create(self, record: ImageRecord) -> ImageRecord:
        """Insert a new record (``AlreadyExists`` if the name is taken)."""
        with self._db.write() as conn:
            if _get(conn, record.name) is not None:
                raise AlreadyExists(f"image {record.name!r} already exists")
            return _insert(conn, record)

    def set_names(self, names: Iterable[str], image_id: Digest, target: Descriptor,
                  labels: Mapping[str, str] | None = None) -> list[ImageRecord]:
        """Point every name at ``target`` in one transaction (creating or moving them).

        Returns the records that pointed at *other* images before (names moved away).
        Images left without any record by the move get a dangling record, as Docker
        keeps an image whose tag was taken by another; ``image_id`` loses its own dangling
        record when it gains a name. With no names, ``image_id`` gets a dangling record
        unless it has a record already.
        """
        names = list(dict.fromkeys(names))
        moved: list[ImageRecord] = []
        now = time.time()
        with self._db.write() as conn:
            for name in names:
                old = _get(conn, name)
                if old is not None and old.image_id != image_id:
                    moved.append(old)
                if old is None:
                    _insert(conn, ImageRecord(name, image_id, target, now, now,
                                              dict(labels or {})))
                else:
                    conn.execute(
                        "UPDATE images SET image_id = ?, target_media_type = ?, "
                        "target_digest = ?, target_size = ?, updated = ?, labels = ? "
                        "WHERE name = ?",
                        (str(image_id), target.media_type, str(target.digest), target.size,
                         now, json.dumps(dict(labels if labels is not None else old.labels),
                                         sort_keys=True), name))
            if names:
                conn.execute("DELETE FROM images WHERE image_id = ? AND name LIKE ?",
                             (str(image_id), DANGLING_PREFIX + "%"))
            elif not _has_records(conn, image_id):
                _insert(conn, ImageRecord(dangling_name(target.digest), image_id, target,
                                          now, now, dict(labels or {})))
            for old in moved:
                if not _has_records(conn, old.image_id):
                    _insert(conn, old._replace(name=dangling_name(old.target.digest),
                                               updated=now))
        return moved

    def delete(self, name: str, *, keep_dangling: bool = False) -> ImageRecord:
        """Remove one record (``NotFound``). With ``keep_dangling``, an image losing its
        last name keeps a dangling record (it is still in use)."""
        with self._db.write() as conn:
            old = _get(conn, name)
            if old is None:
                raise NotFound(f"image {name!r} not found")
            conn.execute("DELETE FROM images WHERE name = ?", (name,))
            if keep_dangling and not old.dangling and not _has_records(conn, old.image_id):
                _insert(conn, old._replace(name=dangling_name(old.target.digest),
                                           updated=time.time()))
        return old

    def delete_image(self, image_id: Digest) -> list[ImageRecord]:
        """Remove every record of an image; returns them."""
        with self._db.write() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM images WHERE image_id = ? "
                                "ORDER BY name", (str(image_id),)).fetchall()
            conn.execute("DELETE FROM images WHERE image_id = ?", (str(image_id),))
        return [_record(r) for r in rows]


def _get(conn: sqlite3.Connection, name: str) -> ImageRecord | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM images WHERE name = ?", (name,)).fetchone()
    return None if row is None else _record(row)


def _has_records(conn: sqlite3.Connection, image_id: Digest) -> bool:
    return conn.execute("SELECT 1 FROM images WHERE image_id = ? LIMIT 1",
                        (str(image_id),)).fetchone() is not None


def _insert(conn: sqlite3.Connection, r: ImageRecord) -> ImageRecord:
    conn.execute(
        f"INSERT INTO images ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (r.name, str(r.image_id), r.target.media_type, str(r.target.digest), r.target.size,
         r.created, r.updated, json.dumps(dict(r.labels), sort_keys=True)))
    return r
