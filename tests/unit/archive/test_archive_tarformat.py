"""The tar reader and writer on their own: header forms real layers use, and our output."""

from __future__ import annotations

import dataclasses
import io
import tarfile

import pytest

from dockyard.archive import Limits
from dockyard.archive.compression import DecompressingReader
from dockyard.archive.tarformat import EntryType, TarEntry, TarReader, encode_header
from dockyard.errors import InvalidArgument


def entries(raw: bytes) -> list[TarEntry]:
    reader = TarReader(DecompressingReader(io.BytesIO(raw), Limits()), Limits())
    return list(reader.entries())


def _tar(members: list[tarfile.TarInfo], fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for ti in members:
            tf.addfile(ti, io.BytesIO(bytes(ti.size)) if ti.isreg() else None)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_long_names_links_and_big_numbers(fmt: int) -> None:
    long_name = "d/" + "n" * 150 + "/file"
    f = tarfile.TarInfo(long_name)
    f.size, f.uid, f.gid, f.mtime = 3, 3_000_000, 4_000_000, 1_700_000_000
    s = tarfile.TarInfo("s")
    s.type, s.linkname = tarfile.SYMTYPE, "t" * 300
    got = entries(_tar([f, s], fmt))
    assert [(e.name, e.type) for e in got] == [(long_name, EntryType.FILE), ("s",
                                                                               EntryType.SYMLINK)]
    assert (got[0].uid, got[0].gid, got[0].size) == (3_000_000, 4_000_000, 3)
    assert got[0].mtime_ns == 1_700_000_000 * 10**9
    assert got[1].linkname == "t" * 300


def test_pax_records_global_headers_and_fractional_times() -> None:
    f = tarfile.TarInfo("x")
    f.pax_headers = {"mtime": "1700000000.123456789", "SCHILY.xattr.user.a": "b",
                     "LIBARCHIVE.xattr.user.c%3Dd": "ZWY="}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT,
                      pax_headers={"uid": "77"}) as tf:
        tf.addfile(f, io.BytesIO(b""))
    (e,) = entries(buf.getvalue())
    assert e.mtime_ns == 1_700_000_000_123_456_789
    assert dict(e.xattrs) == {"user.a": b"b", "user.c=d": b"ef"}
    assert e.uid == 77  # from the global header


def test_old_style_directory_and_unknown_types() -> None:
    d = tarfile.TarInfo("olddir/")
    d.type = tarfile.AREGTYPE
    assert entries(_tar([d], tarfile.USTAR_FORMAT))[0].type is EntryType.DIR
    odd = tarfile.TarInfo("odd")
    odd.type = b"Z"
    with pytest.raises(InvalidArgument, match="unsupported tar entry type"):
        entries(_tar([odd], tarfile.USTAR_FORMAT))


def test_our_headers_read_back() -> None:
    cases = [
        TarEntry("a/b", EntryType.FILE, mode=0o4755, uid=1, gid=2, size=0, mtime_ns=5 * 10**9),
        TarEntry("dir", EntryType.DIR, mode=0o1777),
        TarEntry("x" * 101, EntryType.FILE),
        TarEntry("p/" * 60 + "f", EntryType.FILE),
        TarEntry("ünï", EntryType.SYMLINK, linkname="→"),
        TarEntry("dev", EntryType.CHAR, devmajor=4095, devminor=1048575),
        TarEntry("big", EntryType.FILE, uid=1 << 40, gid=1 << 33),
        TarEntry("x", EntryType.FILE, xattrs=(("security.capability", b"\x00\x01\xff"),
                                              ("user.z", b""))),
        TarEntry("old", EntryType.FILE, mtime_ns=-10**9),
    ]
    raw = b"".join(encode_header(e) for e in cases) + bytes(1024)
    got = entries(raw)
    for want, e in zip(cases, got, strict=True):
        assert dataclasses.replace(e, name=e.name.rstrip("/")) == want
    # and Python's tarfile reads them too
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        names = tf.getnames()
    assert names == [c.name for c in cases]
    assert got[1].name == "dir/"


def test_header_corruption_and_truncation() -> None:
    raw = bytearray(_tar([tarfile.TarInfo("ok")], tarfile.USTAR_FORMAT))
    raw[0] ^= 1
    with pytest.raises(InvalidArgument, match="checksum"):
        entries(bytes(raw))
    f = tarfile.TarInfo("f")
    f.size = 5000
    whole = _tar([f], tarfile.USTAR_FORMAT)
    with pytest.raises(InvalidArgument, match="unexpected end"):
        reader = TarReader(DecompressingReader(io.BytesIO(whole[:2048]), Limits()), Limits())
        for _ in reader.entries():
            reader.copy_content(lambda mv: None)


def test_a_stream_without_end_of_archive_blocks_ends_cleanly() -> None:
    # umoci 0.4 writes such layers; Go's archive/tar (Docker) reads them
    f = tarfile.TarInfo("f")
    f.size = 3
    whole = _tar([f], tarfile.USTAR_FORMAT)
    cut = whole[:1024]  # header + one content block, no zero blocks
    assert [e.name for e in entries(cut)] == ["f"]
    assert [e.name for e in entries(whole[:515])] == ["f"]  # nor the content's padding
    with pytest.raises(InvalidArgument, match="unexpected end"):
        entries(cut[:300])  # but a cut inside a header is an error
