"""Go's printing of values, as text/template and docker's ``--format`` show them.

The values are the ones ``json.loads`` gives (dict, list, str, int, float, bool, None)
plus ``NO_VALUE`` (a missing map key) and the CLI's row objects. Go prints them with
``fmt.Sprint``: maps as ``map[k:v]`` with sorted keys, lists as ``[a b]``, ``nil`` as
``<nil>``, floats in their shortest form with an exponent from 1e+06 (``%v`` is ``%g``
with precision 6 for that choice), bools as ``true``/``false``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


class _NoValue:
    """The invalid ``reflect.Value``: what a missing map key gives; prints ``<no value>``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False


NO_VALUE = _NoValue()


class NilSlice(list[object]):
    """A Go nil slice: empty, prints ``[]``, is ``null`` in JSON."""

    __slots__ = ()


class NilMap(dict[str, object]):
    """A Go nil map: empty, prints ``map[]``, is ``null`` in JSON."""

    __slots__ = ()


def go_type(value: object) -> str:
    """The Go type name docker's raw (JSON-decoded) data would have, for messages."""
    if value is None or value is NO_VALUE:
        return "interface {}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, str) for v in value):
            return "[]string"
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return type(value).__name__


def format_float(value: float, verb: str = "v", prec: int = -1) -> str:
    """Go's ``strconv.FormatFloat`` for the verbs text/template users reach: ``v``/``g``
    (shortest, with an exponent when it is < -4 or >= 6), ``e`` and ``f``."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if verb == "f":
        return f"{value:.{6 if prec < 0 else prec}f}"
    if verb == "e":
        return f"{value:.{6 if prec < 0 else prec}e}"
    if prec >= 0:
        return f"{value:.{max(prec, 1)}g}"
    # Shortest digits that round-trip (Python's repr gives the same digits as Go).
    neg = value < 0 or (value == 0 and str(value).startswith("-"))
    mant, _, exp_text = repr(abs(value)).partition("e")
    whole, _, frac = mant.partition(".")
    digits = (whole + frac).lstrip("0")
    point = len(whole) + (int(exp_text) if exp_text else 0)  # decimal point position
    if not digits:
        return "-0" if neg else "0"
    point -= len(whole + frac) - len((whole + frac).lstrip("0"))
    digits = digits.rstrip("0") or "0"
    exp = point - 1
    sign = "-" if neg else ""
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def sprint_value(value: object) -> str:
    """``fmt.Sprint(v)`` of one value (``%v``)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "<nil>"
    if value is NO_VALUE:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, list | tuple):
        return "[" + " ".join(sprint_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: _sort_key(kv[0]))
        return "map[" + " ".join(f"{sprint_value(k)}:{sprint_value(v)}" for k, v in items) + "]"
    return str(value)


def _sort_key(key: object) -> tuple[int, object]:
    if isinstance(key, int | float) and not isinstance(key, bool):
        return (0, key)
    return (1, str(key))


def sprint(args: Sequence[object]) -> str:
    """``fmt.Sprint``: a space between operands when neither side is a string."""
    out: list[str] = []
    prev_string = True
    for i, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if i > 0 and not is_string and not prev_string:
            out.append(" ")
        out.append(sprint_value(arg))
        prev_string = is_string
    return "".join(out)


def sprintln(args: Sequence[object]) -> str:
    """``fmt.Sprintln``: always a space between operands, and a newline."""
    return " ".join(sprint_value(a) for a in args) + "\n"


# Go's one-letter escapes in string literals (``\n`` is a newline...): read by the
# template parser, written by ``quote``.
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_QUOTED = {'"': '\\"', "\\": "\\\\"} | {ch: "\\" + letter for letter, ch in ESCAPES.items()}


