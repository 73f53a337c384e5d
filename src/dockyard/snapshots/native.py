"""The native snapshotter: every snapshot a full copy of its parent (no overlayfs needed).

For filesystems that cannot hold an overlay upper dir (and for rootless use, later). Each
snapshot owns ``snapshots/<id>/fs`` holding its whole tree (layout in ``storage``):

- ``prepare``: ``fs`` is a copy of the parent's ``fs`` made by ``cp -a --reflink=auto``
  (owners, modes, times, xattrs, hardlinks, devices kept; extents shared where the
  filesystem can reflink), mounted as a read-write bind;
- ``view``: no copy: a read-only bind of the committed parent's ``fs`` (committed trees are
  never written), or of its own empty ``fs`` without a parent;
- ``commit``: nothing moves; the record turns committed.

A crash mid-copy leaves a ``new-*`` directory that ``cleanup`` removes. The copy runs in a
``cp`` child: if only the daemon dies (not its process group or cgroup), that ``cp`` may still
be writing; ``cleanup`` at the next start should come after it is gone.

Diffs compare the snapshot's tree with its parent's (``DiffMode.TREE``); layers are applied
in ``WhiteoutMode.NATIVE`` (whiteouts delete).
"""

from __future__ import annotations

import logging
import os
import subprocess

from dockyard.archive.changes import DiffMode
from dockyard.errors import Internal
from dockyard.snapshots import Kind, Mount, Usage
from dockyard.snapshots.lifecycle import DirSnapshotter
from dockyard.snapshots.storage import Record

log = logging.getLogger(__name__)


def copy_tree(src: str, dst: str) -> None:
    """Copy the content of ``src`` into the existing ``dst`` with all metadata kept."""
    proc = subprocess.run(
        ["cp", "-a", "--reflink=auto", "--no-target-directory", src + "/.", dst],
        capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise Internal(f"copying {src} to {dst} failed: {proc.stderr.strip()}")
    # cp -a gives dst the mode/owner/times of src's root
    log.debug("copied %s to %s", src, dst)


class NativeSnapshotter(DirSnapshotter):
    """Snapshots as full directory copies. Lifecycle: ``dockyard.snapshots.Snapshotter``."""

    @property
    def diff_mode(self) -> DiffMode:
        return DiffMode.TREE

    def _populate(self, new_dir: str, kind: Kind, parents: list[Record]) -> None:
        if kind is Kind.ACTIVE and parents:
            copy_tree(self.fs_of(parents[0]), os.path.join(new_dir, "fs"))

    def _mounts(self, rec: Record, parents: list[Record]) -> list[Mount]:
        if rec.kind is Kind.VIEW:
            src = self.fs_of(parents[0]) if parents else self.fs_of(rec)
            return [Mount("bind", src, options=("ro", "rbind"))]
        return [Mount("bind", self.fs_of(rec), options=("rw", "rbind"))]

    def _usage_of(self, rec: Record) -> Usage:
        if rec.kind is Kind.VIEW:
            return Usage(0, 0)
        return super()._usage_of(rec)
