"""Apply a layer tar to a directory: the unpacker, a security boundary.

``apply_layer`` streams the blob (gzip, zstd, xz or plain, sniffed by magic bytes) through a
bounded decompressor that hashes the uncompressed bytes (the diff_id), parses the tar
headers itself (``tarformat``) and writes every entry itself, relative to directory
descriptors walked without following symlinks (``safety``). It never calls
``tarfile.extractall`` and never resolves a path string against the host.

Per entry: the name is cleaned (absolute names and ``..`` refused), the parent walked or
created, whatever is in the way removed (except a directory replaced by a directory, which
keeps its content, as moby does), the entry created with ``O_EXCL``/``*at`` calls, then its
metadata applied in the order the kernel needs: owner (root only) → xattrs (a chown clears
``security.capability``) → mode (a chown clears setuid/setgid) → times. Directories get
their mode and times after the whole stream, so creating their content does not disturb
them (and a read-only directory can still be filled by a non-root caller).

Whiteouts follow ``WhiteoutMode``: deleted in ``NATIVE`` mode (an opaque marker deletes the
directory's children that this layer did not itself create, as moby's ``UnpackLayer``),
recorded as overlay whiteouts in ``OVERLAY`` mode.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from dockyard.archive.compression import Compression, DecompressingReader
from dockyard.archive.safety import Limits, RootDir, clean_name, display, os_error
from dockyard.archive.tarformat import EntryType, TarEntry, TarReader
from dockyard.archive.whiteouts import (
    OVERLAY_OPAQUE_XATTR,
    WHITEOUT_META_PREFIX,
    WHITEOUT_OPAQUE,
    WHITEOUT_PREFIX,
    WhiteoutMode,
    is_overlay_xattr,
    is_whiteout_device,
    lookup_in_lowers,
)
from dockyard.errors import (
    InvalidArgument,
    PermissionDenied,
)
from dockyard.oci.digest import CANONICAL, Digest, parse_digest

log = logging.getLogger(__name__)

_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What applying one layer did."""

    diff_id: Digest
    """The digest of the uncompressed tar stream."""
    size: int
    """Bytes of the uncompressed tar stream (the size the diff_id covers)."""
    unpacked_size: int
    """Bytes of regular file content written (what Docker reports as a layer's size)."""
    entries: int
    compression: Compression
    skipped_xattrs: int
    """Xattrs the target refused (no support, or not root); each one is logged."""


def apply_layer(stream: BinaryIO, target: str, *,
                whiteout_mode: WhiteoutMode | str = WhiteoutMode.NATIVE,
                parents: Sequence[str] = (), limits: Limits | None = None,
                same_owner: bool | None = None,
                expected_diff_id: Digest | str | None = None) -> ApplyResult:
    """Unpack the layer blob ``stream`` into the existing directory ``target``.

    ``whiteout_mode``: ``"overlay"`` when ``target`` is the (empty) upper dir of an overlay
    snapshot, ``"native"`` when it holds the full tree of the layers below. ``parents``: the
    lower dirs of an overlay target, topmost first; a directory the layer does not list but
    needs is created with the mode and owner it has there. ``same_owner``: apply owners
    (default: when running as root). ``expected_diff_id``: refuse a stream whose diff_id
    differs (the caller then discards the target).

    Raises ``InvalidArgument`` naming the entry for anything unsafe or malformed,
    ``PermissionDenied`` for device nodes when not root; nothing is written outside target.
    """
    try:
        return _apply_layer(stream, target, WhiteoutMode(whiteout_mode), parents,
                            limits or Limits(), same_owner, expected_diff_id)
    except OSError as err:
        raise os_error(err, target) from err


