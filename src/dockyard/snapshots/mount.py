"""Mount and unmount lists of ``Mount`` values (containerd's ``core/mount/mount_linux.go``).

Options are split into mount flags (``ro``, ``nosuid``, ``bind``/``rbind``...), a propagation
change (``rprivate``...) and the filesystem data (everything else, comma-joined). A read-only
bind mount takes two calls (bind, then remount read-only), as the kernel requires.

**Images with many layers.** ``mount(2)`` copies at most one page (4096 bytes) of data, and an
overlay with 130 lower dirs of absolute paths needs far more. As containerd does, when the
data does not fit, the paths in ``lowerdir``/``upperdir``/``workdir`` are made relative to
their longest common directory (for our snapshotters ``<root>/snapshots``, leaving ``12/fs``
per layer: room for the kernel's maximum of 500 layers), and the mount is made by a short
child process whose working directory is that common directory. The child is started with
``subprocess`` (the ``chdir`` happens between fork and exec, in C), because the daemon is
threaded: a ``chdir`` in the daemon would move every thread, and a bare ``fork`` of a
threaded Python process may inherit locks held by other threads. The child costs a Python
start-up (~20 ms), paid only by mounts whose data is longer than a page.
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
from collections.abc import Sequence

from dockyard.errors import (
    Conflict,
    DockyardError,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from dockyard.linux import syscalls as sc
from dockyard.snapshots import Mount

log = logging.getLogger(__name__)

# option -> (clear?, flag): "clear" options remove the flag (rw, suid, dev...)
_FLAGS: dict[str, tuple[bool, int]] = {
    "ro": (False, sc.MS_RDONLY), "rw": (True, sc.MS_RDONLY),
    "nosuid": (False, sc.MS_NOSUID), "suid": (True, sc.MS_NOSUID),
    "nodev": (False, sc.MS_NODEV), "dev": (True, sc.MS_NODEV),
    "noexec": (False, sc.MS_NOEXEC), "exec": (True, sc.MS_NOEXEC),
    "sync": (False, sc.MS_SYNCHRONOUS), "async": (True, sc.MS_SYNCHRONOUS),
    "dirsync": (False, sc.MS_DIRSYNC), "remount": (False, sc.MS_REMOUNT),
    "mand": (False, sc.MS_MANDLOCK), "nomand": (True, sc.MS_MANDLOCK),
    "noatime": (False, sc.MS_NOATIME), "atime": (True, sc.MS_NOATIME),
    "nodiratime": (False, sc.MS_NODIRATIME), "diratime": (True, sc.MS_NODIRATIME),
    "relatime": (False, sc.MS_RELATIME), "norelatime": (True, sc.MS_RELATIME),
    "strictatime": (False, sc.MS_STRICTATIME), "nostrictatime": (True, sc.MS_STRICTATIME),
    "bind": (False, sc.MS_BIND), "rbind": (False, sc.MS_BIND | sc.MS_REC),
}
_PROPAGATION: dict[str, int] = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}
_PATH_OPTIONS = ("lowerdir", "upperdir", "workdir")

_HELPER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
fstype, source, target, flags, data = sys.argv[1:6]
if libc.mount(source.encode(), target.encode(), fstype.encode(), int(flags),
              data.encode()) != 0:
    err = ctypes.get_errno()
    sys.stderr.write("%d %s" % (err, os.strerror(err)))
    sys.exit(1)
"""


def page_size() -> int:
    return os.sysconf("SC_PAGE_SIZE")


def parse_options(options: Sequence[str]) -> tuple[int, int, list[str]]:
    """``(flags, propagation flags, data options)`` of a mount's options."""
    flags = prop = 0
    data: list[str] = []
    for opt in options:
        if opt in _FLAGS:
            clear, flag = _FLAGS[opt]
            flags = flags & ~flag if clear else flags | flag
        elif opt in _PROPAGATION:
            prop |= _PROPAGATION[opt]
        else:
            data.append(opt)
    return flags, prop, data


