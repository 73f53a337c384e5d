"""The metadata store: schema and migrations, image records, leases, unpacked layers."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest

from dockyard.errors import AlreadyExists, FailedPrecondition, NotFound
from dockyard.metadata import (
    SCHEMA_VERSION,
    LayerSnapshot,
    MetadataStore,
    Resource,
    dangling_name,
)
from dockyard.oci import mediatypes as mt
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import digest_bytes


@pytest.fixture
def meta(tmp_path: Path) -> MetadataStore:
    m = MetadataStore(str(tmp_path / "metadata.db"))
    yield m
    m.close()


def desc(data: bytes) -> Descriptor:
    return Descriptor(mt.OCI_MANIFEST, digest_bytes(data), len(data))


A_ID, B_ID = digest_bytes(b"config a"), digest_bytes(b"config b")
A, B = desc(b"manifest a"), desc(b"manifest b")
BUSYBOX = "docker.io/library/busybox:latest"


def test_schema_version_and_wal(meta: MetadataStore, tmp_path: Path) -> None:
    assert meta.db.schema_version() == SCHEMA_VERSION == 1
    conn = sqlite3.connect(str(tmp_path / "metadata.db"))
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"schema_version", "images", "leases", "lease_resources",
                "layer_snapshots"} <= tables
    finally:
        conn.close()


def test_reopen_keeps_data_and_refuses_newer_schema(tmp_path: Path) -> None:
    path = str(tmp_path / "metadata.db")
    m = MetadataStore(path)
    m.images.set_names([BUSYBOX], A_ID, A)
    m.close()
    m = MetadataStore(path)
    assert m.images.get(BUSYBOX).image_id == A_ID
    with m.db.write() as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 0)")
    m.close()
    with pytest.raises(FailedPrecondition, match="schema version 99"):
        MetadataStore(path)


def test_records_move_and_dangling(meta: MetadataStore) -> None:
    meta.images.set_names([BUSYBOX, "docker.io/library/busybox:1"], A_ID, A)
    assert [r.name for r in meta.images.by_image_id(A_ID)] == [
        "docker.io/library/busybox:1", BUSYBOX]
    moved = meta.images.set_names([BUSYBOX], B_ID, B)
    assert [r.name for r in moved] == [BUSYBOX]
    assert meta.images.get(BUSYBOX).target == B
    # A keeps its other name, so it does not become dangling ...
    assert [r.name for r in meta.images.by_image_id(A_ID)] == ["docker.io/library/busybox:1"]
    # ... until that one moves too.
    meta.images.set_names(["docker.io/library/busybox:1"], B_ID, B)
    assert [r.name for r in meta.images.by_image_id(A_ID)] == [dangling_name(A.digest)]
    # A name given back removes the dangling record.
    meta.images.set_names(["docker.io/library/a:1"], A_ID, A)
    assert [r.name for r in meta.images.by_image_id(A_ID)] == ["docker.io/library/a:1"]


def test_unnamed_image_gets_one_dangling_record(meta: MetadataStore) -> None:
    meta.images.set_names([], A_ID, A)
    meta.images.set_names([], A_ID, A)
    records = meta.images.by_image_id(A_ID)
    assert [r.dangling for r in records] == [True]


def test_delete_and_keep_dangling(meta: MetadataStore) -> None:
    meta.images.set_names([BUSYBOX], A_ID, A)
    with pytest.raises(NotFound):
        meta.images.delete("docker.io/library/nope:latest")
    meta.images.delete(BUSYBOX, keep_dangling=True)
    assert [r.dangling for r in meta.images.by_image_id(A_ID)] == [True]
    assert meta.images.delete_image(A_ID)
    assert meta.images.all() == []
    meta.images.set_names([BUSYBOX], A_ID, A)
    with pytest.raises(AlreadyExists):
        meta.images.create(meta.images.get(BUSYBOX))


def test_leases_resources_holders_and_cascade(meta: MetadataStore) -> None:
    lease = meta.leases.create("c1", labels={"container": "c1"}, hard=True)
    assert lease.hard and not lease.temporary
    with pytest.raises(AlreadyExists):
        meta.leases.create("c1")
    meta.leases.add("c1", Resource.image(A_ID))
    meta.leases.add("c1", Resource.image(A_ID))  # idempotent
    meta.leases.add("c1", Resource.snapshot("overlay", "c1-rw"))
    assert [h.id for h in meta.leases.holders(Resource.image(A_ID))] == ["c1"]
    assert meta.leases.resources("c1") == [Resource("image", str(A_ID)),
                                           Resource("snapshot", "overlay/c1-rw")]
    with pytest.raises(NotFound):
        meta.leases.add("nope", Resource.image(A_ID))
    meta.leases.delete("c1")
    assert meta.leases.all_resources() == []  # ON DELETE CASCADE
    with pytest.raises(NotFound):
        meta.leases.delete("c1")


def test_temporary_lease_is_deleted_even_on_error(meta: MetadataStore) -> None:
    with pytest.raises(RuntimeError), meta.leases.temporary("test") as lease:
        assert lease.temporary
        meta.leases.add(lease.id, Resource.content(A.digest))
        raise RuntimeError("boom")
    assert meta.leases.all() == []


def test_drop_orphans_dead_owner_and_expired(meta: MetadataStore) -> None:
    live = meta.leases.create("live", temporary=True)
    meta.leases.create("plain")
    meta.leases.create("expired", expires=1.0)
    meta.leases.create("later", expires=2e9)
    dead = meta.leases.create("dead", temporary=True)
    proc = subprocess.Popen(["true"])
    proc.wait()
    with meta.db.write() as conn:  # pretend a process that is gone took it
        conn.execute("UPDATE leases SET owner_pid = ? WHERE id = ?", (proc.pid, dead.id))
    assert sorted(meta.leases.drop_orphans()) == ["dead", "expired"]
    assert sorted(lease.id for lease in meta.leases.all()) == ["later", live.id, "plain"]


def test_layers_table(meta: MetadataStore) -> None:
    chain, diff, blob = digest_bytes(b"c"), digest_bytes(b"d"), digest_bytes(b"b")
    assert meta.layers.find("native", chain) is None
    row = meta.layers.record(LayerSnapshot("native", chain, diff, None, blob, 42))
    assert row.created > 0
    assert meta.layers.get("native", chain).unpacked_size == 42
    assert meta.layers.all("native") == [row]
    meta.layers.forget("native", str(chain))
    with pytest.raises(NotFound):
        meta.layers.get("native", chain)


def test_connections_per_thread(meta: MetadataStore) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(20):
                meta.images.set_names([f"docker.io/library/t{i}:{j}"], A_ID, A)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(meta.images.by_image_id(A_ID)) == 80