def _apply_layer(stream: BinaryIO, target: str, mode: WhiteoutMode, parents: Sequence[str],
                 lim: Limits, same_owner: bool | None,
                 expected_diff_id: Digest | str | None) -> ApplyResult:
    expected = None if expected_diff_id is None else parse_digest(str(expected_diff_id))
    source = DecompressingReader(stream, lim, threaded=True,
                                 algorithm=expected.algorithm if expected else CANONICAL)
    try:
        applier = _Applier(target, mode, list(parents),
                           os.geteuid() == 0 if same_owner is None else same_owner)
        reader = TarReader(source, lim)
        try:
            for entry in reader.entries():
                applier.apply(entry, reader)
            applier.finish_dirs()
        finally:
            applier.close()
        source.drain()
    finally:
        source.close()
    if expected is not None and source.diff_id != expected:
        raise InvalidArgument(
            f"layer diff_id mismatch: expected {expected}, got {source.diff_id}")
    log.debug("applied layer %s to %s: %d entries, %d bytes", source.diff_id, target,
              reader.entries_read, applier.unpacked)
    return ApplyResult(diff_id=source.diff_id, size=source.size,
                       unpacked_size=applier.unpacked, entries=reader.entries_read,
                       compression=source.compression, skipped_xattrs=applier.skipped_xattrs)


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        n = os.write(fd, data)
        data = data[n:]


