"""Storage driver conformance: what every ``StorageDriver`` must do, run for each one.

Modelled on distribution's driver test suite: content round trips, writers and appends,
stat/list/walk/move/delete semantics, path validation (nothing escapes the root),
atomic put, and the reader/writer lock.
"""

from __future__ import annotations

import threading
import time

import pytest

from dockyard.errors import InvalidArgument, NotFound
from dockyard.registry.storage import StorageDriver


def test_put_get_round_trip(driver: StorageDriver) -> None:
    driver.put_content("/a/b/c", b"hello")
    assert driver.get_content("/a/b/c") == b"hello"
    driver.put_content("/a/b/c", b"")
    assert driver.get_content("/a/b/c") == b""


def test_binary_content_and_large_file(driver: StorageDriver) -> None:
    data = bytes(range(256)) * 40000  # ~10 MB, every byte value
    driver.put_content("/big", data)
    assert driver.get_content("/big") == data
    assert driver.stat("/big").size == len(data)


def test_get_missing_is_not_found(driver: StorageDriver) -> None:
    with pytest.raises(NotFound):
        driver.get_content("/nope")
    with pytest.raises(NotFound):
        driver.stat("/nope")
    with pytest.raises(NotFound):
        driver.reader("/nope")
    with pytest.raises(NotFound):
        driver.delete("/nope")
    with pytest.raises(NotFound):
        driver.list("/nope")
    with pytest.raises(NotFound):
        driver.move("/nope", "/other")
    with pytest.raises(NotFound):
        driver.touch("/nope")


@pytest.mark.parametrize("path", [
    "", "relative", "/a/../b", "/a/./b", "//a", "/a//b", "/a/", "/..", "/.hidden",
    "/a/.tmp", "/a b", "/a\x00b", "/a/\u00e9", "/" + "x" * 2000,
])
def test_invalid_paths_refused_everywhere(driver: StorageDriver, path: str) -> None:
    for call in (lambda: driver.get_content(path), lambda: driver.put_content(path, b"x"),
                 lambda: driver.stat(path), lambda: driver.writer(path),
                 lambda: driver.reader(path), lambda: driver.delete(path),
                 lambda: driver.move("/ok", path), lambda: driver.touch(path)):
        with pytest.raises(InvalidArgument):
            call()


def test_reader_offset(driver: StorageDriver) -> None:
    driver.put_content("/f", b"0123456789")
    with driver.reader("/f", 4) as f:
        assert f.read() == b"456789"
    with driver.reader("/f") as f:
        assert f.read(3) == b"012"


def test_writer_append_and_resume(driver: StorageDriver) -> None:
    w = driver.writer("/up/data")
    assert w.size == 0
    w.write(b"abc")
    w.write(memoryview(b"def"))
    assert w.size == 6
    w.commit()
    w.close()
    assert driver.get_content("/up/data") == b"abcdef"
    w = driver.writer("/up/data", append=True)
    assert w.size == 6
    w.write(b"gh")
    w.close()
    assert driver.get_content("/up/data") == b"abcdefgh"
    w = driver.writer("/up/data")  # not append: truncates
    w.write(b"x")
    w.close()
    assert driver.get_content("/up/data") == b"x"


def test_writer_visible_while_written(driver: StorageDriver) -> None:
    w = driver.writer("/growing")
    try:
        w.write(b"12")
        assert driver.stat("/growing").size == 2
    finally:
        w.close()


def test_writer_cancel_removes(driver: StorageDriver) -> None:
    w = driver.writer("/c/data")
    w.write(b"junk")
    w.cancel()
    with pytest.raises(NotFound):
        driver.stat("/c/data")


def test_stat_file_and_directory(driver: StorageDriver) -> None:
    before = time.time() - 2
    driver.put_content("/d/e/f", b"xyz")
    fi = driver.stat("/d/e/f")
    assert (fi.path, fi.size, fi.is_dir) == ("/d/e/f", 3, False)
    assert fi.mtime >= before
    di = driver.stat("/d/e")
    assert di.is_dir and di.path == "/d/e"
    assert driver.stat("/").is_dir


def test_list_direct_children_sorted(driver: StorageDriver) -> None:
    for p in ("/l/b", "/l/a/x", "/l/a/y", "/l/c/z/w"):
        driver.put_content(p, b"")
    assert driver.list("/l") == ["/l/a", "/l/b", "/l/c"]
    assert driver.list("/l/a") == ["/l/a/x", "/l/a/y"]
    assert "/l" in driver.list("/")


