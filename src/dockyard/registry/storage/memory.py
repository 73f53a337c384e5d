"""The in-memory storage driver: for tests, and for a throw-away single-process registry.

Files are byte arrays in a dict keyed by driver path; directories exist while a file
lies under them. Everything is guarded by one mutex, so it is safe across the threads of
one process; it cannot be shared by several worker processes (``multiprocess = False``:
the server refuses ``--workers`` > 1 with it). ``lock`` is an in-process reader/writer
lock with the same meaning as the filesystem driver's ``flock``.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.registry.storage.driver import FileInfo, validate_lock_name, validate_path


class _File:
    __slots__ = ("data", "mtime")

    def __init__(self) -> None:
        self.data = bytearray()
        self.mtime = time.time()


class _RWLock:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextmanager
    def hold(self, exclusive: bool) -> Iterator[None]:
        with self._cond:
            if exclusive:
                self._cond.wait_for(lambda: not self._writer and self._readers == 0)
                self._writer = True
            else:
                self._cond.wait_for(lambda: not self._writer)
                self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                if exclusive:
                    self._writer = False
                else:
                    self._readers -= 1
                self._cond.notify_all()


class _Writer:
    __slots__ = ("_closed", "_driver", "_file", "_path")

    def __init__(self, driver: MemoryDriver, path: str, f: _File) -> None:
        self._driver, self._path, self._file, self._closed = driver, path, f, False

    @property
    def size(self) -> int:
        return len(self._file.data)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        with self._driver._mu:
            self._file.data += data
            self._file.mtime = time.time()
        return len(data)

    def commit(self) -> None:
        pass

    def cancel(self) -> None:
        self.close()
        with self._driver._mu:
            if self._driver._files.get(self._path) is self._file:
                del self._driver._files[self._path]

    def close(self) -> None:
        self._closed = True


class MemoryDriver:
    """Driver paths as byte arrays in this process."""

    name = "inmemory"
    multiprocess = False

    def __init__(self) -> None:
        self._mu = threading.RLock()
        self._files: dict[str, _File] = {}
        self._locks: dict[str, _RWLock] = {}

    def _is_dir(self, path: str) -> bool:
        prefix = "/" if path == "/" else path + "/"
        return any(p.startswith(prefix) for p in self._files)

    def _check_no_dir(self, path: str) -> None:
        if self._is_dir(path):
            raise Conflict(f"storage path {path} is a directory")
        parts = path.split("/")
        for i in range(2, len(parts)):
            if "/".join(parts[:i]) in self._files:
                raise Conflict(f"storage path {'/'.join(parts[:i])} is a file")

    def get_content(self, path: str) -> bytes:
        validate_path(path)
        with self._mu:
            f = self._files.get(path)
            if f is None:
                raise NotFound(f"storage path {path} not found")
            return bytes(f.data)

    def put_content(self, path: str, data: bytes) -> None:
        validate_path(path)
        if path == "/":
            raise InvalidArgument("cannot write the root")
        f = _File()
        f.data += data
        with self._mu:
            self._check_no_dir(path)
            self._files[path] = f

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        b = io.BytesIO(self.get_content(path))
        b.seek(offset)
        return b

    def writer(self, path: str, append: bool = False) -> _Writer:
        validate_path(path)
        if path == "/":
            raise InvalidArgument("cannot write the root")
        with self._mu:
            f = self._files.get(path) if append else None
            if f is None:
                self._check_no_dir(path)
                f = _File()
                self._files[path] = f
            return _Writer(self, path, f)

    def stat(self, path: str) -> FileInfo:
        validate_path(path)
        with self._mu:
            f = self._files.get(path)
            if f is not None:
                return FileInfo(path, len(f.data), f.mtime, False)
            if path == "/" or self._is_dir(path):
                prefix = "/" if path == "/" else path + "/"
                mtime = max((v.mtime for k, v in self._files.items() if k.startswith(prefix)),
                            default=time.time())
                return FileInfo(path, 0, mtime, True)
        raise NotFound(f"storage path {path} not found")

    def list(self, path: str) -> list[str]:
        validate_path(path)
        prefix = "/" if path == "/" else path + "/"
        with self._mu:
            children = {prefix + k[len(prefix):].split("/", 1)[0]
                        for k in self._files if k.startswith(prefix)}
            if not children and path != "/":
                raise NotFound(f"storage path {path} not found")
        return sorted(children)

    def move(self, src: str, dst: str) -> None:
        validate_path(src)
        validate_path(dst)
        with self._mu:
            f = self._files.get(src)
            if f is None:
                raise NotFound(f"storage path {src} not found")
            self._check_no_dir(dst)
            del self._files[src]
            self._files[dst] = f

    def delete(self, path: str) -> None:
        validate_path(path)
        if path == "/":
            raise InvalidArgument("cannot delete the root")
        prefix = path + "/"
        with self._mu:
            doomed = [k for k in self._files if k == path or k.startswith(prefix)]
            if not doomed:
                raise NotFound(f"storage path {path} not found")
            for k in doomed:
                del self._files[k]

    def walk(self, path: str) -> Iterator[FileInfo]:
        validate_path(path)
        prefix = "/" if path == "/" else path + "/"
        with self._mu:
            if path != "/" and not self._is_dir(path):
                raise NotFound(f"storage path {path} is not a directory")
            items = [(k, len(v.data), v.mtime) for k, v in self._files.items()
                     if k.startswith(prefix)]
        seen: set[str] = set()
        out: list[FileInfo] = []
        for k, size, mtime in sorted(items):
            rel = k[len(prefix):].split("/")
            for i in range(1, len(rel)):
                d = prefix + "/".join(rel[:i])
                if d not in seen:
                    seen.add(d)
                    out.append(FileInfo(d, 0, mtime, True))
            out.append(FileInfo(k, size, mtime, False))
        yield from out

    def touch(self, path: str) -> None:
        validate_path(path)
        with self._mu:
            f = self._files.get(path)
            if f is None:
                raise NotFound(f"storage path {path} not found")
            f.mtime = time.time()

    def local_path(self, path: str) -> str | None:
        validate_path(path)
        return None

    @contextmanager
    def lock(self, name: str, exclusive: bool) -> Iterator[None]:
        validate_lock_name(name)
        with self._mu:
            rw = self._locks.setdefault(name, _RWLock())
        with rw.hold(exclusive):
            yield

    def purge_temporaries(self, older_than: float = 3600.0) -> int:
        return 0  # nothing survives a crash here

    def set_mtime(self, path: str, mtime: float) -> None:
        """Age a file (tests of the grace period); the filesystem has ``os.utime``."""
        with self._mu:
            self._files[validate_path(path)].mtime = mtime
