"""Typed reading of decoded JSON objects, with errors that name the field.

``Obj(doc, "HostConfig")`` wraps one object; each getter checks the type of one key (a
missing key or ``null`` gives the default) and marks it read. ``finish()`` then refuses
every key that was not read *and* holds a non-zero value: a field dockyard does not
honour is refused with a 400 naming it, never silently ignored, while the zero values
clients send for every field (``"CpuCount": 0``, ``"Links": null``) pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockyard.errors import InvalidArgument

MAX_INT = 2**63 - 1


def is_zero(value: Any) -> bool:
    """Go's zero values, recursively for objects (``{"IPAMConfig": null, ...}``)."""
    if value is None or value is False:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value == 0
    if isinstance(value, str):
        return value == ""
    if isinstance(value, list):
        return not value
    if isinstance(value, dict):
        return all(is_zero(v) for v in value.values())
    return False


class Obj:
    def __init__(self, doc: Any, path: str) -> None:
        if not isinstance(doc, Mapping):
            raise InvalidArgument(f"{path}: expected an object")
        self.doc: Mapping[str, Any] = doc
        self.path = path
        self.read: set[str] = set()

    def _p(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key: str) -> Any:
        self.read.add(key)
        return self.doc.get(key)

    def string(self, key: str, default: str = "") -> str:
        v = self.raw(key)
        if v is None:
            return default
        if not isinstance(v, str):
            raise InvalidArgument(f"{self._p(key)}: expected a string")
        if "\0" in v:
            raise InvalidArgument(f"{self._p(key)}: must not contain a NUL byte")
        return v

    def boolean(self, key: str, default: bool = False) -> bool:
        v = self.raw(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise InvalidArgument(f"{self._p(key)}: expected true or false")
        return v

    def opt_boolean(self, key: str) -> bool | None:
        v = self.raw(key)
        if v is None:
            return None
        if not isinstance(v, bool):
            raise InvalidArgument(f"{self._p(key)}: expected true or false")
        return v

    def opt_integer(self, key: str, lo: int = -MAX_INT - 1, hi: int = MAX_INT) -> int | None:
        v = self.raw(key)
        if v is None:
            return None
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if not isinstance(v, int) or isinstance(v, bool):
            raise InvalidArgument(f"{self._p(key)}: expected an integer")
        if not lo <= v <= hi:
            raise InvalidArgument(f"{self._p(key)}: {v} is out of range")
        return v

    def integer(self, key: str, default: int = 0, lo: int = -MAX_INT - 1,
                hi: int = MAX_INT) -> int:
        v = self.opt_integer(key, lo, hi)
        return default if v is None else v

    def opt_strings(self, key: str, *, allow_string: bool = False) -> tuple[str, ...] | None:
        """A list of strings (``null`` → None; a bare string when ``allow_string``)."""
        v = self.raw(key)
        if v is None:
            return None
        if allow_string and isinstance(v, str):
            return (v,)
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise InvalidArgument(f"{self._p(key)}: expected a list of strings")
        for x in v:
            if "\0" in x:
                raise InvalidArgument(f"{self._p(key)}: must not contain a NUL byte")
        return tuple(v)

    def strings(self, key: str) -> tuple[str, ...]:
        return self.opt_strings(key) or ()

    def string_map(self, key: str) -> tuple[tuple[str, str], ...]:
        v = self.raw(key)
        if v is None:
            return ()
        if not isinstance(v, Mapping) or not all(isinstance(x, str) for x in v.values()):
            raise InvalidArgument(f"{self._p(key)}: expected an object of strings")
        return tuple((str(k), val) for k, val in v.items())

    def key_set(self, key: str) -> tuple[str, ...]:
        """An object used as a set (``{"80/tcp": {}}``): its keys."""
        v = self.raw(key)
        if v is None:
            return ()
        if not isinstance(v, Mapping):
            raise InvalidArgument(f"{self._p(key)}: expected an object")
        return tuple(str(k) for k in v)

    def child(self, key: str) -> Obj | None:
        v = self.raw(key)
        return None if v is None else Obj(v, self._p(key))

    def items(self, key: str) -> list[Obj]:
        v = self.raw(key)
        if v is None:
            return []
        if not isinstance(v, list):
            raise InvalidArgument(f"{self._p(key)}: expected a list")
        return [Obj(x, f"{self._p(key)}[{i}]") for i, x in enumerate(v)]

    def refuse_unless_zero(self, key: str, why: str = "") -> None:
        v = self.raw(key)
        if not is_zero(v):
            raise InvalidArgument(f"{self._p(key)}: not supported by dockyard"
                                  + (f" ({why})" if why else ""))

    def finish(self, ignore: tuple[str, ...] = ()) -> None:
        """Refuse every unread key holding a non-zero value."""
        for key, value in self.doc.items():
            if key in self.read or key in ignore:
                continue
            if not is_zero(value):
                raise InvalidArgument(f"{self._p(key)}: not supported by dockyard")