def quote(text: str) -> str:
    """``strconv.Quote``: Go's double-quoted string with Go's escapes."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _QUOTED:
            out.append(_QUOTED[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable() and code > 0x7F:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _go_json_value(value: object) -> object:
    if isinstance(value, NilSlice | NilMap):
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _go_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_go_json_value(v) for v in value]
    wire = getattr(value, "wire", None)
    if wire is not None and callable(wire) and (wired := wire()) is not None:
        return _go_json_value(wired)
    to_json = getattr(value, "to_json", None)
    if to_json is not None and callable(to_json):
        return _go_json_value(to_json())
    return value


def go_json(value: object) -> str:
    """docker's ``json`` function: Go's ``json.Encoder`` with HTML escaping off, compact,
    integral floats without ``.0``; a missing value is ``null``."""
    if value is NO_VALUE:
        return "null"
    import json  # only templates that print JSON pay for it

    wire = getattr(value, "wire", None)
    if wire is not None and callable(wire):
        wired = wire()  # a Go struct the CLI decoded (an event): encoded as it came
        if wired is not None:
            value = wired
    to_json = getattr(value, "to_json", None)
    if to_json is not None and callable(to_json):
        # a formatter context (a table row): docker's MarshalJSON builds a map (sorted
        # keys) and json.Marshal escapes HTML in it (``<none>`` → ``\u003cnone\u003e``)
        fields = to_json()
        text = json.dumps(
            _go_json_value(fields), ensure_ascii=False, separators=(",", ":"), sort_keys=True
        )
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = json.dumps(_go_json_value(value), ensure_ascii=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# --- printf ---------------------------------------------------------------------------


def sprintf(fmt: str, args: Sequence[object]) -> str:
    """``fmt.Sprintf`` for the verbs templates use: ``%v %s %d %q %t %x %X %o %f %e
    %g %c %%`` with flags ``-+# 0``, width and precision; Go's ``%!d(MISSING)``,
    ``%!d(string=x)`` and ``%!(EXTRA ...)`` for mistakes."""
    out: list[str] = []
    argi = 0
    i = 0
    n = len(fmt)
    while i < n:
        pct = fmt.find("%", i)
        if pct < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:pct])
        i = pct + 1
        flags = ""
        while i < n and fmt[i] in "-+# 0":
            flags += fmt[i]
            i += 1
        width = ""
        while i < n and fmt[i].isdigit():
            width += fmt[i]
            i += 1
        precision: str | None = None
        if i < n and fmt[i] == ".":
            i += 1
            precision = ""
            while i < n and fmt[i].isdigit():
                precision += fmt[i]
                i += 1
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[argi]
        argi += 1
        out.append(_format_one(verb, flags, width, precision, arg))
    if argi < len(args):
        extra = ", ".join(f"{go_type(a)}={sprint_value(a)}" for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _pad(text: str, flags: str, width: str, numeric: bool = False) -> str:
    if not width:
        return text
    w = int(width)
    if "-" in flags:
        return text.ljust(w)
    if "0" in flags and numeric:
        sign = text[0] if text[:1] in "+-" else ""
        body = text[len(sign) :]
        return sign + body.rjust(w - len(sign), "0")
    return text.rjust(w)


def _format_one(verb: str, flags: str, width: str, precision: str | None, arg: object) -> str:
    prec = int(precision) if precision else (0 if precision == "" else -1)
    bad = f"%!{verb}({go_type(arg)}={sprint_value(arg)})" if arg is not None else f"%!{verb}(<nil>)"
    if verb == "s" and arg is None:
        return bad
    if verb in "vs":
        if verb == "s" and not isinstance(arg, str | list | tuple | dict) and arg is not None:
            if not isinstance(arg, int | float | bool) and arg is not NO_VALUE:
                text = str(arg)
            else:
                return bad
        else:
            text = sprint_value(arg)
        if prec >= 0:
            text = text[:prec]
        return _pad(text, flags, width)
    if verb == "q":
        if isinstance(arg, str):
            return _pad(quote(arg), flags, width)
        if isinstance(arg, list | tuple) and all(isinstance(v, str) for v in arg):
            return _pad("[" + " ".join(quote(v) for v in arg) + "]", flags, width)
        return bad
    if verb == "t":
        return _pad(sprint_value(arg), flags, width) if isinstance(arg, bool) else bad
    if verb == "T":
        return _pad(go_type(arg) if arg is not None else "<nil>", flags, width)
    if verb in "dxXocb" and isinstance(arg, int) and not isinstance(arg, bool):
        if verb == "c":
            return _pad(chr(arg), flags, width)
        if verb == "d":
            text = str(abs(arg))
        elif verb in "ob":
            text = format(abs(arg), verb)
        else:
            text = format(abs(arg), verb)
            if "#" in flags:
                text = ("0x" if verb == "x" else "0X") + text
        sign = "-" if arg < 0 else ("+" if "+" in flags else (" " if " " in flags else ""))
        return _pad(sign + text, flags, width, numeric=True)
    if verb in "xX" and isinstance(arg, str):
        text = arg.encode().hex()
        return _pad(text.upper() if verb == "X" else text, flags, width)
    if verb in "feEgG" and isinstance(arg, int | float) and not isinstance(arg, bool):
        value = float(arg)
        if verb in "fF":
            text = format_float(value, "f", prec)
        elif verb in "eE":
            text = format_float(value, "e", prec)
            text = text.upper() if verb == "E" else text
        else:
            text = format_float(value, "g", prec)
        if not text.startswith("-") and ("+" in flags or " " in flags):
            text = ("+" if "+" in flags else " ") + text
        return _pad(text, flags, width, numeric=True)
    return bad
