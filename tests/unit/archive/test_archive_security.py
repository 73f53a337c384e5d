"""Crafted malicious layers are refused with a clear error and nothing lands outside target.

Each test builds its tar with ``tarfile`` (or by hand where ``tarfile`` refuses), applies it
to ``target`` next to a ``sentinel`` directory, and checks the error and that everything
outside ``target`` (the sentinel, /etc) is exactly as it was.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from dockyard.archive import Limits, apply_layer
from dockyard.errors import InvalidArgument

Member = tuple[tarfile.TarInfo, bytes]


def reg(name: str, data: bytes = b"x") -> Member:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    return ti, data


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> Member:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname = kind, target
    return ti, b""


def tar(*members: Member, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for ti, data in members:
            tf.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return buf.getvalue()


def _snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int, bytes]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == skip or skip in Path(dirpath).parents:
            continue
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            if p == skip:
                continue
            st = p.lstat()
            data = p.read_bytes() if p.is_file() and not p.is_symlink() else b""
            out[str(p)] = (st.st_mode, st.st_mtime_ns, hashlib.sha256(data).digest())
    return out


def _etc() -> tuple[list[str], bytes, int]:
    return (sorted(os.listdir("/etc")), Path("/etc/passwd").read_bytes(),
            os.stat("/etc").st_mtime_ns)


class Arena:
    """A target dir beside a sentinel dir, and a check that only the target changed."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.target = base / "target"
        self.target.mkdir()
        self.sentinel = base / "sentinel"
        self.sentinel.mkdir()
        (self.sentinel / "file").write_text("precious")
        (self.sentinel / "dir").mkdir()
        self.before = _snapshot(base, self.target)
        self.etc = _etc()

    def refused(self, layer: bytes, match: str, mode: str = "native",
                limits: Limits | None = None) -> InvalidArgument:
        with pytest.raises(InvalidArgument, match=match) as info:
            apply_layer(io.BytesIO(layer), str(self.target), whiteout_mode=mode, limits=limits)
        self.assert_untouched()
        return info.value

    def assert_untouched(self) -> None:
        assert _snapshot(self.base, self.target) == self.before
        assert not os.path.lexists("/etc/x") and not os.path.lexists("/x")
        assert _etc() == self.etc


@pytest.fixture
def arena(tmp_path: Path) -> Arena:
    return Arena(tmp_path)


MODES = ["native", "overlay"] if os.geteuid() == 0 else ["native"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["../../etc/x", "../sentinel/x", "a/../../sentinel/file",
                                  "./../x", "a/b/../../../x"])
def test_dotdot_names(arena: Arena, name: str, mode: str) -> None:
    err = arena.refused(tar(reg(name)), "escapes the target", mode)
    assert name in str(err)


@pytest.mark.parametrize("name", ["/abs", "/etc/x", "//x"])
def test_absolute_names(arena: Arena, name: str) -> None:
    err = arena.refused(tar(reg(name)), "absolute path")
    assert name in str(err)


def test_the_root_entry_slash_is_the_root(arena: Arena) -> None:
    root = tarfile.TarInfo("/")
    root.type, root.mode = tarfile.DIRTYPE, 0o700
    apply_layer(io.BytesIO(tar((root, b""), reg("etc/x", b"x"))), str(arena.target))
    assert (arena.target / "etc/x").read_bytes() == b"x"
    assert os.stat(arena.target).st_mode & 0o777 != 0o700  # the target keeps its own mode
    arena.assert_untouched()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("target", ["/etc", "../sentinel", "../..", "/", "..", "."])
def test_write_through_a_symlinked_parent(arena: Arena, target: str, mode: str) -> None:
    arena.refused(tar(link("a", target), reg("a/passwd", b"root::0:0::/:/bin/sh")),
                  "parent 'a' is a symlink", mode)
    assert os.readlink(arena.target / "a") == target  # the symlink itself is fine


def test_write_through_a_deeper_symlinked_parent(arena: Arena) -> None:
    ti, _ = reg("d/placeholder")
    arena.refused(tar(link("d/inner", "../../sentinel"), reg("d/inner/sub/x")),
                  "parent 'd/inner' is a symlink")
    assert ti.name


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside", "../sentinel/file",
                                    "a/../../sentinel/file"])
def test_hardlink_escapes(arena: Arena, target: str) -> None:
    arena.refused(tar(link("h", target, tarfile.LNKTYPE)), "escapes|absolute")


def test_hardlink_through_a_symlinked_parent(arena: Arena) -> None:
    arena.refused(tar(link("a", "../sentinel"), link("h", "a/file", tarfile.LNKTYPE)),
                  "parent 'a' is a symlink")


def test_hardlink_to_something_not_in_the_layer(arena: Arena) -> None:
    arena.refused(tar(link("h", "missing", tarfile.LNKTYPE)), "not in this layer")


def test_whiteouts_through_symlinks_delete_nothing_outside(arena: Arena) -> None:
    arena.refused(tar(link("a", "../sentinel"), reg("a/.wh.file", b"")),
                  "parent 'a' is a symlink")
    arena.refused(tar(reg("a/.wh..wh..opq", b"")), "parent 'a' is a symlink")
    arena.refused(tar(reg(".wh...", b"")), "whiteout of '..'")


def test_entries_replacing_symlinks_do_not_follow_them(arena: Arena) -> None:
    layer = tar(link("f", "../sentinel/file"), reg("f", b"new content"),
                link("d", "../sentinel/dir"), (_dir("d"), b""), reg("d/x", b"inside"))
    apply_layer(io.BytesIO(layer), str(arena.target))
    arena.assert_untouched()
    assert (arena.target / "f").read_bytes() == b"new content"
    assert not (arena.target / "f").is_symlink()
    assert (arena.target / "d" / "x").read_bytes() == b"inside"


