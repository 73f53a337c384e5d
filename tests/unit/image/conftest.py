"""Fixtures of the image unit tests: an ImageService over a temp data root (native
snapshotter), and builders of layer tars and archives."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from dockyard.image import Image, ImageService

# name -> bytes (a file), None (a directory), ("link", target) or ("hardlink", target)
Files = Mapping[str, bytes | tuple[str, str] | None]


def make_tar(files: Files, *, compression: str = "") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=f"w:{compression}" if compression else "w",
                      format=tarfile.PAX_FORMAT) as tf:
        for name, value in files.items():
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if value is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
            elif isinstance(value, tuple):
                kind, target = value
                info.type = tarfile.SYMTYPE if kind == "link" else tarfile.LNKTYPE
                info.linkname = target
                tf.addfile(info)
            else:
                info.size, info.mode = len(value), 0o644
                tf.addfile(info, io.BytesIO(value))
    return buf.getvalue()


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ImageService]:
    s = ImageService.open(str(tmp_path / "root"), "native")
    try:
        yield s
    finally:
        s.close()


ImportFn = Callable[..., Image]


@pytest.fixture
def imp(svc: ImageService) -> ImportFn:
    """imp(files, repository="", tag="", changes=()) -> the imported image."""

    def do(files: Files, repository: str = "", tag: str = "", changes: tuple[str, ...] = (),
           **kw: object) -> Image:
        return svc.import_image(io.BytesIO(make_tar(files)), repository=repository, tag=tag,
                                changes=changes, **kw)  # type: ignore[arg-type]

    return do


@pytest.fixture
def tarball() -> Callable[..., bytes]:
    """tarball(files, compression="") -> the bytes of a tar of ``files`` (see ``Files``)."""
    return make_tar
