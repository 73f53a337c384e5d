"""Go's text/template, the subset docker users write in ``--format``, over JSON-like data.

``compile(src)`` parses once (``Template.execute(data)`` then runs per row);
``render(src, data)`` does both. Data are what ``json.loads`` gives, or objects whose
public attributes (methods are called, with arguments: ``{{.Label "k"}}``) are the
fields, as docker's formatter contexts are.

Go's semantics kept: a missing map key is ``<no value>`` (or an error with
``missing_key="error"``, as docker's inspect fallback runs), fields of a JSON ``null``
are ``<no value>`` as a nil map's are (an error with ``missing_key="error"``), ``range`` over maps goes in key order, ``and``/``or``
short-circuit and return an operand, ``eq`` takes several operands and refuses
incompatible kinds, values print as ``fmt.Sprint`` prints them (``gofmt``).
Functions: Go's builtins ``and or not len index slice print printf println eq ne lt le
gt ge html js urlquery`` and docker's ``json split join title lower upper pad truncate``.
"""

from __future__ import annotations

from dockyard.cli.format import gofmt
from dockyard.cli.format.gofmt import NO_VALUE
from dockyard.cli.format.tmpl_funcs import (
    FUNCS,
    HEADER_FUNCS,
    NAMES,
    ArgError,
    CallError,
    check_args,
    check_count,
    literal_mismatch,
    truth,
)
from dockyard.cli.format.tmpl_nodes import (
    ActionNode,
    BranchNode,
    ChainNode,
    CommandNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    LiteralNode,
    LoopControlNode,
    NilNode,
    Node,
    PipeNode,
    TemplateError,
    TemplateNode,
    TextNode,
    VariableNode,
)
from dockyard.cli.format.tmpl_parse import Parser

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = ["NO_VALUE", "Template", "TemplateError", "compile", "render"]

