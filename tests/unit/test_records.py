"""dockyard.records.NamedTuple behaves as typing.NamedTuple, without importing typing."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any
from typing import NamedTuple as TypingNamedTuple

import pytest

from dockyard import records

# As the modules using it write it: the type checker sees typing.NamedTuple.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple as Record
else:
    Record = records.NamedTuple


class Ours(Record):
    """A record."""

    a: int
    b: str = "x"
    c: tuple[int, ...] = ()

    def twice(self) -> int:
        return 2 * self.a

    @property
    def label(self) -> str:
        return f"{self.b}{self.a}"


class Theirs(TypingNamedTuple):
    """A record."""

    a: int
    b: str = "x"
    c: tuple[int, ...] = ()

    def twice(self) -> int:
        return 2 * self.a

    @property
    def label(self) -> str:
        return f"{self.b}{self.a}"


class Bare(Record):
    only: int


@pytest.mark.parametrize(("args", "kwargs"), [
    ((1,), {}), ((1, "y"), {}), ((1, "y", (2,)), {}), ((), {"a": 3}),
    ((4,), {"c": (5,)}), ((), {"c": (), "b": "z", "a": 0}),
])
def test_construction_as_typing(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    ours, theirs = Ours(*args, **kwargs), Theirs(*args, **kwargs)
    assert tuple(ours) == tuple(theirs) and hash(ours) == hash(theirs)
    assert repr(ours).replace("Ours", "Theirs") == repr(theirs)
    assert (ours.a, ours.b, ours.c) == (theirs.a, theirs.b, theirs.c)
    assert ours.twice() == theirs.twice() and ours.label == theirs.label
    assert ours._asdict() == theirs._asdict()
    assert tuple(ours._replace(b="q")) == tuple(theirs._replace(b="q"))
    assert isinstance(ours, tuple) and type(ours)._make(tuple(ours)) == ours


@pytest.mark.parametrize(("args", "kwargs"), [
    ((), {}), ((1, "y", (), 4), {}), ((1,), {"a": 2}), ((1,), {"d": 2}), ((), {"b": "y"}),
])
def test_bad_arguments_are_type_errors(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        Theirs(*args, **kwargs)
    with pytest.raises(TypeError):
        Ours(*args, **kwargs)


def test_class_attributes_as_typing() -> None:
    assert Ours._fields == Theirs._fields == ("a", "b", "c")
    assert Ours._field_defaults == Theirs._field_defaults
    assert Ours.__match_args__ == Theirs.__match_args__
    assert Ours.__doc__ == Theirs.__doc__ == "A record."
    assert Bare.__doc__ == "Bare(only)"
    assert Ours.__slots__ == ()  # type: ignore[attr-defined]
    assert Ours.__bases__ == (tuple,)
    assert Ours.__module__ == __name__ and Ours.__qualname__ == "Ours"
    assert list(Ours.__annotations__) == list(Theirs.__annotations__)  # never evaluated
    r = Ours(1)
    with pytest.raises(AttributeError):
        r.a = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        r.other = 2  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="unexpected field names"):
        r._replace(z=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Ours._make((1, 2))
    match r:
        case Ours(a, b):
            assert (a, b) == (1, "x")


def test_pickle_and_copy() -> None:
    r = Ours(7, "p", (1, 2))
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(r, proto))
        assert back == r and type(back) is Ours
    assert copy.copy(r) == r and copy.deepcopy(r) == r


def test_bad_record_classes_are_refused() -> None:
    with pytest.raises(TypeError, match="Non-default"):
        class _A(Record):
            a: int = 1
            b: int  # type: ignore[misc]

    with pytest.raises(AttributeError, match="_replace"):
        class _B(Record):
            a: int

            def _replace(self) -> None: ...  # type: ignore[misc]

    with pytest.raises(TypeError):
        class _C(Record, int):  # type: ignore[misc]
            a: int


def test_the_module_imports_nothing_heavy() -> None:
    src = str(Path(records.__file__).resolve().parents[1])
    code = (f"import sys; sys.path.insert(0, {src!r})\n"
            "from dockyard.records import NamedTuple\n"
            "class P(NamedTuple):\n    a: 'int'\n    b: 'list[str]' = []\n"
            "assert P(1) == (1, [])\n"
            "print(' '.join(sorted(sys.modules)))")
    r = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                       text=True, timeout=30, check=True)
    loaded = set(r.stdout.split())
    for heavy in ("typing", "re", "enum", "functools", "collections"):
        assert heavy not in loaded, heavy
