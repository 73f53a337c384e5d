"""Snapshotters: filesystems in parent chains, handed out as mounts (containerd's model).

A snapshotter keeps a tree of snapshots. *Committed* snapshots are immutable and named
(callers name image layers by chain id); *active* snapshots are writable and keyed; *views*
are read-only and keyed. It never mounts anything itself: ``prepare``/``view``/``mounts``
return ``Mount`` values that the caller mounts (``snapshots.mount.mount_all``), passes to a
runtime, or reads the directories from (``layer_dirs``) to apply a layer into.

Implementations: ``overlay`` (the default: overlayfs lowerdirs of the committed parents, an
upper and a work dir for the active one) and ``native`` (a full copy of the parent per
snapshot, for filesystems without overlay). ``snapshots.plugins.SNAPSHOTTERS`` maps names to
factories; ``snapshots.mount`` mounts the values; ``snapshots.diffs`` takes a layer out of an
active snapshot.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from dockyard.archive.changes import DiffMode
from dockyard.archive.whiteouts import WhiteoutMode
from dockyard.errors import InvalidArgument


class Kind(enum.Enum):
    """The kind of a snapshot."""

    VIEW = "view"
    ACTIVE = "active"
    COMMITTED = "committed"


@dataclass(frozen=True, slots=True)
class Mount:
    """One mount, as a value: ``mount -t type -o options source target``.

    ``target`` is relative to where the caller mounts the list ("" for that point itself).
    """

    type: str
    source: str
    target: str = ""
    options: tuple[str, ...] = ()

    def option(self, name: str) -> str | None:
        """The value of ``name=value`` in the options, or None."""
        prefix = name + "="
        for opt in self.options:
            if opt.startswith(prefix):
                return opt[len(prefix):]
        return None


@dataclass(frozen=True, slots=True)
class Info:
    """What a snapshotter knows of a snapshot (``name`` is its key, or name once committed)."""

    kind: Kind
    name: str
    parent: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    created: datetime | None = None
    updated: datetime | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Disk used by a snapshot's own layer: bytes allocated and distinct inodes."""

    size_bytes: int
    inodes: int


Filter = Callable[[Info], bool]


class Snapshotter(Protocol):
    """The lifecycle of snapshots (containerd's ``core/snapshots/snapshotter.go``).

    Unpacking an image layer by layer::

        mounts = s.prepare("extract-<random>", parent=chain_id_below)
        # apply the layer into layer_dirs(mounts).upper
        s.commit(chain_id, "extract-<random>")        # the active key is gone now

    Running a container::

        mounts = s.prepare(container_id, parent=image_top_chain_id)   # writable
        ... mount, run, unmount ...
        s.commit(new_layer_chain_id, container_id)   # docker commit, or
        s.remove(container_id)

    Reading an image without writing: ``view(key, parent)`` then ``remove(key)``.

    ``remove`` refuses a snapshot that has children (``FailedPrecondition``). Keys and names
    share one namespace. Mounts are valid until the snapshot is removed; removing a
    snapshot that is still mounted is the caller's error. A crash may leave directories
    behind: ``cleanup()`` removes whatever the metadata does not know. ``close()`` releases
    the metadata database; the snapshotter is unusable after.
    """

    @property
    def diff_mode(self) -> DiffMode:
        """How a diff of an active snapshot against its parent must be taken."""
        ...

    def stat(self, key: str) -> Info:
        """The snapshot's info (``NotFound``)."""
        ...

    def update(self, info: Info, fieldpaths: Sequence[str] = ()) -> Info:
        """Replace the labels (``labels`` or ``labels.<key>`` in fieldpaths; all if empty)."""
        ...

    def usage(self, key: str) -> Usage:
        """Disk used by this snapshot's own layer (not its parents)."""
        ...

    def mounts(self, key: str) -> list[Mount]:
        """The mounts of an active snapshot or a view (as ``prepare``/``view`` returned)."""
        ...

    def prepare(self, key: str, parent: str | None = None,
                labels: Mapping[str, str] | None = None) -> list[Mount]:
        """A new active (writable) snapshot on top of the committed ``parent``."""
        ...

    def view(self, key: str, parent: str | None = None,
             labels: Mapping[str, str] | None = None) -> list[Mount]:
        """A new read-only view of the committed ``parent``."""
        ...

    def commit(self, name: str, key: str, labels: Mapping[str, str] | None = None) -> None:
        """Turn the active snapshot ``key`` into the committed snapshot ``name``."""
        ...

    def remove(self, key: str) -> None:
        """Remove a snapshot without children (``FailedPrecondition`` otherwise)."""
        ...

    def walk(self, filter: Filter | str | None = None) -> Iterator[Info]:
        """Every snapshot (matching ``filter``: a predicate or ``kind==x,parent==y,...``)."""
        ...

    def cleanup(self) -> list[str]:
        """Remove directories the metadata does not reference; returns what was removed."""
        ...

    def close(self) -> None:
        ...


@dataclass(frozen=True, slots=True)
class LayerDirs:
    """Where to apply a layer for a list of mounts: the writable dir and what lies below."""

    upper: str
    lowers: tuple[str, ...]
    whiteout_mode: WhiteoutMode


def layer_dirs(mounts: Sequence[Mount]) -> LayerDirs:
    """The directory to apply a layer into, for mounts an active snapshot returned.

    Overlay: the upper dir, in overlay whiteout mode, with the lower dirs as parents. A
    single bind mount: its source, holding the whole tree (native whiteout mode).
    """
    if len(mounts) != 1:
        raise InvalidArgument(f"expected one mount, got {len(mounts)}")
    m = mounts[0]
    if m.type == "overlay":
        upper = m.option("upperdir")
        if upper is None:
            raise InvalidArgument("a read-only overlay mount has no upper dir to write")
        lower = m.option("lowerdir") or ""
        return LayerDirs(upper, tuple(p for p in lower.split(":") if p), WhiteoutMode.OVERLAY)
    if m.type == "bind" or "bind" in m.options or "rbind" in m.options:
        if "ro" in m.options:
            raise InvalidArgument("a read-only bind mount is not a place to write a layer")
        return LayerDirs(m.source, (), WhiteoutMode.NATIVE)
    raise InvalidArgument(f"cannot write a layer through a {m.type!r} mount")


__all__ = [
    "Filter",
    "Info",
    "Kind",
    "LayerDirs",
    "Mount",
    "Snapshotter",
    "Usage",
    "layer_dirs",
]
