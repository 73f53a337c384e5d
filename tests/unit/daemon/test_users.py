"""User resolution inside a rootfs: runc's rules, and no way out through symlinks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.daemon.containers.users import ExecUser, read_in_root, resolve_user
from dockyard.errors import InvalidArgument

PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
          "app:x:1000:1000::/home/app:/bin/sh\n")
GROUP = "root:x:0:\ndaemon:x:1:\nstaff:x:50:app,daemon\napp:x:1000:\nwheel:x:10:app\n"


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    return root


# The primary group leads the supplementary groups (moby's getUser since 20.10.18,
# CVE-2022-36109): ``id`` in the container shows ``groups=0(root)``, as with dockerd.
@pytest.mark.parametrize(("spec", "expected"), [
    ("", ExecUser(0, 0, (0,), "/root")),
    ("root", ExecUser(0, 0, (0,), "/root")),
    ("app", ExecUser(1000, 1000, (1000, 50, 10), "/home/app")),
    ("1000", ExecUser(1000, 1000, (1000, 50, 10), "/home/app")),
    ("app:staff", ExecUser(1000, 50, (50,), "/home/app")),
    ("app:7", ExecUser(1000, 7, (7,), "/home/app")),
    ("4242", ExecUser(4242, 0, (0,), "/")),  # a uid with no entry: gid 0, home /
    ("4242:4242", ExecUser(4242, 4242, (4242,), "/")),
])
def test_resolve(rootfs: Path, spec: str, expected: ExecUser) -> None:
    assert resolve_user(str(rootfs), spec) == expected


def test_group_add(rootfs: Path) -> None:
    assert resolve_user(str(rootfs), "daemon", ("wheel", "99")).additional_gids \
        == (1, 50, 10, 99)
    # each group once, the primary one first, whichever way it is named
    assert resolve_user(str(rootfs), "daemon", ("1", "daemon", "staff", "50")).additional_gids \
        == (1, 50)
    with pytest.raises(InvalidArgument, match="Unable to find group nope"):
        resolve_user(str(rootfs), "daemon", ("nope",))


@pytest.mark.parametrize(("spec", "message"), [("nobody", "unable to find user nobody"),
                                                ("app:nogroup", "unable to find group")])
def test_missing(rootfs: Path, spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        resolve_user(str(rootfs), spec)


def test_no_passwd_file_numeric_user(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    assert resolve_user(str(tmp_path / "r"), "5:6") == ExecUser(5, 6, (6,), "/")


def test_symlinks_resolve_inside_the_rootfs(tmp_path: Path) -> None:
    """An absolute symlink and a ``..`` chain both land in the container's root, never in
    the host's /etc or beside the rootfs."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("evil:x:0:0::/evil:/bin/sh\n")
    root = tmp_path / "rootfs"
    (root / "data").mkdir(parents=True)
    (root / "data" / "passwd").write_text("inside:x:7:7::/in:/bin/sh\n")
    os.symlink("../../../../outside", root / "etc")  # .. stops at the rootfs
    assert read_in_root(str(root), "/etc/passwd") is None
    os.unlink(root / "etc")
    (root / "etc").mkdir()
    os.symlink("/data/passwd", root / "etc" / "passwd")  # absolute: from the rootfs
    assert resolve_user(str(root), "inside") == ExecUser(7, 7, (7,), "/in")
    os.unlink(root / "etc" / "passwd")
    os.symlink("/etc/passwd", root / "etc" / "passwd")  # a loop, not the host's file
    with pytest.raises(OSError, match="symbolic links"):
        read_in_root(str(root), "/etc/passwd")
    os.unlink(root / "etc" / "passwd")
    os.symlink("../../../outside/passwd", root / "etc" / "passwd")
    with pytest.raises(InvalidArgument, match="unable to find user evil"):
        resolve_user(str(root), "evil")


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "etc" / "passwd").mkdir(parents=True)
    assert read_in_root(str(root), "/etc/passwd") is None
    os.rmdir(root / "etc" / "passwd")
    os.symlink("/dev/zero", root / "etc" / "passwd")  # in the rootfs: absent
    assert read_in_root(str(root), "/etc/passwd") is None
