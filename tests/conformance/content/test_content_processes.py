"""Content store conformance across threads and processes: one writer per ref even
between processes, concurrent commits of one blob, resume in a new process, and a
writer killed with SIGKILL mid-write (the store stays consistent: nothing visible, the
ingest resumable or cleanable)."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable

import pytest

from dockyard.content import ContentStore, Info, read_blob
from dockyard.errors import AlreadyExists, NotFound, Unavailable
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import digest_bytes

Content = Callable[..., bytes]
ChildFactory = Callable[[str], "subprocess.Popen[str]"]


def desc(data: bytes) -> Descriptor:
    return Descriptor("application/octet-stream", digest_bytes(data), len(data))


def wait_line(p: subprocess.Popen[str], want: str, timeout: float = 60) -> None:
    """Read the child's stdout until the line ``want`` (fail with its stderr if it dies)."""
    assert p.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if line.strip() == want:
            return
        if not line and p.poll() is not None:
            _, err = p.communicate()
            pytest.fail(f"child exited {p.returncode} before {want!r}: {err}")
    pytest.fail(f"child did not say {want!r} in {timeout}s")


def finish(p: subprocess.Popen[str]) -> None:
    _, err = p.communicate(timeout=60)
    assert p.returncode == 0, err


# ----------------------------------------------------------------- threads


