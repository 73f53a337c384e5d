"""The few parts of ``ctypes`` the syscall wrappers use, made from ``_ctypes`` directly.

``import ctypes`` costs ~4.5 ms (its package builds every C type, the endian structures and
the ``CFUNCTYPE`` caches, and imports ``types`` and ``struct``); ``_ctypes``, the C module
underneath, ~0.9 ms. The ``dockyard-runtime`` CLI is a fresh process per container
operation and its start-up time is a goal (no slower than ``runc``), so
``dockyard.linux`` builds what it needs here: the same classes as ``ctypes`` (a C type
is a ``_SimpleCData`` subclass with a ``_type_`` code; a library is a ``dlopen`` handle
whose functions are ``CFuncPtr`` subclasses with call flags and a return type).

The type checker sees ``ctypes`` itself; ``tests/unit/linux/test_ctypeslite.py`` holds
each class against its ``ctypes`` original (codes and sizes on this platform). x86_64
Linux (LP64) only, as the syscall numbers in ``dockyard.linux.syscalls``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ctypes import (
        CDLL,
        PyDLL,
        Structure,
        addressof,
        byref,
        c_char,
        c_char_p,
        c_int,
        c_long,
        c_short,
        c_size_t,
        c_uint,
        c_uint32,
        c_uint64,
        c_ulong,
        c_void_p,
        create_string_buffer,
        get_errno,
        sizeof,
    )
else:
    from _ctypes import FUNCFLAG_CDECL as _CDECL
    from _ctypes import FUNCFLAG_PYTHONAPI as _PYTHONAPI
    from _ctypes import FUNCFLAG_USE_ERRNO as _USE_ERRNO
    from _ctypes import RTLD_LOCAL as _RTLD_LOCAL
    from _ctypes import CFuncPtr as _CFuncPtr
    from _ctypes import Structure, _SimpleCData, addressof, byref, get_errno, sizeof
    from _ctypes import dlopen as _dlopen

    class c_short(_SimpleCData):
        _type_ = "h"

    class c_int(_SimpleCData):
        _type_ = "i"

    class c_uint(_SimpleCData):
        _type_ = "I"

    class c_long(_SimpleCData):
        _type_ = "l"

    class c_ulong(_SimpleCData):
        _type_ = "L"

    class c_char(_SimpleCData):
        _type_ = "c"

    class c_char_p(_SimpleCData):
        _type_ = "z"

    class c_void_p(_SimpleCData):
        _type_ = "P"

    # As ctypes picks them on LP64: the first unsigned type of each size.
    c_uint32 = c_uint
    c_uint64 = c_ulong
    c_size_t = c_ulong

    def create_string_buffer(size):
        """A zeroed ``char[size]`` (ctypes' ``create_string_buffer(int)``)."""
        return (c_char * size)()

    class CDLL:
        """A shared library (``None``: the program and its libc), as ctypes' ``CDLL``:
        each function an attribute, made on first use; ``argtypes``/``restype`` settable."""

        _func_flags_ = _CDECL

        def __init__(self, name, mode=_RTLD_LOCAL, handle=None, use_errno=False):
            flags = self._func_flags_ | (_USE_ERRNO if use_errno else 0)

            class _FuncPtr(_CFuncPtr):
                _flags_ = flags
                _restype_ = c_int

            self._name = name
            self._FuncPtr = _FuncPtr
            self._handle = _dlopen(name, mode) if handle is None else handle

        def __getattr__(self, name):
            if name.startswith("__") and name.endswith("__"):
                raise AttributeError(name)
            func = self._FuncPtr((name, self))
            func.__name__ = name
            setattr(self, name, func)
            return func

    class PyDLL(CDLL):
        """As ctypes' ``PyDLL``: calls keep the GIL."""

        _func_flags_ = _CDECL | _PYTHONAPI

__all__ = [
    "CDLL",
    "PyDLL",
    "Structure",
    "addressof",
    "byref",
    "c_char",
    "c_char_p",
    "c_int",
    "c_long",
    "c_short",
    "c_size_t",
    "c_uint",
    "c_uint32",
    "c_uint64",
    "c_ulong",
    "c_void_p",
    "create_string_buffer",
    "get_errno",
    "sizeof",
]
