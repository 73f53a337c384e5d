"""``linux.seccomp``: the spec's filter compiled to BPF, and installed in a process.

Compiling is libseccomp's job (``libseccomp.so.2``, as runc and crun use it: the syscall
tables of every architecture, the x32 ABI, argument comparisons): ``compile`` builds the
filter with it and exports the BPF program, once per distinct filter in a process
(``compiled``: the supervisor compiles each container's filter once, before the fork; its
exec'd processes reuse it). ``install`` is one ``seccomp(2)`` call with that program and
needs nothing else: the init calls it after ``pivot_root``, where nothing may be loaded.

As runc: system call names this libseccomp does not know are skipped (a profile names
calls of newer kernels); a rule whose action is the default action is left out. Without
``noNewPrivileges`` the filter is installed while the process still has CAP_SYS_ADMIN
(before its capabilities are dropped), with it as late as possible.
"""

from __future__ import annotations

import os

from dockyard.errors import FailedPrecondition, InvalidArgument
from dockyard.linux import ctypeslite as ctypes
from dockyard.linux import syscalls as sc
from dockyard.oci.runtime_spec import Seccomp

# libseccomp's values (seccomp.h).
_ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000, "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000,
}
_OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
        "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
_FILTER_FLAGS = {"SECCOMP_FILTER_FLAG_LOG": 2, "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4}
EPERM = 1

_NR_SCMP_ERROR = -1
BPF_MAXINSNS = 4096  # the kernel's limit on a filter's length (linux/bpf_common.h)


class _ArgCmp(ctypes.Structure):
    """``struct scmp_arg_cmp``."""

    _fields_ = (("arg", ctypes.c_uint), ("op", ctypes.c_uint),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64))


class Program:
    """A compiled filter: the BPF program and the ``seccomp(2)`` flags to install it
    with."""

    __slots__ = ("bpf", "flags")

    def __init__(self, bpf: bytes, flags: int) -> None:
        if not bpf or len(bpf) % 8:
            raise FailedPrecondition("seccomp: the compiled filter is not a BPF program")
        self.bpf = bpf
        self.flags = flags


_lib: ctypes.CDLL | None = None
_cache: dict[Seccomp, Program] = {}


def _libseccomp() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        try:
            lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        except OSError as e:
            raise FailedPrecondition(
                f"the bundle asks for a seccomp filter and libseccomp is missing ({e}): "
                "install libseccomp2") from None
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = (ctypes.c_uint32,)
        lib.seccomp_release.argtypes = (ctypes.c_void_p,)
        lib.seccomp_release.restype = None
        lib.seccomp_arch_resolve_name.argtypes = (ctypes.c_char_p,)
        lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
        lib.seccomp_arch_add.argtypes = (ctypes.c_void_p, ctypes.c_uint32)
        lib.seccomp_syscall_resolve_name.argtypes = (ctypes.c_char_p,)
        lib.seccomp_rule_add_array.argtypes = (ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                               ctypes.c_uint, ctypes.c_void_p)
        lib.seccomp_export_bpf.argtypes = (ctypes.c_void_p, ctypes.c_int)
        _lib = lib
    return _lib


def _action(name: str, errno_ret: int | None) -> int:
    value = _ACTIONS[name]
    if name == "SCMP_ACT_ERRNO":
        value |= EPERM if errno_ret is None else errno_ret
    return value


def _arch_name(spec_name: str) -> bytes:
    # SCMP_ARCH_X86_64 -> x86_64, SCMP_ARCH_X32 -> x32 (libseccomp's own names).
    return spec_name.removeprefix("SCMP_ARCH_").lower().encode()


def compiled(filt: Seccomp) -> Program:
    """``compile(filt)``, remembered for this process's life."""
    program = _cache.get(filt)
    if program is None:
        program = _cache[filt] = compile(filt)
    return program


def compile(filt: Seccomp) -> Program:
    """The BPF program of ``filt`` (libseccomp), or ``InvalidArgument`` naming what it
    refused."""
    lib = _libseccomp()
    ctx = lib.seccomp_init(_action(filt.default_action, filt.default_errno_ret))
    if not ctx:
        raise InvalidArgument("linux.seccomp.defaultAction: refused by libseccomp")
    try:
        for arch in filt.architectures:
            token = lib.seccomp_arch_resolve_name(_arch_name(arch))
            if token == 0:
                continue  # an architecture this libseccomp does not know
            rc = lib.seccomp_arch_add(ctx, token)
            if rc < 0 and -rc != 17:  # EEXIST: the native one is there already
                raise InvalidArgument(f"linux.seccomp.architectures: {arch}: "
                                      f"{os.strerror(-rc)}")
        for i, rule in enumerate(filt.syscalls):
            if rule.action == filt.default_action and rule.errno_ret == filt.default_errno_ret:
                continue
            action = _action(rule.action, rule.errno_ret)
            cmps = (_ArgCmp * max(1, len(rule.args)))()
            for j, a in enumerate(rule.args):
                cmps[j].arg, cmps[j].op = a.position, _OPS[a.op]
                cmps[j].datum_a, cmps[j].datum_b = a.value, a.value_two
            for name in rule.names:
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr == _NR_SCMP_ERROR:
                    continue  # unknown here (a newer kernel's call): as runc, skipped
                rc = lib.seccomp_rule_add_array(ctx, action, nr, len(rule.args),
                                                ctypes.byref(cmps))
                if rc < 0:
                    raise InvalidArgument(f"linux.seccomp.syscalls[{i}]: {name}: "
                                          f"{os.strerror(-rc)}")
        # Exported into a memfd, not a pipe: a profile's program can be larger than a
        # pipe's buffer, and the export, which writes it all before we read, would block
        # for ever (and the supervisor with it).
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        try:
            rc = lib.seccomp_export_bpf(ctx, fd)
            if rc < 0:
                raise FailedPrecondition(f"seccomp: export of the filter: {os.strerror(-rc)}")
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctx)
    bpf = b"".join(chunks)
    if len(bpf) // 8 > BPF_MAXINSNS:
        raise InvalidArgument(f"linux.seccomp: the filter compiles to {len(bpf) // 8} BPF "
                              f"instructions; the kernel loads at most {BPF_MAXINSNS}")
    flags = 0
    for f in filt.flags:
        flags |= _FILTER_FLAGS[f]
    return Program(bpf, flags)


def install(program: Program) -> None:
    """Put the filter on this thread: it needs CAP_SYS_ADMIN or ``no_new_privs``; it is
    inherited across fork and execve."""
    sc.seccomp_set_filter(program.bpf, program.flags)