def test_list_hides_driver_internals(driver: StorageDriver) -> None:
    driver.put_content("/x", b"1")
    with driver.lock("gc", exclusive=True):
        pass
    assert driver.list("/") == ["/x"]
    assert [fi.path for fi in driver.walk("/")] == ["/x"]


def test_move_atomic_replace(driver: StorageDriver) -> None:
    driver.put_content("/src/data", b"new")
    driver.put_content("/dst/data", b"old")
    driver.move("/src/data", "/dst/data")
    assert driver.get_content("/dst/data") == b"new"
    with pytest.raises(NotFound):
        driver.stat("/src/data")
    driver.put_content("/m1", b"1")
    driver.move("/m1", "/deep/new/parent/m1")
    assert driver.get_content("/deep/new/parent/m1") == b"1"


def test_delete_file_and_tree(driver: StorageDriver) -> None:
    for p in ("/t/a", "/t/b/c", "/t/b/d", "/tt"):
        driver.put_content(p, b"1")
    driver.delete("/t/a")
    with pytest.raises(NotFound):
        driver.stat("/t/a")
    driver.delete("/t")
    with pytest.raises(NotFound):
        driver.stat("/t/b/c")
    assert driver.get_content("/tt") == b"1"  # a sibling sharing the prefix survives


def test_delete_root_refused(driver: StorageDriver) -> None:
    with pytest.raises(InvalidArgument):
        driver.delete("/")


def test_walk_lists_everything_under(driver: StorageDriver) -> None:
    for p in ("/w/a/b", "/w/a/c", "/w/d"):
        driver.put_content(p, b"12")
    seen = {fi.path: fi for fi in driver.walk("/w")}
    assert set(seen) == {"/w/a", "/w/a/b", "/w/a/c", "/w/d"}
    assert seen["/w/a"].is_dir and not seen["/w/d"].is_dir
    assert seen["/w/a/b"].size == 2
    with pytest.raises(NotFound):
        list(driver.walk("/nothing"))


def test_touch_refreshes_mtime(driver: StorageDriver) -> None:
    driver.put_content("/old", b"1")
    first = driver.stat("/old").mtime
    time.sleep(0.02)
    driver.touch("/old")
    assert driver.stat("/old").mtime > first


def test_file_and_directory_cannot_share_a_path(driver: StorageDriver) -> None:
    driver.put_content("/fd/child", b"1")
    with pytest.raises(Exception):  # noqa: B017 - Conflict, or the OS's IsADirectory
        driver.put_content("/fd", b"2")
    assert driver.get_content("/fd/child") == b"1"


def test_put_content_is_atomic_for_readers(driver: StorageDriver) -> None:
    """Readers racing a writer see one whole version or the other, never a mix."""
    a, b = b"a" * 300_000, b"b" * 300_000
    driver.put_content("/atomic", a)
    stop = threading.Event()
    bad: list[bytes] = []

    def read() -> None:
        while not stop.is_set():
            got = driver.get_content("/atomic")
            if got not in (a, b):
                bad.append(got[:10])

    t = threading.Thread(target=read)
    t.start()
    try:
        for i in range(60):
            driver.put_content("/atomic", a if i % 2 else b)
    finally:
        stop.set()
        t.join()
    assert not bad


def test_local_path_reads_same_bytes_when_given(driver: StorageDriver) -> None:
    driver.put_content("/lp/data", b"bytes")
    p = driver.local_path("/lp/data")
    if p is not None:
        with open(p, "rb") as f:
            assert f.read() == b"bytes"


def test_lock_exclusive_excludes_shared(driver: StorageDriver) -> None:
    order: list[str] = []
    inside = threading.Event()

    def shared() -> None:
        inside.wait()
        with driver.lock("gc", exclusive=False):
            order.append("shared")

    t = threading.Thread(target=shared)
    with driver.lock("gc", exclusive=True):
        t.start()
        inside.set()
        time.sleep(0.2)
        order.append("exclusive-done")
    t.join(5)
    assert order == ["exclusive-done", "shared"]


def test_lock_shared_holders_coexist(driver: StorageDriver) -> None:
    with driver.lock("gc", exclusive=False):
        done = threading.Event()

        def other() -> None:
            with driver.lock("gc", exclusive=False):
                done.set()

        t = threading.Thread(target=other)
        t.start()
        assert done.wait(5)
        t.join()


def test_lock_names_validated(driver: StorageDriver) -> None:
    with pytest.raises(InvalidArgument), driver.lock("../etc", exclusive=True):
        pass
