"""docker's tabwriter and the ``table``/``json``/plain ``--format`` handling, no daemon."""

from __future__ import annotations

import pytest

from dockyard.cli.format.table import TabWriter, display_width, prepare, render_rows
from dockyard.cli.format.template import TemplateError

PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "RunningFor": "CREATED",
    "Status": "STATUS",
    "Ports": "PORTS",
    "Names": "NAMES",
}
PS_TABLE = "table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Ports}}\\t{{.Names}}"


def tab(text: str, **kw: int | str) -> str:
    w = TabWriter(**kw)  # type: ignore[arg-type]
    w.write(text)
    return w.getvalue()


def test_elastic_tabstops_as_go_example() -> None:
    # Go's text/tabwriter Example_elastic, left-aligned: b and d are distinct columns
    got = tab("a\tb\tc\naa\tbb\tcc\naaa\t\naaaa\tdddd\teeee\n", minwidth=0, padding=1, padchar=".")
    assert got == "a....b..c\naa...bb.cc\naaa..\naaaa.dddd.eeee\n"


def test_docker_ps_header_with_no_rows() -> None:
    out = render_rows(PS_TABLE, [], PS_HEADERS)
    assert out == "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"


def test_docker_ps_rows_align_under_the_header() -> None:
    rows = [
        {
            "ID": "4f66ad9a0b2e",
            "Image": "busybox",
            "Command": '"sh"',
            "RunningFor": "2 minutes ago",
            "Status": "Up 2 minutes",
            "Ports": "",
            "Names": "web",
        },
        {
            "ID": "0123456789ab",
            "Image": "debian:bookworm",
            "Command": '"sleep 100"',
            "RunningFor": "About an hour ago",
            "Status": "Exited (0) 3 seconds ago",
            "Ports": "",
            "Names": "a_long_container_name",
        },
    ]
    lines = render_rows(PS_TABLE, rows, PS_HEADERS).splitlines()
    assert lines == [
        "CONTAINER ID   IMAGE             COMMAND       CREATED             STATUS                     PORTS     NAMES",
        '4f66ad9a0b2e   busybox           "sh"          2 minutes ago       Up 2 minutes                         web',
        '0123456789ab   debian:bookworm   "sleep 100"   About an hour ago   Exited (0) 3 seconds ago             a_long_container_name',
    ]


def test_a_line_without_tabs_ends_the_column_block() -> None:
    assert (
        tab("a\tb\nlong line\nccccccccccccc\td\n") == "a         b\nlong line\nccccccccccccc   d\n"
    )


def test_wide_characters_count_two_columns() -> None:
    assert display_width("日本") == 4
    assert display_width("e\u0301") == 1
    assert tab("日本\tx\nab\ty\n", minwidth=0, padding=1) == "日本 x\nab   y\n"


def test_prepare_handles_table_json_and_escapes() -> None:
    assert prepare("table {{.ID}}\\t{{.Names}}") == ("{{.ID}}\t{{.Names}}", True)
    assert prepare("json") == ("{{json .}}", False)
    assert prepare("  {{.ID}}\\n ") == ("{{.ID}}\n", False)
    assert prepare("table") == ("", True)


def test_plain_and_json_formats_write_one_line_per_row() -> None:
    rows = [{"ID": "a", "N": 1}, {"ID": "b", "N": 2}]
    assert render_rows("{{.ID}}:{{.N}}", rows) == "a:1\nb:2\n"
    assert render_rows("json", rows) == '{"ID":"a","N":1}\n{"ID":"b","N":2}\n'
    assert render_rows("{{.ID}}\\t{{.N}}", rows) == "a\t1\nb\t2\n"  # no tabwriter without table


def test_table_header_uses_header_functions_and_unknown_fields() -> None:
    out = render_rows("table {{upper .Names}}\\t{{.ID}}", [{"Names": "web", "ID": "x"}], PS_HEADERS)
    assert out == "NAMES     CONTAINER ID\nWEB       x\n"


def test_bad_template_is_a_template_parsing_error() -> None:
    with pytest.raises(TemplateError) as err:
        render_rows("{{.ID", [])
    assert str(err.value) == "template parsing error: template: :1: unclosed action"
    with pytest.raises(TemplateError) as err:
        render_rows("{{.Nope.X}}", ["text"])
    assert str(err.value).startswith("template parsing error: template: :1:7: executing")


def test_split_fast_path_equals_the_character_scan() -> None:
    """Text without \\v or \\f is cut with str.split; with them, character by character
    (\\v ends a cell as \\t does): both give the same layout, whatever the chunks."""
    import random

    rnd = random.Random(7)
    pieces = ["a", "bb", "ccccc", "\t", "\n", "日", "", "x" * 16]
    for _ in range(400):
        text = "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 40)))
        cut = rnd.randint(0, len(text))
        fast = TabWriter()
        fast.write(text[:cut])
        fast.write(text[cut:])
        soft = text.replace("\t", "\v")
        scan = TabWriter()
        scan.write(soft[:cut])
        scan.write(soft[cut:])
        assert fast.getvalue() == scan.getvalue(), repr(text)