def _error(e: OSError, what: str) -> DockyardError:
    msg = f"{what}: {e.strerror or e}"
    if e.errno in (errno.EPERM, errno.EACCES):
        return PermissionDenied(msg)
    if e.errno == errno.ENOENT:
        return NotFound(msg)
    if e.errno == errno.EBUSY:
        return Conflict(msg)
    if e.errno in (errno.EINVAL, errno.ENOTDIR):
        return InvalidArgument(msg)
    return Internal(msg)


def compact_overlay_data(data: list[str]) -> tuple[str, list[str]]:
    """Overlay data with its paths relative to their common directory, and that directory."""
    paths: list[str] = []
    for opt in data:
        key, _, value = opt.partition("=")
        if key in _PATH_OPTIONS:
            paths.extend(p for p in value.split(":") if p)
    if not paths or not all(os.path.isabs(p) for p in paths):
        raise InvalidArgument("overlay mount data too long and its paths are not absolute")
    common = os.path.commonpath(paths)
    out = []
    for opt in data:
        key, _, value = opt.partition("=")
        if key in _PATH_OPTIONS:
            value = ":".join(os.path.relpath(p, common) for p in value.split(":") if p)
            out.append(f"{key}={value}")
        else:
            out.append(opt)
    return common, out


def _mount_from(cwd: str, fstype: str, source: str, target: str, flags: int,
                data: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _HELPER, fstype, source, target, str(flags), data],
        cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        code, _, text = proc.stderr.strip().partition(" ")
        if code.isdigit():
            raise OSError(int(code), text, target)
        raise Internal(f"mount helper failed ({proc.returncode}): {proc.stderr.strip()}")


def mount(m: Mount, target: str) -> None:
    """Mount one ``Mount`` at ``target`` (joined with ``m.target`` when that is set)."""
    dest = os.path.abspath(os.path.join(target, m.target) if m.target else target)
    flags, prop, data = parse_options(m.options)
    is_bind = bool(flags & sc.MS_BIND)
    fstype = "none" if is_bind else m.type
    joined = ",".join(data)
    try:
        first_flags = flags & ~sc.MS_RDONLY if is_bind else flags
        if m.type == "overlay" and len(joined) >= page_size():
            common, rel = compact_overlay_data(data)
            short = ",".join(rel)
            if len(short) >= page_size():
                raise InvalidArgument(
                    f"overlay mount data is {len(short)} bytes even with relative paths")
            log.debug("overlay data of %d bytes: mounting from %s (%d bytes)",
                      len(joined), common, len(short))
            _mount_from(common, m.type, m.source, dest, first_flags, short)
        else:
            sc.mount(m.source, dest, fstype, first_flags, joined or None)
        if is_bind and flags & sc.MS_RDONLY:
            remount = sc.MS_REMOUNT | sc.MS_BIND | (flags & ~(sc.MS_REC | sc.MS_BIND))
            sc.mount(None, dest, None, remount | sc.MS_BIND, None)
        if prop:
            sc.mount(None, dest, None, prop, None)
    except OSError as e:
        raise _error(e, f"mount {m.type} {m.source} on {dest}") from e


def mount_all(mounts: Sequence[Mount], target: str) -> None:
    """Mount every mount in order at ``target``; on failure, undo the ones made."""
    done: list[str] = []
    try:
        for m in mounts:
            mount(m, target)
            done.append(os.path.join(target, m.target) if m.target else target)
    except BaseException:
        for path in reversed(done):
            unmount(path, detach=True)
        raise


def unmount(target: str, *, detach: bool = False) -> None:
    """Unmount ``target`` until nothing is mounted there (stacked mounts included)."""
    flags = sc.MNT_DETACH if detach else 0
    for _ in range(64):
        try:
            sc.umount2(target, flags)
        except OSError as e:
            if e.errno in (errno.EINVAL, errno.ENOENT):
                return  # not (or no longer) a mount point
            raise _error(e, f"unmount {target}") from e
    raise Internal(f"unmount {target}: still mounted after 64 unmounts")


unmount_all = unmount


def mounted_under(path: str) -> list[str]:
    """Mount points at or under ``path`` (from /proc/self/mountinfo), deepest first."""
    root = os.path.realpath(path)
    out = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == root or mp.startswith(root.rstrip("/") + "/"):
                out.append(mp)
    return sorted(out, key=len, reverse=True)
