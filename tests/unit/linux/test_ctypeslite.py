"""dockyard.linux.ctypeslite: ctypes' classes made without the ctypes package, held
against the originals, and the syscall wrappers that use them."""

from __future__ import annotations

import ctypes
import errno
import os

import pytest

from dockyard.linux import ctypeslite, syscalls

SIMPLE = ["c_char", "c_char_p", "c_int", "c_long", "c_short", "c_size_t", "c_uint",
          "c_uint32", "c_uint64", "c_ulong", "c_void_p"]


@pytest.mark.parametrize("name", SIMPLE)
def test_each_c_type_is_ctypes_own(name: str) -> None:
    ours, theirs = getattr(ctypeslite, name), getattr(ctypes, name)
    assert ours._type_ == theirs._type_
    assert ctypeslite.sizeof(ours) == ctypes.sizeof(theirs)
    assert ours(7 if name not in ("c_char", "c_char_p") else b"x").value == (
        theirs(7 if name not in ("c_char", "c_char_p") else b"x").value)


def test_aliases_are_ctypes_choices() -> None:
    for alias, base in (("c_uint32", "c_uint"), ("c_uint64", "c_ulong"), ("c_size_t", "c_ulong")):
        assert getattr(ctypes, alias) is getattr(ctypes, base)
        assert getattr(ctypeslite, alias) is getattr(ctypeslite, base)


def test_libc_functions_set_errno_and_take_argtypes() -> None:
    libc = ctypeslite.CDLL(None, use_errno=True)
    assert libc.getpid() == os.getpid()
    assert libc.getpid is libc.getpid  # made once
    libc.close.argtypes = [ctypeslite.c_int]
    assert libc.close(-1) == -1 and ctypeslite.get_errno() == errno.EBADF
    with pytest.raises(AttributeError):
        libc.__wrapped__  # noqa: B018
    py = ctypeslite.PyDLL(None, use_errno=True)
    py.syscall.restype = ctypeslite.c_long
    assert py.syscall(ctypeslite.c_long(39)) == os.getpid()  # getpid(2) on x86_64


def test_structures_and_buffers() -> None:
    class Pair(ctypeslite.Structure):
        _fields_ = (("a", ctypeslite.c_uint32), ("b", ctypeslite.c_uint64))

    class Theirs(ctypes.Structure):
        _fields_ = (("a", ctypes.c_uint32), ("b", ctypes.c_uint64))

    assert ctypeslite.sizeof(Pair) == ctypes.sizeof(Theirs) == 16
    buf = ctypeslite.create_string_buffer(8)
    assert bytes(buf) == b"\0" * 8


def test_statfs_type() -> None:
    assert syscalls.statfs_type("/proc") == 0x9FA0  # PROC_SUPER_MAGIC
    with pytest.raises(FileNotFoundError):
        syscalls.statfs_type("/nonexistent-dockyard-path")
