"""The parser of Go's text/template subset: source text → a tree of nodes.

Actions are ``{{ ... }}`` with ``{{-``/``-}}`` trim markers and ``{{/* comments */}}``;
inside them: pipelines of commands (``.A.B``, ``$x.A``, ``.``, functions with
arguments, string/raw/char/number/bool/nil literals, parenthesised pipelines with
fields after them), declarations ``$x :=`` and assignments ``$x =``, and the control
words ``if``/``else if``/``else with``/``else``/``range``/``with``/``end``/``break``/
``continue``, and named templates: ``define``/``template``/``block``. Errors read as Go's: ``template: :LINE: message``.
"""

from __future__ import annotations

from dockyard.cli.format.gofmt import ESCAPES
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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection


# --- lexing ---------------------------------------------------------------------------

_SPACE = " \t\r\n"
_KEYWORDS = frozenset(
    {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}
)


class _Action:
    __slots__ = ("body", "line", "pos")

    def __init__(self, body: str, pos: int, line: int) -> None:
        self.body = body
        self.pos = pos  # offset of body[0] in the source
        self.line = line


def _fail(line: int, message: str) -> TemplateError:
    return TemplateError(f"template: :{line}: {message}")


def _split(src: str) -> list[str | _Action]:
    """Text and actions in order, trim markers applied, comments dropped."""
    items: list[str | _Action] = []
    i = 0
    n = len(src)
    trim_next = False
    while i < n:
        start = src.find("{{", i)
        text = src[i:] if start < 0 else src[i:start]
        if trim_next:
            text = text.lstrip(_SPACE)
        trim_next = False
        if start < 0:
            if text:
                items.append(text)
            break
        body_start = start + 2
        if src.startswith("-", body_start) and src[body_start + 1 : body_start + 2] in (
            " ", "\t", "\r", "\n"
        ):  # fmt: skip
            text = text.rstrip(_SPACE)
            body_start += 2
        if text:
            items.append(text)
        line = 1 + src.count("\n", 0, start)
        end = _find_action_end(src, body_start, line)
        body_end = end
        if end >= 2 and src[end - 1] == "-" and src[end - 2] in _SPACE and end - 1 >= body_start:
            body_end = end - 1
            trim_next = True
        body = src[body_start:body_end]
        stripped = body.strip(_SPACE)
        if stripped.startswith("/*"):
            if not stripped.endswith("*/") or len(stripped) < 4:
                raise _fail(line, "unclosed comment")
        else:
            items.append(_Action(body, body_start, line))
        i = end + 2
    return items


def _find_action_end(src: str, i: int, line: int) -> int:
    """Offset of the ``}}`` closing the action whose body starts at ``i``: quotes and
    comments inside the action are skipped so ``{{"}}"}}`` works."""
    n = len(src)
    if src.startswith("/*", i) or src[i:].lstrip(_SPACE).startswith("/*"):
        close = src.find("*/", i)
        if close < 0:
            raise _fail(line, "unclosed comment")
        end = src.find("}}", close)
        if end < 0:
            raise _fail(line, "unclosed action")
        return end
    while i < n:
        ch = src[i]
        if src.startswith("}}", i):
            return i
        if ch in "\"'`":
            close = src.find(ch, i + 1) if ch == "`" else _find_quote_end(src, i, ch)
            if close < 0:
                raise _fail(
                    line,
                    "unterminated quoted string" if ch != "`" else "unterminated raw quoted string",
                )
            i = close + 1
            continue
        if ch == "\n":
            raise _fail(line, "unclosed action")
        i += 1
    raise _fail(line, "unclosed action")


def _find_quote_end(src: str, i: int, quote: str) -> int:
    j = i + 1
    while j < len(src):
        if src[j] == "\\":
            j += 2
            continue
        if src[j] == quote:
            return j
        if src[j] == "\n":
            return -1
        j += 1
    return -1


