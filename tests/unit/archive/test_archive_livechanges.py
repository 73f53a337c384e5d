"""``live_changes`` (by descriptor) gives what ``changes`` (by path) gives on a quiescent
overlay upper dir: additions, modifications, whiteouts, opaque directories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.archive import DiffMode, changes
from dockyard.archive.livechanges import live_changes
from dockyard.archive.whiteouts import OVERLAY_OPAQUE_XATTR


@pytest.mark.root
def test_same_as_changes(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("whiteout devices and trusted xattrs need root")
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for d in ("etc", "usr/sbin", "var/log", "keep"):
        (lower / d).mkdir(parents=True)
    (lower / "etc" / "passwd").write_text("root")
    (lower / "usr" / "sbin" / "tool").write_text("t")
    (lower / "var" / "log" / "old").write_text("o")
    upper.mkdir()
    (upper / "etc").mkdir()
    (upper / "etc" / "passwd").write_text("changed")
    (upper / "etc" / "new").write_text("n")
    os.mknod(upper / "keep", 0o600 | 0o020000, 0)         # a whiteout over a directory
    (upper / "usr" / "sbin").mkdir(parents=True)            # an opaque directory
    os.setxattr(upper / "usr" / "sbin", OVERLAY_OPAQUE_XATTR, b"y")
    (upper / "usr" / "sbin" / "only").write_text("x")
    (upper / "added" / "deep").mkdir(parents=True)
    (upper / "link").symlink_to("/")
    want = changes([str(lower)], str(upper), mode=DiffMode.OVERLAY)
    got = live_changes([str(lower)], str(upper))
    assert got == want
    kinds = {(c.path, c.kind.value) for c in got}
    assert {("/etc/passwd", 0), ("/etc/new", 1), ("/keep", 2), ("/usr/sbin/tool", 2),
            ("/usr/sbin/only", 1), ("/added/deep", 1), ("/link", 1)} <= kinds
