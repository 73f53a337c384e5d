"""The overlay snapshotter (the default): one overlayfs layer per snapshot.

Each snapshot owns ``snapshots/<id>/fs`` (its layer, the upper dir while active) and, while
active, ``snapshots/<id>/work`` (overlayfs's work dir); see ``storage`` for the whole layout.
Mounts, as containerd's ``plugins/snapshots/overlay/overlay.go`` gives them:

- active, no parent:     ``bind <fs>`` read-write;
- active on parents:     ``overlay`` with ``lowerdir=<parents' fs, nearest first>``,
  ``upperdir=<fs>``, ``workdir=<work>``;
- view of one layer:     ``bind <parent fs>`` read-only (no overlay needed);
- view of several:       ``overlay`` with ``lowerdir`` only (read-only by construction);
- view without parent:   its own empty ``fs``, read-only.

Lower dirs are absolute ``snapshots/<id>/fs`` paths; ``snapshots.mount`` makes them relative
to ``snapshots/`` when a long chain would overflow the one-page mount data (see there).

A diff read straight from an upper dir is only the truth while overlayfs does not record
renamed directories as redirects (``redirect_dir``), copy up metadata only (``metacopy``),
or keep an inode index (``index``). At start the snapshotter reads the module defaults
(``/sys/module/overlay/parameters``) and the options it mounts with (it adds ``index=off``),
and exposes the verdict as ``features.upper_diff_valid`` / ``diff_mode``: ``OVERLAY`` when
valid, otherwise ``TREE`` (compare the mounted view of the parent with the mounted snapshot).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.archive.changes import DiffMode
from dockyard.errors import DockyardError, FailedPrecondition
from dockyard.snapshots import Kind, Mount, Usage
from dockyard.snapshots.lifecycle import DirSnapshotter
from dockyard.snapshots.mount import mount, unmount
from dockyard.snapshots.storage import Record

log = logging.getLogger(__name__)

PARAMS_DIR = "/sys/module/overlay/parameters"


@dataclass(frozen=True, slots=True)
class OverlayFeatures:
    """The overlayfs behaviours that decide whether an upper dir is a faithful diff."""

    redirect_dir: str
    """``on`` creates redirects; ``off``/``follow``/``nofollow`` do not."""
    metacopy: bool
    index: bool

    @property
    def upper_diff_valid(self) -> bool:
        return self.redirect_dir != "on" and not self.metacopy and not self.index


def _param(params_dir: str, name: str) -> str | None:
    try:
        with open(os.path.join(params_dir, name), encoding="ascii") as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def _on(value: str | None) -> bool:
    return value in ("Y", "y", "1", "on")


def detect_features(options: Sequence[str], params_dir: str = PARAMS_DIR) -> OverlayFeatures:
    """The effective features for mounts made with ``options`` (mount options win)."""
    opts = {}
    for o in options:
        k, eq, v = o.partition("=")
        if eq:
            opts[k] = v
    if "redirect_dir" in opts:
        redirect = opts["redirect_dir"]
    else:
        redirect = "on" if _on(_param(params_dir, "redirect_dir")) else "off"
    metacopy = _on(opts["metacopy"]) if "metacopy" in opts else _on(
        _param(params_dir, "metacopy"))
    index = _on(opts["index"]) if "index" in opts else _on(_param(params_dir, "index"))
    if metacopy and redirect == "off":
        redirect = "on"  # metacopy=on turns redirect_dir on unless told otherwise
    return OverlayFeatures(redirect_dir=redirect, metacopy=metacopy, index=index)


def _check_overlay(root: str, options: Sequence[str]) -> None:
    """Mount a two-lower overlay in ``root`` once: proves the kernel and the filesystem."""
    if os.geteuid() != 0:
        raise FailedPrecondition("the overlay snapshotter needs root")
    with open("/proc/filesystems", encoding="ascii") as f:
        if not any(line.split()[-1:] == ["overlay"] for line in f):
            raise FailedPrecondition("overlayfs is not available (modprobe overlay)")
    probe = tempfile.mkdtemp(prefix="check-", dir=root)
    try:
        for d in ("l1", "l2", "u", "w", "m"):
            os.mkdir(os.path.join(probe, d))
        p = probe
        m = Mount("overlay", "overlay", options=(
            *options, f"lowerdir={p}/l1:{p}/l2", f"upperdir={p}/u", f"workdir={p}/w"))
        mount(m, os.path.join(probe, "m"))
        unmount(os.path.join(probe, "m"))
    except DockyardError as e:
        raise FailedPrecondition(f"overlayfs does not work in {root}: {e}") from e
    finally:
        shutil.rmtree(probe)


class OverlaySnapshotter(DirSnapshotter):
    """Snapshots as overlayfs layers. Needs root (real overlay mounts are checked at start).

    ``mount_options`` are added to every overlay mount (``index=off`` is added when the
    kernel knows it). ``params_dir`` is where the module parameters are read (tests).
    """

    def __init__(self, root: str, *, mount_options: Sequence[str] = (),
                 params_dir: str = PARAMS_DIR, check: bool = True) -> None:
        super().__init__(root)
        try:
            opts = list(mount_options)
            if (_param(params_dir, "index") is not None
                    and not any(o.startswith("index=") for o in opts)):
                opts.insert(0, "index=off")
            self.mount_options: tuple[str, ...] = tuple(opts)
            self.features = detect_features(self.mount_options, params_dir)
            if check:
                _check_overlay(self.root, self.mount_options)
        except BaseException:
            self.close()
            raise
        if not self.features.upper_diff_valid:
            log.warning("overlay: %s: diffs will compare trees, not read the upper dir",
                        self.features)

    @property
    def diff_mode(self) -> DiffMode:
        return DiffMode.OVERLAY if self.features.upper_diff_valid else DiffMode.TREE

    def _populate(self, new_dir: str, kind: Kind, parents: list[Record]) -> None:
        if kind is Kind.ACTIVE:
            os.mkdir(os.path.join(new_dir, "work"), 0o711)

    def _mounts(self, rec: Record, parents: list[Record]) -> list[Mount]:
        fs = self.fs_of(rec)
        if not parents:
            ro = ("ro",) if rec.kind is Kind.VIEW else ("rw",)
            return [Mount("bind", fs, options=(*ro, "rbind"))]
        lowers = ":".join(self.fs_of(p) for p in parents)
        if rec.kind is Kind.VIEW:
            if len(parents) == 1:
                return [Mount("bind", self.fs_of(parents[0]), options=("ro", "rbind"))]
            return [Mount("overlay", "overlay",
                          options=(*self.mount_options, f"lowerdir={lowers}"))]
        work = os.path.join(self.dir_of(rec), "work")
        return [Mount("overlay", "overlay", options=(
            *self.mount_options, f"workdir={work}", f"upperdir={fs}", f"lowerdir={lowers}"))]

    def _usage_of(self, rec: Record) -> Usage:
        if rec.kind is Kind.VIEW:
            return Usage(0, 0)
        return super()._usage_of(rec)
