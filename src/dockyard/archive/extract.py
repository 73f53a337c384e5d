"""Extract a tar into a directory held by descriptor: ``docker cp`` into a container.

This is moby's ``archive.Untar`` (not ``ApplyLayer``): ``.wh.*`` names are ordinary files,
an existing path is replaced (a directory over a directory is merged), and with
``no_overwrite_dir_non_dir`` a directory is never replaced by a non-directory nor the
other way round. The root entry (``.``) leaves the target's own metadata alone.

The target belongs to a container that may be running and hostile, so the rules of
``safety`` hold here too, from the target's *descriptor* (never a host path): names are
cleaned (absolute names and ``..`` refused), parents are walked with ``O_NOFOLLOW |
O_DIRECTORY`` one component at a time (a symlink on the way is refused, not followed), and
every leaf is made or changed relative to its parent's descriptor without following it.
Calls that would follow a final symlink (``chmod``) go through a descriptor of the leaf
opened ``O_NOFOLLOW`` (``O_PATH`` and ``/proc/self/fd`` for fifos and devices) after
checking its type. Directory modes and times are set at the end, deepest first.

``chown`` gives every entry one owner (``docker cp -a``: the container's user); otherwise
the owners in the archive are kept.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import shutil
import stat
from dataclasses import dataclass
from typing import BinaryIO, cast

from dockyard.archive.compression import Compression, DecompressingReader, detect_compression
from dockyard.archive.safety import Limits, RootDir, clean_name, display, os_error
from dockyard.archive.tarformat import EntryType, TarEntry, TarReader
from dockyard.archive.whiteouts import is_overlay_xattr
from dockyard.errors import InvalidArgument

log = logging.getLogger(__name__)

_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ExtractResult:
    entries: int
    bytes: int
    """Bytes of file content written."""


class _FdRoot(RootDir):
    """``RootDir`` over a descriptor the caller resolved (no path is ever opened)."""

    def __init__(self, fd: int) -> None:
        self.path = f"/proc/self/fd/{fd}"
        self.fd = os.open(".", _DIR, dir_fd=fd)
        self._cache = {}


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        n = os.write(fd, data)
        data = data[n:]


class _PlainSource:
    """An uncompressed tar stream in chunks, bounded in total: ``DecompressingReader``'s
    interface without its hashing and thread (a copy needs no diff_id)."""

    def __init__(self, stream: BinaryIO, head: bytes, limits: Limits) -> None:
        self._stream = stream
        self._head = head
        self._limit = limits.max_total_size
        self.size = 0

    def read_chunk(self) -> bytes:
        if self._head:
            chunk, self._head = self._head, b""
        else:
            chunk = self._stream.read(_CHUNK)
        self.size += len(chunk)
        if self.size > self._limit:
            raise InvalidArgument(f"archive: more than {self._limit} bytes")
        return chunk

    def drain(self) -> None:
        while self.read_chunk():
            pass

    def close(self) -> None:
        pass


class _Prefixed(io.RawIOBase):
    """``stream`` with ``head`` (already read from it) put back in front."""

    def __init__(self, stream: BinaryIO, head: bytes) -> None:
        super().__init__()
        self._stream = stream
        self._head = head

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0 or size >= len(self._head):
                out, self._head = self._head, b""
                return out + (self._stream.read(size - len(out)) if size > len(out) else b"")
            out, self._head = self._head[:size], self._head[size:]
            return out
        return self._stream.read(size)


def extract(stream: BinaryIO, dir_fd: int, *, no_overwrite_dir_non_dir: bool = False,
            chown: tuple[int, int] | None = None, limits: Limits | None = None,
            where: str = "") -> ExtractResult:
    """Extract the tar ``stream`` (any compression) into the directory ``dir_fd``.

    ``where``: how to name the target in errors (a path in the container)."""
    lim = limits or Limits()
    head = b""
    while len(head) < 6:
        more = stream.read(6 - len(head))
        if not more:
            break
        head += more
    source: DecompressingReader | _PlainSource
    if detect_compression(head) is Compression.NONE:
        source = _PlainSource(stream, head, lim)
    else:
        source = DecompressingReader(cast(BinaryIO, _Prefixed(stream, head)), lim,
                                     threaded=True)
    try:
        x = _Extractor(dir_fd, no_overwrite_dir_non_dir, chown, where or "/")
        try:
            reader = TarReader(cast(DecompressingReader, source), lim)
            try:
                for entry in reader.entries():
                    x.apply(entry, reader)
            except BaseException:
                # What was made stays (as with Docker), but not half-made: the directories
                # get their modes and times (they were made 0700 to fill them safely).
                with contextlib.suppress(OSError, InvalidArgument):
                    x.finish_dirs()
                raise
            x.finish_dirs()
        finally:
            x.close()
        source.drain()
    except OSError as err:
        raise os_error(err, f"extracting to {where or '/'}") from err
    finally:
        source.close()
    return ExtractResult(reader.entries_read, x.written)


class _Extractor:
    def __init__(self, dir_fd: int, no_overwrite: bool, chown: tuple[int, int] | None,
                 where: str) -> None:
        self.root = _FdRoot(dir_fd)
        self.no_overwrite = no_overwrite
        self.chown = chown
        self.where = where.rstrip("/")
        self.dirs: dict[tuple[str, ...], tuple[int, int]] = {}
        self.written = 0
        self.umask = _umask()
        """A file is made with its mode's permission bits, less these: when nothing is
        taken away (and no setuid, setgid or sticky bit is wanted), no chmod after."""

    def close(self) -> None:
        self.root.close()

    def _shown(self, parts: tuple[str, ...]) -> str:
        return f"{self.where}/{display(parts)}"

    def _owner(self, e: TarEntry) -> tuple[int, int]:
        return self.chown if self.chown is not None else (e.uid, e.gid)

    def apply(self, e: TarEntry, reader: TarReader) -> None:
        parts = clean_name(e.name)
        if not parts:
            return  # the target itself keeps its metadata (moby skips ".")
        try:
            if e.type is EntryType.HARDLINK:
                self._hardlink(parts, e)
                return
            pfd = self.root.parent(parts, e.name, self._make_parent)
            name = parts[-1]
            if e.type is EntryType.FILE:
                # Made at once (O_EXCL: nothing there is followed or reused); what was
                # there already is looked at only when the name is taken.
                try:
                    fd = os.open(name, _FILE, e.mode & 0o777, dir_fd=pfd)
                except FileExistsError:
                    self._clear(pfd, parts, _lstat(name, pfd), new_dir=False)
                    fd = os.open(name, _FILE, e.mode & 0o777, dir_fd=pfd)
                self._file(pfd, name, fd, e, reader)
                return
            if e.type is EntryType.DIR:
                try:
                    os.mkdir(name, 0o700, dir_fd=pfd)
                except FileExistsError:
                    existing = _lstat(name, pfd)
                    if existing is None or not stat.S_ISDIR(existing.st_mode):
                        self._clear(pfd, parts, existing, new_dir=True)
                        os.mkdir(name, 0o700, dir_fd=pfd)
                    # else merged: the entry's metadata is applied below
                fd = os.open(name, _DIR, dir_fd=pfd)
                try:
                    os.chown(fd, *self._owner(e))
                    self._xattrs(pfd, name, e)
                finally:
                    os.close(fd)
                self.dirs[parts] = (e.mode, e.mtime_ns)
                return
            self._clear(pfd, parts, _lstat(name, pfd), new_dir=False)
            if e.type is EntryType.SYMLINK:
                os.symlink(e.linkname, name, dir_fd=pfd)
                os.chown(name, *self._owner(e), dir_fd=pfd, follow_symlinks=False)
                self._xattrs(pfd, name, e)
                os.utime(name, ns=(e.mtime_ns, e.mtime_ns), dir_fd=pfd, follow_symlinks=False)
            else:
                self._special(pfd, name, e)
        except OSError as err:
            raise os_error(err, f"entry {e.name!r}") from err

    def _clear(self, pfd: int, parts: tuple[str, ...], existing: os.stat_result | None, *,
               new_dir: bool) -> None:
        """Make room for a new entry at ``parts`` (not a directory merged into one)."""
        if existing is None:
            return
        is_dir = stat.S_ISDIR(existing.st_mode)
        self._check_overwrite(parts, is_dir, new_dir)
        self._remove(pfd, parts, is_dir)

    def _check_overwrite(self, parts: tuple[str, ...], is_dir: bool, new_dir: bool) -> None:
        if not self.no_overwrite:
            return
        path = self._shown(parts)
        if is_dir and not new_dir:
            raise InvalidArgument(
                f"cannot overwrite directory {path!r} with non-directory {path!r}")
        if not is_dir and new_dir:
            raise InvalidArgument(
                f"cannot overwrite non-directory {path!r} with directory {path!r}")

    def _remove(self, pfd: int, parts: tuple[str, ...], is_dir: bool) -> None:
        if is_dir:
            shutil.rmtree(parts[-1], dir_fd=pfd)
            self.dirs = {k: v for k, v in self.dirs.items() if k[:len(parts)] != parts}
            self.root.forget(parts)
        else:
            os.unlink(parts[-1], dir_fd=pfd)

    def _file(self, pfd: int, name: str, fd: int, e: TarEntry, reader: TarReader) -> None:
        """Fill and finish the file ``fd`` just made as ``name`` in ``pfd``."""
        try:
            if e.size:
                reader.copy_content(lambda mv: _write_all(fd, mv))
                self.written += e.size
            os.chown(fd, *self._owner(e))
            self._xattrs(pfd, name, e)
            if e.mode & 0o7777 != e.mode & 0o777 & ~self.umask:
                os.chmod(fd, e.mode)  # (after the owner: a chown clears setuid, setgid)
            os.utime(fd, ns=(e.mtime_ns, e.mtime_ns))
        except BaseException:
            # A file cut short (the stream ended, a refused xattr) is not left behind.
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=pfd)
            raise
        finally:
            os.close(fd)

    def _special(self, pfd: int, name: str, e: TarEntry) -> None:
        if e.type is EntryType.FIFO:
            os.mkfifo(name, 0o600, dir_fd=pfd)
            kind = stat.S_IFIFO
        else:
            kind = stat.S_IFCHR if e.type is EntryType.CHAR else stat.S_IFBLK
            os.mknod(name, kind | 0o600, os.makedev(e.devmajor, e.devminor), dir_fd=pfd)
        os.chown(name, *self._owner(e), dir_fd=pfd, follow_symlinks=False)
        self._xattrs(pfd, name, e)
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            if stat.S_IFMT(os.fstat(fd).st_mode) != kind:
                raise InvalidArgument(f"entry {e.name!r}: replaced while it was extracted")
            os.chmod(f"/proc/self/fd/{fd}", e.mode)
        finally:
            os.close(fd)
        os.utime(name, ns=(e.mtime_ns, e.mtime_ns), dir_fd=pfd, follow_symlinks=False)

    def _hardlink(self, parts: tuple[str, ...], e: TarEntry) -> None:
        lparts = clean_name(e.linkname, f"hardlink {e.name!r} to")
        if not lparts:
            raise InvalidArgument(f"entry {e.name!r}: hardlink to the target directory")
        if lparts == parts:
            return
        try:
            sfd = os.dup(self.root.parent(lparts, e.name))
        except FileNotFoundError:
            raise InvalidArgument(f"entry {e.name!r}: hardlink target {e.linkname!r} is not "
                                  "in the archive") from None
        try:
            st = _lstat(lparts[-1], sfd)
            if st is None or stat.S_ISDIR(st.st_mode):
                raise InvalidArgument(f"entry {e.name!r}: hardlink target {e.linkname!r} is "
                                      "not a file of the archive")
            pfd = self.root.parent(parts, e.name, self._make_parent)
            existing = _lstat(parts[-1], pfd)
            if existing is not None:
                is_dir = stat.S_ISDIR(existing.st_mode)
                self._check_overwrite(parts, is_dir, False)
                self._remove(pfd, parts, is_dir)
                pfd = self.root.parent(parts, e.name, self._make_parent)
            os.link(lparts[-1], parts[-1], src_dir_fd=sfd, dst_dir_fd=pfd,
                    follow_symlinks=False)
        finally:
            os.close(sfd)

    def _make_parent(self, dir_fd: int, name: str, parts: tuple[str, ...]) -> None:
        os.mkdir(name, 0o755, dir_fd=dir_fd)
        if self.chown is not None:
            os.chown(name, *self.chown, dir_fd=dir_fd, follow_symlinks=False)

    def _xattrs(self, pfd: int, name: str, e: TarEntry) -> None:
        for xname, value in e.xattrs:
            if is_overlay_xattr(xname):
                continue
            try:
                os.setxattr(self.root.proc_path(pfd, name), xname, value,
                            follow_symlinks=False)
            except OSError as err:
                if err.errno not in (errno.ENOTSUP, errno.EPERM):
                    raise
                log.warning("entry %r: xattr %s not set: %s", e.name, xname, err.strerror)

    def finish_dirs(self) -> None:
        self.root.invalidate()
        for parts, (mode, mtime_ns) in sorted(self.dirs.items(), key=lambda kv: -len(kv[0])):
            try:
                pfd = self.root.parent(parts, display(parts))
                fd = os.open(parts[-1], _DIR, dir_fd=pfd)
            except (FileNotFoundError, InvalidArgument):
                continue
            except OSError as err:
                if err.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
                    continue  # replaced meanwhile: not ours to change
                raise
            try:
                os.chmod(fd, mode)
                os.utime(fd, ns=(mtime_ns, mtime_ns))
            finally:
                os.close(fd)


def _umask() -> int:
    """The process's umask, read without changing it (``os.umask`` sets it)."""
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"Umask:"):
                return int(line.split()[1], 8)
    return 0o777  # unknown: every file gets its chmod


def _lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
