"""``cp``'s pure parts: argument splitting, renaming of archive entries, owners, and the
guarded extraction (a tar from a container is not trusted)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.cli.commands.cp import (
    _id_table,
    extract,
    has_magic,
    parse_owner,
    rebase,
    split_arg,
)
from dockyard.cli.context import StatusError


class Reader:
    def __init__(self, data: bytes) -> None:
        self.f = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self.f.read(n)


def tar_of(*members: tuple[tarfile.TarInfo, bytes | None]) -> Reader:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return Reader(buf.getvalue())


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.uid = info.gid = 4242
    return info


def test_split_arg_follows_docker() -> None:
    assert split_arg("c:/etc") == ("c", "/etc")
    assert split_arg("/abs/with:colon") == ("", "/abs/with:colon")
    assert split_arg("./rel:x") == ("", "./rel:x")
    assert split_arg("file") == ("", "file")
    assert split_arg("c:") == ("c", "")
    assert has_magic("c/*.log") and not has_magic("/var/lo[g/x")


def test_rebase() -> None:
    assert rebase("etc/hosts", "etc", "copy") == "copy/hosts"
    assert rebase("etc", "etc", "copy") == "copy"
    assert rebase("./a/b", ".", "dst") == "dst/a/b"
    assert rebase(".", ".", ".") == "."
    assert rebase("other/x", "etc", "copy") is None
    assert rebase("etc/x", "etc", "") == "x"
    assert rebase("/bin/sh", "/", "rootfs") == "rootfs/bin/sh"  # the archive of "/"


def test_owners() -> None:
    users = _id_table("root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")
    groups = _id_table("root:x:0:\nstaff:x:50:\n")
    assert parse_owner("1000:50", users.get, groups.get) == (1000, 50)
    assert parse_owner("nobody", users.get, groups.get) == (65534, 65534)
    assert parse_owner("root:staff", users.get, groups.get) == (0, 50)
    with pytest.raises(StatusError, match="unknown user 'bob'"):
        parse_owner("bob", users.get, groups.get)
    with pytest.raises(StatusError, match="invalid owner"):
        parse_owner(":50", users.get, groups.get)


def test_extract_renames_and_takes_the_callers_owner(tmp_path: Path) -> None:
    reader = tar_of((entry("etc", tarfile.DIRTYPE), None), (entry("etc/hosts"), b"h"),
                    (entry("etc/link", tarfile.LNKTYPE, "etc/hosts"), None))
    extract(reader, str(tmp_path), lambda n: rebase(n, "etc", "copy"), owner=None)
    assert (tmp_path / "copy" / "hosts").read_bytes() == b"h"
    assert (tmp_path / "copy" / "link").stat().st_ino == (tmp_path / "copy" / "hosts").stat().st_ino
    assert (tmp_path / "copy" / "hosts").stat().st_uid == os.geteuid()


def test_extract_with_an_owner(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("the CLI tests run as root (chown)")
    extract(tar_of((entry("f"), b"x")), str(tmp_path), lambda n: n, owner=(123, 45))
    st = (tmp_path / "f").stat()
    assert (st.st_uid, st.st_gid) == (123, 45)


@pytest.mark.parametrize("members", [
    [(entry("../escape"), b"x")],
    [(entry("/abs"), b"x")],
    [(entry("up", tarfile.SYMTYPE, "/"), None), (entry("up/escape"), b"x")],
    [(entry("hard", tarfile.LNKTYPE, "../../outside"), None)],
])
def test_extract_refuses_to_leave_the_destination(
        tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (tmp_path / "outside").write_text("keep")
    with pytest.raises(StatusError, match="refusing to extract"):
        extract(tar_of(*members), str(dest), lambda n: n, owner=None)
    assert (tmp_path / "outside").read_text() == "keep"
    assert not (tmp_path / "escape").exists() and not Path("/escape").exists()


def test_extract_again_replaces_symlinks_and_files_never_follows_them(tmp_path: Path) -> None:
    """A second copy over the first: an absolute symlink (to outside) already there is
    replaced, not followed and not refused (docker's untar unlinks what is in the
    way); a regular file entry over a symlink to outside writes a new file here."""
    dest = tmp_path / "dest"
    dest.mkdir()
    outside = tmp_path / "outside"
    outside.write_text("keep")

    def copy() -> None:
        extract(tar_of((entry("d", tarfile.DIRTYPE), None),
                       (entry("d/abs", tarfile.SYMTYPE, str(outside)), None),
                       (entry("d/f"), b"new")), str(dest), lambda n: n, owner=None)

    copy()
    copy()
    assert os.readlink(dest / "d" / "abs") == str(outside)
    assert (dest / "d" / "f").read_bytes() == b"new"
    (dest / "d" / "f").unlink()
    (dest / "d" / "f").symlink_to(outside)  # a file entry over a symlink to outside
    copy()
    assert not (dest / "d" / "f").is_symlink() and (dest / "d" / "f").read_bytes() == b"new"
    assert outside.read_text() == "keep"


def test_extract_never_writes_through_an_existing_symlink(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    (dest / "d").mkdir(parents=True)
    out_dir = tmp_path / "outdir"
    out_dir.mkdir(mode=0o700)
    (dest / "d" / "sub").symlink_to(out_dir)
    with pytest.raises(StatusError, match="refusing to extract 'd/sub/x'"):
        extract(tar_of((entry("d/sub/x"), b"x")), str(dest), lambda n: n, owner=None)
    # A directory entry does not replace (nor chmod through) the symlink to a directory.
    with pytest.raises(StatusError, match="cannot overwrite non-directory"):
        extract(tar_of((entry("d/sub", tarfile.DIRTYPE), None)), str(dest), lambda n: n,
                owner=None)
    assert os.listdir(out_dir) == [] and out_dir.stat().st_mode & 0o777 == 0o700
    assert (dest / "d" / "sub").is_symlink()
    with pytest.raises(StatusError, match="cannot overwrite directory"):
        extract(tar_of((entry("d"), b"x")), str(dest), lambda n: n, owner=None)
    assert (dest / "d").is_dir()
