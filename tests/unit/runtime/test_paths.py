"""secure_join resolves like the container would, never out of the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.runtime.paths import secure_join


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "a" / "b").mkdir(parents=True)
    os.symlink("/etc", r / "abs")
    os.symlink("../../../../etc", r / "up")
    os.symlink("a/b", r / "rel")
    os.symlink("loop2", r / "loop1")
    os.symlink("loop1", r / "loop2")
    return r


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", ""),
        ("/a/b", "a/b"),
        ("a/../../..", ""),
        ("/abs/passwd", "etc/passwd"),  # absolute link restarts at the root
        ("/up/shadow", "etc/shadow"),  # .. never climbs above the root
        ("/rel/c", "a/b/c"),
        ("/rel/../x", "a/x"),  # .. applies after the link is followed, as the kernel does
        ("/missing/deeper", "missing/deeper"),
    ],
)
def test_secure_join(root: Path, path: str, expected: str) -> None:
    want = os.path.join(str(root), expected) if expected else str(root)
    assert secure_join(str(root), path) == want


def test_symlink_loop_is_an_error(root: Path) -> None:
    with pytest.raises(OSError, match="symbolic links"):
        secure_join(str(root), "/loop1/x")
