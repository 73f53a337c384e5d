"""Content store conformance: the lifecycle every ``ContentStore`` must honour
(after containerd's ``core/content/testsuite``), run for each implementation."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from dockyard.content import ContentStore, Info, Writer, ingest_stream, read_at, read_blob
from dockyard.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest, digest_bytes

Content = Callable[..., bytes]
OCTET = "application/octet-stream"
SLACK = timedelta(milliseconds=50)  # file-system clocks are coarse


def now() -> datetime:
    return datetime.now(UTC)


def within(t: datetime, lo: datetime, hi: datetime) -> bool:
    return lo - SLACK <= t <= hi + SLACK


def desc(data: bytes, algorithm: str = "sha256") -> Descriptor:
    return Descriptor(OCTET, digest_bytes(data, algorithm), len(data))


def write_all(w: Writer, data: bytes, chunk: int = 32) -> None:
    for i in range(0, len(data), chunk):
        assert w.write(data[i:i + chunk]) == len(data[i:i + chunk])


def check_info(store: ContentStore, d: Digest, size: int, labels: dict[str, str],
               c: tuple[datetime, datetime], u: tuple[datetime, datetime]) -> Info:
    info = store.info(d)
    assert info.digest == d
    assert info.size == size
    assert within(info.created_at, *c), (info.created_at, c)
    assert within(info.updated_at, *u), (info.updated_at, u)
    assert dict(info.labels) == labels
    return info


# ----------------------------------------------------------------- write, commit, read


@pytest.mark.parametrize("with_expected", [False, True])
@pytest.mark.parametrize("commit_args", [False, True])
def test_write_commit_read(store: ContentStore, content: Content, with_expected: bool,
                           commit_args: bool) -> None:
    data = content(256, seed=1)
    d = digest_bytes(data)
    labels = {"dockyard.io/gc.root": "2024-01-01T00:00:00Z"}
    w = store.writer("c1", desc(data) if with_expected else None)
    with w:
        write_all(w, data)
        assert w.offset == 256 and w.digest() == d
        before = now()
        info = (w.commit(256, d, labels) if commit_args else w.commit(labels=labels))
        after = now()
    assert info.digest == d and info.size == 256
    check_info(store, d, 256, labels, (before, after), (before, after))
    with store.open_blob(d) as f:
        assert f.read() == data
        assert f.seekable()
        f.seek(100)
        assert f.read(10) == data[100:110]
        assert read_at(f, 200, 1000) == data[200:]
    assert read_blob(store, d) == data
    with pytest.raises(NotFound):
        store.status("c1")  # a committed ingest is gone


def test_small_blob_read_past_end(store: ContentStore) -> None:
    info = store.ingest_bytes(b"foobar", desc(b"foobar"))
    with store.open_blob(info.digest) as f:
        assert f.read(7) == b"foobar"
        assert read_at(f, 0, 7) == b"foobar"


def test_empty_blob(store: ContentStore) -> None:
    with store.writer("empty") as w:
        info = w.commit(0)
    assert str(info.digest) == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert read_blob(store, info.digest) == b""


def test_sha512(store: ContentStore, content: Content) -> None:
    data = content(1000, seed=2)
    expected = desc(data, "sha512")
    with store.writer("s512", expected) as w:
        w.write(data)
        assert w.digest().algorithm == "sha512"
        info = w.commit()
    assert info.digest == expected.digest
    assert read_blob(store, expected.digest) == data
    assert expected.digest in [i.digest for i in store.walk()]


def test_not_found(store: ContentStore) -> None:
    missing = digest_bytes(b"missing")
    with pytest.raises(NotFound):
        store.info(missing)
    with pytest.raises(NotFound):
        store.open_blob(missing)
    with pytest.raises(NotFound):
        store.delete(missing)
    with pytest.raises(NotFound):
        store.update_labels(missing, {"a": "b"})
    with pytest.raises(NotFound):
        store.status("no-such-ref")


def test_invalid_ref(store: ContentStore) -> None:
    with pytest.raises(InvalidArgument):
        store.writer("")


# ----------------------------------------------------------------- status


def test_status_follows_writes(store: ContentStore, content: Content) -> None:
    data = content(256, seed=3)
    d = digest_bytes(data)
    pre_start = now()
    w = store.writer("c1", desc(data))
    post_start = now()
    with w:
        for lo, hi in ((0, 0), (0, 64), (64, 192), (192, 256)):
            pre_update = now()
            w.write(data[lo:hi])
            post_update = now()
            for st in (w.status(), store.status("c1")):
                assert st.ref == "c1"
                assert st.offset == hi
                assert st.total == 256
                assert st.expected == d
                assert within(st.started_at, pre_start, post_start)
                if hi:
                    assert within(st.updated_at, pre_update, post_update)
            assert w.digest() == digest_bytes(data[:hi])
        info = w.commit()
    assert info.digest == d


def test_list_statuses_by_prefix(store: ContentStore) -> None:
    for ref in ("layer-a", "layer-b", "manifest-a"):
        with store.writer(ref) as w:
            w.write(ref.encode())
    assert [s.ref for s in store.list_statuses()] == ["layer-a", "layer-b", "manifest-a"]
    assert [s.ref for s in store.list_statuses("layer-")] == ["layer-a", "layer-b"]
    assert [s.offset for s in store.list_statuses("manifest")] == [len(b"manifest-a")]
    assert store.list_statuses("none") == []


# ----------------------------------------------------------------- refused commits


def test_wrong_digest_refused_nothing_visible(store: ContentStore, content: Content) -> None:
    data = content(300, seed=4)
    wrong = digest_bytes(b"something else")
    with store.writer("c1") as w:
        w.write(data)
        with pytest.raises(FailedPrecondition, match="unexpected commit digest"):
            w.commit(len(data), wrong)
    for d in (wrong, digest_bytes(data)):
        with pytest.raises(NotFound):
            store.info(d)
    assert list(store.walk()) == []
    # The ingest is kept: resume it and commit with the right expectations.
    with store.writer("c1") as w:
        assert w.offset == 300
        assert w.commit(300, digest_bytes(data)).digest == digest_bytes(data)


def test_wrong_size_refused_nothing_visible(store: ContentStore, content: Content) -> None:
    data = content(300, seed=5)
    with store.writer("c1") as w:
        w.write(data)
        with pytest.raises(FailedPrecondition, match="unexpected commit size 300, expected 299"):
            w.commit(299)
    assert list(store.walk()) == []
    with store.writer("c1") as w, pytest.raises(FailedPrecondition, match="size"):
        w.commit(301, digest_bytes(data))
    assert list(store.walk()) == []


def test_expected_descriptor_is_enforced_at_commit(store: ContentStore, content: Content) -> None:
    data = content(100, seed=6)
    with store.writer("c1", desc(data)) as w:
        w.write(data[:99] + b"X")
        with pytest.raises(FailedPrecondition, match="digest"):
            w.commit()
    with store.writer("c2", desc(data)) as w:
        w.write(data[:50])
        with pytest.raises(FailedPrecondition, match="size"):
            w.commit()
    assert list(store.walk()) == []


def test_commit_error_state(store: ContentStore, content: Content) -> None:
    """containerd's checkCommitErrorState: every failed commit leaves a usable ref."""
    c1 = content(256, seed=7)
    d1 = digest_bytes(c1)
    d2 = digest_bytes(content(256, seed=8))
    store.ingest_bytes(c1, desc(c1))
    ref = "c1-commiterror-state"

    def reopen() -> Writer:
        w = store.writer(ref)
        with pytest.raises(Unavailable):
            store.writer(ref)
        return w

    w = reopen()
    w.write(c1)
    with pytest.raises(AlreadyExists):
        w.commit(len(c1), d1)
    w = reopen()
    w.write(c1)
    with pytest.raises(AlreadyExists):
        w.commit(len(c1))
    w.close()
    w = reopen()
    w.write(c1 + b"more")
    with pytest.raises(FailedPrecondition):
        w.commit(len(c1) + 4, d2)
    w.close()
    w = reopen()
    with pytest.raises(FailedPrecondition):
        w.commit(len(c1))
    w.close()
    w = reopen()
    w.commit(len(c1) + 4)
    w.close()
    w = reopen()
    w.write(c1)
    with pytest.raises(AlreadyExists):
        w.commit(len(c1), d1)
    w.close()
    w = reopen()
    w.close()
    store.writer(ref).close()


