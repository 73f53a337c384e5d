"""The image store's integration fixtures: ``svc``, an overlay ``ImageService`` in the
test's temp dir, closed and its mounts gone at teardown; and the ``debian`` marker: the
Debian base image test downloads Debian's packages (about two minutes). It is out of a
developer's plain ``pytest`` run and in CI's (``CI=true``, as ``.ci/run`` is started), or
wherever ``-m debian`` or ``DOCKYARD_TEST_DEBIAN=1`` asks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.image import ImageService
from dockyard.snapshots.mount import mounted_under, unmount


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ImageService]:
    s = ImageService.open(str(tmp_path / "root"), "overlay")
    try:
        yield s
    finally:
        s.close()
        for mp in mounted_under(str(tmp_path)):
            unmount(mp, detach=True)
        assert mounted_under(str(tmp_path)) == []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "debian: builds a Debian image from Debian's packages "
                                       "(slow, network to the Debian mirror)")


def _wanted(config: pytest.Config) -> bool:
    if os.environ.get("CI", "").lower() == "true":
        return True
    if os.environ.get("DOCKYARD_TEST_DEBIAN") == "1":
        return True
    return "debian" in (config.getoption("markexpr", "") or "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _wanted(config):
        return
    keep, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker("debian") else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
