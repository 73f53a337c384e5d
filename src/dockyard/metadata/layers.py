"""Unpacked layers: which committed snapshot (named by chain id) a layer blob became.

The snapshotter knows its snapshots by name only; this table remembers, per snapshotter,
what each chain id was unpacked from (the blob, its diff_id, the chain id below) and how
many file bytes it wrote, for image sizes and for garbage collection's bookkeeping. The
snapshot itself is the truth about presence: a row may outlive its snapshot for a moment
(GC deletes both) and a snapshot committed just before a crash may lack its row (the next
unpack that meets it writes the row).
"""

from __future__ import annotations

import time
from typing import NamedTuple

from dockyard.errors import NotFound
from dockyard.oci.digest import Digest, parse_digest

from .db import Database


class LayerSnapshot(NamedTuple):
    snapshotter: str
    chain_id: Digest
    diff_id: Digest
    parent: Digest | None
    blob_digest: Digest
    unpacked_size: int
    created: float = 0.0


_COLUMNS = "snapshotter, chain_id, diff_id, parent, blob_digest, unpacked_size, created"


def _row(r: tuple[object, ...]) -> LayerSnapshot:
    sn, chain, diff, parent, blob, size, created = r
    return LayerSnapshot(str(sn), parse_digest(str(chain)), parse_digest(str(diff)),
                         None if parent is None else parse_digest(str(parent)),
                         parse_digest(str(blob)), int(str(size)), float(str(created)))


class Layers:
    """The ``layer_snapshots`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, layer: LayerSnapshot) -> LayerSnapshot:
        """Insert or replace the row of ``(snapshotter, chain_id)``."""
        row = layer._replace(created=layer.created or time.time())
        with self._db.write() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO layer_snapshots ({_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row.snapshotter, str(row.chain_id), str(row.diff_id),
                 None if row.parent is None else str(row.parent), str(row.blob_digest),
                 row.unpacked_size, row.created))
        return row

    def get(self, snapshotter: str, chain_id: Digest) -> LayerSnapshot:
        r = self._db.read().execute(
            f"SELECT {_COLUMNS} FROM layer_snapshots WHERE snapshotter = ? AND chain_id = ?",
            (snapshotter, str(chain_id))).fetchone()
        if r is None:
            raise NotFound(f"no unpacked layer {chain_id} in snapshotter {snapshotter!r}")
        return _row(r)

    def find(self, snapshotter: str, chain_id: Digest) -> LayerSnapshot | None:
        try:
            return self.get(snapshotter, chain_id)
        except NotFound:
            return None

    def all(self, snapshotter: str | None = None) -> list[LayerSnapshot]:
        if snapshotter is None:
            rows = self._db.read().execute(
                f"SELECT {_COLUMNS} FROM layer_snapshots ORDER BY snapshotter, chain_id")
        else:
            rows = self._db.read().execute(
                f"SELECT {_COLUMNS} FROM layer_snapshots WHERE snapshotter = ? "
                "ORDER BY chain_id", (snapshotter,))
        return [_row(r) for r in rows.fetchall()]

    def forget(self, snapshotter: str, chain_id: str) -> None:
        with self._db.write() as conn:
            conn.execute("DELETE FROM layer_snapshots WHERE snapshotter = ? AND chain_id = ?",
                         (snapshotter, chain_id))