def _dir(name: str) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.DIRTYPE
    ti.mode = 0o755
    return ti


def test_overlay_xattrs_from_a_layer_are_dropped(arena: Arena) -> None:
    ti, data = reg("x", b"x")
    ti.pax_headers = {"SCHILY.xattr.trusted.overlay.redirect": "/etc",
                      "SCHILY.xattr.user.ok": "fine"}
    apply_layer(io.BytesIO(tar((ti, data))), str(arena.target))
    assert "trusted.overlay.redirect" not in os.listxattr(arena.target / "x")


def _raw_header(name: bytes, size_field: bytes, flag: bytes = b"0") -> bytes:
    hdr = bytearray(512)
    hdr[0:len(name)] = name
    hdr[100:108] = b"0000644\0"
    hdr[108:116] = b"0000000\0"
    hdr[116:124] = b"0000000\0"
    hdr[124:136] = size_field
    hdr[136:148] = b"00000000000\0"
    hdr[148:156] = b" " * 8
    hdr[156:157] = flag
    hdr[257:265] = b"ustar\x0000"
    hdr[148:156] = b"%06o\0 " % sum(hdr)
    return bytes(hdr)


def test_absurd_size_header(arena: Arena) -> None:
    # base-256 size of 2**80 bytes, with no content behind it
    size = b"\x80" + (1 << 80).to_bytes(11, "big")
    arena.refused(_raw_header(b"huge", size) + bytes(1024), "exceeds the per-entry limit")


def test_absurd_size_in_pax(arena: Arena) -> None:
    ti, _ = reg("huge", b"")
    ti.pax_headers = {"size": str(1 << 62)}
    layer = tar((ti, b""))
    arena.refused(layer, "exceeds the per-entry limit")


def test_sparse_entries_are_refused(arena: Arena) -> None:
    arena.refused(_raw_header(b"sparse", b"00000000000\0", b"S") + bytes(1024), "sparse")
    ti, _ = reg("sp", b"")
    ti.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                      "GNU.sparse.realsize": str(1 << 50)}
    arena.refused(tar((ti, b"")), "sparse")


def test_per_entry_limit(arena: Arena) -> None:
    arena.refused(tar(reg("big", b"a" * 5000)), "per-entry limit",
                  limits=Limits(max_entry_size=4096))


def test_entry_count_limit(arena: Arena) -> None:
    arena.refused(tar(*(reg(f"f{i}") for i in range(20))), "more than 10 entries",
                  limits=Limits(max_entries=10))


def test_pax_header_limit(arena: Arena) -> None:
    ti, _ = reg("x", b"")
    ti.pax_headers = {"comment": "z" * 100_000}
    arena.refused(tar((ti, b"")), "PAX header", limits=Limits(max_header_size=4096))


def _zeros_tar(n: int) -> bytes:
    return tar(reg("zeros", bytes(n)))


def test_gzip_bomb(arena: Arena) -> None:
    bomb = gzip.compress(_zeros_tar(64 << 20), 9)
    assert len(bomb) < 100_000
    arena.refused(bomb, "expands past the limit",
                  limits=Limits(max_total_size=8 << 20, max_entry_size=1 << 40))


def test_zstd_ratio_bomb(arena: Arena) -> None:
    bomb = zstandard.ZstdCompressor(level=3).compress(_zeros_tar(256 << 20))
    assert len(bomb) < 20_000
    arena.refused(bomb, "decompression bomb", limits=Limits(ratio_floor=16 << 20))


def test_xz_bomb(arena: Arena) -> None:
    bomb = lzma.compress(_zeros_tar(16 << 20))
    arena.refused(bomb, "expands past the limit", limits=Limits(max_total_size=4 << 20))


def test_not_a_tar(arena: Arena) -> None:
    arena.refused(b"hello world, this is not a tar" * 40, "checksum")
    arena.refused(gzip.compress(b"garbage" * 200), "checksum")
    arena.refused(gzip.compress(tar(reg("a", b"abc")))[:-20], "truncated")


@pytest.fixture
def nobody_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="dockyard-nobody-"))
    try:
        os.chmod(d, 0o777)
        yield d
    finally:
        import shutil
        shutil.rmtree(d)


_AS_NOBODY = r"""
import io, os, sys
from dockyard.archive import apply_layer
from dockyard.errors import PermissionDenied
layer = sys.stdin.buffer.read()
os.setgroups([]); os.setgid(65534); os.setuid(65534)
try:
    apply_layer(io.BytesIO(layer), sys.argv[1])
except PermissionDenied as e:
    print("refused:", e)
else:
    print("applied")
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become nobody")
def test_device_node_as_non_root(nobody_dir: Path) -> None:
    target = nobody_dir / "target"
    target.mkdir()
    os.chown(target, 65534, 65534)
    dev = tarfile.TarInfo("dev/null")
    dev.type, dev.devmajor, dev.devminor = tarfile.CHRTYPE, 1, 3
    layer = tar(reg("before", b"ok"), (dev, b""), reg("after", b"never"))
    proc = subprocess.run([sys.executable, "-c", _AS_NOBODY, str(target)], input=layer,
                          capture_output=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode()
    assert "refused" in out and "dev/null" in out and "needs root" in out
    assert (target / "before").read_bytes() == b"ok"
    assert not (target / "dev" / "null").exists()
    assert not (target / "after").exists()
    assert sorted(os.listdir(nobody_dir)) == ["target"]
