"""ctypes wrappers, one per system call, each raising ``OSError(errno)`` on failure.

The C types come from ``dockyard.linux.ctypeslite`` (ctypes' classes without the ~4.5 ms
import of the ``ctypes`` package: this module is on the runtime CLI's start-up path).

Python 3.11 has no ``os.unshare``/``os.setns``; these functions fill the gap. The module
loads libc once at import time (an import before any ``pivot_root``, so no lazy loading
reads a container's files).
"""

from __future__ import annotations

import os

from dockyard.linux import ctypeslite as ctypes

_libc = ctypes.CDLL(None, use_errno=True)

# clone(2)/unshare(2) flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# mount(2) flags
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

MNT_FORCE = 1
MNT_DETACH = 2

# prctl(2) options
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

_SYS_PIVOT_ROOT = 155  # x86_64
_SYS_SETNS = 308
_SYS_CLOSE_RANGE = 436
_SYS_CAPGET = 125
_SYS_CAPSET = 126

_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]
_libc.syscall.restype = ctypes.c_long


def _check(ret: int, what: str, path: str | None = None) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        if path is not None:
            raise OSError(err, f"{what}: {os.strerror(err)}", path)
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def unshare(flags: int) -> None:
    """unshare(2): move this process into new namespaces of the given kinds."""
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    """setns(2): join the namespace the file descriptor refers to."""
    _check(_libc.setns(fd, nstype), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    """mount(2)."""
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)),
           f"mount {fstype or ''} {source or ''}", target)


def umount2(target: str, flags: int = 0) -> None:
    """umount2(2)."""
    _check(_libc.umount2(_b(target), flags), "umount", target)


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2)."""
    _check(_libc.syscall(_SYS_PIVOT_ROOT, _b(new_root), _b(put_old)), "pivot_root", new_root)


def sethostname(name: str) -> None:
    """sethostname(2)."""
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname")


def setdomainname(name: str) -> None:
    """setdomainname(2)."""
    raw = name.encode()
    _check(_libc.setdomainname(raw, len(raw)), "setdomainname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """prctl(2)."""
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")


def statfs_type(path: str) -> int:
    """statfs(2)'s ``f_type`` (the filesystem's magic number) for ``path``."""
    buf = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on 64-bit Linux
    _check(_libc.statfs(os.fsencode(path), buf), "statfs", path)
    # f_type is the first member, a C long.
    return int(ctypes.c_long.from_buffer(buf).value) & 0xFFFFFFFF


MADV_POPULATE_WRITE = 23  # Linux 5.14: fault pages in writable, breaking copy-on-write

_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def madvise(addr: int, length: int, advice: int) -> None:
    """madvise(2) on [addr, addr + length)."""
    _check(_libc.madvise(addr, length, advice), "madvise")


CLOSE_RANGE_CLOEXEC = 4


_SYS_CLONE3 = 435
CLONE_INTO_CGROUP = 0x200000000
_SIGCHLD = 17
# The GIL stays held across clone3 (PyDLL), as os.fork holds it: the child returns into
# Python owning it, like a forked child.
_pylibc = ctypes.PyDLL(None, use_errno=True)
_pylibc.syscall.restype = ctypes.c_long


class _CloneArgs(ctypes.Structure):
    # struct clone_args (linux/sched.h), up to ``cgroup`` (CLONE_ARGS_SIZE_VER2, 88 bytes)
    _fields_ = tuple((name, ctypes.c_uint64) for name in (
        "flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack", "stack_size",
        "tls", "set_tid", "set_tid_size", "cgroup"))


def clone3(flags: int = 0, cgroup_fd: int = 0) -> int:
    """clone3(2) as a fork with ``flags`` (``CLONE_NEW*``, ``CLONE_INTO_CGROUP`` with the
    cgroup2 directory ``cgroup_fd``): 0 in the child, the child's pid in the parent.

    Python's at-fork handlers do not run (glibc's and CPython's fork bookkeeping is
    skipped): only for a single-threaded caller whose child execs or exits without
    returning to general code.
    """
    args = _CloneArgs(flags=flags, exit_signal=_SIGCHLD, cgroup=cgroup_fd)
    r = _pylibc.syscall(ctypes.c_long(_SYS_CLONE3), ctypes.byref(args),
                        ctypes.c_size_t(ctypes.sizeof(args)))
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"clone3: {os.strerror(e)}")
    return int(r)


def clone_into_cgroup(cgroup_fd: int) -> int:
    """clone3(2) with ``CLONE_INTO_CGROUP``: a fork whose child starts in the cgroup2
    directory ``cgroup_fd``. 0 in the child, the child's pid in the parent.

    Why: moving a process into a cgroup through ``cgroup.procs`` takes the kernel's
    ``cgroup_threadgroup_rwsem`` for writing, which waits for an RCU grace period (~10 ms
    at HZ=250); a child cloned into its cgroup takes only the read side. The caveats of
    ``clone3`` apply.
    """
    return clone3(CLONE_INTO_CGROUP, cgroup_fd)


def fork_raw() -> int:
    """clone3(2) as a plain fork (no flags): as ``clone_into_cgroup`` without the cgroup,
    with the same caveats (no at-fork handlers run; a single-threaded caller only)."""
    return clone3()


_SYS_SECCOMP = 317
_SECCOMP_SET_MODE_FILTER = 1


class _SockFprog(ctypes.Structure):
    """``struct sock_fprog``: the program's length in instructions, and the program."""

    _fields_ = (("len", ctypes.c_short), ("filter", ctypes.c_void_p))


