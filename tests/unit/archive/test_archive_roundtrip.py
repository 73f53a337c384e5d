"""Round trips and interop: apply(write_diff(x)) == x, and GNU tar / Python tarfile agree.

A "rich" tree holds what layers carry: setuid/setgid/sticky modes, owners (one past the
ustar range), whole-second mtimes, xattrs (``user.*`` and ``security.capability``),
hardlinks, absolute/relative/dangling symlinks, device nodes, a fifo, long and non-ASCII
names and a multi-MiB file. ``describe`` turns a tree into comparable facts.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import os
import shutil
import stat
import struct
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard

from dockyard.archive import (
    ChangeKind,
    CompressingWriter,
    Compression,
    DiffMode,
    apply_layer,
    changes,
    compress,
    write_diff,
)
from dockyard.errors import InvalidArgument
from dockyard.oci.digest import parse_digest

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="owners, devices and xattrs need root")

Facts = dict[str, tuple[object, ...]]


def _caps() -> bytes:
    # VFS_CAP_REVISION_2 | effective, permitted = CAP_NET_BIND_SERVICE (10)
    return struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0)


def make_rich_tree(root: Path) -> None:
    root.mkdir()
    t = 1_600_000_000
    (root / "bin").mkdir()
    (root / "bin/su").write_bytes(b"#!/bin/sh\necho su\n")
    os.chmod(root / "bin/su", 0o4755)
    os.link(root / "bin/su", root / "bin/su-hard")
    os.link(root / "bin/su", root / "bin/su-hard2")
    (root / "bin/sg").write_bytes(b"sg")
    os.chown(root / "bin/sg", 0, 42)
    os.chmod(root / "bin/sg", 0o2755)
    (root / "bin/ping").write_bytes(os.urandom(3000))
    os.setxattr(root / "bin/ping", "security.capability", _caps())
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)
    home = root / "home/user"
    home.mkdir(parents=True)
    (home / "notes").write_text("private")
    os.setxattr(home / "notes", "user.note", "hé".encode())
    os.setxattr(home / "notes", "user.empty", b"")
    os.chown(home / "notes", 1000, 1000)
    os.chmod(home / "notes", 0o640)
    os.chown(home, 1000, 1000)
    os.chmod(home, 0o700)
    (root / "big").write_bytes(os.urandom(3 << 20) + b"tail")
    (root / ("l" * 120)).write_text("long name")
    deep = root.joinpath(*(c * 60 for c in "abcde"))
    deep.mkdir(parents=True)
    (deep / "file-at-the-bottom").write_text("deep")
    (root / "häusle").mkdir()
    (root / "häusle/ñame ✓").write_text("unicode")
    (root / "links").mkdir()
    os.symlink("/etc/passwd", root / "links/abs")
    os.symlink("../bin/su", root / "links/rel")
    os.symlink("nowhere", root / "links/dangling")
    (root / "dev").mkdir()
    os.mknod(root / "dev/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(root / "dev/loop0", stat.S_IFBLK | 0o660, os.makedev(7, 0))
    os.mkfifo(root / "dev/fifo", 0o620)
    (root / "bigids").write_text("ids")
    os.chown(root / "bigids", 3_000_000, 3_000_001)
    (root / "empty").mkdir()
    (root / "empty-file").write_bytes(b"")
    # times last, deepest first, each its own whole second
    paths = sorted((p for p in root.rglob("*")), key=lambda p: -len(p.parts))
    for i, p in enumerate(paths):
        os.utime(p, (t + i, t + i), follow_symlinks=False)


def describe(root: Path, *, xattrs: bool = True, seconds: bool = False) -> Facts:
    """Facts of every path under root; ``seconds``: mtimes truncated as layers store them."""
    out: Facts = {}
    inodes: dict[int, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = p.lstat()
            data = b""
            if stat.S_ISREG(st.st_mode):
                data = hashlib.sha256(p.read_bytes()).digest()
            link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else ""
            xa: tuple[tuple[str, bytes], ...] = ()
            if xattrs and not stat.S_ISLNK(st.st_mode):
                xa = tuple(sorted((n, os.getxattr(p, n, follow_symlinks=False))
                                  for n in os.listxattr(p, follow_symlinks=False)))
            group = ""
            if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                group = inodes.setdefault(st.st_ino, rel)
            mtime = st.st_mtime_ns
            if seconds or stat.S_ISLNK(st.st_mode):
                mtime = mtime // 10**9
            out[rel] = (st.st_mode, st.st_uid, st.st_gid, mtime,
                        st.st_size if stat.S_ISREG(st.st_mode) else 0, data, link,
                        st.st_rdev, xa, group)
    return out


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not ROOT:
        pytest.skip("the rich tree needs root")
    root = tmp_path_factory.mktemp("rich") / "x"
    make_rich_tree(root)
    return root


def _diff(lower: Path | None, upper: Path, mode: DiffMode = DiffMode.TREE) -> bytes:
    buf = io.BytesIO()
    write_diff(str(lower) if lower else None, str(upper), buf, mode=mode)
    return buf.getvalue()


@needs_root
@pytest.mark.parametrize("mode", ["native", "overlay"])
def test_roundtrip_reproduces_the_tree(rich: Path, tmp_path: Path, mode: str) -> None:
    layer = _diff(None, rich)
    y = tmp_path / "y"
    y.mkdir()
    res = apply_layer(io.BytesIO(gzip.compress(layer)), str(y), whiteout_mode=mode)
    assert describe(y) == describe(rich)
    assert str(res.diff_id) == "sha256:" + hashlib.sha256(layer).hexdigest()
    assert res.size == len(layer) and res.compression is Compression.GZIP
    assert _diff(None, y) == layer  # stable: the same tree gives the same bytes
    assert _diff(None, y, DiffMode.OVERLAY) == layer


@needs_root
def test_roundtrip_of_changes_with_deletions(rich: Path, tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    subprocess.run(["cp", "-a", str(rich), str(lower)], check=True)
    subprocess.run(["cp", "-a", str(rich), str(upper)], check=True)
    os.unlink(upper / "bin/sg")
    shutil.rmtree(upper / "home")
    (upper / "big").write_bytes(b"smaller now")
    os.chmod(upper / "bin/ping", 0o700)
    (upper / "added").write_text("new")
    shutil.rmtree(upper / "empty")
    (upper / "empty").write_text("a file where a dir was")
    os.utime(upper / "empty", (1, 1))
    found = changes(str(lower), str(upper))
    assert [(c.kind, c.path) for c in found] == [
        (ChangeKind.ADDED, "/added"),
        (ChangeKind.MODIFIED, "/big"),
        (ChangeKind.MODIFIED, "/bin"),
        (ChangeKind.MODIFIED, "/bin/ping"),
        (ChangeKind.DELETED, "/bin/sg"),
        (ChangeKind.MODIFIED, "/empty"),
        (ChangeKind.DELETED, "/home"),
    ]
    layer = _diff(lower, upper)
    target = tmp_path / "target"
    subprocess.run(["cp", "-a", str(lower), str(target)], check=True)
    apply_layer(io.BytesIO(layer), str(target), whiteout_mode="native")
    # layers keep whole seconds (as moby writes them)
    assert describe(target, seconds=True) == describe(upper, seconds=True)
    assert describe(target, seconds=True) != describe(lower, seconds=True)


GNU_X = ["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "--same-owner",
         "--same-permissions"]


@needs_root
def test_gnu_tar_extracts_our_layer_identically(rich: Path, tmp_path: Path) -> None:
    layer = tmp_path / "layer.tar"
    layer.write_bytes(_diff(None, rich))
    z = tmp_path / "z"
    z.mkdir()
    subprocess.run([*GNU_X, "-xf", str(layer), "-C", str(z)], check=True)
    assert describe(z) == describe(rich)


@needs_root
@pytest.mark.parametrize("fmt", ["posix", "gnu"])
def test_we_apply_gnu_tar_archives_identically(rich: Path, tmp_path: Path, fmt: str) -> None:
    flags = GNU_X if fmt == "posix" else ["tar", "--numeric-owner"]  # gnu: no xattrs
    proc = subprocess.run([*flags, f"--format={fmt}", "-cf", "-", "-C", str(rich), "."],
                          check=True, capture_output=True)
    y = tmp_path / "y"
    y.mkdir()
    apply_layer(io.BytesIO(proc.stdout), str(y))
    # GNU tar keeps xattrs only in the posix (pax) format
    assert describe(y, xattrs=fmt == "posix") == describe(rich, xattrs=fmt == "posix")


@needs_root
@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_we_apply_python_tarfile_archives_identically(rich: Path, tmp_path: Path,
                                                      fmt: int) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        tf.add(str(rich), arcname=".")
    y = tmp_path / "y"
    y.mkdir()
    apply_layer(io.BytesIO(buf.getvalue()), str(y))
    # tarfile stores no xattrs
    assert describe(y, xattrs=False) == describe(rich, xattrs=False)


def test_compressions_give_the_same_diff_id(tmp_path: Path) -> None:
    x = tmp_path / "x"
    x.mkdir()
    (x / "a").write_bytes(os.urandom(100_000) + bytes(200_000))
    (x / "d").mkdir()
    (x / "d/b").write_text("b" * 1000)
    layer = _diff(None, x)
    want = "sha256:" + hashlib.sha256(layer).hexdigest()
    blobs = {
        "none": layer,
        "gzip": gzip.compress(layer),
        "gzip-multimember": gzip.compress(layer[:700]) + gzip.compress(layer[700:]),
        "zstd": zstandard.ZstdCompressor().compress(layer),
        "zstd-frames": zstandard.ZstdCompressor().compress(layer[:5000])
        + zstandard.ZstdCompressor().compress(layer[5000:]),
        "xz": lzma.compress(layer),
    }
    for kind, blob in blobs.items():
        y = tmp_path / f"y-{kind}"
        y.mkdir()
        res = apply_layer(io.BytesIO(blob), str(y))
        assert str(res.diff_id) == want, kind
        assert (y / "d/b").read_text() == "b" * 1000
    for comp in ("gzip", "zstd", "xz", "none"):
        out = io.BytesIO()
        res2 = compress(io.BytesIO(layer), comp, out)
        assert res2.digest == "sha256:" + hashlib.sha256(out.getvalue()).hexdigest()
        assert res2.size == len(out.getvalue()) and res2.diff_id == want
        y = tmp_path / f"c-{comp}"
        y.mkdir()
        assert str(apply_layer(io.BytesIO(out.getvalue()), str(y)).diff_id) == want


def test_write_diff_into_a_compressing_writer(tmp_path: Path) -> None:
    x = tmp_path / "x"
    x.mkdir()
    (x / "f").write_text("content")
    out = io.BytesIO()
    w = CompressingWriter(out, "zstd")
    d = write_diff(None, str(x), w, mode="tree")  # type: ignore[arg-type]
    r = w.finish()
    assert r.diff_id == str(d.diff_id) and r.uncompressed_size == d.size
    assert r.digest == "sha256:" + hashlib.sha256(out.getvalue()).hexdigest()


def test_native_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    t = tmp_path / "t"
    (t / "d/sub").mkdir(parents=True)
    (t / "d/old").write_text("old")
    (t / "d/sub/x").write_text("x")
    (t / "gone").write_text("g")
    (t / "gonedir/inner").mkdir(parents=True)
    members = []
    for name, data in (("d/new-before", b"1"), ("d/.wh..wh..opq", b""), ("d/new-after", b"2"),
                       (".wh.gone", b""), (".wh.gonedir", b""), (".wh.never-there", b""),
                       (".wh..wh.plnk", b"")):
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        members.append((ti, data))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for ti, data in members:
            tf.addfile(ti, io.BytesIO(data))
    apply_layer(io.BytesIO(buf.getvalue()), str(t), whiteout_mode="native")
    assert sorted(os.listdir(t)) == ["d"]
    assert sorted(os.listdir(t / "d")) == ["new-after", "new-before"]


@needs_root
def test_overlay_whiteouts_are_devices_and_xattrs(tmp_path: Path) -> None:
    t = tmp_path / "upper"
    t.mkdir()
    members = []
    for name in ("a/.wh.x", "d/.wh..wh..opq", "d/z"):
        ti = tarfile.TarInfo(name)
        ti.mtime = 1234
        members.append(ti)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for ti in members:
            tf.addfile(ti, io.BytesIO(b""))
    apply_layer(io.BytesIO(buf.getvalue()), str(t), whiteout_mode="overlay")
    st = os.lstat(t / "a/x")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0 and st.st_mtime == 1234
    assert os.getxattr(t / "d", "trusted.overlay.opaque") == b"y"
    assert os.listdir(t / "d") == ["z"]
    # and back: the upper dir's diff has the tar forms again
    with tarfile.open(fileobj=io.BytesIO(_diff(None, t, DiffMode.OVERLAY))) as tf:
        names = [m.name for m in tf]
    assert names == ["a", "a/.wh.x", "d", "d/.wh..wh..opq", "d/z"]
    found = changes([], str(t), mode="overlay")
    assert [(c.kind, c.path) for c in found] == [
        (ChangeKind.ADDED, "/a"), (ChangeKind.ADDED, "/d"), (ChangeKind.ADDED, "/d/z")]


def test_expected_diff_id(tmp_path: Path) -> None:
    x = tmp_path / "x"
    x.mkdir()
    (x / "f").write_text("content")
    layer = _diff(None, x)
    good = "sha256:" + hashlib.sha256(layer).hexdigest()
    y = tmp_path / "y"
    y.mkdir()
    res = apply_layer(io.BytesIO(layer), str(y), expected_diff_id=good)
    assert res.diff_id == parse_digest(good)
    sha512 = "sha512:" + hashlib.sha512(layer).hexdigest()
    assert str(apply_layer(io.BytesIO(layer), str(y), expected_diff_id=sha512).diff_id) == sha512
    with pytest.raises(InvalidArgument, match="diff_id mismatch"):
        apply_layer(io.BytesIO(layer), str(y), expected_diff_id="sha256:" + "0" * 64)
    with pytest.raises(InvalidArgument, match="invalid digest"):
        apply_layer(io.BytesIO(layer), str(y), expected_diff_id="md5:abc")
