"""The cgroup v2 device filter: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE.

cgroup v2 has no devices controller; instead the kernel runs the BPF_CGROUP_DEVICE
programs attached to a cgroup (and its ancestors) on every device open/mknod, and denies
the access when a program returns 0. We compile the allow-list's final state
(``DeviceEmulator``) into such a program, load it with ``bpf(2)`` (through ctypes - no
third-party library) and attach it to the cgroup directory. The program follows runc's
``libcontainer/cgroups/devices/devicefilter.go`` (itself from crun's ``ebpf.c``):

    r2 = ctx->access_type & 0xffff      device type: 1 block, 2 char
    r3 = ctx->access_type >> 16         access: 1 mknod, 2 read, 4 write
    r4 = ctx->major; r5 = ctx->minor
    for each exception (sorted):        one block; any mismatch jumps to the next block
        if r2 != type: next
        if access is not rwm: if (r3 & access) != r3: next
        if major is not *:    if (u32)r4 != major: next
        if minor is not *:    if (u32)r5 != minor: next
        return the exception's verdict
    return the default verdict

Major/minor comparisons use the 32-bit jump class, so numbers above 2**31 compare right.

Replacing a filter never leaves the cgroup unfiltered: the new program is attached (with
BPF_F_REPLACE when there is exactly one old one, else alongside with BPF_F_ALLOW_MULTI)
before old programs are detached. The cgroup holds the program; our file descriptors are
closed. Removing the cgroup releases it.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import logging
import os
import platform
import struct
import sys
from collections.abc import Sequence
from typing import NamedTuple

from dockyard.errors import FailedPrecondition, Internal, NotFound, PermissionDenied
from dockyard.runtime.cgroups.devices import WILDCARD, DeviceEmulator

log = logging.getLogger(__name__)

# bpf(2) commands, program and attach types, flags (include/uapi/linux/bpf.h)
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 1 << 1
BPF_F_REPLACE = 1 << 2

BPF_DEVCG_ACC_MKNOD = 1
BPF_DEVCG_ACC_READ = 2
BPF_DEVCG_ACC_WRITE = 4
BPF_DEVCG_DEV_BLOCK = 1
BPF_DEVCG_DEV_CHAR = 2

# Opcodes used (class | op | source)
LDX_MEM_W = 0x61      # BPF_LDX | BPF_MEM | BPF_W
ALU32_AND_K = 0x54    # BPF_ALU | BPF_AND | BPF_K
ALU32_RSH_K = 0x74    # BPF_ALU | BPF_RSH | BPF_K
ALU32_MOV_K = 0xB4    # BPF_ALU | BPF_MOV | BPF_K
ALU32_MOV_X = 0xBC    # BPF_ALU | BPF_MOV | BPF_X
JMP_JNE_K = 0x55      # BPF_JMP | BPF_JNE | BPF_K
JMP_JNE_X = 0x5D      # BPF_JMP | BPF_JNE | BPF_X
JMP32_JNE_K = 0x56    # BPF_JMP32 | BPF_JNE | BPF_K
JMP_EXIT = 0x95       # BPF_JMP | BPF_EXIT

LICENSE = b"Apache\0"
_SYSCALL_NR = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361,
               "s390x": 351, "armv7l": 386, "i686": 357}
_NEXT = object()  # jump target placeholder: the start of the next block


class Insn(NamedTuple):
    """One eBPF instruction (struct bpf_insn)."""

    code: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    def encode(self) -> bytes:
        regs = (self.src << 4) | self.dst if sys.byteorder == "little" else (self.dst << 4) | self.src
        imm = self.imm - (1 << 32) if self.imm >= 1 << 31 else self.imm
        return struct.pack("=BBhi", self.code, regs, self.off, imm)


def compile_filter(emu: DeviceEmulator) -> tuple[Insn, ...]:
    """The device filter program for the allow-list state ``emu``."""
    prog: list[Insn] = [
        Insn(LDX_MEM_W, dst=2, src=1, off=0),
        Insn(ALU32_AND_K, dst=2, imm=0xFFFF),
        Insn(LDX_MEM_W, dst=3, src=1, off=0),
        Insn(ALU32_RSH_K, dst=3, imm=16),
        Insn(LDX_MEM_W, dst=4, src=1, off=4),
        Insn(LDX_MEM_W, dst=5, src=1, off=8),
    ]
    verdict_default = 1 if emu.default_allow else 0
    verdict_match = 1 - verdict_default
    for key in sorted(emu.exceptions):
        access = emu.exceptions[key]
        block: list[tuple[int, int, int, int, object]] = []  # code, dst, src, imm, target
        dev = BPF_DEVCG_DEV_CHAR if key.type == "c" else BPF_DEVCG_DEV_BLOCK
        block.append((JMP_JNE_K, 2, 0, dev, _NEXT))
        acc = ((BPF_DEVCG_ACC_READ if "r" in access else 0)
               | (BPF_DEVCG_ACC_WRITE if "w" in access else 0)
               | (BPF_DEVCG_ACC_MKNOD if "m" in access else 0))
        if acc != BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD:
            block.append((ALU32_MOV_X, 1, 3, 0, None))
            block.append((ALU32_AND_K, 1, 0, acc, None))
            block.append((JMP_JNE_X, 1, 3, 0, _NEXT))
        if key.major != WILDCARD:
            block.append((JMP32_JNE_K, 4, 0, key.major, _NEXT))
        if key.minor != WILDCARD:
            block.append((JMP32_JNE_K, 5, 0, key.minor, _NEXT))
        block.append((ALU32_MOV_K, 0, 0, verdict_match, None))
        block.append((JMP_EXIT, 0, 0, 0, None))
        end = len(prog) + len(block)
        for code, dst, src, imm, target in block:
            off = end - (len(prog) + 1) if target is _NEXT else 0
            prog.append(Insn(code, dst=dst, src=src, off=off, imm=imm))
    prog.append(Insn(ALU32_MOV_K, dst=0, imm=verdict_default))
    prog.append(Insn(JMP_EXIT))
    return tuple(prog)


def encode(prog: Sequence[Insn]) -> bytes:
    """The program as the kernel takes it: the instructions back to back."""
    return b"".join(i.encode() for i in prog)


# --------------------------------------------------------------------------- bpf(2)


@functools.cache
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    nr = _SYSCALL_NR.get(platform.machine())
    if nr is None:
        raise FailedPrecondition(f"bpf(2): unknown system call number on {platform.machine()}")
    ret = _libc().syscall(ctypes.c_long(nr), ctypes.c_int(cmd), attr,
                          ctypes.c_uint(ctypes.sizeof(attr)))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(ret)


def _load(prog: Sequence[Insn]) -> int:
    """BPF_PROG_LOAD; returns the program's fd. On a verifier refusal, loads again with
    the verifier log on, to say why."""
    code = ctypes.create_string_buffer(encode(prog), len(prog) * 8)
    lic = ctypes.create_string_buffer(LICENSE, len(LICENSE))

    def attempt(log_buf: ctypes.Array[ctypes.c_char] | None) -> int:
        attr = ctypes.create_string_buffer(72)
        struct.pack_into("=IIQQ", attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE, len(prog),
                         ctypes.addressof(code), ctypes.addressof(lic))
        if log_buf is not None:
            struct.pack_into("=IIQ", attr, 24, 1, len(log_buf), ctypes.addressof(log_buf))
        struct.pack_into("=16s", attr, 48, b"dockyard_dev")
        struct.pack_into("=I", attr, 68, BPF_CGROUP_DEVICE)  # expected_attach_type
        return _bpf(BPF_PROG_LOAD, attr)

    try:
        return attempt(None)
    except OSError as e:
        if e.errno == errno.EPERM:
            # Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; lift it, as runc does.
            import resource

            try:
                resource.setrlimit(resource.RLIMIT_MEMLOCK,
                                   (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
                return attempt(None)
            except (OSError, ValueError) as e2:
                raise PermissionDenied(
                    f"loading the cgroup device filter: {os.strerror(e.errno)} "
                    f"(needs CAP_SYS_ADMIN or CAP_BPF; memlock: {e2})") from e
        if e.errno not in (errno.EINVAL, errno.EACCES):
            raise Internal(f"loading the cgroup device filter: {e.strerror}") from e
        buf = ctypes.create_string_buffer(1 << 16)
        try:
            return attempt(buf)
        except OSError:
            text = buf.value.decode(errors="replace").strip()
            raise Internal(f"the kernel refused the cgroup device filter ({e.strerror}): "
                           f"{text[-2000:]}") from e


def _query(dirfd: int) -> list[int]:
    """The ids of the BPF_CGROUP_DEVICE programs attached to the cgroup directly."""
    size = 64
    for _ in range(10):
        ids = (ctypes.c_uint32 * size)()
        attr = ctypes.create_string_buffer(40)
        struct.pack_into("=IIIIQI", attr, 0, dirfd, BPF_CGROUP_DEVICE, 0, 0,
                         ctypes.addressof(ids), size)
        try:
            _bpf(BPF_PROG_QUERY, attr)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                size = struct.unpack_from("=I", attr, 24)[0]
                continue
            raise
        count = struct.unpack_from("=I", attr, 24)[0]
        return [int(ids[i]) for i in range(count)]
    raise Internal("BPF_PROG_QUERY: the list of attached device programs kept growing")


def _fd_by_id(prog_id: int) -> int:
    attr = ctypes.create_string_buffer(12)
    struct.pack_into("=I", attr, 0, prog_id)
    return _bpf(BPF_PROG_GET_FD_BY_ID, attr)


def _attach(dirfd: int, prog_fd: int, flags: int, replace_fd: int = 0) -> None:
    attr = ctypes.create_string_buffer(20)
    struct.pack_into("=IIIII", attr, 0, dirfd, prog_fd, BPF_CGROUP_DEVICE, flags, replace_fd)
    _bpf(BPF_PROG_ATTACH, attr)


def _detach(dirfd: int, prog_fd: int) -> None:
    attr = ctypes.create_string_buffer(20)
    struct.pack_into("=III", attr, 0, dirfd, prog_fd, BPF_CGROUP_DEVICE)
    _bpf(BPF_PROG_DETACH, attr)


def attached_program_ids(cgroup_dir: str) -> list[int]:
    """The ids of the device programs attached directly to ``cgroup_dir``."""
    dirfd = _open_dir(cgroup_dir)
    try:
        return _query(dirfd)
    except OSError as e:
        raise Internal(f"BPF_PROG_QUERY on {cgroup_dir}: {e.strerror}") from e
    finally:
        os.close(dirfd)


def _open_dir(cgroup_dir: str) -> int:
    try:
        return os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFound(f"cgroup {cgroup_dir} does not exist") from None
    except OSError as e:
        raise Internal(f"{cgroup_dir}: {e.strerror}") from e


def attach_device_filter(cgroup_dir: str, emu: DeviceEmulator) -> None:
    """Compile ``emu`` into a device filter and make it the one filter of ``cgroup_dir``
    (replacing any filter attached before, without a moment unfiltered)."""
    prog = compile_filter(emu)
    dirfd = _open_dir(cgroup_dir)
    fds: list[int] = []
    try:
        try:
            old_ids = _query(dirfd)
        except OSError as e:
            raise Internal(f"BPF_PROG_QUERY on {cgroup_dir}: {e.strerror}") from e
        prog_fd = _load(prog)
        fds.append(prog_fd)
        old_fds: list[int] = []
        for pid in old_ids:
            try:
                fd = _fd_by_id(pid)
            except OSError as e:
                if e.errno in (errno.EPERM, errno.EACCES, errno.ENOENT):
                    # An LSM may hide a program from us; extra filters only restrict more.
                    log.debug("cannot open device program %d on %s: %s", pid, cgroup_dir,
                              e.strerror)
                    continue
                raise Internal(f"BPF_PROG_GET_FD_BY_ID {pid}: {e.strerror}") from e
            fds.append(fd)
            old_fds.append(fd)
        if len(old_fds) == 1:
            try:
                _attach(dirfd, prog_fd, BPF_F_ALLOW_MULTI | BPF_F_REPLACE, old_fds[0])
                return
            except OSError as e:
                if e.errno != errno.EINVAL:  # EINVAL: no BPF_F_REPLACE; fall through
                    raise _attach_error(cgroup_dir, e) from e
        try:
            _attach(dirfd, prog_fd, BPF_F_ALLOW_MULTI)
        except OSError as e:
            raise _attach_error(cgroup_dir, e) from e
        if len(old_fds) > 1:
            log.info("%s had %d device filters; removing the old ones", cgroup_dir, len(old_fds))
        for fd in old_fds:
            try:
                _detach(dirfd, fd)
            except OSError as e:
                raise Internal(f"BPF_PROG_DETACH of an old device filter on {cgroup_dir}: "
                               f"{e.strerror}") from e
    finally:
        for fd in fds:
            os.close(fd)
        os.close(dirfd)


def _attach_error(cgroup_dir: str, e: OSError) -> Exception:
    if e.errno in (errno.EPERM, errno.EACCES):
        return PermissionDenied(f"attaching the device filter to {cgroup_dir}: {e.strerror}")
    return Internal(f"BPF_PROG_ATTACH (BPF_CGROUP_DEVICE) on {cgroup_dir}: {e.strerror}")
