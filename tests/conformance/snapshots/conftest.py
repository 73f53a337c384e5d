"""Fixtures of the snapshotter conformance suite: each test runs for every snapshotter."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard.snapshots import Mount, Snapshotter
from dockyard.snapshots.mount import mount_all, mounted_under, unmount
from dockyard.snapshots.plugins import SNAPSHOTTERS

Mounter = Callable[[list[Mount]], Path]


@pytest.fixture(params=sorted(SNAPSHOTTERS))
def snapshotter_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "overlay" and os.geteuid() != 0:
        pytest.skip("the overlay snapshotter needs root")
    return name


@pytest.fixture
def snapshotter(snapshotter_name: str, tmp_path: Path) -> Iterator[Snapshotter]:
    s = SNAPSHOTTERS[snapshotter_name](str(tmp_path / "root"))
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def mounter(tmp_path: Path) -> Iterator[Mounter]:
    """mounter(mounts) -> a fresh directory with them mounted; all unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    made: list[Path] = []

    def do(mounts: list[Mount]) -> Path:
        d = tmp_path / "mnt" / str(len(made))
        d.mkdir(parents=True)
        mount_all(mounts, str(d))
        made.append(d)
        return d

    try:
        yield do
    finally:
        for d in reversed(made):
            unmount(str(d))
        assert mounted_under(str(tmp_path)) == []


@pytest.fixture(autouse=True)
def no_mounts_left(tmp_path: Path) -> Iterator[None]:
    """Every test leaves nothing mounted under its temp dir (checked in /proc/self/mountinfo)."""
    yield
    left = mounted_under(str(tmp_path))
    for mp in left:
        unmount(mp, detach=True)
    assert left == [], f"mounts left behind: {left}"
