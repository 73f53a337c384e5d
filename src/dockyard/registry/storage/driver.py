"""The storage driver seam: a small file-system-like key space the registry stores into.

As in distribution's ``storagedriver.StorageDriver``, the registry's stores
(``dockyard.registry.store``) speak only in *driver paths*; a driver knows nothing of
blobs, manifests or repositories. A driver path is absolute, ``/``-separated, made of
components from ``[A-Za-z0-9._-]`` not starting with ``.``: ``validate_path`` enforces it
in every driver method, so no key built from a request can name anything outside the
driver's root, whatever a store above forgot to check.

Lifecycle of the things a driver hands out:

* ``writer(path)`` opens a ``FileWriter``: ``write`` appends; ``commit`` makes the bytes
  durable (fsync) and ``close`` releases the handle; ``cancel`` removes what was written.
  A writer opened with ``append=True`` continues an existing file (a resumed upload).
  Readers may see a writer's file while it grows: stores therefore write into upload
  paths and ``move`` the finished file to its content address, and ``move`` is atomic.
* ``put_content`` is atomic: a reader sees the old content or the new, never a mix, and a
  crash (kill -9) leaves one or the other.
* ``lock(name, exclusive)`` is a reader/writer lock that holds across worker processes
  sharing the same root (the filesystem driver uses ``flock``); the garbage collector
  takes it exclusively while it marks and sweeps, manifest writes take it shared.

Every method is synchronous (blocking I/O); the HTTP layer calls them in a thread.
Missing paths raise ``dockyard.errors.NotFound``; invalid paths ``InvalidArgument``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from dockyard.errors import InvalidArgument

# No component starts with '.': drivers keep their own files (temporaries, locks) under
# dot-names, which no driver path can reach.
_COMPONENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", re.ASCII)
MAX_PATH = 1024


def validate_path(path: str) -> str:
    """Return ``path`` if it is a valid driver path, else raise ``InvalidArgument``."""
    if not isinstance(path, str) or not path.startswith("/") or len(path) > MAX_PATH:
        raise InvalidArgument(f"invalid storage path {path!r}")
    if path == "/":
        return path
    for part in path[1:].split("/"):
        if not _COMPONENT.fullmatch(part):
            raise InvalidArgument(f"invalid storage path {path!r}")
    return path


def join(*parts: str) -> str:
    """Join path components into a driver path (each part validated by the driver)."""
    return "/" + "/".join(p.strip("/") for p in parts if p.strip("/"))


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What ``stat`` tells about a path: its size (0 for directories) and mtime."""

    path: str
    size: int
    mtime: float
    is_dir: bool


class FileWriter(Protocol):
    """An open file being written; see the module docstring for its lifecycle."""

    @property
    def size(self) -> int:
        """Bytes in the file so far (the offset the next ``write`` appends at)."""
        ...

    def write(self, data: bytes | bytearray | memoryview) -> int: ...

    def commit(self) -> None:
        """Make everything written durable (the writer stays open until ``close``)."""
        ...

    def cancel(self) -> None:
        """Remove the file and close the writer."""
        ...

    def close(self) -> None: ...


class StorageDriver(Protocol):
    """The storage seam; one conformance suite (``tests/conformance/registry``) per driver."""

    name: str
    #: False for drivers whose state lives in one process (the in-memory driver): the
    #: server refuses to start several workers on them.
    multiprocess: bool

    def get_content(self, path: str) -> bytes: ...

    def put_content(self, path: str, data: bytes) -> None:
        """Write ``data`` at ``path`` atomically (parents created)."""
        ...

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        """A file object positioned at ``offset`` (the caller closes it)."""
        ...

    def writer(self, path: str, append: bool = False) -> FileWriter: ...

    def stat(self, path: str) -> FileInfo: ...

    def list(self, path: str) -> list[str]:
        """The full paths of the direct children of directory ``path``, sorted."""
        ...

    def move(self, src: str, dst: str) -> None:
        """Atomically rename ``src`` to ``dst``, replacing ``dst``; parents created."""
        ...

    def delete(self, path: str) -> None:
        """Remove ``path`` and everything under it."""
        ...

    def walk(self, path: str) -> Iterator[FileInfo]:
        """Every file and directory under ``path`` (not ``path`` itself), parents first."""
        ...

    def touch(self, path: str) -> None:
        """Set the mtime of an existing ``path`` to now (GC's grace period reads it)."""
        ...

    def local_path(self, path: str) -> str | None:
        """The OS path of a file when the driver has one (for ``sendfile``), else None."""
        ...

    def lock(self, name: str, exclusive: bool) -> AbstractContextManager[None]:
        """A reader/writer lock named ``name`` held across processes sharing the root."""
        ...

    def purge_temporaries(self, older_than: float = 3600.0) -> int:
        """Remove the driver's own leftovers of a crash (older than ``older_than`` s)."""
        ...


def validate_lock_name(name: str) -> str:
    """Lock names are single path components."""
    if not isinstance(name, str) or not _COMPONENT.fullmatch(name) or len(name) > 200:
        raise InvalidArgument(f"invalid lock name {name!r}")
    return name
