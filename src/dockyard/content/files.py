"""Small file-system primitives the content store is built from.

Atomic replacement (write a temporary sibling, fsync, rename), directory fsync (so a
rename survives a crash), removal that tolerates a concurrent remover, timestamps, and
the one place where ``OSError`` becomes a ``dockyard.errors`` error (``os_errors``).
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from dockyard.errors import (
    AlreadyExists,
    DockyardError,
    Internal,
    NotFound,
    PermissionDenied,
    Unavailable,
)

log = logging.getLogger(__name__)

TMP_MARK = ".tmp-"  # temporary siblings are ".<name>.tmp-<random>"


def now() -> datetime:
    return datetime.now(UTC)


def from_ns(ns: int) -> datetime:
    """A UTC datetime from nanoseconds since the epoch (microsecond precision)."""
    return datetime.fromtimestamp(ns / 1e9, UTC)


def format_time(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


def parse_time(s: str) -> datetime:
    return datetime.fromisoformat(s.strip())


def fsync_dir(path: str) -> None:
    """Make the directory's entries (a rename into it) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new content only.

    ``durable`` fsyncs the file before the rename (not the directory: callers that need
    the name itself to survive a crash call ``fsync_dir``).
    """
    d, base = os.path.split(path)
    tmp = os.path.join(d, f".{base}{TMP_MARK}{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_text(path: str) -> str | None:
    """The file's text, or ``None`` when it does not exist."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None


def remove_tree(path: str) -> None:
    """Remove a directory tree; entries that vanish meanwhile (another process cleaning
    the same leftovers) are not an error, anything else is."""

    def onerror(func: Callable[..., Any], p: str, exc_info: Any) -> None:
        if isinstance(exc_info[1], FileNotFoundError):
            return  # removed concurrently: the goal is reached
        raise exc_info[1]

    shutil.rmtree(path, onerror=onerror)


def translate(e: OSError, what: str) -> DockyardError:
    """The dockyard error for an ``OSError`` met while doing ``what``."""
    detail = f"{what}: {e.strerror or e}"
    if e.errno == errno.ENOENT:
        return NotFound(detail)
    if e.errno == errno.EEXIST:
        return AlreadyExists(detail)
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return PermissionDenied(detail)
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EMFILE, errno.ENFILE, errno.EAGAIN):
        return Unavailable(detail)
    return Internal(detail)


@contextmanager
def os_errors(what: str) -> Iterator[None]:
    """Let no ``OSError`` out of a public method: translate it (chained, never hidden)."""
    try:
        yield
    except OSError as e:
        raise translate(e, what) from e
