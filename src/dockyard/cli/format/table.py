"""docker's ``--format`` output: the ``table`` prefix, the header row and tabwriter.

docker's formatter (``cli/command/formatter/formatter.go``) turns a format into rows:
``table ...`` renders a header row (the template run over the column titles with the
header functions) and every row through Go's text/tabwriter with minwidth 10, tabwidth 1,
padding 3, padchar ' ' and no flags; ``json`` is ``{{json .}}``; anything else renders
each row followed by a newline, unaligned. Literal ``\\t`` and ``\\n`` in the format become
a tab and a newline, and spaces around it are trimmed.
"""

from __future__ import annotations

from dockyard.cli.format import template

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

TABLE_KEY = "table"
JSON_KEY = "json"


class TabWriter:
    """Go's text/tabwriter (elastic tabstops) as docker vendors it: cells end at ``\\t``
    (or ``\\v``), lines at ``\\n`` (``\\f`` also ends every column); a column block is a
    run of consecutive lines having that column; each tab-terminated cell is padded to
    its block's widest cell plus ``padding`` (at least ``minwidth``); the text after a
    line's last tab is not part of any column."""

    def __init__(
        self, minwidth: int = 10, tabwidth: int = 1, padding: int = 3, padchar: str = " "
    ) -> None:
        self.minwidth = minwidth
        self.tabwidth = tabwidth
        self.padding = padding
        self.padchar = padchar
        self._out: list[str] = []
        self._lines: list[list[tuple[str, int, bool]]] = [[]]
        self._cell: list[str] = []
        self._widths: list[int] = []

    def write(self, text: str) -> None:
        if "\v" not in text and "\f" not in text:
            self._write_split(text)
            return
        start = 0
        for i, ch in enumerate(text):
            if ch in "\t\v\n\f":
                self._cell.append(text[start:i])
                start = i + 1
                ncells = self._terminate_cell(ch == "\t")
                if ch in "\n\f":
                    self._lines.append([])
                    if ch == "\f" or ncells == 1:
                        # a line of one cell cannot affect the following lines' layout
                        self._flush()
        self._cell.append(text[start:])

    def _write_split(self, text: str) -> None:
        """``write`` for text without ``\\v``/``\\f``: whole lines and cells by splitting."""
        lines = text.split("\n")
        for index, line in enumerate(lines):
            cells = line.split("\t")
            last = len(cells) - 1
            for j, cell in enumerate(cells):
                if j < last:
                    self._cell.append(cell)
                    self._terminate_cell(True)
            if index < len(lines) - 1:
                self._cell.append(cells[last])
                ncells = self._terminate_cell(False)
                self._lines.append([])
                if ncells == 1:
                    self._flush()
            else:
                self._cell.append(cells[last])

    def getvalue(self) -> str:
        """Flush and return everything written so far."""
        self._flush()
        text = "".join(self._out)
        self._out = []
        return text

    def _terminate_cell(self, htab: bool) -> int:
        text = "".join(self._cell)
        self._cell = []
        line = self._lines[-1]
        line.append((text, display_width(text), htab))
        return len(line)

    def _flush(self) -> None:
        if any(self._cell):
            self._terminate_cell(False)
        self._cell = []
        self._format(0, len(self._lines))
        self._lines = [[]]
        self._widths = []

    def _write_lines(self, line0: int, line1: int) -> None:
        out = self._out
        widths = self._widths
        for i in range(line0, line1):
            for j, (text, width, _htab) in enumerate(self._lines[i]):
                out.append(text)
                if j < len(widths):
                    out.append(self.padchar * (widths[j] - width))
            if i + 1 < len(self._lines):
                out.append("\n")

    def _format(self, line0: int, line1: int) -> None:
        column = len(self._widths)
        this = line0
        while this < line1:
            if column >= len(self._lines[this]) - 1:
                this += 1
                continue
            # the lines from here on have a cell in this column: a column block
            self._write_lines(line0, this)
            line0 = this
            width = self.minwidth
            while this < line1:
                line = self._lines[this]
                if column >= len(line) - 1:
                    break
                width = max(width, line[column][1] + self.padding)
                this += 1
            self._widths.append(width)
            self._format(line0, this)
            self._widths.pop()
            line0 = this
        self._write_lines(line0, line1)


def display_width(text: str) -> int:
    """Terminal columns of ``text`` (go-runewidth: East Asian wide and fullwidth are 2,
    combining marks 0)."""
    if text.isascii():
        return len(text)
    import unicodedata

    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def prepare(fmt: str) -> tuple[str, bool]:
    """docker's ``preFormat``: the template text and whether it is a table."""
    is_table = fmt.startswith(TABLE_KEY)
    if is_table:
        fmt = fmt[len(TABLE_KEY) :]
    elif fmt == JSON_KEY:
        fmt = "{{json .}}"
    fmt = fmt.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    return fmt, is_table


def render_rows(fmt: str, rows: Iterable[object], headers: Mapping[str, str] | None = None) -> str:
    """All of a list command's output for ``fmt`` (``table ...``, ``json`` or a plain
    template) over ``rows``; ``headers`` maps field names to column titles ("ID" →
    "CONTAINER ID"). Raises ``TemplateError`` with docker's "template parsing error: "."""
    text, is_table = prepare(fmt)
    try:
        tmpl = template.compile(text)
        body = [tmpl.execute(row) + "\n" for row in rows]
        head = ""
        if is_table:
            try:
                head = tmpl.execute(dict(headers or {}), header=True)
            except template.TemplateError:
                head = ""  # docker ignores the header's errors and prints what it has
    except template.TemplateError as err:
        raise template.TemplateError(f"template parsing error: {err}") from None
    if not is_table:
        return "".join(body)
    writer = TabWriter()
    writer.write(head)
    writer.write("\n")
    for line in body:
        writer.write(line)
    return writer.getvalue()
