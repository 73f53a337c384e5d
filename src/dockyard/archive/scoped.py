"""Paths of a container resolved inside its root, held by descriptors (``docker cp``'s side
of the daemon).

A container's files are hostile: any component of a path may be a symlink, and a process
in a running container may swap a directory for a symlink to ``/`` at any moment (moby's
CVE-2018-15664). So a path string is resolved exactly once, by the kernel, with
``openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`` from a descriptor of the container's
root (``linux.openat2``): symlinks are followed as the container sees them and the lookup
never leaves the root, whatever races it. Everything after works on the descriptors the
lookup returned (``*at`` calls, ``O_NOFOLLOW``), never on a host path string again.

Docker's rules for which symlinks are followed (moby ``container.ResolvePath`` and
``StatPath``):

- reading (``GET``/``HEAD`` archive): the parent directory is resolved, following links;
  the last component is not (a link is archived as a link), unless the path ends in ``/``
  or ``/.``, which asks for the directory the whole path resolves to;
- writing (``PUT`` archive): the whole path is resolved, the last link too, and must end
  at a directory.

``linkTarget`` of a link is its full resolution, as a path in the container.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from dataclasses import dataclass

from dockyard.errors import InvalidArgument, NotFound
from dockyard.linux.openat2 import open_in_root

_DIR = os.O_PATH | os.O_DIRECTORY


@dataclass(frozen=True, slots=True)
class PathStat:
    """What ``X-Docker-Container-Path-Stat`` tells of a path (an ``lstat``)."""

    name: str
    size: int
    mode: int
    """``st_mode`` (file type and permission bits); the API turns it into Go's FileMode."""
    mtime_ns: int
    link_target: str = ""


