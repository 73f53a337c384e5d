"""Write a layer tar of what a snapshot changed: the inverse of ``apply_layer``.

``write_diff`` takes the changes (``changes.changes``) in walk order and writes, for each
added or modified path, its entry with owner, mode, mtime (whole seconds, as moby), xattrs
(except overlayfs's own) and content; a second path of an inode already written becomes a
hardlink entry; a deleted path becomes ``.wh.<name>``; an opaque overlay directory gets a
``.wh..wh..opq`` entry after its own. The bytes are deterministic for a given tree: sorted
names, no user or group names, no access or change times, Go-style PAX only when needed.

In ``OVERLAY`` mode the upper dir alone is walked, so an opaque directory and every
whiteout device in it are exported as they are (moby's overlay ``ConvertWrite``); in
``TREE`` mode two full trees are compared (the native snapshotter, or overlay with
``redirect_dir``/``metacopy``/``index`` on, where the upper dir does not tell the truth).

The trees must be quiescent while they are read (the container paused or stopped, as
``docker commit`` pauses it): the walk is by path, like moby's. Leaves are still opened with
``O_NOFOLLOW | O_NONBLOCK`` and checked to be the regular file that was listed, so a swap
makes the diff fail (``Conflict``) rather than hang or read another file.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol, runtime_checkable

from dockyard.archive.changes import (
    Change,
    ChangeKind,
    DiffMode,
    changes,
    read_xattrs,
    scan,
)
from dockyard.archive.safety import os_error
from dockyard.archive.tarformat import (
    END_OF_ARCHIVE,
    EntryType,
    TarEntry,
    encode_header,
    entry_from_stat,
    padding,
)
from dockyard.archive.whiteouts import (
    WHITEOUT_OPAQUE,
    WHITEOUT_PREFIX,
    is_opaque,
    is_whiteout_device,
)
from dockyard.errors import Conflict
from dockyard.oci.digest import Digest, Digester

log = logging.getLogger(__name__)

_READ = 1 << 20


@dataclass(frozen=True, slots=True)
class DiffResult:
    """The uncompressed layer written: its diff_id and size in bytes."""

    diff_id: Digest
    size: int
    entries: int


@runtime_checkable
class DigestingOut(Protocol):
    """An ``out`` that digests what it is given itself (a content store's writer): the
    uncompressed tar's digest is its diff_id, so it is not computed a second time."""

    def write(self, data: bytes | bytearray | memoryview) -> int: ...

    def digest(self) -> Digest: ...

    @property
    def offset(self) -> int: ...


class _HashingOut:
    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.hash = Digester()

    def write(self, data: bytes | memoryview) -> None:
        self.hash.update(data)
        self._out.write(data)

    def digest(self) -> Digest:
        return self.hash.digest()

    @property
    def offset(self) -> int:
        return self.hash.size


class _Writer:
    def __init__(self, out: BinaryIO | DigestingOut) -> None:
        self.out: _HashingOut | DigestingOut = (
            out if isinstance(out, DigestingOut) else _HashingOut(out))
        self.inodes: dict[tuple[int, int], str] = {}
        self.entries = 0

    def entry(self, e: TarEntry) -> None:
        self.out.write(encode_header(e))
        self.entries += 1

    def path(self, name: str, path: str, st: os.stat_result) -> None:
        """Write the entry for the file at ``path`` (an ``lstat`` of it in ``st``)."""
        if stat.S_ISSOCK(st.st_mode):
            log.warning("archive: skipping socket %s", path)
            return
        key = (st.st_dev, st.st_ino)
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            first = self.inodes.get(key)
            if first is not None:
                self.entry(TarEntry(name=name, type=EntryType.HARDLINK, mode=stat.S_IMODE(
                    st.st_mode), uid=st.st_uid, gid=st.st_gid,
                    mtime_ns=st.st_mtime_ns, linkname=first))
                return
            self.inodes[key] = name
        link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
        e = entry_from_stat(name, st, linkname=link, xattrs=read_xattrs(path))
        if e.type is not EntryType.FILE:
            self.entry(e)
            return
        # O_NONBLOCK: if the file was swapped for a fifo since the lstat, do not hang on it
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            now = os.fstat(fd)
            if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != key:
                raise Conflict(f"{path} was replaced while it was archived")
            if e.size <= _READ:
                # A small file: header, content and padding in one write (and one
                # digest update): the per-call costs are most of a small file's.
                parts = [encode_header(e)]
                left = e.size
                while left:
                    data = os.read(fd, left)
                    if not data:
                        raise Conflict(f"{path} shrank while it was archived")
                    parts.append(data)
                    left -= len(data)
                parts.append(padding(e.size))
                self.out.write(b"".join(parts))
                self.entries += 1
                return
            self.entry(e)
            left = e.size
            while left:
                data = os.read(fd, min(left, _READ))
                if not data:
                    raise Conflict(f"{path} shrank while it was archived")
                self.out.write(data)
                left -= len(data)
        finally:
            os.close(fd)
        self.out.write(padding(e.size))

    def whiteout(self, name: str, st: os.stat_result | None) -> None:
        d, _, base = name.rpartition("/")
        wname = (d + "/" if d else "") + WHITEOUT_PREFIX + base
        self.entry(TarEntry(name=wname, type=EntryType.FILE, mode=0o600,
                            uid=st.st_uid if st else 0, gid=st.st_gid if st else 0,
                            mtime_ns=st.st_mtime_ns if st else 0))

    def opaque(self, name: str, st: os.stat_result) -> None:
        self.entry(TarEntry(name=name + "/" + WHITEOUT_OPAQUE, type=EntryType.FILE,
                            mode=stat.S_IMODE(st.st_mode) & 0o777, uid=st.st_uid,
                            gid=st.st_gid, mtime_ns=st.st_mtime_ns))

    def finish(self) -> DiffResult:
        self.out.write(END_OF_ARCHIVE)
        return DiffResult(diff_id=self.out.digest(), size=self.out.offset,
                          entries=self.entries)


def write_diff(lower: Sequence[str] | str | None, upper: str,
               out: BinaryIO | DigestingOut, *,
               mode: DiffMode | str = DiffMode.OVERLAY) -> DiffResult:
    """Write the uncompressed layer tar of ``upper``'s changes over ``lower`` to ``out``.

    ``OVERLAY``: ``upper`` is an overlay upper dir (``lower`` is not needed). ``TREE``:
    ``upper`` and ``lower`` are full trees (``lower`` None: an empty parent). Wrap ``out``
    in a ``CompressingWriter`` to get the compressed blob and its digest in the same pass;
    an ``out`` that digests itself (``DigestingOut``) is not digested twice.
    """
    w = _Writer(out)
    try:
        if DiffMode(mode) is DiffMode.OVERLAY:
            _walk_upper(w, upper, "", whiteouts=True)
        elif lower is None or (not isinstance(lower, str) and len(lower) == 0):
            _walk_upper(w, upper, "", whiteouts=False)  # everything is added: no comparison
        else:
            _write_changes(w, upper, changes(lower, upper, mode=DiffMode.TREE))
    except OSError as err:
        raise os_error(err, f"diff of {upper}") from err
    return w.finish()


def _walk_upper(w: _Writer, upper: str, prefix: str, *, whiteouts: bool) -> None:
    """Every entry under ``upper``; ``whiteouts``: read overlay's forms as deletions."""
    for name, st in scan(upper):
        rel = prefix + name
        path = os.path.join(upper, name)
        if whiteouts and is_whiteout_device(st):
            w.whiteout(rel, st)
            continue
        w.path(rel, path, st)
        if stat.S_ISDIR(st.st_mode):
            if whiteouts and is_opaque(path):
                w.opaque(rel, st)
            _walk_upper(w, path, rel + "/", whiteouts=whiteouts)


def _write_changes(w: _Writer, upper: str, found: list[Change]) -> None:
    for change in found:
        rel = "/".join(change.parts)
        if change.kind is ChangeKind.DELETED:
            w.whiteout(rel, None)
            continue
        path = os.path.join(upper, rel)
        w.path(rel, path, os.stat(path, follow_symlinks=False))
