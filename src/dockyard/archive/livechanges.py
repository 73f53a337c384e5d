"""The changes of a *running* container's overlay upper directory (``docker diff``), walked
by descriptor.

``changes.changes`` walks by path, which is right for a quiescent tree. A running
container can swap any directory of its upper dir for a symlink to ``/`` between the
listing of a directory and the walk into it, and a walk by path would then list the
host's root: names of host files would come out in the answer. Here every directory of
the upper dir is opened relative to its parent's descriptor with ``O_DIRECTORY |
O_NOFOLLOW`` and listed through that descriptor, so a swapped directory is skipped, never
followed. The lower directories are the image's layers, which the container cannot write:
they are looked up as ``changes`` does (``whiteouts.lookup_in_lowers``).

The result is the same list as ``changes(lowers, upper, mode=OVERLAY)``: added, modified
(a directory only when its owner, mode or time differ from the lower one), deleted (a
whiteout over a lower path; the lower content of an opaque directory not in the upper).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence

from dockyard.archive.changes import Change, ChangeKind
from dockyard.archive.safety import os_error
from dockyard.archive.whiteouts import (
    OVERLAY_OPAQUE_XATTR,
    is_whiteout_device,
    lookup_in_lowers,
)

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_SKIP = (errno.ENOENT, errno.ELOOP, errno.ENOTDIR)


def _path(parts: tuple[str, ...]) -> str:
    return "/" + "/".join(parts)


def _opaque(fd: int) -> bool:
    try:
        return os.getxattr(fd, OVERLAY_OPAQUE_XATTR) == b"y"
    except OSError as e:
        if e.errno in (errno.ENODATA, errno.ENOTSUP):
            return False
        raise


def _same_time(a: int, b: int) -> bool:
    return a == b or (a // 1_000_000_000 == b // 1_000_000_000
                      and (a % 1_000_000_000 == 0 or b % 1_000_000_000 == 0))


def _listing(fd: int) -> list[tuple[str, os.stat_result]]:
    with os.scandir(fd) as it:
        return sorted(((e.name, e.stat(follow_symlinks=False)) for e in it),
                      key=lambda t: os.fsencode(t[0]))


def live_changes(lowers: Sequence[str], upper: str) -> list[Change]:
    """``docker diff`` of an overlay upper dir that a running container may be changing."""
    out: list[Change] = []
    low = tuple(lowers)
    try:
        fd = os.open(upper, _DIR)
        try:
            _walk(low, fd, (), False, out)
        finally:
            os.close(fd)
    except OSError as err:
        raise os_error(err, "changes of the container") from err
    out.sort(key=lambda c: tuple(os.fsencode(p) for p in c.parts))
    return out


def _walk(lowers: tuple[str, ...], dir_fd: int, parts: tuple[str, ...], hidden: bool,
          out: list[Change]) -> None:
    listed = _listing(dir_fd)
    for name, st in listed:
        cparts = (*parts, name)
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
        if not is_dir:
            continue
        try:
            sub = os.open(name, _DIR, dir_fd=dir_fd)
        except OSError as err:
            if err.errno in _SKIP:
                continue  # swapped or removed since it was listed: not followed
            raise
        try:
            if (os.fstat(sub).st_ino, os.fstat(sub).st_dev) != (st.st_ino, st.st_dev):
                continue
            opaque = _opaque(sub)
            if opaque and low is not None and stat.S_ISDIR(low.st_mode) and not hidden:
                _deleted_below(lowers, cparts, sub, out)
            below_hidden = hidden or opaque or (low is not None
                                                and not stat.S_ISDIR(low.st_mode))
            _walk(lowers, sub, cparts, below_hidden, out)
        finally:
            os.close(sub)


def _deleted_below(lowers: tuple[str, ...], parts: tuple[str, ...], upper_fd: int,
                   out: list[Change]) -> None:
    names: set[str] = set()
    for lower in lowers:
        st = lookup_in_lowers((lower,), parts)
        if st is None or not stat.S_ISDIR(st.st_mode):
            continue
        names.update(os.listdir(os.path.join(lower, *parts)))
    present = {name for name, _ in _listing(upper_fd)}
    for name in sorted(names - present, key=os.fsencode):
        if lookup_in_lowers(lowers, (*parts, name)) is not None:
            out.append(Change(ChangeKind.DELETED, _path((*parts, name))))
