"""The registry storage-driver conformance suite's fixture: one parameter per driver.

As distribution's ``registry/storage/driver/testsuites``: every test runs against every
``StorageDriver`` in ``DRIVERS``, so a new driver is added there and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.registry.storage import FilesystemDriver, MemoryDriver, StorageDriver

DRIVERS: dict[str, Callable[[Path], StorageDriver]] = {
    "filesystem": lambda root: FilesystemDriver(str(root / "fs")),
    "inmemory": lambda root: MemoryDriver(),
}


@pytest.fixture(params=sorted(DRIVERS))
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> StorageDriver:
    return DRIVERS[request.param](tmp_path)
