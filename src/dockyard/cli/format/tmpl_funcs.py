"""The functions of ``--format`` templates: Go's text/template builtins (``and or not len
index slice print printf println eq ne lt le gt ge html js urlquery``; ``and``/``or`` are
evaluated lazily by the executor) and docker's (``json split join title lower upper pad
truncate``), with Go's argument checks and messages."""

from __future__ import annotations

from dockyard.cli.format import gofmt
from dockyard.cli.format.gofmt import NO_VALUE
from dockyard.cli.format.tmpl_nodes import LiteralNode, Node

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


class CallError(Exception):
    """An error of a function's own (Go wraps it as ``error calling NAME: ...``)."""


class ArgError(Exception):
    """A wrong argument type or count (Go's messages, no ``error calling``)."""


# --- functions --------------------------------------------------------------------------


def _kind(value: object) -> str:
    if value is None or value is NO_VALUE:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "other"


def truth(value: object) -> bool:
    """Go's ``isTrue``: zero values (false, 0, "", empty list/map, nil) are false."""
    if value is None or value is NO_VALUE:
        return False
    if isinstance(value, bool | int | float | str | list | tuple | dict):
        return bool(value)
    return True


def _eq(arg1: object, *rest: object) -> bool:
    if not rest:
        raise CallError("missing argument for comparison")
    k1 = _kind(arg1)
    for arg in rest:
        k2 = _kind(arg)
        if k1 != k2:
            if k1 != "nil" and k2 != "nil":
                raise CallError("incompatible types for comparison")
            continue
        if k1 == "nil":
            return True
        if k1 == "other" and (isinstance(arg1, list | dict) or isinstance(arg, list | dict)):
            raise CallError(f"non-comparable type {gofmt.sprint_value(arg)}: {gofmt.go_type(arg)}")
        if arg1 == arg:
            return True
    return False


def _ne(arg1: object, arg2: object) -> bool:
    return not _eq(arg1, arg2)


def _lt(arg1: object, arg2: object) -> bool:
    k1, k2 = _kind(arg1), _kind(arg2)
    if k1 not in ("int", "float", "string") or k2 not in ("int", "float", "string"):
        raise CallError("invalid type for comparison")
    if k1 != k2:
        raise CallError("incompatible types for comparison")
    return bool(arg1 < arg2)  # type: ignore[operator]


def _le(arg1: object, arg2: object) -> bool:
    return _lt(arg1, arg2) or _eq(arg1, arg2)


def _gt(arg1: object, arg2: object) -> bool:
    return not _le(arg1, arg2)


def _ge(arg1: object, arg2: object) -> bool:
    return not _lt(arg1, arg2)


def _not(arg: object) -> bool:
    return not truth(arg)


def _len(item: object) -> int:
    if isinstance(item, str):
        return len(item.encode())
    if isinstance(item, list | tuple | dict):
        return len(item)
    if item is None or item is NO_VALUE:
        raise CallError("len of nil pointer")
    raise CallError(f"len of type {gofmt.go_type(item)}")


def _index(item: object, *indices: object) -> object:
    for index in indices:
        if item is None or item is NO_VALUE:
            raise CallError("index of untyped nil")
        if isinstance(item, list | tuple | str):
            if not isinstance(index, int) or isinstance(index, bool):
                raise CallError(f"cannot index slice/array with type {gofmt.go_type(index)}")
            if not 0 <= index < len(item):
                raise CallError(f"index out of range: {index}")
            item = item[index] if not isinstance(item, str) else item.encode()[index]
        elif isinstance(item, dict):
            if not isinstance(index, str):
                raise CallError(f"value has type {gofmt.go_type(index)}; should be string")
            if index in item:
                item = item[index]
            elif all(isinstance(v, str) for v in item.values()):
                item = ""  # a map[string]string's zero value, as docker's typed Labels give
            else:
                item = NO_VALUE
        else:
            raise CallError(f"can't index item of type {gofmt.go_type(item)}")
    return item


def _slice(item: object, *indices: object) -> object:
    if not isinstance(item, str | list | tuple):
        raise CallError(f"can't slice item of type {gofmt.go_type(item)}")
    bounds = [i for i in indices if isinstance(i, int)]
    if len(bounds) != len(indices) or len(bounds) > 2:
        raise CallError("invalid slice index")
    start = bounds[0] if bounds else 0
    end = bounds[1] if len(bounds) > 1 else len(item)
    if start > end:
        raise CallError(f"invalid slice index: {start} > {end}")
    if not 0 <= start <= end <= len(item):
        raise CallError(f"index out of range: {end if end > len(item) else start}")
    return item[start:end]


def _print(*args: object) -> str:
    return gofmt.sprint(args)


def _println(*args: object) -> str:
    return gofmt.sprintln(args)


def _printf(fmt: str, *args: object) -> str:
    return gofmt.sprintf(fmt, args)


def _html(*args: object) -> str:
    text = gofmt.sprint(args)
    for a, b in (
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ('"', "&#34;"),
        ("'", "&#39;"),
        ("\0", "\ufffd"),
    ):
        text = text.replace(a, b)
    return text


