"""go-units sizes and durations and docker's truncations, no daemon."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from dockyard.cli.format import human


@pytest.mark.parametrize(
    ("size", "precision", "want"),
    [
        (0, 4, "0B"),
        (999, 4, "999B"),
        (1000, 4, "1kB"),
        (1024, 4, "1.024kB"),
        (1_000_000, 4, "1MB"),
        (1_048_576, 4, "1.049MB"),
        (5_242_880, 4, "5.243MB"),
        (3.42e9, 4, "3.42GB"),
        (5.372e12, 4, "5.372TB"),
        (2.22e15, 4, "2.22PB"),
        (4_261_552, 3, "4.26MB"),
        (1_240_000, 3, "1.24MB"),
        (999_950, 4, "1000kB"),
        (12_345, 3, "12.3kB"),
    ],
)
def test_human_size(size: float, precision: int, want: str) -> None:
    assert human.human_size(size, precision) == want


@pytest.mark.parametrize(
    ("size", "want"),
    [(0, "0B"), (1024, "1KiB"), (1536, "1.5KiB"), (1024**2, "1MiB"), (1.5 * 1024**3, "1.5GiB")],
)
def test_bytes_size(size: float, want: str) -> None:
    assert human.bytes_size(size) == want


MIN, HOUR, DAY = 60, 3600, 86400


@pytest.mark.parametrize(
    ("seconds", "want"),
    [
        (0.45, "Less than a second"),
        (1, "1 second"),
        (3, "3 seconds"),
        (59.9, "59 seconds"),
        (60, "About a minute"),
        (119, "About a minute"),
        (180, "3 minutes"),
        (35 * MIN + 40, "35 minutes"),
        (HOUR, "About an hour"),
        (HOUR + 29 * MIN, "About an hour"),
        (HOUR + 45 * MIN, "2 hours"),
        (47 * HOUR, "47 hours"),
        (48 * HOUR, "2 days"),
        (13 * DAY + 23 * HOUR, "13 days"),
        (14 * DAY, "2 weeks"),
        (30 * DAY, "4 weeks"),
        (60 * DAY, "2 months"),
        (365 * DAY, "12 months"),
        (730 * DAY, "2 years"),
    ],
)
def test_human_duration(seconds: float, want: str) -> None:
    assert human.human_duration(seconds) == want


def test_since() -> None:
    assert human.since(1000, now=1000 + 2 * HOUR) == "2 hours ago"
    assert human.since(1000, now=1000.2) == "Less than a second ago"


def test_truncate_id() -> None:
    assert human.truncate_id("sha256:0123456789abcdef0123") == "0123456789ab"
    assert human.truncate_id("0123456789abcdef") == "0123456789ab"
    assert human.truncate_id("abc") == "abc"


def test_ellipsis_and_command() -> None:
    assert human.ellipsis("hello", 5) == "hello"
    assert human.ellipsis("hello!", 5) == "hell…"
    assert human.ellipsis("日本語テキスト", 6) == "日本…"
    assert human.ellipsis("abc", 1) == "a"
    assert human.ellipsis("abc", 0) == ""
    assert human.command("sh -c 'echo hello world'") == '"sh -c \'echo hello w…"'
    assert human.command("sleep 100") == '"sleep 100"'
    assert human.command('echo "x"', trunc=False) == '"echo \\"x\\""'


@pytest.fixture
def utc() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_go_time_and_rfc3339_nano(utc: None) -> None:
    assert human.go_time(1_700_000_000) == "2023-11-14 22:13:20 +0000 UTC"
    assert human.rfc3339_nano(1_700_000_000_000_000_042) == "2023-11-14T22:13:20.000000042Z"


@pytest.mark.parametrize(
    ("kw", "want"),
    [
        ({"running": True, "started": 997}, "Up 3 seconds"),
        ({"running": True, "paused": True, "started": 1000 - 2 * HOUR}, "Up 2 hours (Paused)"),
        ({"running": True, "started": 700, "health": "healthy"}, "Up 5 minutes (healthy)"),
        (
            {"running": True, "started": 999.5, "health": "starting"},
            "Up Less than a second (health: starting)",
        ),
        (
            {"running": True, "restarting": True, "exit_code": 1, "finished": 998},
            "Restarting (1) 2 seconds ago",
        ),
        (
            {"running": False, "started": 1, "finished": 1000 - 120, "exit_code": 0},
            "Exited (0) 2 minutes ago",
        ),
        (
            {"running": False, "started": 1, "finished": 1, "exit_code": 137},
            "Exited (137) 16 minutes ago",
        ),
        ({"running": False}, "Created"),
        ({"running": False, "dead": True, "started": 1}, "Dead"),
        ({"running": False, "removing": True}, "Removal In Progress"),
    ],
)
def test_status_as_moby(kw: dict[str, object], want: str) -> None:
    assert human.status(now=1000, **kw) == want  # type: ignore[arg-type]
