"""A tar of a tree held by a directory descriptor: ``docker cp`` out of a container and
``docker export``.

Unlike ``diff.write_diff`` (a snapshot's own, quiescent layer), the tree here may belong to
a running, hostile container. So the walk never uses a path string: each directory is
opened relative to its parent's descriptor with ``O_DIRECTORY | O_NOFOLLOW`` and listed
through that descriptor, each file is opened the same way with ``O_NOFOLLOW | O_NONBLOCK``
and checked (``fstat``) to be the regular file that was listed, links are read with
``readlinkat``. A directory swapped for a symlink mid-walk is skipped (logged), never
followed; nothing outside the tree can be reached. A file that shrinks while it is read
is padded with zeros (the header was written already), one that grows is cut at the size
listed: the archive stays well formed, as a copy of a live tree can only be.

Entries carry owner, mode, mtime (whole seconds), xattrs (overlayfs's own excluded) and
the content; a second name of an inode already written becomes a hardlink entry. The
walk is iterative (a deep tree cannot exhaust the interpreter's stack) and sorted by name.
When the output has a ``sendfile`` method (a socket sink), file content goes through it
and never through Python's memory.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Callable, Mapping
from typing import BinaryIO

from dockyard.archive.safety import os_error
from dockyard.archive.tarformat import (
    END_OF_ARCHIVE,
    EntryType,
    TarEntry,
    encode_header,
    entry_from_stat,
    padding,
)
from dockyard.archive.whiteouts import is_overlay_xattr

log = logging.getLogger(__name__)

_READ = 1 << 20
SENDFILE_MIN = 256 << 10
"""Files smaller than this are read into the output's buffer even when it can ``sendfile``:
one read instead of a sendfile and its framing (the small files of a tree are most of
its entries, little of its bytes)."""
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_SKIP = (errno.ENOENT, errno.ELOOP, errno.ENOTDIR)

Sendfile = Callable[[int, int], int]
"""``out.sendfile(fd, count)``, when ``out`` has it: write exactly ``count`` bytes of the
file ``fd`` from its position (zeros after an early end of file); returns the bytes that
came from the file."""


def _xattrs(dir_fd: int, name: str, fd: int = -1) -> tuple[tuple[str, bytes], ...]:
    """The xattrs of ``name`` in ``dir_fd`` (not followed), through ``fd`` when it is an
    open descriptor of it (no path lookup)."""
    path: str | int = fd if fd >= 0 else f"/proc/self/fd/{dir_fd}/{name}"
    follow = fd >= 0  # (a descriptor has nothing to follow; Python refuses False with one)
    try:
        names = os.listxattr(path, follow_symlinks=follow)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.ENOENT):
            return ()
        raise
    out = []
    for x in sorted(names):
        if is_overlay_xattr(x):
            continue
        try:
            out.append((x, os.getxattr(path, x, follow_symlinks=follow)))
        except OSError as e:
            if e.errno in (errno.ENODATA, errno.ENOENT):
                continue
            raise
    return tuple(out)


class TreeTarWriter:
    """Writes entries to ``out``; ``finish()`` writes the end-of-archive blocks.

    ``chown``: the (uid, gid) every entry gets instead of its own (None: keep).
    ``mounts``: entry names (as written) to archive from elsewhere — ``(dir_fd, name)`` of
    the object to write under that name instead of what the walked tree holds there (what
    is mounted on a mount point: a bind mount's source); the caller owns the descriptors."""

    def __init__(self, out: BinaryIO, *, chown: tuple[int, int] | None = None,
                 mounts: Mapping[str, tuple[int, str]] | None = None) -> None:
        self.out = out
        self.mounts = mounts or {}
        self._sendfile: Sendfile | None = getattr(out, "sendfile", None)
        self.chown = chown
        self.inodes: dict[tuple[int, int], str] = {}
        self.entries = 0
        self.bytes = 0

    def _write(self, data: bytes | memoryview) -> None:
        self.out.write(data)
        self.bytes += len(data)

    def _header(self, e: TarEntry) -> None:
        if self.chown is not None:
            e = TarEntry(name=e.name, type=e.type, mode=e.mode, uid=self.chown[0],
                         gid=self.chown[1], size=e.size, mtime_ns=e.mtime_ns,
                         linkname=e.linkname, devmajor=e.devmajor, devminor=e.devminor,
                         xattrs=e.xattrs)
        self._write(encode_header(e))
        self.entries += 1

    def add(self, dir_fd: int, name: str, arcname: str, st: os.stat_result) -> int | None:
        """Write the entry of ``name`` in ``dir_fd`` (lstat ``st``) as ``arcname``; for a
        directory, return a new descriptor of it to walk (the caller closes it)."""
        mode = st.st_mode
        if stat.S_ISSOCK(mode):
            log.debug("archive: skipping socket %s", arcname)
            return None
        key = (st.st_dev, st.st_ino)
        if stat.S_ISREG(mode) and st.st_nlink > 1:
            first = self.inodes.get(key)
            if first is not None:
                self._header(TarEntry(name=arcname, type=EntryType.HARDLINK,
                                      mode=stat.S_IMODE(mode), uid=st.st_uid, gid=st.st_gid,
                                      mtime_ns=st.st_mtime_ns, linkname=first))
                return None
        if stat.S_ISDIR(mode):
            fd = os.open(name, _DIR, dir_fd=dir_fd)
            try:
                now = os.fstat(fd)
                if (now.st_dev, now.st_ino) != key:
                    raise OSError(errno.ENOENT, "replaced while archived", arcname)
                self._header(entry_from_stat(arcname, now, xattrs=_xattrs(dir_fd, name, fd)))
            except BaseException:
                os.close(fd)
                raise
            return fd
        if stat.S_ISREG(mode):
            self._file(dir_fd, name, arcname, st)
            if st.st_nlink > 1:
                self.inodes[key] = arcname
            return None
        link = os.readlink(name, dir_fd=dir_fd) if stat.S_ISLNK(mode) else ""
        self._header(entry_from_stat(arcname, st, linkname=link, xattrs=_xattrs(dir_fd, name)))
        return None

    def _file(self, dir_fd: int, name: str, arcname: str, st: os.stat_result) -> None:
        # Checked through an O_PATH descriptor before it is opened for reading: a name
        # swapped for a device node or a fifo is never opened (a device's open can act).
        path_fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            now = os.fstat(path_fd)
            if not stat.S_ISREG(now.st_mode) or now.st_ino != st.st_ino:
                raise OSError(errno.ENOENT, "replaced while archived", arcname)
            fd = os.open(f"/proc/self/fd/{path_fd}", _FILE & ~os.O_NOFOLLOW)
        finally:
            os.close(path_fd)
        try:
            e = entry_from_stat(arcname, now, xattrs=_xattrs(dir_fd, name, fd))
            self._header(e)
            left = e.size
            if self._sendfile is not None and left >= SENDFILE_MIN:
                sent = self._sendfile(fd, left)
                if sent < left:
                    log.warning("archive: %s shrank while it was read; padded", arcname)
                self.bytes += left
                left = 0
            while left:
                data = os.read(fd, min(left, _READ))
                if not data:
                    log.warning("archive: %s shrank while it was read; padded", arcname)
                    self._write(bytes(left))
                    break
                self._write(data)
                left -= len(data)
        finally:
            os.close(fd)
        self._write(padding(e.size))

    def tree(self, dir_fd: int, prefix: str) -> None:
        """Every entry under the open directory ``dir_fd`` (not itself), named
        ``prefix + relative path``; ``dir_fd`` stays the caller's."""
        stack: list[tuple[int, str, bool]] = [(dir_fd, prefix, False)]
        try:
            self._walk(stack)
        except BaseException:
            for fd, _, owned in stack:
                if owned:
                    os.close(fd)
            raise

    def _walk(self, stack: list[tuple[int, str, bool]]) -> None:
        while stack:
            fd, pre, owned = stack.pop()
            try:
                with os.scandir(fd) as it:
                    listed = sorted(((e.name, e.stat(follow_symlinks=False)) for e in it),
                                    key=lambda t: os.fsencode(t[0]), reverse=True)
            except OSError as err:
                if owned:
                    os.close(fd)
                raise os_error(err, f"listing {pre or '/'}") from err
            # Children are pushed in reverse so that they pop in name order; the parent's
            # descriptor is closed once its last child was handled.
            children: list[tuple[int, str, bool]] = []
            try:
                for name, st in reversed(listed):
                    try:
                        mounted = self.mounts.get(pre + name)
                        if mounted is None:
                            sub = self.add(fd, name, pre + name, st)
                        else:
                            mst = os.stat(mounted[1], dir_fd=mounted[0], follow_symlinks=False)
                            sub = self.add(mounted[0], mounted[1], pre + name, mst)
                    except OSError as err:
                        if err.errno in _SKIP:
                            log.warning("archive: %s changed while archived: skipped",
                                        pre + name)
                            continue
                        raise os_error(err, f"archiving {pre + name}") from err
                    if sub is not None:
                        children.append((sub, pre + name + "/", True))
            except BaseException:
                for c in children:
                    os.close(c[0])
                raise
            finally:
                if owned:
                    os.close(fd)
            stack.extend(reversed(children))

    def finish(self) -> None:
        self._write(END_OF_ARCHIVE)


def write_path(dir_fd: int, base: str, arcname: str, out: BinaryIO, *,
               chown: tuple[int, int] | None = None,
               mounts: Mapping[str, tuple[int, str]] | None = None) -> TreeTarWriter:
    """The archive of ``base`` in ``dir_fd`` (recursively if a directory), its entries named
    from ``arcname``; ``base`` ``"."`` is ``dir_fd`` itself. ``mounts``: as
    ``TreeTarWriter``'s."""
    w = TreeTarWriter(out, chown=chown, mounts=mounts)
    st = os.stat(base, dir_fd=dir_fd, follow_symlinks=False)
    if base == ".":
        # The directory itself: its entry needs a name in a parent, which the descriptor
        # stands for; the content is listed through a readable descriptor of it.
        fd = os.open(".", _DIR, dir_fd=dir_fd)
        try:
            w._header(entry_from_stat(arcname, os.fstat(fd)))
            w.tree(fd, arcname.rstrip("/") + "/")
        finally:
            os.close(fd)
    else:
        sub = w.add(dir_fd, base, arcname, st)
        if sub is not None:
            try:
                w.tree(sub, arcname.rstrip("/") + "/")
            finally:
                os.close(sub)
    w.finish()
    return w


def write_root(root_fd: int, out: BinaryIO) -> TreeTarWriter:
    """The whole tree under ``root_fd``, entries named relative to it (``docker export``)."""
    w = TreeTarWriter(out)
    fd = os.open(".", _DIR, dir_fd=root_fd)
    try:
        w.tree(fd, "")
    finally:
        os.close(fd)
    w.finish()
    return w
