"""The pflag-like parser: Docker's syntax and Docker's error words, no daemon."""

from __future__ import annotations

import pytest

from dockyard.cli.args import BOOL, INT, LIST, STRING, Flag, Spec, UsageError
from dockyard.cli.commands.run import RUN


def spec(**kw: object) -> Spec:
    return Spec("dockyard x", "dockyard x [OPTIONS] ARG...", "A command", [
        Flag("detach", BOOL, "", short="d"),
        Flag("interactive", BOOL, "", short="i"),
        Flag("tty", BOOL, "", short="t"),
        Flag("env", LIST, "", short="e"),
        Flag("name", STRING, ""),
        Flag("count", INT, "", short="n", default=-1),
    ], **kw)  # type: ignore[arg-type]


def test_short_flags_bundle_and_values_attach() -> None:
    o = spec().parse(["-dit", "-eA=1", "-e", "B=2", "--env=C=3", "--env", "D", "-n5", "x"])
    assert o.flag("detach") and o.flag("interactive") and o.flag("tty")
    assert o.values("env") == ["A=1", "B=2", "C=3", "D"]
    assert o.number("count") == 5
    assert o.args == ["x"]


def test_value_flags_take_the_next_word_even_with_a_dash() -> None:
    o = spec().parse(["--name", "-weird", "-n", "-1"])
    assert o.text("name") == "-weird"
    assert o.number("count") == -1
    assert o.given("count") and not o.given("env")


def test_bool_takes_an_explicit_value_but_never_the_next_word() -> None:
    o = spec().parse(["--detach=false", "-i=true", "true"])
    assert not o.flag("detach") and o.flag("interactive")
    assert o.args == ["true"]


def test_last_string_wins_and_defaults_apply() -> None:
    o = spec().parse(["--name", "a", "--name=b"])
    assert o.text("name") == "b"
    assert o.number("count") == -1


def test_interspersed_and_not() -> None:
    assert spec().parse(["a", "-d", "b"]).args == ["a", "b"]
    o = spec(interspersed=False).parse(["-d", "image", "sh", "-c", "-d"])
    assert o.flag("detach") and o.args == ["image", "sh", "-c", "-d"]


def test_double_dash_ends_the_flags() -> None:
    assert spec().parse(["--", "-d", "--x"]).args == ["-d", "--x"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--nope"], "unknown flag: --nope"),
    (["-x"], "unknown shorthand flag: 'x' in -x"),
    (["-dx"], "unknown shorthand flag: 'x' in -dx"),
    (["--name"], "flag needs an argument: --name"),
    (["-e"], "flag needs an argument: 'e' in -e"),
    (["-n", "abc"], 'invalid argument "abc" for "-n, --count" flag: strconv.ParseInt: '
                    'parsing "abc": invalid syntax'),
    (["--detach=maybe"], 'invalid argument "maybe" for "-d, --detach" flag'),
])
def test_errors_are_dockers_words_and_status_125(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as err:
        spec().parse(argv)
    assert err.value.message.startswith(message)
    assert err.value.status == 125
    assert err.value.spec is not None
    text = err.value.spec.usage_error(err.value)
    assert "Usage:  dockyard x [OPTIONS] ARG..." in text
    assert "Run 'dockyard x --help' for more information" in text


def test_argument_counts_are_status_1() -> None:
    with pytest.raises(UsageError) as err:
        spec(min_args=1).parse([])
    assert err.value.status == 1
    assert err.value.message == "dockyard: 'dockyard x' requires at least 1 argument"
    with pytest.raises(UsageError) as err:
        spec(max_args=0).parse(["a"])
    assert err.value.message == "dockyard: 'dockyard x' accepts no arguments"
    with pytest.raises(UsageError) as err:
        spec(min_args=2, max_args=2).parse(["a"])
    assert err.value.message == "dockyard: 'dockyard x' requires 2 arguments"
    assert "Run 'dockyard x --help'" in spec().usage_error(err.value)
    with pytest.raises(UsageError) as err:
        spec(min_args=1, max_args=2).parse(["a", "b", "c"])
    assert err.value.message == ("dockyard: 'dockyard x' requires at least 1 and at most 2 "
                                 "arguments")
    with pytest.raises(UsageError) as err:
        spec(min_args=1).parse([])
    assert "See 'dockyard x --help'" in spec().usage_error(err.value)


def test_help_skips_the_count_check_and_lists_the_flags() -> None:
    o = spec(min_args=1).parse(["--help"])
    assert o.flag("help")
    text = spec().help()
    assert "Usage:  dockyard x [OPTIONS] ARG..." in text
    assert "  -d, --detach" in text and "      --name string" in text
    assert "(default -1)" in text


def test_converters_report_dockers_message() -> None:
    with pytest.raises(UsageError) as err:
        RUN.parse(["-m", "xyz", "busybox"])
    assert err.value.message == ('invalid argument "xyz" for "-m, --memory" flag: '
                                 "invalid size: 'xyz'")


def test_run_keeps_h_for_hostname_and_help_long_only() -> None:
    o = RUN.parse(["-h", "box", "busybox", "--help"])
    assert o.text("hostname") == "box" and not o.flag("help")
    assert o.args == ["busybox", "--help"]
