"""The snapshotters users can choose (``--storage-driver``), by name: the one place to add one."""

from __future__ import annotations

from collections.abc import Callable

from dockyard.snapshots import Snapshotter
from dockyard.snapshots.native import NativeSnapshotter
from dockyard.snapshots.overlay import OverlaySnapshotter

SnapshotterFactory = Callable[[str], Snapshotter]

SNAPSHOTTERS: dict[str, SnapshotterFactory] = {
    "overlay": OverlaySnapshotter,
    "native": NativeSnapshotter,
}
DEFAULT = "overlay"
