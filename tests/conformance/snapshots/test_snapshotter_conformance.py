"""The snapshotter conformance suite (containerd's core/snapshots/testsuite), for each one.

Every test takes the ``snapshotter`` fixture, parametrised over ``SNAPSHOTTERS``; tests that
mount use ``mounter``, which unmounts in ``finally`` and checks nothing is left mounted.
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.archive import DiffMode, apply_layer, write_diff
from dockyard.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from dockyard.snapshots import Info, Kind, Mount, Snapshotter, layer_dirs
from dockyard.snapshots.diffs import write_snapshot_diff
from dockyard.snapshots.plugins import SNAPSHOTTERS

Mounter = Callable[[list[Mount]], Path]

Member = tuple[tarfile.TarInfo, bytes]


def file(name: str, data: bytes = b"", mode: int = 0o644, mtime: int = 1_600_000_000,
         uid: int = 0, gid: int = 0) -> Member:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime, ti.uid, ti.gid = len(data), mode, mtime, uid, gid
    return ti, data


def directory(name: str, mode: int = 0o755, mtime: int = 1_600_000_000) -> Member:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, mode, mtime
    return ti, b""


def symlink(name: str, target: str) -> Member:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, target, 0o777
    return ti, b""


def whiteout(path: str) -> Member:
    d, _, base = path.rpartition("/")
    return file((d + "/" if d else "") + ".wh." + base, mode=0o600)


def opaque(dirpath: str) -> Member:
    return file(dirpath.rstrip("/") + "/.wh..wh..opq", mode=0o600)


def build_tar(*members: Member, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for ti, data in members:
            tf.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return buf.getvalue()


def add_layer(s: Snapshotter, name: str, parent: str | None, layer: bytes) -> str:
    """Prepare on ``parent``, apply ``layer`` where the mounts say, commit as ``name``."""
    key = f"extract-{name}"
    dirs = layer_dirs(s.prepare(key, parent))
    apply_layer(io.BytesIO(layer), dirs.upper, whiteout_mode=dirs.whiteout_mode,
                parents=dirs.lowers)
    s.commit(name, key)
    return name


def test_prepare_commit_view_remove(snapshotter: Snapshotter, mounter: Mounter) -> None:
    s = snapshotter
    mounts = s.prepare("active-1", labels={"a": "1"})
    info = s.stat("active-1")
    assert (info.kind, info.name, info.parent, dict(info.labels)) == (
        Kind.ACTIVE, "active-1", None, {"a": "1"})
    assert s.mounts("active-1") == mounts
    m = mounter(mounts)
    (m / "hello").write_text("world")
    os.mkdir(m / "dir")
    s.commit("layer-1", "active-1")
    with pytest.raises(NotFound):
        s.stat("active-1")
    assert s.stat("layer-1").kind is Kind.COMMITTED
    v = mounter(s.view("view-1", "layer-1"))
    assert (v / "hello").read_text() == "world"
    with pytest.raises(OSError):
        (v / "new").write_text("x")  # views are read-only
    with pytest.raises(FailedPrecondition):
        s.remove("layer-1")  # has a child
    s.remove("view-1")
    s.remove("layer-1")
    assert list(s.walk()) == []


def test_parent_chain_and_refusals(snapshotter: Snapshotter) -> None:
    s = snapshotter
    add_layer(s, "l1", None, build_tar(file("a", b"1")))
    add_layer(s, "l2", "l1", build_tar(file("b", b"2")))
    add_layer(s, "l3", "l2", build_tar(file("a", b"3")))
    assert s.stat("l3").parent == "l2"
    assert s.stat("l2").parent == "l1"
    s.prepare("work", "l3")
    with pytest.raises(AlreadyExists):
        s.prepare("work", "l3")
    with pytest.raises(AlreadyExists):
        s.prepare("l1")  # keys and names share one namespace
    with pytest.raises(InvalidArgument):
        s.prepare("on-active", "work")  # parents must be committed
    with pytest.raises(NotFound):
        s.prepare("orphan", "missing")
    with pytest.raises(FailedPrecondition):
        s.commit("nope", "l1")  # only active snapshots commit
    s.view("v", "l3")
    with pytest.raises(FailedPrecondition):
        s.commit("nope", "v")
    with pytest.raises(AlreadyExists):
        s.commit("l1", "work")
    with pytest.raises(FailedPrecondition):
        s.remove("l2")
    with pytest.raises(NotFound):
        s.remove("missing")
    for k in ("v", "work", "l3", "l2", "l1"):
        s.remove(k)


def test_chain_reads_through_mounts(snapshotter: Snapshotter, mounter: Mounter) -> None:
    s = snapshotter
    add_layer(s, "l1", None, build_tar(directory("etc"), file("etc/a", b"one"),
                                       file("etc/keep", b"keep")))
    add_layer(s, "l2", "l1", build_tar(directory("etc"), file("etc/a", b"two"),
                                       symlink("etc/link", "a")))
    add_layer(s, "l3", "l2", build_tar(directory("usr"), file("usr/b", b"three", mode=0o4755)))
    m = mounter(s.view("v", "l3"))
    assert (m / "etc/a").read_text() == "two"
    assert (m / "etc/keep").read_text() == "keep"
    assert os.readlink(m / "etc/link") == "a"
    assert os.stat(m / "usr/b").st_mode & 0o7777 == 0o4755
    w = mounter(s.prepare("rw", "l3"))
    (w / "etc/a").write_text("changed")
    assert (w / "etc/a").read_text() == "changed"
    assert (m / "etc/a").read_text() == "two"  # the view does not see the active one


def _whiteout_stack(s: Snapshotter) -> None:
    add_layer(s, "base", None, build_tar(
        directory("a"), file("a/x", b"x"), file("a/keep", b"k"),
        directory("d"), file("d/y", b"y"), directory("d/sub"), file("d/sub/deep", b"d")))
    add_layer(s, "top", "base", build_tar(
        directory("a"), whiteout("a/x"), directory("d"), opaque("d"), file("d/z", b"z")))


def test_whiteouts_through_the_mount(snapshotter: Snapshotter, mounter: Mounter) -> None:
    s = snapshotter
    _whiteout_stack(s)
    for m in (mounter(s.view("v", "top")), mounter(s.prepare("rw", "top"))):
        assert not (m / "a/x").exists() and not (m / "a/x").is_symlink()
        assert sorted(os.listdir(m / "a")) == ["keep"]
        assert sorted(os.listdir(m / "d")) == ["z"]
        assert (m / "d/z").read_text() == "z"
    base = mounter(s.view("vb", "base"))
    assert sorted(os.listdir(base / "d")) == ["sub", "y"]


def test_whiteouts_in_a_layer_of_its_own(snapshotter: Snapshotter, mounter: Mounter) -> None:
    # the same layer both deletes lower content and adds to the opaque dir before/after
    s = snapshotter
    add_layer(s, "b", None, build_tar(directory("d"), file("d/old", b"o"), file("gone", b"g")))
    add_layer(s, "t", "b", build_tar(directory("d"), file("d/first", b"1"), opaque("d"),
                                     file("d/second", b"2"), whiteout("gone")))
    m = mounter(s.view("v", "t"))
    assert sorted(os.listdir(m / "d")) == ["first", "second"]
    assert sorted(os.listdir(m)) == ["d"]


def test_a_directory_deleted_and_made_again(snapshotter: Snapshotter,
                                            mounter: Mounter) -> None:
    s = snapshotter
    add_layer(s, "b", None, build_tar(directory("d"), file("d/old", b"o")))
    add_layer(s, "t", "b", build_tar(whiteout("d"), directory("d"), file("d/new", b"n")))
    m = mounter(s.view("v", "t"))
    assert sorted(os.listdir(m / "d")) == ["new"]


def test_many_layers_mount(snapshotter: Snapshotter, mounter: Mounter) -> None:
    s = snapshotter
    parent = None
    for i in range(130):
        parent = add_layer(s, f"layer-{i:03d}", parent,
                           build_tar(file(f"f{i:03d}", str(i).encode()), file("top", b"%d" % i)))
    assert parent is not None
    for m in (mounter(s.view("v", parent)), mounter(s.prepare("rw", parent))):
        assert (m / "f000").read_text() == "0"
        assert (m / "f129").read_text() == "129"
        assert (m / "top").read_text() == "129"
        assert len(os.listdir(m)) == 131


def test_usage(snapshotter: Snapshotter, mounter: Mounter) -> None:
    s = snapshotter
    add_layer(s, "base", None, build_tar(file("big", os.urandom(1 << 20))))
    mounts = s.prepare("rw", "base")
    empty = s.usage("rw")
    m = mounter(mounts)
    with open(m / "new", "wb") as f:
        f.write(os.urandom(2 << 20))
    os.mkdir(m / "dir")
    grown = s.usage("rw")
    assert grown.size_bytes - empty.size_bytes >= 2 << 20
    assert grown.inodes - empty.inodes == 2
    base = s.usage("base")
    assert base.size_bytes >= 1 << 20 and base.inodes >= 2
    s.commit("next", "rw")
    assert s.usage("next") == grown
    with pytest.raises(NotFound):
        s.usage("rw")


def test_labels_update_and_walk(snapshotter: Snapshotter) -> None:
    s = snapshotter
    add_layer(s, "l1", None, build_tar(file("a")))
    s.prepare("c1", "l1", labels={"role": "container", "x": "1"})
    s.view("v1", "l1", labels={"role": "view"})
    before = s.stat("c1")
    time.sleep(0.01)
    after = s.update(Info(kind=Kind.ACTIVE, name="c1", labels={"x": "2", "y": "3"}),
                     ["labels.x", "labels.role"])
    assert dict(after.labels) == {"x": "2"}
    assert after.updated is not None and before.updated is not None
    assert after.updated > before.updated and after.created == before.created
    assert {i.name for i in s.walk("kind==committed")} == {"l1"}
    assert {i.name for i in s.walk("parent==l1")} == {"c1", "v1"}
    assert {i.name for i in s.walk('labels."role"==view')} == {"v1"}
    assert {i.name for i in s.walk(lambda i: i.kind is Kind.VIEW)} == {"v1"}
    with pytest.raises(InvalidArgument):
        list(s.walk("colour==blue"))


def test_metadata_survives_reopen(snapshotter_name: str, tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    s = SNAPSHOTTERS[snapshotter_name](root)
    try:
        add_layer(s, "l1", None, build_tar(file("a", b"a")))
        s.prepare("c", "l1", labels={"k": "v"})
    finally:
        s.close()
    s = SNAPSHOTTERS[snapshotter_name](root)
    try:
        assert s.stat("c").parent == "l1" and dict(s.stat("c").labels) == {"k": "v"}
        assert s.cleanup() == []
    finally:
        s.close()


def test_cleanup_after_a_crash(snapshotter_name: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    s = SNAPSHOTTERS[snapshotter_name](str(root))
    try:
        add_layer(s, "l1", None, build_tar(file("a", b"a")))
        s.prepare("c", "l1")
    finally:
        s.close()
    # A crash mid-prepare leaves new-*, mid-remove rm-*, and between rename and commit an
    # <id> directory whose record never committed.
    snaps = root / "snapshots"
    kept = sorted(os.listdir(snaps))
    for junk in ("new-abc123", "rm-7", "999"):
        (snaps / junk / "fs").mkdir(parents=True)
        (snaps / junk / "fs" / "file").write_text("junk")
    s = SNAPSHOTTERS[snapshotter_name](str(root))
    try:
        removed = s.cleanup()
        assert sorted(os.path.basename(p) for p in removed) == ["999", "new-abc123", "rm-7"]
        assert sorted(os.listdir(snaps)) == kept
        # the stale <id> does not block a new snapshot that gets that id later
        s.prepare("again", "l1")
        assert s.cleanup() == []
    finally:
        s.close()


def test_diff_of_an_active_snapshot(snapshotter: Snapshotter, tmp_path: Path) -> None:
    s = snapshotter
    _whiteout_stack(s)
    dirs = layer_dirs(s.prepare("rw", "top"))
    apply_layer(io.BytesIO(build_tar(directory("a"), whiteout("a/keep"), file("n", b"new"))),
                dirs.upper, whiteout_mode=dirs.whiteout_mode, parents=dirs.lowers)
    buf = io.BytesIO()
    write_snapshot_diff(s, "rw", buf, scratch=str(tmp_path))
    # applying that diff on a fresh snapshot of the parent reproduces the tree
    add_layer(s, "again", "top", buf.getvalue())
    s.commit("orig", "rw")
    views = []
    for name in ("orig", "again"):
        key = f"check-{name}"
        s.view(key, name)
        views.append(key)
    trees = [_tree_listing(s, k, tmp_path) for k in views]
    assert trees[0] == trees[1]
    assert "a/keep" not in trees[0] and "n" in trees[0] and "a/x" not in trees[0]


def _tree_listing(s: Snapshotter, key: str, tmp_path: Path) -> dict[str, tuple[int, bytes]]:
    from dockyard.snapshots.mount import mount_all, unmount
    where = tmp_path / f"look-{key}"
    where.mkdir()
    mount_all(s.mounts(key), str(where))
    try:
        out = {}
        for dirpath, dirnames, filenames in os.walk(where):
            for n in dirnames + filenames:
                p = os.path.join(dirpath, n)
                st = os.lstat(p)
                data = Path(p).read_bytes() if os.path.isfile(p) and not os.path.islink(p) \
                    else b""
                out[os.path.relpath(p, where)] = (st.st_mode, data)
        return out
    finally:
        unmount(str(where))


def test_tree_diff_fallback_matches_upper_diff(tmp_path: Path) -> None:
    """With redirect_dir on, the overlay snapshotter diffs by tree comparison, same result."""
    if os.geteuid() != 0:
        pytest.skip("the overlay snapshotter needs root")
    from dockyard.snapshots.overlay import OverlaySnapshotter
    results = []
    for opts in ((), ("redirect_dir=on",)):
        root = tmp_path / f"root{len(results)}"
        s = OverlaySnapshotter(str(root), mount_options=opts)
        try:
            assert s.diff_mode is (DiffMode.TREE if opts else DiffMode.OVERLAY)
            _whiteout_stack(s)
            dirs = layer_dirs(s.prepare("rw", "top"))
            apply_layer(io.BytesIO(build_tar(directory("a", mtime=1), whiteout("a/keep"),
                                             file("a/n", b"new"))),
                        dirs.upper, whiteout_mode=dirs.whiteout_mode, parents=dirs.lowers)
            buf = io.BytesIO()
            write_snapshot_diff(s, "rw", buf, scratch=str(tmp_path))
            results.append(_names(buf.getvalue()))
        finally:
            s.close()
    assert results[0] == results[1] == ["a/", "a/.wh.keep", "a/n"]


def _names(layer: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(layer)) as tf:
        return [m.name + ("/" if m.isdir() else "") for m in tf]


def test_write_diff_modes_agree_on_added_files(snapshotter: Snapshotter) -> None:
    s = snapshotter
    add_layer(s, "l1", None, build_tar(directory("x"), file("x/a", b"a")))
    dirs = layer_dirs(s.prepare("rw", "l1"))
    apply_layer(io.BytesIO(build_tar(directory("x"), file("x/b", b"b"))), dirs.upper,
                whiteout_mode=dirs.whiteout_mode, parents=dirs.lowers)
    buf = io.BytesIO()
    res = write_snapshot_diff(s, "rw", buf)
    assert _names(buf.getvalue()) == ["x/", "x/b"]
    again = io.BytesIO()
    assert write_snapshot_diff(s, "rw", again).diff_id == res.diff_id
    assert write_diff is not None


_PREPARE_FOREVER = r"""
import sys
from dockyard.snapshots.plugins import SNAPSHOTTERS
s = SNAPSHOTTERS[sys.argv[1]](sys.argv[2])
print("ready", flush=True)
s.prepare("victim", "big")
print("done", flush=True)
"""


def test_kill_9_during_prepare(tmp_path: Path) -> None:
    """A snapshotter killed mid-prepare (native: mid-copy) leaves no record; cleanup tidies."""
    import signal
    import subprocess
    import sys

    from dockyard.snapshots.native import NativeSnapshotter
    root = str(tmp_path / "root")
    s = NativeSnapshotter(root)
    try:
        tree = tmp_path / "tree"
        for i in range(40):
            (tree / f"d{i}").mkdir(parents=True)
            for j in range(50):
                (tree / f"d{i}" / f"f{j}").write_bytes(os.urandom(20_000))
        layer = io.BytesIO()
        write_diff(None, str(tree), layer, mode="tree")
        add_layer(s, "big", None, layer.getvalue())
    finally:
        s.close()
    # its own process group: the kill takes the copying cp along, as a crash of the
    # daemon's whole process tree (or its cgroup) would
    proc = subprocess.Popen([sys.executable, "-c", _PREPARE_FOREVER, "native", root],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        snaps = Path(root) / "snapshots"
        deadline = time.monotonic() + 30
        while not any(p.name.startswith("new-") and (p / "fs" / "d0").exists()
                      for p in snaps.iterdir()):
            assert time.monotonic() < deadline, "the copy never started"
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    s = NativeSnapshotter(root)
    try:
        with pytest.raises(NotFound):
            s.stat("victim")
        removed = s.cleanup()
        assert [os.path.basename(p)[:4] for p in removed] == ["new-"]
        s.prepare("victim", "big")
        assert s.usage("victim").inodes > 2000
    finally:
        s.close()
