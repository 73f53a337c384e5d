"""``archive.extract`` (``PUT /containers/{id}/archive``) when an upload fails part way:
what was extracted before stays, as with Docker, but nothing is left half-made: the
directories already made get their modes (they are made 0700 while filled), and the file
being written when the stream ended or an entry was refused is removed."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.archive.extract import extract
from dockyard.archive.scoped import resolve_dir, resolve_for_read
from dockyard.errors import InvalidArgument


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
