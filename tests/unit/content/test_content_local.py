"""The local content store's own layout and recovery (what the conformance suite cannot
see): files and modes on disk, versioning, states a crash can leave, error translation."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from dockyard.content import LocalContentStore, read_blob
from dockyard.content import ingest as ingest_mod
from dockyard.content.files import translate, write_atomic
from dockyard.content.layout import SCHEMA_VERSION
from dockyard.errors import (
    AlreadyExists,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import digest_bytes


@pytest.fixture
def store(tmp_path: Path) -> LocalContentStore:
    return LocalContentStore(str(tmp_path / "content"))


def ingest_dir(store: LocalContentStore, ref: str) -> Path:
    return Path(store.root, "ingest", hashlib.sha256(ref.encode()).hexdigest())


def test_layout_on_disk(store: LocalContentStore) -> None:
    root = Path(store.root)
    assert (root / "version").read_text() == f"{SCHEMA_VERSION}\n"
    for sub in ("blobs/sha256", "blobs/sha512", "labels/sha256", "labels/sha512", "ingest"):
        assert (root / sub).is_dir(), sub
    info = store.ingest_bytes(b"hello", labels={"a": "b"})
    blob = root / "blobs" / "sha256" / info.digest.hex
    assert blob.read_bytes() == b"hello"
    assert stat.S_IMODE(blob.stat().st_mode) == 0o444
    assert json.loads((root / "labels" / "sha256" / f"{info.digest.hex}.json").read_text()) == {
        "a": "b"}
    with store.writer("my/ref:1") as w:
        w.write(b"part")
    d = ingest_dir(store, "my/ref:1")
    assert (d / "ref").read_text() == "my/ref:1"
    assert (d / "data").read_bytes() == b"part"
    assert {p.name for p in d.iterdir()} == {"lock", "ref", "data", "startedat", "updatedat"}


def test_expected_is_recorded(store: LocalContentStore) -> None:
    desc = Descriptor("application/octet-stream", digest_bytes(b"abc"), 3)
    with store.writer("r", desc):
        pass
    d = ingest_dir(store, "r")
    assert (d / "total").read_text() == "3"
    assert (d / "expected").read_text() == str(desc.digest)


def test_version_mismatch_refused(tmp_path: Path) -> None:
    root = tmp_path / "content"
    LocalContentStore(str(root))
    (root / "version").write_text("99\n")
    with pytest.raises(FailedPrecondition, match="layout version 99"):
        LocalContentStore(str(root))
    (root / "version").write_text("garbage")
    with pytest.raises(FailedPrecondition, match="unreadable version"):
        LocalContentStore(str(root))


def test_open_removes_trash_left_by_a_crash(tmp_path: Path) -> None:
    root = tmp_path / "content"
    LocalContentStore(str(root))
    trash = root / "ingest" / ".trash-abc-1234"
    (trash / "sub").mkdir(parents=True)
    (trash / "sub" / "data").write_bytes(b"x")
    LocalContentStore(str(root))
    assert not trash.exists()


def test_crash_after_rename_leaves_ingest_without_data(store: LocalContentStore) -> None:
    with store.writer("r") as w:
        w.write(b"whole")
    d = ingest_dir(store, "r")
    os.unlink(d / "data")  # as if the commit's rename happened and then the process died
    assert store.list_statuses() == []
    with pytest.raises(NotFound):
        store.status("r")
    with store.writer("r") as w:
        assert w.offset == 0
    assert store.clean_stale_ingests(0) == ["r"]
    assert not d.exists()


def test_crash_mid_header_starts_over(store: LocalContentStore) -> None:
    d = ingest_dir(store, "r")
    d.mkdir()
    (d / "data").write_bytes(b"left from an ingest whose header was never completed")
    with store.writer("r") as w:
        assert w.offset == 0
        w.write(b"new")
        assert w.commit().digest == digest_bytes(b"new")


def test_incomplete_ingest_without_ref_is_cleaned(store: LocalContentStore) -> None:
    d = Path(store.root, "ingest", "f" * 64)
    d.mkdir()
    (d / "data").write_bytes(b"x")
    assert store.clean_stale_ingests(0) == ["f" * 64]
    assert not d.exists()


def test_ref_hash_collision_is_refused(store: LocalContentStore) -> None:
    with store.writer("a"):
        pass
    (ingest_dir(store, "a") / "ref").write_text("b")
    with pytest.raises(InvalidArgument, match="belongs to ref 'b'"):
        store.writer("a")
    with pytest.raises(NotFound):
        store.status("a")


def test_walk_ignores_stray_files(store: LocalContentStore) -> None:
    info = store.ingest_bytes(b"real")
    Path(store.root, "blobs", "sha256", "not-a-digest").write_bytes(b"x")
    Path(store.root, "blobs", "sha256", ".tmp").write_bytes(b"x")
    assert [i.digest for i in store.walk()] == [info.digest]


def test_corrupt_labels_are_reported(store: LocalContentStore) -> None:
    info = store.ingest_bytes(b"x", labels={"a": "b"})
    Path(store.root, "labels", "sha256", f"{info.digest.hex}.json").write_text("{nope")
    with pytest.raises(InvalidArgument, match="corrupt"):
        store.info(info.digest)


def test_lock_survives_removal_by_its_holder(store: LocalContentStore) -> None:
    """A holder removes the ingest (commit, abort); a newcomer gets a fresh one at once."""
    d = str(ingest_dir(store, "r"))
    held = ingest_mod.lock(d, "r")
    try:
        with pytest.raises(Unavailable):
            ingest_mod.lock(d, "r")
        ingest_mod.remove(os.path.join(store.root, "ingest"), d)
        fresh = ingest_mod.lock(d, "r")  # new directory, new lock file: not the old one
        fresh.close()
    finally:
        held.close()


def test_already_exists_removes_ingest(store: LocalContentStore) -> None:
    store.ingest_bytes(b"dup")
    with store.writer("second") as w:
        w.write(b"dup")
        with pytest.raises(AlreadyExists):
            w.commit()
    assert not ingest_dir(store, "second").exists()


def test_ingest_bytes_checks_expected(store: LocalContentStore) -> None:
    wrong_size = Descriptor("application/octet-stream", digest_bytes(b"abc"), 4)
    with pytest.raises(FailedPrecondition, match="unexpected size"):
        store.ingest_bytes(b"abc", wrong_size)
    wrong_digest = Descriptor("application/octet-stream", digest_bytes(b"abd"), 3)
    with pytest.raises(FailedPrecondition, match="digest"):
        store.ingest_bytes(b"abc", wrong_digest)
    assert list(store.walk()) == []


def test_read_blob_limit(store: LocalContentStore) -> None:
    info = store.ingest_bytes(b"0123456789")
    assert read_blob(store, info.digest, max_size=10) == b"0123456789"
    with pytest.raises(FailedPrecondition, match="larger than 9"):
        read_blob(store, info.digest, max_size=9)


def test_truncate_only_to_zero(store: LocalContentStore) -> None:
    with store.writer("t") as w:
        w.write(b"abc")
        with pytest.raises(InvalidArgument):
            w.truncate(1)
        w.truncate(0)
        w.write(b"xyz")
        assert w.commit().digest == digest_bytes(b"xyz")


def test_write_atomic_replaces(tmp_path: Path) -> None:
    p = tmp_path / "f"
    write_atomic(str(p), b"one")
    write_atomic(str(p), b"two")
    assert p.read_bytes() == b"two"
    assert [x.name for x in tmp_path.iterdir()] == ["f"]


@pytest.mark.parametrize(("code", "kind"), [
    (errno.ENOENT, NotFound), (errno.EEXIST, AlreadyExists), (errno.EACCES, PermissionDenied),
    (errno.EROFS, PermissionDenied), (errno.ENOSPC, Unavailable), (errno.EIO, Internal),
])
def test_os_error_translation(code: int, kind: type[Exception]) -> None:
    e = translate(OSError(code, os.strerror(code)), "write blob")
    assert isinstance(e, kind)
    assert str(e).startswith("write blob: ")
