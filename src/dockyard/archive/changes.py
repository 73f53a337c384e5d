"""What changed between a snapshot and its parent, as Docker's ``GET /containers/{id}/changes``.

Two ways to find out, chosen by ``DiffMode``:

- ``TREE`` compares two full trees (moby's ``pkg/archive/changes.go``): an entry in both is
  *modified* when its type, mode, owner, device number or xattrs differ, or, for a
  non-directory, its size or mtime (a directory's size and mtime are no measure of change:
  moby#9874). A directory with changes inside is reported as modified before them, so a
  diff keeps its metadata. Deleted directories are reported once, not their content.
- ``OVERLAY`` walks only the upper dir of an overlay snapshot: a 0/0 character device is a
  deletion; an entry is *modified* when the lower layers have it, else *added*; a directory
  copied up only because something inside changed is not reported when its metadata matches
  the lower one; an opaque directory hides the lower content, whose entries are deleted.
  Valid only while overlay's ``redirect_dir``, ``metacopy`` and ``index`` are off.

The result is in walk order (each directory sorted by name, parents before children), which
is also the order ``write_diff`` writes.
"""

from __future__ import annotations

import enum
import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.archive.safety import os_error
from dockyard.archive.whiteouts import (
    is_opaque,
    is_overlay_xattr,
    is_whiteout_device,
    lookup_in_lowers,
)
from dockyard.errors import InvalidArgument


class ChangeKind(enum.IntEnum):
    """Docker's numbering of change kinds (the ``Kind`` field of the changes API)."""

    MODIFIED = 0
    ADDED = 1
    DELETED = 2


class DiffMode(enum.Enum):
    """How the difference between a snapshot and its parent is found."""

    OVERLAY = "overlay"
    """Walk the overlay upper dir (whiteout devices and opaque xattrs mark deletions)."""
    TREE = "tree"
    """Compare the full tree with the parent's full tree."""


@dataclass(frozen=True, slots=True)
class Change:
    """One changed path; ``path`` is absolute in the container (``/etc/passwd``)."""

    kind: ChangeKind
    path: str

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(p for p in self.path.split("/") if p)


def scan(path: str) -> list[tuple[str, os.stat_result]]:
    """The entries of a directory sorted by name (bytes order), with their ``lstat``."""
    with os.scandir(path) as it:
        entries = [(e.name, e.stat(follow_symlinks=False)) for e in it]
    entries.sort(key=lambda t: os.fsencode(t[0]))
    return entries