class _Tok:
    __slots__ = ("fields", "kind", "pos", "space_before", "value")

    def __init__(self, kind: str, value: str, pos: int, space_before: bool) -> None:
        self.kind = kind  # field dot var ident string char number pipe ( ) := = ,
        self.value = value
        self.pos = pos
        self.space_before = space_before
        self.fields: list[str] = []


def _is_alnum(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


def _tokenize(action: _Action) -> list[_Tok]:
    body = action.body
    toks: list[_Tok] = []
    i = 0
    n = len(body)
    space = True
    while i < n:
        ch = body[i]
        pos = action.pos + i
        if ch in _SPACE:
            space = True
            i += 1
            continue
        if ch in ".$":
            if ch == "." and i + 1 < n and body[i + 1].isdigit():
                j = _scan_number(body, i)
                toks.append(_Tok("number", body[i:j], pos, space))
                i = j
            elif ch == "$":
                j = i + 1
                while j < n and _is_alnum(body[j]):
                    j += 1
                tok = _Tok("var", body[i:j], pos, space)
                j = _scan_fields(body, j, tok.fields)
                toks.append(tok)
                i = j
            elif i + 1 < n and _is_alnum(body[i + 1]):
                tok = _Tok("field", "", pos, space)
                i = _scan_fields(body, i, tok.fields)
                toks.append(tok)
            else:
                toks.append(_Tok("dot", ".", pos, space))
                i += 1
        elif ch in "\"`'":
            close = body.find("`", i + 1) if ch == "`" else _find_quote_end(body, i, ch)
            if close < 0:
                raise _fail(action.line, "unterminated quoted string")
            kind = {'"': "string", "`": "raw", "'": "char"}[ch]
            toks.append(_Tok(kind, body[i : close + 1], pos, space))
            i = close + 1
        elif ch.isdigit() or (
            ch in "+-" and i + 1 < n and (body[i + 1].isdigit() or body[i + 1] == ".")
        ):
            j = _scan_number(body, i)
            toks.append(_Tok("number", body[i:j], pos, space))
            i = j
        elif _is_alnum(ch):
            j = i
            while j < n and _is_alnum(body[j]):
                j += 1
            toks.append(_Tok("ident", body[i:j], pos, space))
            i = j
        elif ch == ":" and body.startswith(":=", i):
            toks.append(_Tok(":=", ":=", pos, space))
            i += 2
        elif ch in "|()=,":
            toks.append(_Tok(ch, ch, pos, space))
            i += 1
        else:
            raise _fail(action.line, f"unexpected bad character U+{ord(ch):04X} '{ch}' in command")
        space = False
    return toks


def _scan_fields(body: str, i: int, out: list[str]) -> int:
    n = len(body)
    while i < n and body[i] == "." and i + 1 < n and _is_alnum(body[i + 1]):
        j = i + 1
        while j < n and _is_alnum(body[j]):
            j += 1
        out.append(body[i + 1 : j])
        i = j
    return i


def _scan_number(body: str, i: int) -> int:
    j = i
    n = len(body)
    if j < n and body[j] in "+-":
        j += 1
    while j < n and (
        body[j].isalnum() or body[j] in "._" or (body[j] in "+-" and body[j - 1] in "eEpP")
    ):
        j += 1
    return j


def parse_number(text: str) -> int | float:
    """Go's number literals: decimal, hex, octal, binary ints (with ``_``), floats;
    ``1.0`` stays a float as Go's ideal constant rules make it in an interface."""
    clean = text.replace("_", "")
    sign = -1 if clean.startswith("-") else 1
    body = clean.lstrip("+-")
    lower = body.lower()
    try:
        if lower.startswith(("0x", "0o", "0b")) and "." not in lower and "p" not in lower:
            return sign * int(body, 0)
        if len(body) > 1 and body[0] == "0" and body.isdigit():
            return sign * int(body, 8)
        if body.isdigit():
            return sign * int(body)
        if lower.startswith("0x"):
            return sign * float.fromhex(body)
        return sign * float(body)
    except ValueError:
        raise TemplateError(f'bad number syntax: "{text}"') from None


def unquote(tok: _Tok, line: int) -> str:
    text = tok.value
    if tok.kind == "raw":
        return text[1:-1].replace("\r", "")
    out: list[str] = []
    i = 1
    end = len(text) - 1
    while i < end:
        ch = text[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt in ESCAPES:
            out.append(ESCAPES[nxt])
            i += 2
        elif nxt in "\\\"'":
            out.append(nxt)
            i += 2
        elif nxt in "xuU":
            size = {"x": 2, "u": 4, "U": 8}[nxt]
            try:
                out.append(chr(int(text[i + 2 : i + 2 + size], 16)))
            except ValueError:
                raise _fail(line, f"invalid syntax: {text}") from None
            i += 2 + size
        elif nxt in "01234567":
            out.append(chr(int(text[i + 1 : i + 4], 8)))
            i += 4
        else:
            raise _fail(line, f"invalid syntax: {text}")
    return "".join(out)


# --- parsing --------------------------------------------------------------------------


def _has_content(nodes: list[Node]) -> bool:
    """Go's ``IsEmptyTree`` negated: anything but whitespace text."""
    return any(not isinstance(n, TextNode) or n.text.strip() for n in nodes)


class Parser:
    """Recursive descent over the actions; ``funcs`` are the names callable in commands
    (a name not in it is Go's ``function "x" not defined``)."""

    def __init__(self, src: str, funcs: Collection[str]) -> None:
        self.src = src
        self.funcs = funcs
        self.items = _split(src)
        self.index = 0
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.defines: dict[str, list[Node]] = {}

    def parse(self) -> list[Node]:
        nodes, _ = self._list(in_branch=False)
        return nodes

    def _list(self, *, in_branch: bool) -> tuple[list[Node], tuple[str, _Action, list[_Tok]]]:
        """Nodes up to an ``{{end}}`` or ``{{else ...}}`` (returned with the action's
        remaining tokens) or, outside any branch, to the end of the source."""
        nodes: list[Node] = []
        while self.index < len(self.items):
            item = self.items[self.index]
            self.index += 1
            if isinstance(item, str):
                nodes.append(TextNode(0, item))
                continue
            toks = _tokenize(item)
            if not toks:
                raise _fail(item.line, "missing value for command")
            head = toks[0]
            word = head.value if head.kind == "ident" and head.value in _KEYWORDS else ""
            if word in ("end", "else"):
                if not in_branch:
                    raise _fail(item.line, f"unexpected {{{{{word}}}}}")
                return nodes, (word, item, toks[1:])
            if word in ("if", "range", "with"):
                nodes.append(self._branch(word, item, toks[1:]))
            elif word in ("break", "continue"):
                if self.range_depth == 0:
                    raise _fail(item.line, f"{{{{{word}}}}} outside {{{{range}}}}")
                if len(toks) > 1:
                    raise _fail(item.line, f'unexpected "{toks[1].value}" in {{{{{word}}}}}')
                nodes.append(LoopControlNode(head.pos, word))
            elif word in ("define", "block", "template"):
                node = self._named(word, item, toks[1:], in_branch)
                if node is not None:
                    nodes.append(node)
            else:
                pipe = self._pipeline(toks, item, "command", allow_decl=True)
                nodes.append(ActionNode(pipe.pos, "{{" + pipe.text + "}}", pipe))
        if in_branch:
            raise _fail(1 + self.src.count("\n"), "unexpected EOF")
        return nodes, ("", _Action("", 0, 0), [])

    def _named(
        self, word: str, item: _Action, toks: list[_Tok], in_branch: bool
    ) -> TemplateNode | None:
        """``define`` (top level only), ``block`` and ``template``: a name, then a
        pipeline for ``block``/``template``; bodies end at ``{{end}}``."""
        context = "template clause" if word == "template" else f"{word} clause"
        if not toks or toks[0].kind not in ("string", "raw"):
            found = toks[0].value if toks else "}}"
            raise _fail(item.line, f'unexpected "{found}" in {context}')
        name = unquote(toks[0], item.line)
        rest = toks[1:]
        if word == "define":
            if in_branch or self.range_depth:
                raise _fail(item.line, "unexpected <define> in command")
            if rest:
                raise _fail(item.line, f'unexpected "{rest[0].value}" in define clause')
        pipe = self._pipeline(rest, item, word, allow_decl=False) if rest else None
        if word != "template":
            mark = len(self.vars)
            depth, self.range_depth = self.range_depth, 0
            saved, self.vars = self.vars, ["$"]
            try:
                body, stop = self._list(in_branch=True)
            finally:
                self.vars, self.range_depth = saved, depth
                del self.vars[mark:]
            if stop[0] != "end":
                raise _fail(stop[1].line, f"unexpected {{{{{stop[0]}}}}}")
            old = self.defines.get(name)
            if old and _has_content(old) and _has_content(body):
                raise _fail(item.line, f'template: multiple definition of template "{name}"')
            if not old or _has_content(body):
                self.defines[name] = body
        if word == "define":
            return None
        text = f'{{{{template "{name}"' + (f" {pipe.text}" if pipe else "") + "}}"
        return TemplateNode(toks[0].pos, text, name, pipe)

    def _branch(self, kind: str, item: _Action, toks: list[_Tok]) -> BranchNode:
        mark = len(self.vars)
        try:
            pipe = self._pipeline(toks, item, kind, allow_decl=True, allow_two=kind == "range")
            self.range_depth += kind == "range"
            try:
                body, stop = self._list(in_branch=True)
            finally:
                self.range_depth -= kind == "range"
            else_body: list[Node] | None = None
            if stop[0] == "else":
                _, else_item, rest = stop
                chained = rest[0].value if rest and rest[0].kind == "ident" else ""
                if (kind, chained) in (("if", "if"), ("with", "with")):
                    # {{else if ...}} / {{else with ...}}: a nested branch ending at our {{end}}
                    nested = self._branch(chained, else_item, rest[1:])
                    return BranchNode(pipe.pos, kind, kind, pipe, body, [nested])
                if rest:
                    raise _fail(else_item.line, f'unexpected "{rest[0].value}" in else')
                else_body, stop = self._list(in_branch=True)
                if stop[0] != "end":
                    raise _fail(stop[1].line, "expected end; found {{else}}")
            if stop[2]:
                raise _fail(stop[1].line, f'unexpected "{stop[2][0].value}" in end')
            return BranchNode(pipe.pos, kind, kind, pipe, body, else_body)
        finally:
            del self.vars[mark:]

    def _pipeline(
        self, toks: list[_Tok], item: _Action, context: str, *, allow_decl: bool,
        allow_two: bool = False,
    ) -> PipeNode:  # fmt: skip
        line = item.line
        decl: list[str] = []
        is_assign = False
        i = 0
        if allow_decl and toks and toks[0].kind == "var" and not toks[0].fields:
            if len(toks) > 1 and toks[1].kind in (":=", "="):
                decl = [toks[0].value]
                is_assign = toks[1].kind == "="
                i = 2
            elif (
                allow_two and len(toks) > 3 and toks[1].kind == "," and toks[2].kind == "var"
                and toks[3].kind in (":=", "=")
            ):  # fmt: skip
                decl = [toks[0].value, toks[2].value]
                is_assign = toks[3].kind == "="
                i = 4
            elif len(toks) > 1 and toks[1].kind == ",":
                raise _fail(line, f"too many declarations in {context}")
        if is_assign:
            for name in decl:
                if name not in self.vars:
                    raise _fail(line, f'undefined variable "{name}"')
        body_start = toks[i].pos if i < len(toks) else item.pos
        cmds, i = self._commands(toks, i, item, close_paren=False)
        if not cmds:
            raise _fail(line, f"missing value for {context}")
        if not is_assign:
            self.vars.extend(decl)
        text = " | ".join(c.text for c in cmds)
        if decl:
            text = ", ".join(decl) + (" = " if is_assign else " := ") + text
        return PipeNode(body_start, text, decl, is_assign, cmds)

    def _commands(
        self, toks: list[_Tok], i: int, item: _Action, *, close_paren: bool
    ) -> tuple[list[CommandNode], int]:
        cmds: list[CommandNode] = []
        args: list[Node] = []
        while True:
            if i >= len(toks) or toks[i].kind in ("|", ")"):
                end = toks[i].kind if i < len(toks) else ""
                if end == ")" and not close_paren:
                    raise _fail(item.line, "unexpected right paren")
                if not args:
                    if end == "" and cmds and not close_paren:
                        return cmds, i  # Go accepts a trailing "|": {{1 | }}
                    if end == "|":
                        raise _fail(item.line, 'unexpected "|" in command')
                    if end or cmds:
                        raise _fail(item.line, "missing value for command")
                    return cmds, i
                cmds.append(CommandNode(args[0].pos, " ".join(a.text for a in args), args))
                args = []
                if end == "|":
                    i += 1
                    continue
                if end == ")":
                    return cmds, i + 1
                if close_paren:
                    raise _fail(item.line, "unclosed left paren")
                return cmds, i
            node, i = self._operand(toks, i, item)
            args.append(node)

    def _operand(self, toks: list[_Tok], i: int, item: _Action) -> tuple[Node, int]:
        tok = toks[i]
        line = item.line
        i += 1
        node: Node
        if tok.kind == "field":
            # Go places a chain of fields at its second field (parse.Tree's newChain)
            pos = tok.pos + 1 + len(tok.fields[0]) if len(tok.fields) > 1 else tok.pos
            return FieldNode(pos, "." + ".".join(tok.fields), tok.fields), i
        if tok.kind == "var":
            if tok.value not in self.vars:
                raise _fail(line, f'undefined variable "{tok.value}"')
            text = tok.value + "".join("." + f for f in tok.fields)
            pos = tok.pos + len(tok.value) if tok.fields else tok.pos
            return VariableNode(pos, text, tok.value, tok.fields), i
        if tok.kind == "dot":
            node = DotNode(tok.pos, ".")
        elif tok.kind == "ident":
            if tok.value in ("true", "false"):
                node = LiteralNode(tok.pos, tok.value, tok.value == "true")
            elif tok.value == "nil":
                node = NilNode(tok.pos, "nil")
            elif tok.value in _KEYWORDS:
                raise _fail(line, f"unexpected <{tok.value}> in command")
            elif tok.value not in self.funcs:
                raise _fail(line, f'function "{tok.value}" not defined')
            else:
                node = IdentifierNode(tok.pos, tok.value)
        elif tok.kind in ("string", "raw"):
            node = LiteralNode(tok.pos, tok.value, unquote(tok, line))
        elif tok.kind == "char":
            value = unquote(tok, line)
            if len(value) != 1:
                raise _fail(line, f"malformed character constant: {tok.value}")
            node = LiteralNode(tok.pos, tok.value, ord(value))
        elif tok.kind == "number":
            try:
                node = LiteralNode(tok.pos, tok.value, parse_number(tok.value))
            except TemplateError:
                raise _fail(line, f'bad number syntax: "{tok.value}"') from None
        elif tok.kind == "(":
            cmds, i = self._commands(toks, i, item, close_paren=True)
            text = "(" + " | ".join(c.text for c in cmds) + ")"
            node = PipeNode(tok.pos, text, [], False, cmds)
        elif tok.kind == ")":
            raise _fail(line, "unexpected right paren")
        else:
            raise _fail(line, f'unexpected "{tok.value}" in operand')
        if i < len(toks) and toks[i].kind == "dot" and not toks[i].space_before:
            raise _fail(line, "unexpected <.> in operand")
        if i < len(toks) and toks[i].kind == "field" and not toks[i].space_before:
            names = toks[i].fields
            if isinstance(node, LiteralNode | NilNode):
                raise _fail(line, f"unexpected . after term {node.text!r}")
            node = ChainNode(toks[i].pos, node.text + "." + ".".join(names), node, names)
            i += 1
        return node, i
