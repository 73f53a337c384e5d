"""The filesystem storage driver (the default): driver paths are files under one directory.

On disk::

    <root>/
      <driver paths...>        what the stores write (see dockyard.registry.store.paths)
      .tmp/                    put_content's temporaries, renamed into place (never read)
      .locks/<name>            flock(2) files of ``lock()`` (shared or exclusive)

Atomicity: ``put_content`` writes a temporary in ``.tmp`` (same filesystem), fsyncs it,
``rename``s it over the destination and fsyncs the destination's directory; ``move`` is a
``rename`` plus the directory fsync. A kill -9 at any point leaves the old file or the
new one, plus at most a stray temporary that ``purge_temporaries`` removes.

``lock`` uses ``flock`` on a file per name: it holds between processes (the worker
processes of one server, and ``dockyard-registry gc`` run beside a server), and between
threads of one process too, since each acquisition opens its own file description.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.registry.storage.driver import FileInfo, validate_lock_name, validate_path

_TMP = ".tmp"
_LOCKS = ".locks"


def _not_found(path: str, e: OSError) -> NotFound:
    return NotFound(f"storage path {path} not found: {e.strerror}")


class _Writer:
    __slots__ = ("_f", "_os_path", "_path", "_size")

    def __init__(self, os_path: str, path: str, append: bool) -> None:
        os.makedirs(os.path.dirname(os_path), exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
        if not append:
            flags |= os.O_TRUNC
        fd = os.open(os_path, flags, 0o644)
        self._f = os.fdopen(fd, "ab", buffering=0)
        self._size = os.fstat(fd).st_size
        self._os_path = os_path
        self._path = path

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data)
        while view:
            n = self._f.write(view)
            if n is None:  # pragma: no cover - blocking file, never happens
                continue
            view = view[n:]
            self._size += n
        return len(data)

    def commit(self) -> None:
        os.fsync(self._f.fileno())

    def cancel(self) -> None:
        self.close()
        try:
            os.unlink(self._os_path)
        except FileNotFoundError:
            pass

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


class FilesystemDriver:
    """Driver paths as files under ``root`` (created if missing)."""

    name = "filesystem"
    multiprocess = True

    def __init__(self, root: str, *, fsync: bool = True) -> None:
        self.root = os.path.abspath(root)
        self._fsync = fsync
        os.makedirs(os.path.join(self.root, _TMP), exist_ok=True)
        os.makedirs(os.path.join(self.root, _LOCKS), exist_ok=True)

    def _os(self, path: str) -> str:
        validate_path(path)
        return self.root if path == "/" else os.path.join(self.root, path[1:])

    def _sync_dir(self, os_dir: str) -> None:
        if not self._fsync:
            return
        fd = os.open(os_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def get_content(self, path: str) -> bytes:
        p = self._os(path)
        try:
            with open(p, "rb") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as e:
            raise _not_found(path, e) from e

    def put_content(self, path: str, data: bytes) -> None:
        p = self._os(path)
        if path == "/":
            raise InvalidArgument("cannot write the root")
        tmp = os.path.join(self.root, _TMP, uuid.uuid4().hex)
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                if self._fsync:
                    f.flush()
                    os.fsync(f.fileno())
            os.makedirs(os.path.dirname(p), exist_ok=True)
            os.replace(tmp, p)
        except IsADirectoryError as e:
            raise Conflict(f"storage path {path} is a directory") from e
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
        self._sync_dir(os.path.dirname(p))

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        p = self._os(path)
        try:
            f = open(p, "rb")  # noqa: SIM115 - handed to the caller, who closes it
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as e:
            raise _not_found(path, e) from e
        if offset:
            f.seek(offset)
        return f

    def writer(self, path: str, append: bool = False) -> _Writer:
        if path == "/":
            raise InvalidArgument("cannot write the root")
        return _Writer(self._os(path), path, append)

    def stat(self, path: str) -> FileInfo:
        p = self._os(path)
        try:
            st = os.stat(p)
        except (FileNotFoundError, NotADirectoryError) as e:
            raise _not_found(path, e) from e
        is_dir = os.path.isdir(p)
        return FileInfo(path, 0 if is_dir else st.st_size, st.st_mtime, is_dir)

    def list(self, path: str) -> list[str]:
        p = self._os(path)
        try:
            names = os.listdir(p)
        except (FileNotFoundError, NotADirectoryError) as e:
            raise _not_found(path, e) from e
        prefix = "" if path == "/" else path
        return sorted(f"{prefix}/{n}" for n in names if not n.startswith("."))

    def move(self, src: str, dst: str) -> None:
        s, d = self._os(src), self._os(dst)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        try:
            os.replace(s, d)
        except FileNotFoundError as e:
            raise _not_found(src, e) from e
        self._sync_dir(os.path.dirname(d))

    def delete(self, path: str) -> None:
        p = self._os(path)
        if path == "/":
            raise InvalidArgument("cannot delete the root")
        try:
            if os.path.isdir(p) and not os.path.islink(p):
                # Rename first so a concurrent reader never sees a half-removed tree.
                doomed = os.path.join(self.root, _TMP, "rm-" + uuid.uuid4().hex)
                os.replace(p, doomed)
                shutil.rmtree(doomed)
            else:
                os.unlink(p)
        except (FileNotFoundError, NotADirectoryError) as e:
            raise _not_found(path, e) from e

    def walk(self, path: str) -> Iterator[FileInfo]:
        top = self._os(path)
        if not os.path.isdir(top):
            raise NotFound(f"storage path {path} is not a directory")
        prefix = "" if path == "/" else path
        stack = [(top, prefix)]
        while stack:
            d, dp = stack.pop()
            try:
                entries = sorted(os.scandir(d), key=lambda e: e.name)
            except FileNotFoundError:
                continue  # removed while walking
            for e in entries:
                if e.name.startswith("."):
                    continue
                try:
                    st = e.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                is_dir = e.is_dir(follow_symlinks=False)
                child = f"{dp}/{e.name}"
                yield FileInfo(child, 0 if is_dir else st.st_size, st.st_mtime, is_dir)
                if is_dir:
                    stack.append((e.path, child))

    def touch(self, path: str) -> None:
        p = self._os(path)
        try:
            os.utime(p, None)
        except FileNotFoundError as e:
            raise _not_found(path, e) from e

    def local_path(self, path: str) -> str | None:
        return self._os(path)

    @contextmanager
    def lock(self, name: str, exclusive: bool) -> Iterator[None]:
        p = os.path.join(self.root, _LOCKS, validate_lock_name(name))
        fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                    break
                except InterruptedError:
                    continue
                except OSError as e:  # pragma: no cover - EINTR on old Pythons
                    if e.errno != errno.EINTR:
                        raise
            yield
        finally:
            os.close(fd)  # releases the flock

    def purge_temporaries(self, older_than: float = 3600.0) -> int:
        """Remove temporaries left by a crash (older than ``older_than`` seconds)."""
        d = os.path.join(self.root, _TMP)
        now, n = time.time(), 0
        for e in os.scandir(d):
            try:
                if now - e.stat(follow_symlinks=False).st_mtime < older_than:
                    continue
                if e.is_dir(follow_symlinks=False):
                    shutil.rmtree(e.path)
                else:
                    os.unlink(e.path)
                n += 1
            except FileNotFoundError:
                continue
        return n