def _js(*args: object) -> str:
    """Go's ``JSEscapeString`` of the printed arguments."""
    out: list[str] = []
    for ch in gofmt.sprint(args):
        if ch == "\\":
            out.append("\\\\")
        elif ch in "'\"":
            out.append("\\" + ch)
        elif ch in "<>&=" or ord(ch) < 0x20 or not ch.isprintable():
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _urlquery(*args: object) -> str:
    from urllib.parse import quote_plus

    return quote_plus(gofmt.sprint(args))


def _json(value: object) -> str:
    return gofmt.go_json(value)


def _split(text: str, sep: str) -> list[str]:
    if sep == "":
        return list(text)
    return text.split(sep)


def _join(items: list[str], sep: str) -> str:
    return sep.join(items)


def _is_separator(ch: str) -> bool:
    if ch.isascii():
        return not (ch.isalnum() or ch == "_")
    if ch.isalpha() or ch.isdigit():
        return False
    return ch.isspace()


def _title(text: str) -> str:
    """Go's deprecated ``strings.Title``: upper-case the first letter of each word."""
    out: list[str] = []
    prev_sep = True
    for ch in text:
        out.append(ch.upper() if prev_sep else ch)
        prev_sep = _is_separator(ch)
    return "".join(out)


def _lower(text: str) -> str:
    return text.lower()


def _upper(text: str) -> str:
    return text.upper()


def _pad(text: str, prefix: int, suffix: int) -> str:
    if text == "":
        return text
    return " " * prefix + text + " " * suffix


def _truncate(text: str, length: int) -> str:
    if len(text) < length:
        return text
    return text[:length]


# name → (function, parameter kinds; a trailing "..." means the last kind repeats)
FUNCS: dict[str, tuple[Callable[..., object], tuple[str, ...]]] = {
    "not": (_not, ("any",)),
    "len": (_len, ("any",)),
    "index": (_index, ("any", "any", "...")),
    "slice": (_slice, ("any", "any", "...")),
    "print": (_print, ("any", "...")),
    "println": (_println, ("any", "...")),
    "printf": (_printf, ("string", "any", "...")),
    "eq": (_eq, ("any", "any", "...")),
    "ne": (_ne, ("any", "any")),
    "lt": (_lt, ("any", "any")),
    "le": (_le, ("any", "any")),
    "gt": (_gt, ("any", "any")),
    "ge": (_ge, ("any", "any")),
    "html": (_html, ("any", "...")),
    "urlquery": (_urlquery, ("any", "...")),
    "js": (_js, ("any", "...")),
    "json": (_json, ("any",)),
    "split": (_split, ("string", "string")),
    "join": (_join, ("[]string", "string")),
    "title": (_title, ("string",)),
    "lower": (_lower, ("string",)),
    "upper": (_upper, ("string",)),
    "pad": (_pad, ("string", "int", "int")),
    "truncate": (_truncate, ("string", "int")),
}
NAMES = frozenset(FUNCS) | {"and", "or"}

# docker's HeaderFunctions: while a table's header row renders, these return their
# first argument untouched (so ``{{upper .Names}}`` still heads its column "NAMES").
HEADER_FUNCS = frozenset({"json", "split", "join", "title", "lower", "upper", "truncate"})


def check_count(name: str, spec: tuple[str, ...], count: int) -> None:
    variadic = spec[-1] == "..."
    kinds = spec[:-1] if variadic else spec
    if (count < len(kinds) - 1) if variadic else count != len(kinds):
        want = f"at least {len(kinds) - 1}" if variadic else str(len(kinds))
        raise ArgError(f"wrong number of args for {name}: want {want} got {count}")


def literal_mismatch(kind: str, node: Node) -> str:
    """Go's message for a constant of the wrong kind (checked before execution)."""
    if not isinstance(node, LiteralNode) or kind == "any":
        return ""
    value = node.value
    if kind == "string" and not isinstance(value, str):
        return f"expected string; found {node.text}"
    if kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
        return f"expected integer; found {node.text}"
    if kind == "[]string":
        return f"can't handle {node.text} for arg of type []string"
    return ""


def check_args(name: str, spec: tuple[str, ...], args: list[object]) -> None:
    check_count(name, spec, len(args))
    variadic = spec[-1] == "..."
    kinds = spec[:-1] if variadic else spec
    for i, arg in enumerate(args):
        kind = kinds[min(i, len(kinds) - 1)]
        if arg is None and kind != "any":
            raise ArgError(f"invalid value; expected {kind}")
        if kind == "string" and not isinstance(arg, str):
            raise ArgError(f"wrong type for value; expected string; got {gofmt.go_type(arg)}")
        if kind == "int" and (not isinstance(arg, int) or isinstance(arg, bool)):
            raise ArgError(f"wrong type for value; expected int; got {gofmt.go_type(arg)}")
        if kind == "[]string" and not (
            isinstance(arg, list | tuple) and all(isinstance(v, str) for v in arg)
        ):
            raise ArgError(f"wrong type for value; expected []string; got {gofmt.go_type(arg)}")