def test_commit_on_closed_writer(store: ContentStore) -> None:
    w = store.writer("c1")
    w.close()
    w.close()  # twice is fine
    with pytest.raises(FailedPrecondition, match="closed"):
        w.commit()
    with pytest.raises(FailedPrecondition, match="closed"):
        w.write(b"x")


# ----------------------------------------------------------------- the same blob twice


def test_same_blob_committed_twice(store: ContentStore, content: Content) -> None:
    data = content(256, seed=9)
    d = digest_bytes(data)
    first = store.ingest_bytes(data, desc(data))
    for i, expected in enumerate((d, None)):
        ref = f"c1-commitexists-{i}"
        with store.writer(ref) as w:
            w.write(data)
            with pytest.raises(AlreadyExists):
                w.commit(len(data), expected)
        with pytest.raises(NotFound):
            store.status(ref)  # AlreadyExists removed the ingest
    with pytest.raises(AlreadyExists):
        store.writer("c1-known", desc(data))  # refused up front
    # Callers treat AlreadyExists as success: the helpers return the existing content.
    again = store.ingest_bytes(data, desc(data))
    assert again.digest == first.digest and again.created_at == first.created_at
    assert ingest_stream(store, "c1-stream", io.BytesIO(data), desc(data)).digest == d
    assert ingest_stream(store, "c1-stream2", io.BytesIO(data)).digest == d
    assert [i.digest for i in store.walk()] == [d]
    assert store.list_statuses() == []


