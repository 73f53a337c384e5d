"""The nodes of a parsed template (Go's ``text/template/parse`` tree, the subset used) and
the error every parse or execution failure raises."""

from __future__ import annotations

from dockyard.errors import InvalidArgument


class TemplateError(InvalidArgument):
    """A template that does not parse or does not execute; the message is Go's
    (``template: :1: function "foo" not defined``), docker prefixes it with
    ``template parsing error: ``."""


class Node:
    __slots__ = ("pos", "text")

    def __init__(self, pos: int, text: str) -> None:
        self.pos = pos  # byte offset in the source, for Go's "line:col" in errors
        self.text = text  # the node as Go's String() prints it, for "at <...>"


class TextNode(Node):
    __slots__ = ()


class FieldNode(Node):
    __slots__ = ("names",)

    def __init__(self, pos: int, text: str, names: list[str]) -> None:
        super().__init__(pos, text)
        self.names = names


class VariableNode(Node):
    __slots__ = ("name", "names")

    def __init__(self, pos: int, text: str, name: str, names: list[str]) -> None:
        super().__init__(pos, text)
        self.name = name
        self.names = names


class DotNode(Node):
    __slots__ = ()


class NilNode(Node):
    __slots__ = ()


class IdentifierNode(Node):
    __slots__ = ()


class LiteralNode(Node):
    __slots__ = ("value",)

    def __init__(self, pos: int, text: str, value: object) -> None:
        super().__init__(pos, text)
        self.value = value


class ChainNode(Node):
    __slots__ = ("names", "node")

    def __init__(self, pos: int, text: str, node: Node, names: list[str]) -> None:
        super().__init__(pos, text)
        self.node = node
        self.names = names


class CommandNode(Node):
    __slots__ = ("args",)

    def __init__(self, pos: int, text: str, args: list[Node]) -> None:
        super().__init__(pos, text)
        self.args = args


class PipeNode(Node):
    __slots__ = ("cmds", "decl", "is_assign")

    def __init__(
        self, pos: int, text: str, decl: list[str], is_assign: bool, cmds: list[CommandNode]
    ) -> None:
        super().__init__(pos, text)
        self.decl = decl
        self.is_assign = is_assign
        self.cmds = cmds


class ActionNode(Node):
    __slots__ = ("pipe",)

    def __init__(self, pos: int, text: str, pipe: PipeNode) -> None:
        super().__init__(pos, text)
        self.pipe = pipe


class BranchNode(Node):
    """``if``, ``range`` and ``with``: a pipeline, a body and an optional else body."""

    __slots__ = ("body", "else_body", "kind", "pipe")

    def __init__(
        self, pos: int, text: str, kind: str, pipe: PipeNode, body: list[Node],
        else_body: list[Node] | None,
    ) -> None:  # fmt: skip
        super().__init__(pos, text)
        self.kind = kind
        self.pipe = pipe
        self.body = body
        self.else_body = else_body


class LoopControlNode(Node):
    """``break`` or ``continue`` (in ``text``)."""

    __slots__ = ()


class TemplateNode(Node):
    """``{{template "name" pipeline}}`` (and the call half of ``{{block}}``)."""

    __slots__ = ("name", "pipe")

    def __init__(self, pos: int, text: str, name: str, pipe: PipeNode | None) -> None:
        super().__init__(pos, text)
        self.name = name
        self.pipe = pipe
