"""Resolve a path inside a root directory the way the container will see it.

``secure_join(root, path)`` walks ``path`` component by component, following symlinks as if
``root`` were ``/``: an absolute link target restarts from ``root``, ``..`` never climbs
above it. The result is a host path inside ``root`` (the last component may not exist
yet). This is the lesson of runc's CVEs with mount destinations that were symlinks
pointing out of the rootfs (and of filepath-securejoin, which runc uses).

It is only safe while nothing hostile can change the tree between the resolution and its
use; for the rootfs setup that holds (the container has not started yet).
"""

from __future__ import annotations

import errno
import os
import stat

_MAX_LINKS = 255


def secure_join(root: str, path: str) -> str:
    root = os.path.abspath(root)
    pending = [p for p in path.split("/") if p]
    pending.reverse()
    parts: list[str] = []
    links = 0
    while pending:
        name = pending.pop()
        if name == ".":
            continue
        if name == "..":
            if parts:
                parts.pop()
            continue
        candidate = os.path.join(root, *parts, name)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            parts.append(name)
            continue
        if not stat.S_ISLNK(st.st_mode):
            parts.append(name)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
        target = os.readlink(candidate)
        if target.startswith("/"):
            parts = []
        more = [p for p in target.split("/") if p]
        more.reverse()
        pending.extend(more)
    return os.path.join(root, *parts)