# ----------------------------------------------------------------- resume


def _resume_truncate(store: ContentStore, w: Writer, data: bytes, written: int) -> None:
    w.truncate(0)
    assert w.offset == 0 and w.digest() == digest_bytes(b"")
    write_all(w, data, 1024)
    w.commit(len(data), digest_bytes(data))


def _resume_discard(store: ContentStore, w: Writer, data: bytes, written: int) -> None:
    write_all(w, data[written:], 1024)
    w.commit(len(data), digest_bytes(data))


RESUMES = {"truncate": _resume_truncate, "discard": _resume_discard}


@pytest.mark.parametrize("how", sorted(RESUMES))
@pytest.mark.parametrize("size", [500, 5000, 50000])
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_resume(store: ContentStore, content: Content, how: str, size: int,
                fraction: float) -> None:
    data = content(size, seed=size)
    limit = int(size * fraction)
    ref = f"ref-{size}-{fraction}"
    with store.writer(ref, desc(data)) as w:
        w.write(data[:limit])
    w = store.writer(ref, desc(data))
    with w:
        assert w.offset == limit
        assert w.status().offset == limit
        assert w.digest() == digest_bytes(data[:limit])
        RESUMES[how](store, w, data, limit)
    assert read_blob(store, digest_bytes(data)) == data


@pytest.mark.parametrize("seekable", [True, False])
def test_resume_with_ingest_stream(store: ContentStore, content: Content, seekable: bool) -> None:
    data = content(50000, seed=10)
    with store.writer("stream", desc(data)) as w:
        w.write(data[:20000])

    class Unseekable(io.BytesIO):
        def seekable(self) -> bool:
            return False

    reader = io.BytesIO(data) if seekable else Unseekable(data)
    info = ingest_stream(store, "stream", reader, desc(data))
    assert info.digest == digest_bytes(data)
    assert read_blob(store, info.digest) == data


def test_resume_checks_total_and_expected(store: ContentStore, content: Content) -> None:
    data = content(1000, seed=11)
    other = content(1000, seed=12)
    with store.writer("r", desc(data)) as w:
        w.write(data[:500])
    # Resuming without a descriptor keeps the stored expectations.
    with store.writer("r") as w:
        assert w.offset == 500
        assert w.status().expected == digest_bytes(data) and w.status().total == 1000
    # Expectations given only on resume are adopted (and kept for the next resume).
    with store.writer("late") as w:
        w.write(data[:100])
    with store.writer("late", desc(data)) as w:
        assert w.offset == 100 and w.status().total == 1000
    with store.writer("late") as w:
        assert w.status().expected == digest_bytes(data)
        w.write(data[100:])
        w.commit()
    # A different expectation starts the ingest over rather than mixing contents.
    with store.writer("r", desc(other)) as w:
        assert w.offset == 0
        w.write(other)
        assert w.commit().digest == digest_bytes(other)


