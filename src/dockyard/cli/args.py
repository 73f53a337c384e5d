"""Docker's flag syntax (spf13/pflag, as the docker CLI uses it), in a small parser.

Why not ``argparse``: importing it costs ~20 ms here (``re``, ``gettext``...), more than
the whole budget of ``dockyard ps`` leaves, and its syntax differs from pflag's where
Docker's users notice: ``docker run IMAGE CMD --flag`` stops parsing at the image
(``interspersed=False``), ``-dit`` bundles short flags, ``-eK=V``/``-e K=V``/
``--env=K=V``/``--env K=V`` all work, a bool takes ``--rm=false`` but never the next
word, a value flag takes the next word even when it starts with ``-``, and ``--``
ends the flags. Errors are Docker's words (``unknown flag: --foo``, ``flag needs an
argument: --name``, ``invalid argument "x" for "-m, --memory" flag: ...``) and the
caller prints them with the usage and exits 125 (:class:`UsageError`).

A command declares a :class:`Spec` (usage line, description, flags, argument count);
``Spec.parse(argv)`` returns :class:`Options`: typed getters over the values, and the
positional arguments.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing and collections.abc cost start-up time: annotations only
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import TypeAlias

    Converter: TypeAlias = Callable[[str], object]

BOOL = "bool"
STRING = "string"
INT = "int"
LIST = "list"
"""Kinds of flags: a switch, one value (the last one wins), an integer, a repeatable
value collected in order."""

def go_quote(text: str) -> str:
    """Go's ``%q`` for the plain strings of error messages."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class UsageError(Exception):
    """A command line that does not parse; ``status`` is the exit code (125 for flag
    errors as in Docker; 1 for a wrong number of arguments)."""

    def __init__(self, message: str, status: int = 125) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.spec: Spec | None = None
        self.see = False  # "See '... --help'" (RequiresMinArgs) instead of "Run ..."


class Flag:
    """One flag: ``long`` name (no dashes), optional one-letter ``short``, a kind, a
    default, the help text and the value's name in the help (``string``, ``list``...).
    ``convert`` checks a value as it is parsed (raise ValueError with the reason)."""

    __slots__ = ("convert", "default", "help", "hidden", "kind", "long", "metavar", "short")

    def __init__(self, long: str, kind: str = BOOL, help: str = "", *, short: str = "",
                 default: object = None, metavar: str = "",
                 convert: Converter | None = None, hidden: bool = False) -> None:
        self.long = long
        self.short = short
        self.kind = kind
        self.help = help
        self.default = default
        self.metavar = metavar or ("" if kind == BOOL else kind)
        self.convert = convert
        self.hidden = hidden

    @property
    def names(self) -> str:
        return f"-{self.short}, --{self.long}" if self.short else f"--{self.long}"


class Options:
    """The parsed flags (typed getters by long name) and the positional ``args``."""

    __slots__ = ("_given", "_values", "args")

    def __init__(self, values: dict[str, object], given: set[str], args: list[str]) -> None:
        self._values = values
        self._given = given
        self.args = args

    def flag(self, name: str) -> bool:
        return bool(self._values.get(name))

    def text(self, name: str, default: str = "") -> str:
        value = self._values.get(name)
        return default if value is None else str(value)

    def number(self, name: str, default: int = 0) -> int:
        value = self._values.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    def values(self, name: str) -> list[str]:
        value = self._values.get(name)
        return [str(v) for v in value] if isinstance(value, list) else []

    def raw(self, name: str) -> object:
        """The value as parsed (after a flag's converter)."""
        return self._values.get(name)

    def given(self, name: str) -> bool:
        """Whether the flag was on the command line (pflag's ``Changed``)."""
        return name in self._given


