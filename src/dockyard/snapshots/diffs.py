"""Layers out of snapshots: the diff of an active snapshot against its parent, as a tar.

``write_snapshot_diff`` picks the way the snapshotter's ``diff_mode`` allows:

- ``OVERLAY``: the upper dir of the active snapshot's overlay mount is the diff; nothing is
  mounted.
- ``TREE``: a read-only view of the parent and the active snapshot itself are compared as
  full trees. A single bind mount is read at its source; anything else (overlay with
  ``redirect_dir``/``metacopy``/``index`` on) is mounted under ``scratch`` for the
  comparison and unmounted after (always, in ``finally``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from dockyard.archive.changes import DiffMode
from dockyard.archive.diff import DiffResult, DigestingOut, write_diff
from dockyard.errors import InvalidArgument
from dockyard.snapshots import Kind, Mount, Snapshotter, layer_dirs
from dockyard.snapshots.mount import mount_all, unmount


@contextlib.contextmanager
def mounted_tree(mounts: Sequence[Mount], scratch: str) -> Iterator[str]:
    """A directory showing the mounts' tree: a bind's source, or a temporary mount under
    ``scratch`` (unmounted and removed on exit)."""
    if len(mounts) == 1 and mounts[0].type == "bind" and not mounts[0].target:
        yield mounts[0].source
        return
    where = tempfile.mkdtemp(prefix="diff-", dir=scratch)
    try:
        mount_all(mounts, where)
        try:
            yield where
        finally:
            unmount(where)
    finally:
        os.rmdir(where)


def write_snapshot_diff(snapshotter: Snapshotter, key: str, out: BinaryIO | DigestingOut, *,
                        scratch: str | None = None) -> DiffResult:
    """Write the layer tar of active snapshot ``key`` over its parent to ``out``."""
    info = snapshotter.stat(key)
    if info.kind is not Kind.ACTIVE:
        raise InvalidArgument(f"snapshot {key!r} is {info.kind.value}: diff an active one")
    mounts = snapshotter.mounts(key)
    if snapshotter.diff_mode is DiffMode.OVERLAY and mounts[0].type == "overlay":
        dirs = layer_dirs(mounts)
        return write_diff(dirs.lowers, dirs.upper, out, mode=DiffMode.OVERLAY)
    if snapshotter.diff_mode is DiffMode.OVERLAY and info.parent is None:
        return write_diff(None, layer_dirs(mounts).upper, out, mode=DiffMode.OVERLAY)
    scratch_dir = scratch or tempfile.gettempdir()
    view_key = None
    try:
        lower_mounts: list[Mount] = []
        if info.parent is not None:
            view_key = f"diff-view-{uuid.uuid4().hex}"
            lower_mounts = snapshotter.view(view_key, info.parent)
        with contextlib.ExitStack() as stack:
            lower = stack.enter_context(mounted_tree(lower_mounts, scratch_dir)) \
                if lower_mounts else None
            upper = stack.enter_context(mounted_tree(mounts, scratch_dir))
            return write_diff(lower, upper, out, mode=DiffMode.TREE)
    finally:
        if view_key is not None:
            snapshotter.remove(view_key)
