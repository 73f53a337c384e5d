"""Frozen dataclasses to JSON documents and back, for the daemon's own records on disk.

``to_doc`` turns a dataclass (nested dataclasses, enums, tuples, ``None``, scalars) into
JSON-able values keyed by field name; ``from_doc`` rebuilds it, checking every value
against the field's annotation and naming the path of the first mismatch
(``FailedPrecondition``: a record on disk that does not fit is damage, not bad input).
Fields missing from a document take their defaults, so adding a field with a default is a
compatible change of a record's schema; removing or retyping one needs a new schema.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any, TypeVar

from dockyard.errors import FailedPrecondition

T = TypeVar("T")

_hints_cache: dict[type, dict[str, Any]] = {}
_fields_cache: dict[type, tuple[str, ...] | None] = {}
"""Per type: its dataclass fields' names, or None (not a dataclass)."""
_SCALARS = (str, int, float, bool, type(None))


def _field_names(cls: type) -> tuple[str, ...] | None:
    try:
        return _fields_cache[cls]
    except KeyError:
        names = (tuple(f.name for f in dataclasses.fields(cls))
                 if dataclasses.is_dataclass(cls) else None)
        _fields_cache[cls] = names
        return names


def to_doc(value: Any) -> Any:
    """The JSON-able form of a record value."""
    cls = type(value)
    if cls in _SCALARS:  # (exactly: an enum may be a str too)
        return value
    names = _field_names(cls)
    if names is not None:
        return {n: to_doc(getattr(value, n)) for n in names}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [to_doc(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_doc(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot record a {type(value).__name__}")


def _hints(cls: type) -> dict[str, Any]:
    hints = _hints_cache.get(cls)
    if hints is None:
        hints = _hints_cache[cls] = typing.get_type_hints(cls)
    return hints


def from_doc(cls: type[T], doc: Any, path: str = "$") -> T:
    """Rebuild a dataclass of type ``cls`` from ``to_doc``'s output."""
    value: T = _decode(cls, doc, path)
    return value


def _fail(path: str, expected: str, doc: Any) -> FailedPrecondition:
    return FailedPrecondition(f"record {path}: expected {expected}, found {type(doc).__name__}")


def _decode(tp: Any, doc: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if doc is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            return _decode(arg, doc, path)
    if tp is Any:
        return doc
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(doc, list):
            raise _fail(path, "a list", doc)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v, f"{path}[{i}]") for i, v in enumerate(doc))
        if len(args) != len(doc):
            raise _fail(path, f"{len(args)} items", doc)
        return tuple(_decode(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, doc,
                                                                                  strict=True)))
    if origin is dict:
        _key, val = typing.get_args(tp)
        if not isinstance(doc, dict):
            raise _fail(path, "an object", doc)
        return {str(k): _decode(val, v, f"{path}.{k}") for k, v in doc.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(doc, dict):
            raise _fail(path, "an object", doc)
        hints = _hints(tp)
        kwargs = {}
        for f in dataclasses.fields(tp):
            if f.name in doc:
                kwargs[f.name] = _decode(hints[f.name], doc[f.name], f"{path}.{f.name}")
        try:
            return tp(**kwargs)
        except (TypeError, ValueError) as exc:
            raise FailedPrecondition(f"record {path}: {exc}") from None
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(doc)
        except ValueError:
            raise _fail(path, f"a {tp.__name__}", doc) from None
    if tp is bool:
        if not isinstance(doc, bool):
            raise _fail(path, "a boolean", doc)
        return doc
    if tp is int:
        if not isinstance(doc, int) or isinstance(doc, bool):
            raise _fail(path, "an integer", doc)
        return doc
    if tp is float:
        if not isinstance(doc, int | float) or isinstance(doc, bool):
            raise _fail(path, "a number", doc)
        return float(doc)
    if tp is str:
        if not isinstance(doc, str):
            raise _fail(path, "a string", doc)
        return doc
    raise TypeError(f"record {path}: cannot decode {tp!r}")