class Spec:
    """A command's usage, description, flags and number of positional arguments
    (``min_args``/``max_args``; ``max_args=-1`` for any). ``interspersed=False`` stops at
    the first positional argument (``run IMAGE CMD --not-ours``)."""

    def __init__(self, prog: str, usage: str, description: str, flags: Sequence[Flag] = (),
                 *, min_args: int = 0, max_args: int = -1, interspersed: bool = True,
                 aliases: Sequence[str] = ()) -> None:
        self.prog = prog
        self.usage = usage
        self.description = description
        self.flags = list(flags)
        self.min_args = min_args
        self.max_args = max_args
        self.interspersed = interspersed
        self.aliases = list(aliases)
        self._root = prog.split(" ", 1)[0]
        self._long = {f.long: f for f in self.flags}
        self._short = {f.short: f for f in self.flags if f.short}
        if "help" not in self._long:
            helpflag = Flag("help", BOOL, "Print usage", short="" if "h" in self._short
                            else "h")
            self.flags.append(helpflag)
            self._long["help"] = helpflag
            if helpflag.short:
                self._short["h"] = helpflag

    # ------------------------------------------------------------------ parsing

    def parse(self, argv: Sequence[str]) -> Options:
        try:
            return self._parse(argv)
        except UsageError as exc:
            exc.spec = self
            raise

    def _parse(self, argv: Sequence[str]) -> Options:
        values: dict[str, object] = {}
        for spec_flag in self.flags:
            default = spec_flag.default
            values[spec_flag.long] = list(default) if isinstance(default, list | tuple) \
                else (False if spec_flag.kind == BOOL and default is None else default)
        given: set[str] = set()
        args: list[str] = []
        i = 0
        n = len(argv)
        while i < n:
            arg = argv[i]
            i += 1
            if arg == "--":
                args.extend(argv[i:])
                break
            if arg.startswith("--") and len(arg) > 2:
                name, eq, inline = arg[2:].partition("=")
                f = self._long.get(name)
                if f is None:
                    raise UsageError(f"unknown flag: --{name}")
                if f.kind == BOOL:
                    self._set(f, inline if eq else "true", values, given)
                elif eq:
                    self._set(f, inline, values, given)
                elif i < n:
                    self._set(f, argv[i], values, given)
                    i += 1
                else:
                    raise UsageError(f"flag needs an argument: --{name}")
            elif arg.startswith("-") and len(arg) > 1:
                j = 1
                while j < len(arg):
                    c = arg[j]
                    sf = self._short.get(c)
                    if sf is None:
                        raise UsageError(f"unknown shorthand flag: {c!r} in {arg}")
                    rest = arg[j + 1:]
                    if sf.kind == BOOL:
                        if rest.startswith("="):
                            self._set(sf, rest[1:], values, given)
                            break
                        self._set(sf, "true", values, given)
                        j += 1
                        continue
                    if rest:
                        self._set(sf, rest[1:] if rest.startswith("=") else rest, values, given)
                    elif i < n:
                        self._set(sf, argv[i], values, given)
                        i += 1
                    else:
                        raise UsageError(f"flag needs an argument: {c!r} in -{c}")
                    break
            else:
                args.append(arg)
                if not self.interspersed:
                    args.extend(argv[i:])
                    break
        opts = Options(values, given, args)
        if not opts.flag("help"):
            self._check_count(args)
        return opts

    def _set(self, f: Flag, raw: str, values: dict[str, object], given: set[str]) -> None:
        value: object = raw
        try:
            if f.kind == BOOL:
                low = raw.lower()
                if low in ("1", "t", "true"):
                    value = True
                elif low in ("0", "f", "false"):
                    value = False
                else:
                    raise ValueError(f"strconv.ParseBool: parsing {go_quote(raw)}: invalid syntax")
            elif f.kind == INT:
                try:
                    value = int(raw, 10)
                except ValueError:
                    raise ValueError(f"strconv.ParseInt: parsing {go_quote(raw)}: invalid syntax") \
                        from None
            if f.convert is not None:
                value = f.convert(raw)
        except ValueError as exc:
            raise UsageError(f'invalid argument "{raw}" for "{f.names}" flag: {exc}') from None
        if f.kind == LIST:
            current = values.get(f.long)
            if f.long not in given or not isinstance(current, list):
                current = []  # a given list flag replaces its default
            current.append(value)
            value = current
        values[f.long] = value
        given.add(f.long)

    def _check_count(self, args: list[str]) -> None:
        """The docker CLI's ``cli/required.go`` checks and words."""
        n, lo, hi = len(args), self.min_args, self.max_args
        head = f"{self._root}: '{self.prog}'"

        def plural(k: int) -> str:
            return "argument" if k == 1 else "arguments"

        if hi == 0 and n > 0:
            raise UsageError(f"{head} accepts no arguments", status=1)
        if lo == hi and n != lo:
            raise UsageError(f"{head} requires {lo} {plural(lo)}", status=1)
        if hi > 0 and lo > 0 and not lo <= n <= hi:
            raise UsageError(f"{head} requires at least {lo} and at most {hi} "
                             f"{plural(hi)}", status=1)
        if n < lo:
            err = UsageError(f"{head} requires at least {lo} {plural(lo)}", status=1)
            err.see = True
            raise err
        if hi > 0 and n > hi:
            raise UsageError(f"{head} requires at most {hi} {plural(hi)}", status=1)

    # ------------------------------------------------------------------ help

    def usage_error(self, err: UsageError) -> str:
        """What Docker prints for a command line that does not parse."""
        verb = "See" if err.see else "Run"
        tail = f"{verb} '{self.prog} --help' for more information"
        return f"{err.message}\n\nUsage:  {self.usage}\n\n{tail}\n"

    def help(self) -> str:
        lines = [f"\nUsage:  {self.usage}\n", self.description, ""]
        if self.aliases:
            lines += ["Aliases:", "  " + ", ".join(self.aliases), ""]
        shown = [f for f in self.flags if not f.hidden]
        if shown:
            lines.append("Options:")
            cells = []
            for f in shown:
                left = (f"-{f.short}, --{f.long}" if f.short else f"    --{f.long}")
                if f.metavar:
                    left += f" {f.metavar}"
                text = f.help
                if f.default not in (None, False, "", [], ()) and f.kind != BOOL:
                    shown_default = f.default if not isinstance(f.default, str) \
                        else f'"{f.default}"'
                    text += f" (default {shown_default})"
                cells.append((left, text))
            width = max(len(left) for left, _ in cells) + 3
            lines += [f"  {left.ljust(width)}{text}".rstrip() for left, text in cells]
            lines.append("")
        return "\n".join(lines) + "\n"
