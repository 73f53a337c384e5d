"""Whiteouts: how a layer says "deleted", in a tar and in an overlay upper directory.

In a layer tar (the OCI image spec, from AUFS):

- ``dir/.wh.name``       ``dir/name`` is deleted from the layers below;
- ``dir/.wh..wh..opq``   ``dir`` is opaque: nothing below shows through it;
- other ``.wh..wh.*``    AUFS bookkeeping (``.wh..wh.plnk``, ``.wh..wh.aufs``), ignored.

In an overlayfs upper directory (Documentation/filesystems/overlayfs.rst):

- a character device 0/0 named ``name`` hides ``name`` of the lower layers;
- the xattr ``trusted.overlay.opaque=y`` on a directory hides the lower directories' content.

Applying in *native* mode deletes for real (the target is a full copy of the tree below);
in *overlay* mode the target is an empty upper dir, where deleting would let the lower file
reappear, so the overlay forms above are created instead. Writing a diff from an upper dir
converts them back.
"""

from __future__ import annotations

import enum
import errno
import os
import stat

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"

OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")
"""Xattrs that steer overlayfs itself: never taken from a layer, never written to one."""


class WhiteoutMode(enum.Enum):
    """How deletions in a layer are applied to the target directory."""

    NATIVE = "native"
    """Delete for real: the target holds the whole tree (native snapshotter)."""
    OVERLAY = "overlay"
    """Record as overlay whiteouts: the target is an overlay upper dir."""


def is_whiteout_device(st: os.stat_result) -> bool:
    """True for overlayfs's whiteout: a character device with number 0/0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    """True when the directory at ``path`` carries ``trusted.overlay.opaque=y``."""
    try:
        return os.getxattr(path, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError as e:
        if e.errno in (errno.ENODATA, errno.ENOTSUP):
            return False
        raise


def is_overlay_xattr(name: str) -> bool:
    return name.startswith(OVERLAY_XATTR_PREFIXES)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def lookup_in_lowers(lowers: list[str] | tuple[str, ...],
                     parts: tuple[str, ...]) -> os.stat_result | None:
    """The ``lstat`` of ``parts`` as the overlay of ``lowers`` (topmost first) shows it.

    Walked without following symlinks (a lower's symlink never leads out of it); a whiteout
    or a non-directory on the way hides the path, and an opaque directory hides the layers
    below it. None when the merged view has nothing there.
    """
    if not parts:
        return os.stat(lowers[0]) if lowers else None
    for lower in lowers:
        fd = os.open(lower, _DIR_FLAGS)
        opaque = False
        try:
            for i, comp in enumerate(parts):
                try:
                    st = os.stat(comp, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    break
                if is_whiteout_device(st):
                    return None
                if i == len(parts) - 1:
                    return st
                if not stat.S_ISDIR(st.st_mode):
                    return None
                nfd = os.open(comp, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = nfd
                opaque = opaque or _fd_opaque(fd)
        finally:
            os.close(fd)
        if opaque:
            return None
    return None


def _fd_opaque(fd: int) -> bool:
    try:
        return os.getxattr(fd, OVERLAY_OPAQUE_XATTR) == b"y"
    except OSError as e:
        if e.errno in (errno.ENODATA, errno.ENOTSUP):
            return False
        raise
