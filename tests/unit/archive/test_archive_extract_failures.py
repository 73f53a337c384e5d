"""``archive.extract`` (``PUT /containers/{id}/archive``) when an upload fails part way:
what was extracted before stays, as with Docker, but nothing is left half-made: the
directories already made get their modes (they are made 0700 while filled), and the file
being written when the stream ended or an entry was refused is removed, as is one whose
writing failed (no space left)."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.archive.extract import extract
from dockyard.archive.scoped import resolve_dir, resolve_for_read
from dockyard.errors import FailedPrecondition, InvalidArgument

BIG = 1 << 20


@pytest.fixture
def target(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield tmp_path, fd
    finally:
        os.close(fd)


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in members:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _entry(name: str, data: bytes | None = None, *, mode: int = 0o644,
           kind: bytes = tarfile.REGTYPE, pax: dict[str, str] | None = None,
           ) -> tuple[tarfile.TarInfo, bytes | None]:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode = kind, mode
    if data is not None:
        ti.size = len(data)
    if pax:
        ti.pax_headers = dict(pax)
    return ti, data


def test_a_refused_entry_leaves_the_directories_with_their_modes(
        target: tuple[Path, int]) -> None:
    root, fd = target
    body = _tar(_entry("d", kind=tarfile.DIRTYPE, mode=0o755),
                _entry("d/ok", b"x"),
                # A capability xattr the kernel refuses (EINVAL: too short).
                _entry("d/bad", b"x", pax={"SCHILY.xattr.security.capability": "\x01\x00"}))
    with pytest.raises(InvalidArgument, match="d/bad"):
        extract(io.BytesIO(body), fd, where="/tgt")
    assert stat.S_IMODE((root / "d").stat().st_mode) == 0o755
    assert (root / "d" / "ok").read_bytes() == b"x"
    assert not (root / "d" / "bad").exists()


def test_a_stream_cut_inside_a_file_leaves_no_partial_file(target: tuple[Path, int]) -> None:
    root, fd = target
    head = _tar(_entry("d", kind=tarfile.DIRTYPE, mode=0o750), _entry("d/whole", b"w"))
    head = head[:head.rfind(b"w") + 512]  # the archive without its end blocks
    ti = tarfile.TarInfo("d/cut")
    ti.size = 1 << 20
    body = head + ti.tobuf(tarfile.PAX_FORMAT) + b"y" * 1000
    with pytest.raises(InvalidArgument, match="unexpected end"):
        extract(io.BytesIO(body), fd, where="/tgt")
    assert (root / "d" / "whole").read_bytes() == b"w"
    assert not (root / "d" / "cut").exists()
    assert stat.S_IMODE((root / "d").stat().st_mode) == 0o750


def test_a_path_too_long_is_a_clear_invalid_argument(target: tuple[Path, int]) -> None:
    _, fd = target
    long = "/" + "a/" * 3000
    for resolve in (resolve_for_read, resolve_dir):
        with pytest.raises(InvalidArgument, match="file name too long"):
            resolve(fd, long)


def test_big_files_get_their_metadata_links_and_replacements(
        target: tuple[Path, int]) -> None:
    root, fd = target
    big1, big2 = os.urandom(BIG + 12345), os.urandom(2 * BIG)
    ti, _ = owned = _entry("d/big1", big1, mode=0o4751, pax={"SCHILY.xattr.user.k": "v"})
    ti.uid, ti.gid, ti.mtime = 1234, 5678, 1_500_000_000
    link = _entry("d/hl", kind=tarfile.LNKTYPE)
    link[0].linkname = "d/big1"
    body = _tar(_entry("d", kind=tarfile.DIRTYPE, mode=0o750), owned,
                _entry("d/small", b"s"), link,
                _entry("d/big2", big2),    # replaced by the next entry while being written
                _entry("d/big2", b"later"))
    extract(io.BytesIO(body), fd, where="/tgt")
    st = (root / "d" / "big1").stat()
    assert (root / "d" / "big1").read_bytes() == big1
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime) == \
        (0o4751, 1234, 5678, 1_500_000_000)
    assert os.getxattr(root / "d" / "big1", "user.k") == b"v"
    assert st.st_nlink == 2 and (root / "d" / "hl").stat().st_ino == st.st_ino
    assert (root / "d" / "big2").read_bytes() == b"later"
    assert (root / "d" / "small").read_bytes() == b"s"
    assert stat.S_IMODE((root / "d").stat().st_mode) == 0o750


def test_a_file_that_could_not_be_written_is_removed(tmp_path: Path) -> None:
    small_fs = tmp_path / "fs"
    small_fs.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(small_fs)],
                   check=True, timeout=30)
    try:
        fd = os.open(small_fs, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fits, too_big = os.urandom(2 * BIG), os.urandom(2 * BIG)
            body = _tar(_entry("fits", fits), _entry("too-big", too_big),
                        _entry("after", b"a"))
            with pytest.raises(FailedPrecondition, match="too-big"):
                extract(io.BytesIO(body), fd, where="/tgt")
        finally:
            os.close(fd)
        assert (small_fs / "fits").read_bytes() == fits
        assert not (small_fs / "too-big").exists()
    finally:
        subprocess.run(["umount", str(small_fs)], check=True, timeout=30)


def test_files_get_their_exact_modes_whatever_the_umask(target: tuple[Path, int]) -> None:
    root, fd = target
    modes = [0o644, 0o666, 0o777, 0o000, 0o4755, 0o2711, 0o1640, 0o600]
    body = _tar(*(_entry(f"m{m:o}", b"x", mode=m) for m in modes))
    old = os.umask(0o027)  # (the test's own process: nothing else runs in it)
    try:
        extract(io.BytesIO(body), fd, where="/tgt")
    finally:
        os.umask(old)
    assert {m: stat.S_IMODE((root / f"m{m:o}").stat().st_mode) for m in modes} == \
        {m: m for m in modes}