def test_concurrent_commits_of_one_blob(store: ContentStore, content: Content) -> None:
    data = content(1 << 20, seed=20)
    d = digest_bytes(data)
    results: list[Info | Exception] = []
    start = threading.Barrier(8)

    def commit(i: int) -> None:
        try:
            with store.writer(f"same-{i}") as w:
                start.wait()
                for k in range(0, len(data), 65536):
                    w.write(data[k:k + 65536])
                results.append(w.commit(len(data), d))
        except Exception as e:  # collected and checked below
            results.append(e)

    threads = [threading.Thread(target=commit, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    for r in results:
        assert isinstance(r, Info | AlreadyExists), r
    assert any(isinstance(r, Info) for r in results)
    assert [i.digest for i in store.walk()] == [d]
    assert read_blob(store, d) == data
    assert store.list_statuses() == []


def test_concurrent_ingest_bytes_all_succeed(store: ContentStore, content: Content) -> None:
    data = content(200_000, seed=21)
    out: list[Info] = []
    threads = [threading.Thread(target=lambda: out.append(store.ingest_bytes(data, desc(data))))
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 6 and {i.digest for i in out} == {digest_bytes(data)}
    assert store.list_statuses() == []


def test_concurrent_distinct_blobs(store: ContentStore, content: Content) -> None:
    blobs = [content(50_000 + i, seed=30 + i) for i in range(8)]
    threads = [threading.Thread(target=store.ingest_bytes, args=(b, desc(b))) for b in blobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(i.digest for i in store.walk()) == sorted(digest_bytes(b) for b in blobs)


def test_one_writer_per_ref_between_threads(store: ContentStore) -> None:
    outcomes: list[str] = []
    start = threading.Barrier(6)
    all_refused = threading.Event()

    def grab() -> None:
        start.wait()
        try:
            w = store.writer("contended")
        except Unavailable:
            outcomes.append("locked")
            if outcomes.count("locked") == 5:
                all_refused.set()
            return
        outcomes.append("got")
        all_refused.wait(timeout=30)  # hold the ref until every other thread has tried
        w.close()

    threads = [threading.Thread(target=grab) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["got"] + ["locked"] * 5


# ----------------------------------------------------------------- processes


def test_one_writer_per_ref_between_processes(store: ContentStore, child: ChildFactory) -> None:
    p = child('w = store.writer("shared")\nw.write(b"from the child")\n'
              'print("locked", flush=True)\nsys.stdin.readline()\nw.close()\nprint("done")\n')
    wait_line(p, "locked")
    with pytest.raises(Unavailable, match="locked"):
        store.writer("shared")
    with pytest.raises(Unavailable):
        store.abort("shared")
    assert store.status("shared").offset == len(b"from the child")  # readable meanwhile
    assert p.stdin is not None
    p.stdin.write("\n")
    p.stdin.flush()
    finish(p)
    with store.writer("shared") as w:
        assert w.offset == len(b"from the child")


def test_lock_dies_with_its_process(store: ContentStore, child: ChildFactory) -> None:
    p = child('w = store.writer("orphan")\nw.write(b"x" * 10)\nprint("locked", flush=True)\n'
              'time.sleep(600)\n')
    wait_line(p, "locked")
    with pytest.raises(Unavailable):
        store.writer("orphan")
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    with store.writer("orphan") as w:  # the kernel released the lock with the process
        assert w.offset == 10


def test_resume_in_a_new_process(store: ContentStore, child: ChildFactory,
                                 content: Content) -> None:
    data = content(3 << 20, seed=40)
    d = digest_bytes(data)
    p = child(f'data = content({len(data)}, seed=40)\n'
              'from dockyard.oci.descriptor import Descriptor\n'
              'from dockyard.oci.digest import digest_bytes\n'
              'w = store.writer("handoff", Descriptor("application/octet-stream", '
              'digest_bytes(data), len(data)))\n'
              'w.write(data[:1234567])\nw.close()\nprint("closed", flush=True)\n')
    wait_line(p, "closed")
    finish(p)
    st = store.status("handoff")
    assert (st.offset, st.total, st.expected) == (1234567, len(data), d)
    with store.writer("handoff") as w:
        assert w.offset == 1234567
        assert w.digest() == digest_bytes(data[:1234567])
        w.write(data[1234567:])
        assert w.commit().digest == d
    assert read_blob(store, d) == data

    # And the other way round: this process writes half, a new one finishes.
    half = content(1 << 20, seed=41)
    with store.writer("handback", desc(half)) as w:
        w.write(half[:1000])
    p = child('data = content(1 << 20, seed=41)\nw = store.writer("handback")\n'
              'assert w.offset == 1000, w.offset\nw.write(data[1000:])\n'
              'print(w.commit().digest, flush=True)\n')
    finish(p)
    assert read_blob(store, digest_bytes(half)) == half


# ----------------------------------------------------------------- crash


CRASH_SIZE = 64 << 20

CRASH_WRITER = f'''
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import digest_bytes
data = content({CRASH_SIZE}, seed=99)
w = store.writer("crash", Descriptor("application/octet-stream", digest_bytes(data), len(data)))
told = False
for i in range(0, len(data), 256 << 10):
    w.write(data[i:i + (256 << 10)])
    if not told and i >= 4 << 20:
        print("writing", flush=True)
        told = True
    time.sleep(0.002)
print("finished", flush=True)
'''


def kill_mid_write(child: ChildFactory) -> None:
    p = child(CRASH_WRITER)
    wait_line(p, "writing")
    time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    assert p.returncode == -signal.SIGKILL, "the writer finished before it was killed"


def assert_nothing_visible(store: ContentStore, data: bytes) -> None:
    with pytest.raises(NotFound):
        store.info(digest_bytes(data))
    with pytest.raises(NotFound):
        store.open_blob(digest_bytes(data))
    assert list(store.walk()) == []


def test_kill9_mid_write_then_resume(store: ContentStore, child: ChildFactory,
                                     content: Content,
                                     reopen: Callable[[], ContentStore]) -> None:
    data = content(CRASH_SIZE, seed=99)
    kill_mid_write(child)
    store = reopen()  # as a restarted daemon would
    assert_nothing_visible(store, data)
    [st] = store.list_statuses()
    assert st.ref == "crash" and 4 << 20 <= st.offset < CRASH_SIZE
    assert st.total == CRASH_SIZE and st.expected == digest_bytes(data)
    with store.writer("crash") as w:
        assert w.offset == st.offset
        assert w.digest() == digest_bytes(data[:st.offset])  # what is there is a prefix
        w.write(data[w.offset:])
        info = w.commit()
    assert info.digest == digest_bytes(data) and info.size == CRASH_SIZE
    assert read_blob(store, info.digest) == data
    assert store.list_statuses() == []


def test_kill9_mid_write_then_clean(store: ContentStore, child: ChildFactory, content: Content,
                                    reopen: Callable[[], ContentStore]) -> None:
    data = content(CRASH_SIZE, seed=99)
    kill_mid_write(child)
    store = reopen()
    assert_nothing_visible(store, data)
    assert store.clean_stale_ingests(older_than=3600) == []  # fresh: kept
    assert store.clean_stale_ingests(older_than=0) == ["crash"]
    assert store.list_statuses() == []
    with pytest.raises(NotFound):
        store.status("crash")
    assert_nothing_visible(store, data)
    with store.writer("crash") as w:
        assert w.offset == 0


def test_clean_never_takes_a_held_ingest(store: ContentStore) -> None:
    w = store.writer("live")
    w.write(b"in progress")
    assert store.clean_stale_ingests(older_than=0) == []
    assert store.status("live").offset == len(b"in progress")
    w.close()
    assert store.clean_stale_ingests(older_than=0) == ["live"]