class _Applier:
    """The state of one ``apply_layer`` call (not shared, not reused)."""

    def __init__(self, target: str, mode: WhiteoutMode, lowers: list[str],
                 same_owner: bool) -> None:
        self.root = RootDir(target)
        self.mode = mode
        self.lowers = lowers
        self.same_owner = same_owner
        self.is_root = os.geteuid() == 0
        self.created: set[tuple[str, ...]] = set()
        self.dirs: dict[tuple[str, ...], tuple[int | None, int | None]] = {}
        self.unpacked = 0
        self.skipped_xattrs = 0

    def close(self) -> None:
        self.root.close()

    # -- per entry -----------------------------------------------------------------------

    def apply(self, e: TarEntry, reader: TarReader) -> None:
        parts = clean_name(e.name)
        if not parts:
            return  # the root itself: the target keeps its own metadata (as moby)
        try:
            if parts[-1].startswith(WHITEOUT_PREFIX):
                self._whiteout(parts, e)
                return
            if e.type is EntryType.HARDLINK:
                self._hardlink(parts, e)
                return
            pfd = self.root.parent(parts, e.name, self._make_parent)
            name = parts[-1]
            existing = _lstat(name, pfd)
            over_whiteout = False
            if existing is not None and not (
                    e.type is EntryType.DIR and stat.S_ISDIR(existing.st_mode)):
                over_whiteout = is_whiteout_device(existing)
                pfd = self._remove(pfd, parts, existing)
                existing = None
            if e.type is EntryType.FILE:
                self._file(pfd, name, e, reader)
            elif e.type is EntryType.DIR:
                self._dir(pfd, name, parts, e, existing is not None)
                if over_whiteout and self.mode is WhiteoutMode.OVERLAY:
                    # deleted, then made again: as the kernel does, nothing below shows through
                    fd = os.open(name, _DIR_FLAGS, dir_fd=pfd)
                    try:
                        os.setxattr(fd, OVERLAY_OPAQUE_XATTR, b"y")
                    finally:
                        os.close(fd)
            elif e.type is EntryType.SYMLINK:
                os.symlink(e.linkname, name, dir_fd=pfd)
                self._meta_at(pfd, name, e, chmod=False)
            else:
                self._special(pfd, name, e)
            self.created.add(parts)
        except OSError as err:
            raise os_error(err, f"entry {e.name!r}") from err

    def _file(self, pfd: int, name: str, e: TarEntry, reader: TarReader) -> None:
        fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=pfd)
        try:
            if e.size:
                reader.copy_content(lambda mv: _write_all(fd, mv))
                self.unpacked += e.size
            self._owner_xattrs_fd(fd, e)
            os.chmod(fd, e.mode)
            os.utime(fd, ns=(e.mtime_ns, e.mtime_ns))
        finally:
            os.close(fd)

    def _dir(self, pfd: int, name: str, parts: tuple[str, ...], e: TarEntry,
             exists: bool) -> None:
        if not exists:
            os.mkdir(name, 0o700, dir_fd=pfd)
        fd = os.open(name, _DIR_FLAGS, dir_fd=pfd)
        try:
            self._owner_xattrs_fd(fd, e)
        finally:
            os.close(fd)
        self.dirs[parts] = (e.mode, e.mtime_ns)

    def _special(self, pfd: int, name: str, e: TarEntry) -> None:
        if e.type is EntryType.FIFO:
            os.mkfifo(name, 0o600, dir_fd=pfd)
        else:
            if not self.is_root:
                raise PermissionDenied(
                    f"entry {e.name!r}: creating a device node needs root")
            kind = stat.S_IFCHR if e.type is EntryType.CHAR else stat.S_IFBLK
            os.mknod(name, kind | 0o600, os.makedev(e.devmajor, e.devminor), dir_fd=pfd)
        self._meta_at(pfd, name, e, chmod=True)

    def _hardlink(self, parts: tuple[str, ...], e: TarEntry) -> None:
        lparts = clean_name(e.linkname, f"hardlink {e.name!r} to")
        if not lparts:
            raise InvalidArgument(f"entry {e.name!r}: hardlink to the root directory")
        if lparts == parts:
            return
        try:
            sfd = os.dup(self.root.parent(lparts, e.name))
        except FileNotFoundError:
            raise InvalidArgument(
                f"entry {e.name!r}: hardlink target {e.linkname!r} is not in this layer"
            ) from None
        try:
            if _lstat(lparts[-1], sfd) is None:
                raise InvalidArgument(
                    f"entry {e.name!r}: hardlink target {e.linkname!r} is not in this layer")
            pfd = self.root.parent(parts, e.name, self._make_parent)
            existing = _lstat(parts[-1], pfd)
            if existing is not None:
                pfd = self._remove(pfd, parts, existing)
            os.link(lparts[-1], parts[-1], src_dir_fd=sfd, dst_dir_fd=pfd,
                    follow_symlinks=False)
        finally:
            os.close(sfd)
        self.created.add(parts)

    # -- whiteouts -----------------------------------------------------------------------

    def _whiteout(self, parts: tuple[str, ...], e: TarEntry) -> None:
        base = parts[-1]
        dparts = parts[:-1]
        if base == WHITEOUT_OPAQUE:
            self._opaque(dparts, e)
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            log.debug("ignoring AUFS metadata entry %r", e.name)
            return
        victim = base[len(WHITEOUT_PREFIX):]
        if victim in ("", ".", ".."):
            raise InvalidArgument(f"entry {e.name!r}: whiteout of {victim!r} is not allowed")
        vparts = (*dparts, victim)
        if self.mode is WhiteoutMode.NATIVE:
            try:
                pfd = self.root.parent(vparts, e.name)
            except FileNotFoundError:
                return  # nothing there to delete
            existing = _lstat(victim, pfd)
            if existing is not None:
                self._remove(pfd, vparts, existing)
            return
        pfd = self.root.parent(vparts, e.name, self._make_parent)
        existing = _lstat(victim, pfd)
        if existing is not None:
            pfd = self._remove(pfd, vparts, existing)
        os.mknod(victim, stat.S_IFCHR, 0, dir_fd=pfd)
        if self.same_owner:
            os.chown(victim, e.uid, e.gid, dir_fd=pfd, follow_symlinks=False)
        os.utime(victim, ns=(e.mtime_ns, e.mtime_ns), dir_fd=pfd, follow_symlinks=False)
        self.created.add(vparts)

    def _opaque(self, dparts: tuple[str, ...], e: TarEntry) -> None:
        fd = self._open_dir(dparts, e.name)
        try:
            if self.mode is WhiteoutMode.OVERLAY:
                os.setxattr(fd, OVERLAY_OPAQUE_XATTR, b"y")
                return
            removed_dir = False
            for child in sorted(os.listdir(fd)):
                cparts = (*dparts, child)
                if cparts in self.created:
                    continue
                st = os.stat(child, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    shutil.rmtree(child, dir_fd=fd)
                    removed_dir = True
                else:
                    os.unlink(child, dir_fd=fd)
            if removed_dir:
                self.root.forget(dparts)
        finally:
            os.close(fd)

    def _open_dir(self, parts: tuple[str, ...], entry: str) -> int:
        """A new descriptor of the directory ``parts`` (created, with parents, if missing)."""
        if not parts:
            return os.dup(self.root.fd)
        pfd = self.root.parent(parts, entry, self._make_parent)
        st = _lstat(parts[-1], pfd)
        if st is None:
            self._make_parent(pfd, parts[-1], parts)
        elif not stat.S_ISDIR(st.st_mode):
            kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
            raise InvalidArgument(f"entry {entry!r}: parent {display(parts)!r} is {kind}; "
                                  "refusing to write through it")
        return os.open(parts[-1], _DIR_FLAGS, dir_fd=pfd)

    # -- helpers -------------------------------------------------------------------------

    def _remove(self, pfd: int, parts: tuple[str, ...], st: os.stat_result) -> int:
        """Remove ``parts`` (a tree if a directory); returns a valid parent descriptor."""
        name = parts[-1]
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(name, dir_fd=pfd)
            self.dirs = {k: v for k, v in self.dirs.items() if k[:len(parts)] != parts}
            self.root.forget(parts)
            return pfd
        os.unlink(name, dir_fd=pfd)
        return pfd

    def _make_parent(self, dir_fd: int, name: str, parts: tuple[str, ...]) -> None:
        """Create a directory the layer needs but does not list (moby's ensureParent)."""
        lower = _lower_dir_stat(self.lowers, parts)
        os.mkdir(name, 0o755, dir_fd=dir_fd)
        self.created.add(parts)
        if lower is None:
            return
        if self.same_owner:
            os.chown(name, lower.st_uid, lower.st_gid, dir_fd=dir_fd, follow_symlinks=False)
        self.dirs[parts] = (stat.S_IMODE(lower.st_mode), lower.st_mtime_ns)

    def _owner_xattrs_fd(self, fd: int, e: TarEntry) -> None:
        if self.same_owner:
            os.chown(fd, e.uid, e.gid)
        for xname, value in e.xattrs:
            if is_overlay_xattr(xname):
                log.warning("entry %r: dropping overlay xattr %s", e.name, xname)
                continue
            try:
                os.setxattr(fd, xname, value)
            except OSError as err:
                self._xattr_failed(err, e, xname)

    def _meta_at(self, pfd: int, name: str, e: TarEntry, *, chmod: bool) -> None:
        if self.same_owner:
            os.chown(name, e.uid, e.gid, dir_fd=pfd, follow_symlinks=False)
        for xname, value in e.xattrs:
            if is_overlay_xattr(xname):
                continue
            try:
                os.setxattr(self.root.proc_path(pfd, name), xname, value,
                            follow_symlinks=False)
            except OSError as err:
                self._xattr_failed(err, e, xname)
        if chmod:
            os.chmod(name, e.mode, dir_fd=pfd)
        os.utime(name, ns=(e.mtime_ns, e.mtime_ns), dir_fd=pfd, follow_symlinks=False)

    def _xattr_failed(self, err: OSError, e: TarEntry, xname: str) -> None:
        # As moby: a target without xattr support, or a caller without the privilege for
        # the trusted./security. namespaces, loses the xattr with a warning. As root,
        # anything else is an error.
        if err.errno == errno.ENOTSUP or (not self.is_root and err.errno == errno.EPERM):
            self.skipped_xattrs += 1
            log.warning("entry %r: xattr %s not set: %s", e.name, xname, err.strerror)
            return
        raise err

    def finish_dirs(self) -> None:
        """Directory modes and times, after all their content was written."""
        self.root.invalidate()
        for parts, (mode, mtime_ns) in sorted(self.dirs.items(), key=lambda kv: -len(kv[0])):
            try:
                pfd = self.root.parent(parts, display(parts))
            except (FileNotFoundError, InvalidArgument):
                continue  # a later entry replaced the directory or a parent
            name = parts[-1]
            st = _lstat(name, pfd)
            if st is None or not stat.S_ISDIR(st.st_mode):
                continue
            try:
                if mode is not None:
                    os.chmod(name, mode, dir_fd=pfd)
                if mtime_ns is not None:
                    os.utime(name, ns=(mtime_ns, mtime_ns), dir_fd=pfd, follow_symlinks=False)
            except OSError as err:
                raise os_error(err, f"entry {display(parts)!r}") from err


def _lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _lower_dir_stat(lowers: Sequence[str], parts: tuple[str, ...]) -> os.stat_result | None:
    """The stat of directory ``parts`` as the overlay of ``lowers`` shows it, if a directory."""
    if not lowers:
        return None
    st = lookup_in_lowers(tuple(lowers), parts)
    return st if st is not None and stat.S_ISDIR(st.st_mode) else None
