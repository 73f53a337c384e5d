"""``openat2(2)`` (Linux 5.6), which Python does not expose: path resolution scoped by the
kernel.

With ``RESOLVE_IN_ROOT`` the directory descriptor acts as the root for the whole lookup:
an absolute symlink restarts there, ``..`` stops there. The kernel checks the lookup
against concurrent renames (and retries or fails with ``EAGAIN``), so a process swapping
a path component for a symlink to ``/`` cannot make the lookup leave the root, which a
user-space walk by path strings cannot promise. ``RESOLVE_NO_MAGICLINKS`` refuses
``/proc/<pid>/fd/N``-style links, which would jump anywhere.

The call is thread-safe: it changes no process state (no ``chdir``, no ``chroot``).
"""

from __future__ import annotations

import ctypes
import errno
import os

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_SYS_OPENAT2 = 437  # x86_64 and aarch64 (the generic table)

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

O_PATH = os.O_PATH


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


_RETRIES = 128


def openat2(dir_fd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    """A new descriptor of ``path`` looked up from ``dir_fd`` under the ``resolve`` rules;
    ``OSError`` with the kernel's errno. ``EAGAIN`` (a rename raced the lookup) is retried."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    raw = os.fsencode(path)
    for _ in range(_RETRIES):
        fd = _libc.syscall(_SYS_OPENAT2, ctypes.c_int(dir_fd), ctypes.c_char_p(raw),
                           ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err in (errno.EAGAIN, errno.EINTR):
            continue
        raise OSError(err, os.strerror(err), path)
    raise OSError(errno.EAGAIN, "openat2: the lookup kept racing with renames", path)


def open_in_root(root_fd: int, path: str, flags: int = O_PATH, mode: int = 0) -> int:
    """``path`` resolved with ``root_fd`` as ``/`` (symlinks followed as a process chrooted
    there would see them; magic links refused)."""
    return openat2(root_fd, path or ".", flags, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