def read_xattrs(path: str) -> tuple[tuple[str, bytes], ...]:
    """The xattrs of ``path`` (not followed) except overlayfs's own, sorted by name."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno == errno.ENOTSUP:
            return ()
        raise
    out = []
    for name in sorted(names):
        if is_overlay_xattr(name):
            continue
        try:
            out.append((name, os.getxattr(path, name, follow_symlinks=False)))
        except OSError as e:
            if e.errno == errno.ENODATA:  # removed meanwhile
                continue
            raise
    return tuple(out)


def _same_time(a: int, b: int) -> bool:
    # moby's sameFsTime: equal, or equal seconds when one side lost its nanoseconds
    return a == b or (a // 1_000_000_000 == b // 1_000_000_000
                      and (a % 1_000_000_000 == 0 or b % 1_000_000_000 == 0))


def _differs(old: os.stat_result, new: os.stat_result, old_path: str, new_path: str) -> bool:
    if (old.st_mode != new.st_mode or old.st_uid != new.st_uid or old.st_gid != new.st_gid
            or old.st_rdev != new.st_rdev):
        return True
    if not stat.S_ISDIR(new.st_mode) and (
            old.st_size != new.st_size or not _same_time(old.st_mtime_ns, new.st_mtime_ns)):
        return True
    return read_xattrs(old_path) != read_xattrs(new_path)


def _one_lower(lower: Sequence[str] | str | None) -> str | None:
    if lower is None or isinstance(lower, str):
        return lower
    if len(lower) == 0:
        return None
    if len(lower) == 1:
        return lower[0]
    raise InvalidArgument(
        "a tree comparison needs one lower tree: mount the lower layers as a view first")


def _lowers(lower: Sequence[str] | str | None) -> tuple[str, ...]:
    if lower is None:
        return ()
    if isinstance(lower, str):
        return (lower,)
    return tuple(lower)


def changes(lower: Sequence[str] | str | None, upper: str, *,
            mode: DiffMode | str = DiffMode.TREE) -> list[Change]:
    """The changes of ``upper`` against ``lower`` (see the module docstring for the modes).

    ``TREE``: ``lower`` is one full tree (or None: everything is added). ``OVERLAY``:
    ``upper`` is an overlay upper dir and ``lower`` its lower dirs, topmost first.
    """
    out: list[Change] = []
    try:
        if DiffMode(mode) is DiffMode.TREE:
            _tree(_one_lower(lower), upper, (), out)
        else:
            _overlay(_lowers(lower), upper, (), False, out)
    except OSError as err:
        raise os_error(err, f"changes of {upper}") from err
    out.sort(key=lambda c: _walk_key(c.parts))
    return out


def _path(parts: tuple[str, ...]) -> str:
    return "/" + "/".join(parts)


def _add_all(upper: str, parts: tuple[str, ...], out: list[Change]) -> None:
    for name, st in scan(upper):
        out.append(Change(ChangeKind.ADDED, _path((*parts, name))))
        if stat.S_ISDIR(st.st_mode):
            _add_all(os.path.join(upper, name), (*parts, name), out)


def _tree(lower: str | None, upper: str, parts: tuple[str, ...], out: list[Change]) -> None:
    new = scan(upper)
    old = dict(scan(lower)) if lower is not None else {}
    seen: set[str] = set()
    for name, nst in new:
        cparts = (*parts, name)
        upath = os.path.join(upper, name)
        ost = old.get(name)
        seen.add(name)
        if ost is None or lower is None:
            out.append(Change(ChangeKind.ADDED, _path(cparts)))
            if stat.S_ISDIR(nst.st_mode):
                _add_all(upath, cparts, out)
            continue
        lpath = os.path.join(lower, name)
        mark = len(out)
        reported = _differs(ost, nst, lpath, upath)
        if reported:
            out.append(Change(ChangeKind.MODIFIED, _path(cparts)))
        if stat.S_ISDIR(nst.st_mode):
            if stat.S_ISDIR(ost.st_mode):
                _tree(lpath, upath, cparts, out)
            else:
                _add_all(upath, cparts, out)
            if len(out) > mark and not reported:
                out.insert(mark, Change(ChangeKind.MODIFIED, _path(cparts)))
    for name in sorted(set(old) - seen, key=os.fsencode):
        out.append(Change(ChangeKind.DELETED, _path((*parts, name))))


def _walk_key(parts: tuple[str, ...]) -> tuple[bytes, ...]:
    return tuple(os.fsencode(p) for p in parts)


def _overlay(lowers: tuple[str, ...], upper: str, parts: tuple[str, ...], hidden: bool,
             out: list[Change]) -> None:
    """``hidden``: an opaque directory above hides the lower layers for this subtree."""
    present: set[str] = set()
    for name, st in scan(upper):
        cparts = (*parts, name)
        upath = os.path.join(upper, name)
        present.add(name)
        if is_whiteout_device(st):
            if not hidden and lookup_in_lowers(lowers, cparts) is not None:
                out.append(Change(ChangeKind.DELETED, _path(cparts)))
            continue
        low = None if hidden else lookup_in_lowers(lowers, cparts)
        is_dir = stat.S_ISDIR(st.st_mode)
        if low is None:
            out.append(Change(ChangeKind.ADDED, _path(cparts)))
        elif not (is_dir and stat.S_ISDIR(low.st_mode) and low.st_mode == st.st_mode
                  and low.st_uid == st.st_uid and low.st_gid == st.st_gid
                  and _same_time(low.st_mtime_ns, st.st_mtime_ns)):
            out.append(Change(ChangeKind.MODIFIED, _path(cparts)))
        if is_dir:
            opaque = is_opaque(upath)
            if opaque and low is not None and stat.S_ISDIR(low.st_mode) and not hidden:
                _deleted_below(lowers, cparts, upath, out)
            sub_hidden = hidden or opaque or (low is not None and not stat.S_ISDIR(low.st_mode))
            _overlay(lowers, upath, cparts, sub_hidden, out)


def _deleted_below(lowers: tuple[str, ...], parts: tuple[str, ...], upath: str,
                   out: list[Change]) -> None:
    """Entries the lower layers have in an opaque directory that the upper dir lacks."""
    names: set[str] = set()
    for lower in lowers:
        st = lookup_in_lowers((lower,), parts)
        if st is None or not stat.S_ISDIR(st.st_mode):
            continue
        # lookup_in_lowers walked every component without following: a real directory
        names.update(os.listdir(os.path.join(lower, *parts)))
    upper_names = set(os.listdir(upath))
    for name in sorted(names - upper_names, key=os.fsencode):
        if lookup_in_lowers(lowers, (*parts, name)) is not None:
            out.append(Change(ChangeKind.DELETED, _path((*parts, name))))
