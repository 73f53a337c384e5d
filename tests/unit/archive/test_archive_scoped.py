"""Container paths resolved in a root by descriptor (``archive.scoped``), the tar of a tree
by descriptor (``archive.treetar``) and extraction into a descriptor (``archive.extract``):
Docker's naming rules, and nothing ever read or written outside the root."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.apitypes.files import go_file_mode
from dockyard.archive.extract import extract
from dockyard.archive.scoped import (
    base_name,
    container_abs_path,
    resolve_dir,
    resolve_for_read,
    stat_resolved,
)
from dockyard.archive.treetar import write_path, write_root
from dockyard.errors import InvalidArgument, NotFound


@pytest.fixture
def root(tmp_path: Path) -> Iterator[tuple[Path, int, Path]]:
    """A container root with links pointing out, and a host secret beside it."""
    outside = tmp_path / "host"
    outside.mkdir()
    (outside / "secret").write_text("HOST")
    r = tmp_path / "rootfs"
    (r / "data" / "sub").mkdir(parents=True)
    (r / "data" / "a.txt").write_text("hello")
    os.link(r / "data" / "a.txt", r / "data" / "hard")
    (r / "data" / "link").symlink_to("a.txt")
    (r / "up").symlink_to("../../host")         # relative, climbing out
    (r / "abs").symlink_to(str(outside))         # absolute host path
    (r / "slash").symlink_to("/")
    (r / "inlink").symlink_to("/host")
    (r / "host").mkdir()
    (r / "host" / "secret").write_text("INSIDE")
    fd = os.open(r, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield r, fd, outside
    finally:
        os.close(fd)


def _names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return [m.name for m in t.getmembers()]


def _archive(fd: int, path: str) -> tuple[bytes, str]:
    out = io.BytesIO()
    with resolve_for_read(fd, path) as res:
        write_path(res.dir_fd, res.base, res.name, out)
        return out.getvalue(), res.name


def test_abs_path_and_base_name_follow_docker() -> None:
    assert container_abs_path("data") == "/data"
    assert container_abs_path("../../etc/") == "/etc/"
    assert container_abs_path("/data/.") == "/data/."
    assert container_abs_path("//x//y") == "/x/y"
    assert base_name("/data/") == "data" and base_name("/") == "/"
    assert base_name("/data/.") == "."


def test_read_names_like_docker(root: tuple[Path, int, Path]) -> None:
    _, fd, _ = root
    data, _ = _archive(fd, "/data")
    assert _names(data) == ["data", "data/a.txt", "data/hard", "data/link", "data/sub"]
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        assert t.getmember("data/hard").islnk()
        assert t.getmember("data/link").linkname == "a.txt"
    assert _names(_archive(fd, "/data/.")[0])[:2] == [".", "./a.txt"]
    assert _names(_archive(fd, "/data/link")[0]) == ["link"]


def test_links_resolve_inside_the_root(root: tuple[Path, int, Path]) -> None:
    _, fd, _ = root
    for path in ("/up/secret", "/inlink/secret", "/slash/host/secret", "/../../host/secret"):
        data, _ = _archive(fd, path)
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            member = t.extractfile("secret")
            assert member is not None and member.read() == b"INSIDE", path
    with pytest.raises(NotFound):  # the host's path, taken inside the root: not there
        resolve_for_read(fd, "/abs/secret")
    with resolve_for_read(fd, "/up") as res:
        st = stat_resolved(fd, res)
    assert stat.S_ISLNK(st.mode) and st.link_target == "/host"
    with resolve_for_read(fd, "/data/link") as res:
        assert stat_resolved(fd, res).link_target == "/data/a.txt"
    with pytest.raises(NotFound):
        resolve_for_read(fd, "/nope/x")


def test_go_file_mode() -> None:
    assert go_file_mode(stat.S_IFDIR | 0o755) == (1 << 31) | 0o755
    assert go_file_mode(stat.S_IFLNK | 0o777) == (1 << 27) | 0o777
    assert go_file_mode(stat.S_IFREG | stat.S_ISUID | 0o4755) == (1 << 23) | 0o755
    assert go_file_mode(stat.S_IFCHR | 0o666) == (1 << 26) | (1 << 21) | 0o666


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    buf.seek(0)
    return buf


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.uid, info.gid = 1234, 5678
    return info, data


def _entry(name: str, kind: bytes, link: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info, None


def test_extract_through_a_link_lands_inside(root: tuple[Path, int, Path]) -> None:
    r, fd, outside = root
    with resolve_dir(fd, "/up") as res:   # the climbing link is the container's /host
        extract(_tar(_file("new.txt", b"in")), res.dir_fd)
    assert (r / "host" / "new.txt").read_bytes() == b"in"
    assert sorted(os.listdir(outside)) == ["secret"]
    with pytest.raises(InvalidArgument, match="not a directory"):
        resolve_dir(fd, "/data/a.txt")


@pytest.mark.parametrize("members", [
    [_file("../escape")],
    [_file("/abs-escape")],
    [_entry("lnk", tarfile.SYMTYPE, "/"), _file("lnk/escape")],
    [_entry("lnk", tarfile.SYMTYPE, "../.."), _file("lnk/escape")],
    [_entry("h", tarfile.LNKTYPE, "../../host/secret")],
])
def test_extract_refuses_escapes(root: tuple[Path, int, Path],
                                 members: list[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    r, fd, outside = root
    with resolve_dir(fd, "/data") as res, pytest.raises(InvalidArgument):
        extract(_tar(*members), res.dir_fd)
    assert sorted(os.listdir(outside)) == ["secret"]
    assert (outside / "secret").read_text() == "HOST"
    assert not (r.parent / "escape").exists() and not Path("/abs-escape").exists()


def test_extract_overwrite_rules_and_owner(root: tuple[Path, int, Path]) -> None:
    r, fd, _ = root
    with resolve_dir(fd, "/data") as res:
        extract(_tar(_file("a.txt", b"new"), _file(".wh.kept")), res.dir_fd)
        with pytest.raises(InvalidArgument, match="cannot overwrite directory"):
            extract(_tar(_file("sub")), res.dir_fd, no_overwrite_dir_non_dir=True)
        with pytest.raises(InvalidArgument, match="cannot overwrite non-directory"):
            extract(_tar(_entry("a.txt", tarfile.DIRTYPE)), res.dir_fd,
                    no_overwrite_dir_non_dir=True)
        extract(_tar(_file("sub")), res.dir_fd)   # allowed without the flag
        extract(_tar(_file("owned")), res.dir_fd, chown=(42, 43))
    assert (r / "data" / "a.txt").read_bytes() == b"new"
    assert (r / "data" / ".wh.kept").is_file()   # an ordinary file here, not a whiteout
    assert (r / "data" / "sub").is_file()
    if os.geteuid() == 0:
        assert (r / "data" / "a.txt").stat().st_uid == 1234
        st = (r / "data" / "owned").stat()
        assert (st.st_uid, st.st_gid) == (42, 43)


def test_export_whole_tree(root: tuple[Path, int, Path]) -> None:
    _, fd, _ = root
    out = io.BytesIO()
    write_root(fd, out)
    names = _names(out.getvalue())
    assert "data/a.txt" in names and "abs" in names and "host/secret" in names
    assert not any(n.startswith(("/", "./", "..")) for n in names)
