"""``typing.NamedTuple`` without ``typing``: the same classes, for modules on a start-up path.

``import typing`` costs ~20 ms on the project's machines before any of our code runs: in
Python 3.11 it imports ``re`` (and with it ``enum``, ``functools``, ``collections``),
``contextlib`` and ``warnings``; and each ``class X(typing.NamedTuple)`` turns every
annotation into a ``ForwardRef`` and compiles a ``__new__`` (~0.4 ms a class). The
``dockyard-runtime`` CLI is a fresh process per container operation and its start-up time
is a goal (no slower than ``runc``), so the modules it loads declare their records so::

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import NamedTuple
    else:
        from dockyard.records import NamedTuple

The type checker sees ``typing.NamedTuple``; at run time this module's ``NamedTuple`` makes
the same kind of class: a ``tuple`` subclass with ``__slots__ = ()``, one read-only
property per annotated field (in order), defaults from the class body, ``_fields``,
``_field_defaults``, ``_make``, ``_replace``, ``_asdict``, ``__match_args__``, the
namedtuple ``repr`` and pickling by its positional arguments; the methods and docstring of
the class body are kept. Annotations are never evaluated. Only the plain form is
supported (no ``Generic`` base, no functional ``NamedTuple("X", [...])`` call).
"""

from __future__ import annotations

from _operator import itemgetter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

_PROHIBITED = frozenset({"__new__", "__init__", "__slots__", "__getnewargs__", "_fields",
                         "_field_defaults", "_make", "_replace", "_asdict", "_source"})


_tuple_new = tuple.__new__


# The methods every record class shares (they read the class's ``_fields``): a class is
# then made of its properties alone, which keeps the making of one to a few microseconds.
def _new(cls: Any, *args: Any, **kwargs: Any) -> Any:
    fields: tuple[str, ...] = cls._fields
    n, nfields = len(args), len(fields)
    if n == nfields and not kwargs:
        return _tuple_new(cls, args)
    name = cls.__name__
    if n > nfields:
        raise TypeError(f"{name}.__new__() takes {nfields + 1} positional arguments "
                        f"but {n + 1} were given")
    defaults: dict[str, Any] = cls._field_defaults
    values = list(args)
    for f in fields[n:]:
        if f in kwargs:
            values.append(kwargs.pop(f))
        elif f in defaults:
            values.append(defaults[f])
        else:
            raise TypeError(f"{name}.__new__() missing required argument: {f!r}")
    if kwargs:
        key = next(iter(kwargs))
        if key in fields:
            raise TypeError(f"{name}.__new__() got multiple values for argument {key!r}")
        raise TypeError(f"{name}.__new__() got an unexpected keyword argument {key!r}")
    return _tuple_new(cls, values)


def _make(cls: Any, iterable: Iterable[Any]) -> Any:
    result: tuple[Any, ...] = _tuple_new(cls, iterable)
    if len(result) != len(cls._fields):
        raise TypeError(f"Expected {len(cls._fields)} arguments, got {len(result)}")
    return result


def _replace(self: Any, /, **kwds: Any) -> Any:
    result = _tuple_new(type(self), map(kwds.pop, self._fields, self))
    if kwds:
        raise ValueError(f"Got unexpected field names: {list(kwds)!r}")
    return result


def _repr(self: Any) -> str:
    fields = ", ".join(f"{f}={v!r}" for f, v in zip(self._fields, self, strict=True))
    return f"{self.__class__.__name__}({fields})"


def _asdict(self: Any) -> dict[str, Any]:
    return dict(zip(self._fields, self, strict=True))


def _getnewargs(self: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(self)


_new.__name__ = "__new__"
_repr.__name__ = "__repr__"
_getnewargs.__name__ = "__getnewargs__"
_MAKE = classmethod(_make)


def _record(name: str, fields: tuple[str, ...], defaults: dict[str, Any],
            ns: dict[str, Any]) -> type:
    body: dict[str, Any] = {
        "__doc__": f"{name}({', '.join(fields)})",
        "__slots__": (),
        "_fields": fields,
        "_field_defaults": defaults,
        "__new__": _new,
        "_make": _MAKE,
        "_replace": _replace,
        "__repr__": _repr,
        "_asdict": _asdict,
        "__getnewargs__": _getnewargs,
        "__match_args__": fields,
    }
    for i, f in enumerate(fields):
        body[f] = property(itemgetter(i), doc=f"Alias for field number {i}")
    for key, value in ns.items():
        if key in _PROHIBITED:
            raise AttributeError(f"Cannot overwrite NamedTuple attribute {key}")
        if key not in fields:
            body[key] = value
    return type(name, (tuple,), body)


class _NamedTupleMeta(type):
    def __new__(mcs, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> Any:
        if not bases:  # NamedTuple itself
            return super().__new__(mcs, name, bases, ns)
        if bases != (NamedTuple,):
            raise TypeError("a record class inherits from NamedTuple alone")
        fields = tuple(ns.get("__annotations__", {}))
        defaults: dict[str, Any] = {}
        for f in fields:
            if f in ns:
                defaults[f] = ns[f]
            elif defaults:
                raise TypeError(f"Non-default namedtuple field {f} cannot follow default "
                                f"field{'s' if len(defaults) > 1 else ''} "
                                f"{', '.join(defaults)}")
        return _record(name, fields, defaults, ns)


class NamedTuple(metaclass=_NamedTupleMeta):
    """The base of record classes: ``class X(NamedTuple): a: int; b: str = ""``."""

    __slots__ = ()
