"""JSON without ``import json``: for the CLI's client and the ``dockyard-runtime`` CLI.

``json``'s Python modules compile regular expressions when imported (``re`` and its
parser, ``enum``...): several milliseconds of every ``dockyard`` command and of every
container start by ``dockyard-runtime`` (``config.json``, ``state.json``), for work its C
accelerator ``_json`` does alone. So this module drives ``_json`` directly: the scanner
(``make_scanner``) decodes, the encoder (``make_encoder``) encodes, with the same
results as ``json.loads``/``json.dumps`` (compact separators for bodies sent). A decode
error is ``json.JSONDecodeError``, raised by ``_json`` itself.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Context:
    """What ``_json.make_scanner`` reads from a ``JSONDecoder``."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]  # a duck-typed context


def _default(obj: object) -> object:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def loads(data: bytes | str) -> Any:
    """``json.loads``: one JSON value (surrounding whitespace allowed)."""
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    start = len(text) - len(text.lstrip())
    try:
        value, end = _scan(text, start)
    except StopIteration as exc:
        _fail("Expecting value", text, exc.value)
    if text[end:].strip():
        _fail("Extra data", text, end + len(text[end:]) - len(text[end:].lstrip()))
    return value


def _fail(message: str, text: str, pos: int) -> None:
    from json import JSONDecodeError  # only on errors: the import is the cost avoided

    raise JSONDecodeError(message, text, pos)


def dumps(obj: object) -> str:
    """``json.dumps(obj, separators=(",", ":"))`` (ASCII-safe, NaN refused)."""
    encoder = _json.make_encoder(None, _default, _json.encode_basestring_ascii, None,
                                 ":", ",", False, False, False)
    return "".join(encoder(obj, 0))
