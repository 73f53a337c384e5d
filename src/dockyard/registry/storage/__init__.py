"""Registry storage drivers: the ``StorageDriver`` seam and its implementations.

``DRIVERS`` is the explicit choice users make in the config file (``storage.driver``):
a name to a factory taking the configured root directory.
"""

from __future__ import annotations

from collections.abc import Callable

from dockyard.registry.storage.driver import FileInfo, FileWriter, StorageDriver, validate_path
from dockyard.registry.storage.filesystem import FilesystemDriver
from dockyard.registry.storage.memory import MemoryDriver

DRIVERS: dict[str, Callable[[str], StorageDriver]] = {
    "filesystem": lambda root: FilesystemDriver(root),
    "inmemory": lambda root: MemoryDriver(),
}

__all__ = [
    "DRIVERS",
    "FileInfo",
    "FileWriter",
    "FilesystemDriver",
    "MemoryDriver",
    "StorageDriver",
    "validate_path",
]
