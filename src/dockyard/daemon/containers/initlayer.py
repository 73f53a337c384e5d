"""The init layer: what Docker's init layer (moby ``daemon/initlayer``) puts between an
image and every container's own layer, as one more read-only lower directory of the
container's overlay.

It holds::

    .dockerenv            empty file, 0755 (programs test for it to know they run in a container)
    etc/                  the image's /etc attributes (mode, owner, times), or 0755 root
    ├── hosts             empty files, 0755: the mount points of the daemon's own
    ├── hostname          /etc files, which are bind-mounted over them at each start
    ├── resolv.conf
    └── mtab -> /proc/mounts

Being below the container's layer, none of it is a change of the container: ``docker diff``
and ``docker commit`` (both read the upper directory only) never show it, nor the
mount points the runtime would otherwise create in the upper directory; ``docker export``
and ``docker cp`` (the mounted root) see it, as with Docker. As in Docker, an image's own
``/.dockerenv``, ``/etc/mtab`` and ``/etc/hosts`` (...) are hidden by these, and an image
whose ``/etc`` is not a directory gets a fresh one.

One directory per image (its lower directories' list), built once into
``<exec-root>/initlayers/<sha256 of the list>`` (a temporary directory renamed into place,
so two builders or a crash never leave half of one) and kept while the exec root lives:
running containers' overlays use it. Only an overlay with an upper directory gets it (a
container's active snapshot on top of an image); the native snapshotter's copies, an image
without layers, or a chain so long that one more lower directory would not fit in the
mount data, run without it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Sequence

from dockyard.snapshots import Mount

log = logging.getLogger(__name__)

EMPTY_FILES = (".dockerenv", "etc/hosts", "etc/hostname", "etc/resolv.conf")
SYMLINKS = (("etc/mtab", "/proc/mounts"),)
FILE_MODE = 0o755
TMP_PREFIX = ".tmp-"
MAX_MOUNT_DATA = os.sysconf("SC_PAGE_SIZE") - 1


class InitLayers:
    def __init__(self, root: str) -> None:
        self.root = root
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(root):
                if name.startswith(TMP_PREFIX):  # a build a crash interrupted
                    shutil.rmtree(os.path.join(root, name), ignore_errors=True)

    def over(self, mounts: Sequence[Mount]) -> list[Mount]:
        """``mounts`` with the init layer as the nearest lower directory (see the module
        docstring for what is left as it is)."""
        if len(mounts) != 1 or mounts[0].type != "overlay":
            return list(mounts)
        m = mounts[0]
        lowers = m.option("lowerdir")
        if not lowers or m.option("upperdir") is None:
            return list(mounts)
        layers = lowers.split(":")
        if not all(os.path.isabs(p) for p in layers):
            return list(mounts)
        path = self.layer(layers)
        options = tuple(f"lowerdir={path}:{lowers}" if o.startswith("lowerdir=") else o
                        for o in m.options)
        if len(",".join(options)) > MAX_MOUNT_DATA:
            log.debug("%d lower directories: no room for the init layer", len(layers))
            return list(mounts)
        return [Mount(m.type, m.source, m.target, options)]

    def layer(self, layers: Sequence[str]) -> str:
        """The init layer of an image whose lower directories are ``layers`` (nearest
        first), built if it is not yet."""
        key = hashlib.sha256(":".join(layers).encode()).hexdigest()
        path = os.path.join(self.root, key)
        if os.path.isdir(path):
            return path
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=TMP_PREFIX, dir=self.root)
        try:
            os.chmod(tmp, 0o755)
            _fill(tmp, layers)
            try:
                os.rename(tmp, path)
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                shutil.rmtree(tmp)  # built meanwhile by another start
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path


def _fill(root: str, layers: Sequence[str]) -> None:
    etc = os.path.join(root, "etc")
    os.mkdir(etc)
    for name in EMPTY_FILES:
        fd = os.open(os.path.join(root, name),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)
        finally:
            os.close(fd)
    for name, target in SYMLINKS:
        os.symlink(target, os.path.join(root, name))
    st = image_dir_stat(layers, "etc")
    if st is None:
        os.chmod(etc, 0o755)
        return
    os.chown(etc, st.st_uid, st.st_gid)
    os.chmod(etc, stat.S_IMODE(st.st_mode))
    os.utime(etc, ns=(st.st_atime_ns, st.st_mtime_ns))


def image_dir_stat(layers: Sequence[str], name: str) -> os.stat_result | None:
    """The attributes overlayfs shows for directory ``name`` at the root of the image
    made of ``layers`` (nearest first): the nearest layer's that holds it; None if it is
    not a directory there (absent, whited out, or another kind of file)."""
    for layer in layers:
        try:
            st = os.lstat(os.path.join(layer, name))
        except FileNotFoundError:
            if _opaque(layer):
                return None  # nothing below this layer's root shows
            continue
        return st if stat.S_ISDIR(st.st_mode) else None
    return None


def _opaque(directory: str) -> bool:
    for attr in ("trusted.overlay.opaque", "user.overlay.opaque"):
        try:
            if os.getxattr(directory, attr, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False