def container_abs_path(path: str) -> str:
    """Docker's ``PreserveTrailingDotOrSeparator(filepath.Join("/", path), path)``: the path
    made absolute and clean, keeping a trailing ``/`` or ``/.`` (they change the meaning)."""
    if "\x00" in path:
        raise InvalidArgument("path contains a NUL byte")
    cleaned = posixpath.normpath("/" + path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    if path.endswith("/.") or path == ".":
        return cleaned.rstrip("/") + "/."
    if path.endswith("/") and cleaned != "/":
        return cleaned + "/"
    return cleaned


def base_name(abs_path: str) -> str:
    """Go's ``filepath.Base``: the last element, trailing slashes ignored; ``/`` for root."""
    stripped = abs_path.rstrip("/")
    if not stripped:
        return "/"
    return stripped.rpartition("/")[2]


class Resolved:
    """A path of the container, resolved: the object is ``base`` in the directory
    ``dir_fd`` (``base`` is ``"."`` when the object is that directory itself).

    A path may be resolved in a *scope* other than the container's root (a bind mount's
    source, as the container sees it at ``scope_prefix``): ``rescope`` records it, and the
    scope's descriptor then belongs to this value.

    Lifecycle: made by ``resolve_for_read``/``resolve_dir``; ``close()`` releases the
    descriptors.
    """

    def __init__(self, dir_fd: int, base: str, abs_path: str) -> None:
        self.dir_fd = dir_fd
        self.base = base
        self.abs_path = abs_path
        self.scope_path = abs_path
        """The path as resolved in its scope (``abs_path`` in the container's root)."""
        self.scope_fd = -1
        self.scope_prefix = ""

    def rescope(self, scope_fd: int, prefix: str, abs_path: str) -> None:
        """This was resolved from ``scope_fd``, which the container sees at ``prefix``;
        ``abs_path`` is the path the client asked for."""
        self.scope_fd = scope_fd
        self.scope_prefix = prefix
        self.abs_path = abs_path

    @property
    def name(self) -> str:
        """The name its archive's entries start with (Docker's rebase name)."""
        return base_name(self.abs_path)

    def lstat(self) -> os.stat_result:
        return os.stat(self.base, dir_fd=self.dir_fd, follow_symlinks=False)

    def close(self) -> None:
        if self.dir_fd >= 0:
            os.close(self.dir_fd)
            self.dir_fd = -1
        if self.scope_fd >= 0:
            os.close(self.scope_fd)
            self.scope_fd = -1

    def __enter__(self) -> Resolved:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _not_found(abs_path: str, err: OSError) -> NotFound | InvalidArgument:
    if err.errno in (errno.ENOENT,):
        return NotFound(f"Could not find the file {abs_path}")
    if err.errno == errno.ENOTDIR:
        return NotFound(f"Could not find the file {abs_path} (a component of "
                        "the path is not a directory)")
    if err.errno == errno.ELOOP:
        return InvalidArgument(f"{abs_path}: too many levels of symbolic links")
    if err.errno == errno.ENAMETOOLONG:
        shown = abs_path if len(abs_path) <= 80 else abs_path[:77] + "..."
        return InvalidArgument(f"{shown}: file name too long")
    raise err


def resolve_for_read(root_fd: int, path: str) -> Resolved:
    """``path`` as ``GET``/``HEAD`` archive see it (parent followed, last link not);
    ``NotFound`` when it does not exist."""
    abs_path = container_abs_path(path)
    head, _, base = abs_path.rpartition("/")
    try:
        if base in ("", "."):
            fd = open_in_root(root_fd, abs_path, _DIR)
            return Resolved(fd, ".", abs_path)
        fd = open_in_root(root_fd, head or "/", _DIR)
    except OSError as err:
        raise _not_found(abs_path, err) from err
    res = Resolved(fd, base, abs_path)
    try:
        res.lstat()
    except OSError as err:
        res.close()
        raise _not_found(abs_path, err) from err
    return res


def resolve_dir(root_fd: int, path: str) -> Resolved:
    """``path`` as ``PUT`` archive sees it: fully resolved, and a directory."""
    abs_path = container_abs_path(path)
    try:
        fd = open_in_root(root_fd, abs_path, os.O_PATH)
    except OSError as err:
        raise _not_found(abs_path, err) from err
    if not stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidArgument("extraction point is not a directory")
    return Resolved(fd, ".", abs_path)


def fd_path(root_fd: int, fd: int) -> str | None:
    """Where ``fd`` is, as a path in the container rooted at ``root_fd`` (None if the
    kernel names it outside, e.g. deleted)."""
    root = os.readlink(f"/proc/self/fd/{root_fd}")
    here = os.readlink(f"/proc/self/fd/{fd}")
    if here == root:
        return "/"
    prefix = root.rstrip("/") + "/"
    if not here.startswith(prefix):
        return None
    return "/" + here[len(prefix):]


def link_target(root_fd: int, res: Resolved, link: str) -> str:
    """The full resolution of the symlink ``res`` in the container (moby's ``linkTarget``);
    lexical when the link dangles."""
    try:
        fd = open_in_root(root_fd, res.scope_path, os.O_PATH)
    except OSError:
        fd = -1
    if fd >= 0:
        try:
            found = fd_path(root_fd, fd)
        finally:
            os.close(fd)
        if found is not None:
            return found
    parent = posixpath.dirname(res.scope_path.rstrip("/")) or "/"
    return posixpath.normpath(link if link.startswith("/") else posixpath.join(parent, link))


def stat_resolved(root_fd: int, res: Resolved) -> PathStat:
    st = res.lstat()
    target = ""
    if stat.S_ISLNK(st.st_mode):
        scope = res.scope_fd if res.scope_fd >= 0 else root_fd
        target = link_target(scope, res, os.readlink(res.base, dir_fd=res.dir_fd))
        if res.scope_prefix:
            target = posixpath.join(res.scope_prefix, target.lstrip("/")).rstrip("/")
    return PathStat(name=res.name, size=st.st_size, mode=st.st_mode, mtime_ns=st.st_mtime_ns,
                    link_target=target)
