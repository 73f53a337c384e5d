from __future__ import annotations

import pytest

from dockyard.runtime.cli import UsageError, main, parse_flags


def test_go_style_flags() -> None:
    a = parse_flags(["--bundle=/b", "-d", "--pid-file", "/p", "id"],
                    {"bundle": "bundle", "pid-file": "pid-file"}, {"d": "detach"})
    assert a.get("bundle") == "/b"
    assert a.get("pid-file") == "/p"
    assert a.bools == {"detach"}
    assert a.positional == ["id"]


def test_exec_args_after_the_id_are_the_command() -> None:
    a = parse_flags(["-t", "c1", "sh", "-c", "echo -e"], {}, {"t": "tty"},
                    stop_at_first_positional=True)
    assert a.positional == ["c1", "sh", "-c", "echo -e"]


def test_unknown_flag_and_missing_value() -> None:
    with pytest.raises(UsageError, match="not defined"):
        parse_flags(["--nope"], {}, {})
    with pytest.raises(UsageError, match="needs an argument"):
        parse_flags(["--bundle"], {"bundle": "bundle"}, {})


def test_main_reports_usage_errors_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err
    assert main(["--root", "/nonexistent-dockyard-root", "state", "nope"]) == 1
    assert "does not exist" in capsys.readouterr().err