def seccomp_set_filter(bpf: bytes, flags: int = 0) -> None:
    """seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog): put the BPF program ``bpf`` on
    this thread (it needs CAP_SYS_ADMIN or no_new_privs; fork and execve keep it)."""
    buf = ctypes.create_string_buffer(len(bpf))
    buf.raw = bpf
    prog = _SockFprog(len(bpf) // 8, ctypes.addressof(buf))
    _check(_libc.syscall(ctypes.c_long(_SYS_SECCOMP), ctypes.c_long(_SECCOMP_SET_MODE_FILTER),
                         ctypes.c_long(flags), ctypes.byref(prog)), "seccomp filter")


def close_range(first: int, last: int = 0xFFFFFFFF, flags: int = 0) -> None:
    """close_range(2): close every descriptor in [first, last]."""
    _check(_libc.syscall(_SYS_CLOSE_RANGE, ctypes.c_uint(first), ctypes.c_uint(last),
                         ctypes.c_uint(flags)), "close_range")


_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_libc.socket.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
_libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]


class _IfreqFlags(ctypes.Structure):
    _fields_ = (("name", ctypes.c_char * 16), ("flags", ctypes.c_short),
                ("_pad", ctypes.c_char * 22))


def interface_up(name: str) -> None:
    """Set IFF_UP on a network interface of this network namespace (SIOCSIFFLAGS).

    Done with ctypes rather than the socket module so that the container's init, which
    brings its loopback up after pivot_root, needs nothing imported lazily.
    """
    fd = _check(_libc.socket(2, 2 | 0o2000000, 0), "socket")  # AF_INET, SOCK_DGRAM|CLOEXEC
    try:
        req = _IfreqFlags(name.encode(), 0)
        _check(_libc.ioctl(fd, _SIOCGIFFLAGS, ctypes.byref(req)), f"SIOCGIFFLAGS {name}")
        req.flags |= _IFF_UP
        _check(_libc.ioctl(fd, _SIOCSIFFLAGS, ctypes.byref(req)), f"SIOCSIFFLAGS {name}")
    finally:
        os.close(fd)


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32))


_CAP_V3 = 0x20080522


def capget(pid: int = 0) -> tuple[int, int, int]:
    """capget(2): (effective, permitted, inheritable) bit masks of a thread."""
    hdr = _CapHeader(_CAP_V3, pid)
    data = (_CapData * 2)()
    _check(_libc.syscall(_SYS_CAPGET, ctypes.byref(hdr), ctypes.byref(data)), "capget")
    eff = data[0].effective | (data[1].effective << 32)
    prm = data[0].permitted | (data[1].permitted << 32)
    inh = data[0].inheritable | (data[1].inheritable << 32)
    return eff, prm, inh


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """capset(2) on the calling thread."""
    hdr = _CapHeader(_CAP_V3, 0)
    data = (_CapData * 2)()
    m = 0xFFFFFFFF
    data[0].effective, data[1].effective = effective & m, effective >> 32
    data[0].permitted, data[1].permitted = permitted & m, permitted >> 32
    data[0].inheritable, data[1].inheritable = inheritable & m, inheritable >> 32
    _check(_libc.syscall(_SYS_CAPSET, ctypes.byref(hdr), ctypes.byref(data)), "capset")
