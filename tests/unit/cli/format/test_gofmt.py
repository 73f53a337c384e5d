"""Go's printing of values (fmt.Sprint, floats, strconv.Quote, Sprintf), no daemon."""

from __future__ import annotations

import pytest

from dockyard.cli.format.gofmt import (
    NO_VALUE,
    format_float,
    go_json,
    quote,
    sprint,
    sprint_value,
    sprintf,
)


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (0.0, "0"),
        (3.0, "3"),
        (0.5, "0.5"),
        (-2.25, "-2.25"),
        (100000.0, "100000"),
        (999999.0, "999999"),
        (1000000.0, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (1e21, "1e+21"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1.5e-7, "1.5e-07"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
        (float("nan"), "NaN"),
        (0.1 + 0.2, "0.30000000000000004"),
    ],
)
def test_floats_print_as_go_v(value: float, want: str) -> None:
    assert format_float(value) == want


def test_sprint_values() -> None:
    assert sprint_value(None) == "<nil>"
    assert sprint_value(NO_VALUE) == "<no value>"
    assert sprint_value(True) == "true"
    assert sprint_value({"b": 1, "a": [1, "x", None]}) == "map[a:[1 x <nil>] b:1]"
    assert sprint_value([]) == "[]"
    assert sprint_value({}) == "map[]"
    assert sprint([1, 2, "a", "b", 3]) == "1 2ab3"


def test_quote() -> None:
    assert quote('a"b\\c\n\t\x01é…') == '"a\\"b\\\\c\\n\\t\\x01é…"'


def test_sprintf() -> None:
    assert sprintf("%s=%v", ["a", [1, 2]]) == "a=[1 2]"
    assert sprintf(
        "%-6s|%6.2f|%+d|%#x|%X|%o|%c|%t", ["ab", 3.14159, 5, 255, 255, 8, 65, False]
    ) == ("ab    |  3.14|+5|0xff|FF|10|A|false")
    assert sprintf("%d", []) == "%!d(MISSING)"
    assert (
        sprintf("%v|%s|%q|%d", [None, None, None, None]) == "<nil>|%!s(<nil>)|%!q(<nil>)|%!d(<nil>)"
    )
    assert sprintf("%d", ["x"]) == "%!d(string=x)"
    assert sprintf("x", [1]) == "x%!(EXTRA int=1)"
    assert sprintf("%q %q", ["a", ["b", "c"]]) == '"a" ["b" "c"]'
    assert sprintf("%05d %e %g", [-42, 1234.5, 0.00001]) == "-0042 1.234500e+03 1e-05"


def test_json_as_go_encoder() -> None:
    assert go_json({"a": "<&>", "b": [1.0, 2.5], "c": None}) == '{"a":"<&>","b":[1,2.5],"c":null}'
    assert go_json(NO_VALUE) == "null"
    assert go_json("é\u2028") == '"é\\u2028"'


def test_json_of_rows_uses_their_wire_form() -> None:
    from dockyard.cli.format.rows import Row

    struct = Row({"APIVersion": "1.45", "GitCommit": ""}, wire={"ApiVersion": "1.45"})
    context = Row({"Digest": "<none>", "ID": lambda: "abc"})
    assert go_json(struct) == '{"ApiVersion":"1.45"}'
    assert go_json({"Client": struct}) == '{"Client":{"ApiVersion":"1.45"}}'
    assert go_json(context) == '{"Digest":"\\u003cnone\\u003e","ID":"abc"}'
