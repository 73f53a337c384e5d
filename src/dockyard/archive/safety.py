"""The security boundary of layer application: bounded sizes, clean names, in-root walking.

Three rules keep a hostile layer inside its target:

1. Names are cleaned before use (``clean_name``): a leading ``./`` is dropped, empty and
   ``.`` components vanish, and an absolute name or a ``..`` component is refused. So no
   name, and no hardlink target, can point above the target by itself.
2. Parents are walked one component at a time from a descriptor of the target
   (``RootDir.parent``): each step is ``openat(O_NOFOLLOW | O_DIRECTORY)`` relative to the
   previous directory, so a symlink anywhere on the way (an earlier entry ``a -> /etc``,
   then ``a/passwd``) is refused, not followed. Every leaf operation is then done relative to
   the parent's descriptor without following the leaf (``O_NOFOLLOW``, ``*at`` calls,
   ``follow_symlinks=False``), so the leaf cannot redirect it either.
3. Sizes are bounded (``Limits``): per entry, in total, number of entries, special headers,
   and the ratio of uncompressed to compressed bytes.

Parent descriptors are cached (the tar stream visits directories depth first); the cache
is dropped whenever the apply code removes a directory, so a stale descriptor never
outlives the directory it names.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from dockyard.errors import (
    DockyardError,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CACHE_SIZE = 128


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one layer may make the unpacker read and write.

    The defaults are far above any real image layer and far below what would fill a disk
    by surprise; callers that know better (a registry with quotas, a test) pass their own.
    """

    max_entry_size: int = 64 << 30
    """Largest content of one entry (bytes)."""
    max_total_size: int = 256 << 30
    """Largest uncompressed tar stream (bytes)."""
    max_entries: int = 5_000_000
    """Most entries (headers) in one layer, special headers included."""
    max_header_size: int = 1 << 20
    """Largest PAX or GNU long-name header content (bytes), as Go's archive/tar."""
    max_ratio: int = 2000
    """Largest uncompressed/compressed ratio once past ``ratio_floor`` bytes."""
    ratio_floor: int = 1 << 30
    """Uncompressed bytes below which the ratio is not judged (small layers of zeros)."""


def clean_name(name: str, what: str = "entry") -> tuple[str, ...]:
    """The components of an archive name, refusing anything that could leave the root.

    ``""``, ``"."`` and ``"/"`` (the root itself) give ``()``; any other absolute name is
    refused rather than re-rooted.
    """
    if (".." not in name and "//" not in name and "/./" not in name and "\x00" not in name
            and not name.startswith(("/", "./")) and not name.endswith("/.") and name != "."
            and name):
        return tuple(name.rstrip("/").split("/"))  # the common, already clean, case
    if "\x00" in name:
        raise InvalidArgument(f"{what} {name!r}: NUL byte in name")
    if name.startswith("/"):
        if not name.strip("/"):
            return ()  # "/": the root entry umoci writes (Docker and containerd take it so)
        raise InvalidArgument(f"{what} {name!r}: absolute path")
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise InvalidArgument(f"{what} {name!r}: '..' component escapes the target")
        parts.append(part)
    return tuple(parts)


def os_error(e: OSError, what: str) -> DockyardError:
    """The dockyard error for an ``OSError`` met while working on ``what``."""
    msg = f"{what}: {e.strerror or e}"
    if e.errno in (errno.EPERM, errno.EACCES):
        return PermissionDenied(msg)
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return FailedPrecondition(msg)
    if e.errno in (errno.ENAMETOOLONG, errno.EINVAL, errno.EEXIST, errno.ENOTDIR,
                   errno.EISDIR, errno.ELOOP, errno.ENOTEMPTY):
        return InvalidArgument(msg)
    if e.errno == errno.ENOENT:
        return NotFound(msg)
    return Internal(msg)


def display(parts: tuple[str, ...]) -> str:
    return "/".join(parts) or "."


ParentMaker = Callable[[int, str, tuple[str, ...]], None]
"""``make(dir_fd, name, path)`` creates the missing directory ``name`` under ``dir_fd``."""


class RootDir:
    """A target directory held by descriptor, with in-root, no-follow parent resolution.

    Lifecycle: construct (opens the target), resolve parents with ``parent()`` (the returned
    descriptor belongs to the cache: do not close it), call ``invalidate()`` after removing
    any directory, and ``close()`` at the end.
    """

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self.fd = os.open(self.path, _DIR_FLAGS)
        self._cache: dict[tuple[str, ...], int] = {}

    def close(self) -> None:
        self.invalidate()
        os.close(self.fd)

    def invalidate(self) -> None:
        cache, self._cache = self._cache, {}
        for fd in cache.values():
            os.close(fd)

    def proc_path(self, dir_fd: int, name: str) -> str:
        """A path naming ``name`` in the directory ``dir_fd`` for calls without ``dir_fd``
        (``setxattr``): the ``/proc/self/fd`` magic link pins the directory."""
        return f"/proc/self/fd/{dir_fd}/{name}"

    def parent(self, parts: tuple[str, ...], entry: str,
               make: ParentMaker | None = None) -> int:
        """A descriptor of the directory holding ``parts[-1]``, walked without following.

        Missing directories are created with ``make`` when given, else ``FileNotFoundError``.
        A component that is a symlink or not a directory is refused (``InvalidArgument``).
        """
        dirs = parts[:-1]
        if not dirs:
            return self.fd
        fd = self._cache.get(dirs)
        if fd is not None:
            return fd
        # Start from the deepest cached ancestor.
        start = 0
        cur = self.fd
        for i in range(len(dirs) - 1, 0, -1):
            hit = self._cache.get(dirs[:i])
            if hit is not None:
                start, cur = i, hit
                break
        for i in range(start, len(dirs)):
            name = dirs[i]
            try:
                nxt = os.open(name, _DIR_FLAGS, dir_fd=cur)
            except FileNotFoundError:
                if make is None:
                    raise
                make(cur, name, dirs[: i + 1])
                nxt = os.open(name, _DIR_FLAGS, dir_fd=cur)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    st = os.stat(name, dir_fd=cur, follow_symlinks=False)
                    kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
                    raise InvalidArgument(
                        f"entry {entry!r}: parent {display(dirs[: i + 1])!r} is {kind}; "
                        "refusing to write through it") from e
                raise
            self._remember(dirs[: i + 1], nxt)
            cur = nxt
        return cur

    def _remember(self, key: tuple[str, ...], fd: int) -> None:
        if len(self._cache) >= _CACHE_SIZE:
            self.invalidate()
        self._cache[key] = fd

    def forget(self, prefix: tuple[str, ...]) -> None:
        """Drop cached descriptors of ``prefix`` and everything under it (it was removed)."""
        n = len(prefix)
        for key in [k for k in self._cache if k[:n] == prefix]:
            os.close(self._cache.pop(key))