# ----------------------------------------------------------------- concurrency (one process)


def test_one_writer_per_ref(store: ContentStore) -> None:
    w = store.writer("busy")
    with pytest.raises(Unavailable, match="locked"):
        store.writer("busy")
    with pytest.raises(Unavailable, match="locked"):
        store.abort("busy")
    w.write(b"abc")
    w.close()
    with store.writer("busy") as w2:
        assert w2.offset == 3
    other = store.writer("other")  # other refs are independent
    other.close()


# ----------------------------------------------------------------- abort


def test_abort(store: ContentStore) -> None:
    with store.writer("gone") as w:
        w.write(b"partial")
    store.abort("gone")
    with pytest.raises(NotFound):
        store.status("gone")
    assert store.list_statuses() == []
    with pytest.raises(NotFound):
        store.abort("gone")
    with pytest.raises(NotFound):
        store.abort("never-was")
    with store.writer("gone") as w:
        assert w.offset == 0
    assert list(store.walk()) == []


# ----------------------------------------------------------------- delete, walk, labels


def test_delete(store: ContentStore) -> None:
    info = store.ingest_bytes(b"doomed", labels={"k": "v"})
    keep = store.ingest_bytes(b"kept")
    store.delete(info.digest)
    with pytest.raises(NotFound):
        store.info(info.digest)
    with pytest.raises(NotFound):
        store.open_blob(info.digest)
    with pytest.raises(NotFound):
        store.delete(info.digest)
    assert [i.digest for i in store.walk()] == [keep.digest]
    # Stored again, it comes back without the old labels.
    assert store.ingest_bytes(b"doomed").labels == {}


def test_walk(store: ContentStore) -> None:
    infos = [store.ingest_bytes(b"blob-%d" % i, labels={"n": str(i % 2)}) for i in range(6)]
    walked = list(store.walk())
    assert [i.digest for i in walked] == sorted(i.digest for i in infos)
    assert all(i.size == len(b"blob-0") for i in walked)
    odd = [i.digest for i in store.walk(lambda i: i.labels.get("n") == "1")]
    assert odd == sorted(i.digest for i in infos[1::2])


def test_labels(store: ContentStore, content: Content) -> None:
    data = content(256, seed=13)
    labels = {"k1": "v1", "k2": "v2", "dockyard.io/gc.root": "now"}
    with store.writer("c1-labels", desc(data)) as w:
        w.write(data)
        pre_commit = now()
        info = w.commit(labels=labels)
        post_commit = now()
    d = info.digest
    check_info(store, d, 256, labels, (pre_commit, post_commit), (pre_commit, post_commit))

    pre_update = now()
    updated = store.update_labels(d, {"k1": "newvalue", "k2": "", "k3": "v3"})
    post_update = now()
    want = {"k1": "newvalue", "k3": "v3", "dockyard.io/gc.root": "now"}
    assert dict(updated.labels) == want
    check_info(store, d, 256, want, (pre_commit, post_commit), (pre_update, post_update))

    pre_update = now()
    store.update_labels(d, {"only": "this"}, replace=True)
    post_update = now()
    check_info(store, d, 256, {"only": "this"}, (pre_commit, post_commit),
               (pre_update, post_update))
    pre_update = now()
    store.update_labels(d, {}, replace=True)
    post_update = now()
    check_info(store, d, 256, {}, (pre_commit, post_commit), (pre_update, post_update))


@pytest.mark.parametrize("labels", [{"": "v"}, {"k": "v" * 5000}])
def test_invalid_labels(store: ContentStore, labels: dict[str, str]) -> None:
    info = store.ingest_bytes(b"x")
    with pytest.raises(InvalidArgument):
        store.update_labels(info.digest, labels)


# ----------------------------------------------------------------- durability across opens


def test_reopen_keeps_content_ingests_and_labels(
        store: ContentStore, reopen: Callable[[], ContentStore]) -> None:
    info = store.ingest_bytes(b"persistent", labels={"a": "1"})
    with store.writer("half") as w:
        w.write(b"half of it")
    reopened = reopen()
    assert reopened.info(info.digest) == info
    assert [s.ref for s in reopened.list_statuses()] == ["half"]
    with reopened.writer("half") as w:
        assert w.offset == len(b"half of it")
