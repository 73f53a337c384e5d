"""Copy an overlay upper directory as it is: the committed layer of ``docker commit``
without a round trip through a tar.

The layer blob of a commit is written from the container's upper directory; applying that
blob again (what an unpack does) would only recreate the same tree: the same files, the
whiteout devices, the opaque directories. This copies the tree directly instead, the
kernel moving file content (``copy_file_range``), keeping owners, modes, times, xattrs,
hardlinks, devices and fifos. Of overlayfs's own xattrs only ``opaque`` is kept (as the
blob would carry it); ``origin``, ``impure`` and the like name the old lower layers and
are dropped. Sockets are skipped, as the blob skips them.

The source must be quiescent (a paused or stopped container's layer): the walk is by
path. The target is an empty directory.
"""

from __future__ import annotations

import errno
import os
import stat

from dockyard.archive.whiteouts import OVERLAY_OPAQUE_XATTR, is_overlay_xattr

_COPY = 1 << 30


def _xattrs(src: str, dst: str) -> None:
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError as e:
        if e.errno == errno.ENOTSUP:
            return
        raise
    for name in names:
        if is_overlay_xattr(name) and name != OVERLAY_OPAQUE_XATTR:
            continue
        try:
            value = os.getxattr(src, name, follow_symlinks=False)
        except OSError as e:
            if e.errno == errno.ENODATA:
                continue
            raise
        os.setxattr(dst, name, value, follow_symlinks=False)


def _copy_content(src: str, dst: str, st: os.stat_result) -> None:
    fin = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                       0o600)
        try:
            left = st.st_size
            while left > 0:
                try:
                    n = os.copy_file_range(fin, fout, min(left, _COPY))
                except OSError as e:
                    if e.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS,
                                       errno.EOPNOTSUPP):
                        raise
                    n = os.sendfile(fout, fin, None, min(left, _COPY))
                if n == 0:
                    break
                left -= n
            os.fchown(fout, st.st_uid, st.st_gid)
        finally:
            os.close(fout)
    finally:
        os.close(fin)


def copy_tree(src: str, dst: str) -> int:
    """Copy everything under ``src`` into the empty directory ``dst``; the bytes of
    regular file content copied."""
    links: dict[tuple[int, int], str] = {}
    total = 0
    dirs: list[tuple[str, os.stat_result]] = []
    stack = [(src, dst)]
    while stack:
        sdir, ddir = stack.pop()
        with os.scandir(sdir) as it:
            entries = [(e.name, e.stat(follow_symlinks=False)) for e in it]
        for name, st in entries:
            s, d = os.path.join(sdir, name), os.path.join(ddir, name)
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                os.mkdir(d, 0o700)
                os.chown(d, st.st_uid, st.st_gid)
                _xattrs(s, d)
                dirs.append((d, st))
                stack.append((s, d))
                continue
            if stat.S_ISSOCK(mode):
                continue
            if stat.S_ISREG(mode):
                key = (st.st_dev, st.st_ino)
                first = links.get(key) if st.st_nlink > 1 else None
                if first is not None:
                    os.link(first, d, follow_symlinks=False)
                    continue
                _copy_content(s, d, st)
                total += st.st_size
                if st.st_nlink > 1:
                    links[key] = d
            elif stat.S_ISLNK(mode):
                os.symlink(os.readlink(s), d)
                os.chown(d, st.st_uid, st.st_gid, follow_symlinks=False)
            else:
                os.mknod(d, stat.S_IFMT(mode) | 0o600, st.st_rdev)
                os.chown(d, st.st_uid, st.st_gid, follow_symlinks=False)
            _xattrs(s, d)
            if not stat.S_ISLNK(mode):
                os.chmod(d, stat.S_IMODE(mode))
            os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    for d, st in reversed(dirs):
        os.chmod(d, stat.S_IMODE(st.st_mode))
        os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns))
    return total
