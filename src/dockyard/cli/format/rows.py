"""A table row as docker's formatter contexts are: named fields for ``--format``.

docker's contexts (``containerContext``, ``imageContext``...) are Go values whose methods
are the template's fields (``{{.ID}}``, ``{{.Label "k"}}``) and whose ``MarshalJSON`` is
a map of every argument-less method (``{{json .}}``). :class:`Row` is that: ``fields``
maps names to values or to argument-less callables (computed only when a template asks
for them), ``methods`` to callables that take arguments.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


class Row:
    """``wire``, when given, is what ``{{json .}}`` prints instead (a Go struct whose
    JSON names and ``omitempty`` differ from its field names)."""

    __slots__ = ("_fields", "_methods", "_wire")

    def __init__(
        self,
        fields: Mapping[str, object],
        methods: Mapping[str, Callable[..., object]] | None = None,
        wire: object = None,
    ) -> None:
        self._fields = fields
        self._methods = methods or {}
        self._wire = wire

    def wire(self) -> object:
        return self._wire

    def __getattr__(self, name: str) -> object:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            value = self._fields[name]
        except KeyError:
            method = self._methods.get(name)
            if method is None:
                raise AttributeError(name) from None
            return method
        return value() if callable(value) else value

    def to_json(self) -> dict[str, object]:
        """Every field's value (``{{json .}}``)."""
        return {name: getattr(self, name) for name in self._fields}

    def __repr__(self) -> str:
        return f"Row({sorted(self._fields)})"