_NO_FINAL = object()  # no value piped in from the previous command


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _ExecError(Exception):
    def __init__(self, node: Node, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


# --- execution --------------------------------------------------------------------------


class Template:
    """A parsed template; ``execute`` is safe to call many times (one per table row)."""

    __slots__ = ("_defines", "_extra", "_nodes", "source")

    def __init__(
        self, source: str, funcs: Mapping[str, Callable[..., object]] | None = None
    ) -> None:
        self.source = source
        self._extra = dict(funcs or {})
        parser = Parser(source, NAMES | frozenset(self._extra))
        self._nodes = parser.parse()
        self._defines = parser.defines

    def execute(
        self,
        data: object,
        *,
        missing_key: str = "default",
        header: bool = False,
        nil_error: bool = False,
    ) -> str:
        """Run over ``data``. ``missing_key="error"`` makes a missing map key an error (Go's
        ``missingkey=error``); ``header`` swaps docker's header functions in; ``nil_error``
        makes a field of nil an error (over Go structs, where nil is a nil pointer)."""
        state = _State(self.source, data, missing_key == "error", header, self._extra)
        state.defines = self._defines
        state.nil_error = nil_error
        out: list[str] = []
        try:
            state.walk(data, self._nodes, out)
        except _ExecError as err:
            line = 1 + self.source.count("\n", 0, err.node.pos)
            nl = self.source.rfind("\n", 0, err.node.pos)
            col = err.node.pos if nl < 0 else err.node.pos - nl - 1
            raise TemplateError(
                f'template: :{line}:{col}: executing "" at <{err.node.text}>: {err.message}'
            ) from None
        except RecursionError:
            raise TemplateError("template: exceeded maximum template depth") from None
        return "".join(out)


_CACHE: dict[str, Template] = {}


def compile(source: str, funcs: Mapping[str, Callable[..., object]] | None = None) -> Template:
    """Parse ``source`` (cached: the same format is compiled once per process); ``funcs``
    adds functions of a command's own (docker's ``version`` has ``getDetailsOrder``)."""
    if funcs:
        return Template(source, funcs)
    tmpl = _CACHE.get(source)
    if tmpl is None:
        tmpl = Template(source)
        if len(_CACHE) >= 64:
            _CACHE.clear()
        _CACHE[source] = tmpl
    return tmpl


def render(source: str, data: object, *, missing_key: str = "default") -> str:
    """``compile(source).execute(data)``."""
    return compile(source).execute(data, missing_key=missing_key)


class _State:
    __slots__ = ("defines", "extra", "header", "missing_error", "nil_error", "source", "vars")

    def __init__(
        self, source: str, data: object, missing_error: bool, header: bool,
        extra: Mapping[str, Callable[..., object]],
    ) -> None:  # fmt: skip
        self.extra = extra
        self.defines: dict[str, list[Node]] = {}
        self.nil_error = False  # a field of nil is an error (Go structs' nil pointers)
        self.source = source
        self.vars: list[tuple[str, object]] = [("$", data)]
        self.missing_error = missing_error
        self.header = header

    # statements

    def walk(self, dot: object, nodes: Sequence[Node], out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, TextNode):
                out.append(node.text)
            elif isinstance(node, ActionNode):
                value = self.pipeline(dot, node.pipe)
                if not node.pipe.decl:
                    out.append(gofmt.sprint_value(value))
            elif isinstance(node, BranchNode):
                mark = len(self.vars)
                try:
                    if node.kind == "range":
                        self.range(dot, node, out)
                    else:
                        value = self.pipeline(dot, node.pipe)
                        if truth(value):
                            self.walk(value if node.kind == "with" else dot, node.body, out)
                        elif node.else_body is not None:
                            self.walk(dot, node.else_body, out)
                finally:
                    del self.vars[mark:]
            elif isinstance(node, LoopControlNode):
                raise _Break() if node.text == "break" else _Continue()
            elif isinstance(node, TemplateNode):
                body = self.defines.get(node.name)
                if body is None:
                    raise _ExecError(node, f'template "{node.name}" not defined')
                new_dot = self.pipeline(dot, node.pipe) if node.pipe is not None else None
                saved, self.vars = self.vars, [("$", new_dot)]
                try:
                    self.walk(new_dot, body, out)
                finally:
                    self.vars = saved

    def range(self, dot: object, node: BranchNode, out: list[str]) -> None:
        value = self.pipeline(dot, node.pipe, declare=False)
        pairs: list[tuple[object, object]]
        if isinstance(value, list | tuple):
            pairs = list(enumerate(value))
        elif isinstance(value, dict):
            pairs = [(k, value[k]) for k in sorted(value, key=gofmt._sort_key)]
        elif isinstance(value, int) and not isinstance(value, bool):
            if len(node.pipe.decl) > 1:
                raise _ExecError(
                    node.pipe, f"can't use {value} to iterate over more than one variable"
                )
            if value < 0:
                raise _ExecError(node.pipe, f"range can't iterate over {value}")
            pairs = [(i, i) for i in range(value)]
        elif value is None or value is NO_VALUE:
            pairs = []
        else:
            raise _ExecError(node.pipe, f"range can't iterate over {gofmt.sprint_value(value)}")
        decl = node.pipe.decl
        for key, elem in pairs:
            mark = len(self.vars)
            if len(decl) == 1:
                self._declare(decl[0], elem, node.pipe.is_assign)
            elif len(decl) == 2:
                self._declare(decl[0], key, node.pipe.is_assign)
                self._declare(decl[1], elem, node.pipe.is_assign)
            try:
                self.walk(elem, node.body, out)
            except _Continue:
                pass
            except _Break:
                break
            finally:
                del self.vars[mark:]
        if not pairs and node.else_body is not None:
            self.walk(dot, node.else_body, out)

    def _declare(self, name: str, value: object, assign: bool) -> None:
        if assign:
            for i in range(len(self.vars) - 1, -1, -1):
                if self.vars[i][0] == name:
                    self.vars[i] = (name, value)
                    return
        self.vars.append((name, value))

    # expressions

    def pipeline(self, dot: object, pipe: PipeNode, *, declare: bool = True) -> object:
        value: object = _NO_FINAL
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
        if declare:
            for name in pipe.decl:
                self._declare(name, value, pipe.is_assign)
        return value

    def command(self, dot: object, cmd: CommandNode, final: object) -> object:
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            return self.field_chain(dot, dot, first, first.names, cmd.args, final)
        if isinstance(first, ChainNode):
            if len(cmd.args) > 1 or final is not _NO_FINAL:
                raise _ExecError(first, "can't give argument to non-function " + first.text)
            base = self.arg(dot, first.node)
            return self.field_chain(dot, base, first, first.names, cmd.args, final)
        if isinstance(first, IdentifierNode):
            return self.function(dot, first, cmd, cmd.args[1:], final)
        if isinstance(first, VariableNode):
            value = self.variable(first)
            if first.names:
                return self.field_chain(dot, value, first, first.names, cmd.args, final)
            self._not_a_function(first, cmd.args, final)
            return value
        if isinstance(first, NilNode):
            raise _ExecError(first, "nil is not a command")
        self._not_a_function(first, cmd.args, final)
        if isinstance(first, PipeNode):
            return self.pipeline(dot, first)
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, LiteralNode):
            return first.value
        raise _ExecError(first, f"can't evaluate command {first.text!r}")

    def _not_a_function(self, node: Node, args: Sequence[Node], final: object) -> None:
        if len(args) > 1 or final is not _NO_FINAL:
            raise _ExecError(node, "can't give argument to non-function " + node.text)

    def variable(self, node: VariableNode) -> object:
        for name, value in reversed(self.vars):
            if name == node.name:
                return value
        raise _ExecError(node, f"undefined variable: {node.name}")

    def arg(self, dot: object, node: Node) -> object:
        if isinstance(node, DotNode):
            return dot
        if isinstance(node, NilNode):
            return None
        if isinstance(node, FieldNode):
            return self.field_chain(dot, dot, node, node.names, [node], _NO_FINAL)
        if isinstance(node, VariableNode):
            value = self.variable(node)
            if node.names:
                return self.field_chain(dot, value, node, node.names, [node], _NO_FINAL)
            return value
        if isinstance(node, PipeNode):
            return self.pipeline(dot, node)
        if isinstance(node, IdentifierNode):
            return self.function(dot, node, CommandNode(node.pos, node.text, [node]), [], _NO_FINAL)
        if isinstance(node, ChainNode):
            base = self.arg(dot, node.node)
            return self.field_chain(dot, base, node, node.names, [node], _NO_FINAL)
        if isinstance(node, LiteralNode):
            return node.value
        raise _ExecError(node, f"can't handle {node.text} for arg")

    def field_chain(
        self, dot: object, receiver: object, node: Node, names: Sequence[str],
        args: Sequence[Node], final: object,
    ) -> object:  # fmt: skip
        for name in names[:-1]:
            receiver = self.field(dot, receiver, name, node, (), _NO_FINAL)
        return self.field(dot, receiver, names[-1], node, args[1:], final)

    def field(
        self, dot: object, receiver: object, name: str, node: Node, args: Sequence[Node],
        final: object,
    ) -> object:  # fmt: skip
        has_args = bool(args) or final is not _NO_FINAL
        if receiver is NO_VALUE:
            if self.missing_error:
                raise _ExecError(node, f'nil data; no entry for key "{name}"')
            return NO_VALUE
        if isinstance(receiver, dict):
            if has_args:
                raise _ExecError(node, f"{name} is not a method but has arguments")
            if name in receiver:
                return receiver[name]
            if self.missing_error:
                raise _ExecError(node, f'map has no entry for key "{name}"')
            return NO_VALUE
        if receiver is None:
            # JSON's null: docker's typed structs make most of these nil maps (Labels),
            # whose missing keys print "<no value>"; the raw fallback's error otherwise
            if self.missing_error or self.nil_error:
                raise _ExecError(node, f"nil pointer evaluating interface {{}}.{name}")
            return NO_VALUE
        if not isinstance(receiver, str | int | float | list | tuple) and not name.startswith("_"):
            attr = getattr(receiver, name, _NO_FINAL)
            if attr is not _NO_FINAL:
                if callable(attr):
                    values = [self.arg(dot, a) for a in args]
                    if final is not _NO_FINAL:
                        values.append(final)
                    try:
                        return attr(*values)
                    except TypeError as err:
                        raise _ExecError(node, f"wrong number of args for {name}: {err}") from None
                if has_args:
                    raise _ExecError(node, f"{name} is not a method but has arguments")
                return attr
        raise _ExecError(node, f"can't evaluate field {name} in type {gofmt.go_type(receiver)}")

    def function(
        self, dot: object, ident: IdentifierNode, cmd: CommandNode, args: Sequence[Node],
        final: object,
    ) -> object:  # fmt: skip
        name = ident.text
        if name in ("and", "or"):
            if not args and final is _NO_FINAL:
                raise _ExecError(ident, f"wrong number of args for {name}: want at least 1 got 0")
            value: object = NO_VALUE
            for node in args:
                value = self.arg(dot, node)
                if truth(value) != (name == "and"):
                    return value
            return final if final is not _NO_FINAL else value
        if self.header and name in HEADER_FUNCS:
            values = [self.arg(dot, a) for a in args]
            if final is not _NO_FINAL:
                values.append(final)
            return values[0] if values else ""
        values = [self.arg(dot, a) for a in args]
        if final is not _NO_FINAL:
            values.append(final)
        # a missing value reaches a Go function as the zero of its parameter: nil
        values = [None if v is NO_VALUE else v for v in values]
        extra = self.extra.get(name)
        if extra is not None:
            try:
                return extra(*values)
            except (TypeError, ValueError, KeyError) as err:
                raise _ExecError(cmd, f"error calling {name}: {err}") from None
        func, spec = FUNCS[name]
        kinds = spec[:-1] if spec[-1] == "..." else spec
        try:
            check_count(name, spec, len(values))
        except ArgError as err:
            raise _ExecError(ident, str(err)) from None
        for i, node in enumerate(args):
            problem = literal_mismatch(kinds[min(i, len(kinds) - 1)], node)
            if problem:
                raise _ExecError(node, problem)
        try:
            check_args(name, spec, values)
            return func(*values)
        except ArgError as err:
            raise _ExecError(cmd, str(err)) from None
        except CallError as err:
            raise _ExecError(cmd, f"error calling {name}: {err}") from None
