"""Rendering: Docker's status strings, inspect and summary shapes, times, log frames."""

from __future__ import annotations

import pytest

from dockyard.apitypes.containers import (
    human_duration,
    inspect_json,
    status_text,
    summary_json,
    wait_json,
)
from dockyard.apitypes.streams import encode_log_entry, frame, parse_log_query
from dockyard.apitypes.times import format_ns, parse_duration, parse_rfc3339, parse_timestamp
from dockyard.apitypes.version import check
from dockyard.daemon.containers.config import ContainerConfig, HostConfig
from dockyard.daemon.containers.model import Container, LogEntry, State, Status, WaitResult
from dockyard.errors import InvalidArgument

S = 10**9


@pytest.mark.parametrize(("secs", "text"), [
    (0.5, "Less than a second"), (1, "1 second"), (3, "3 seconds"), (59, "59 seconds"),
    (60, "About a minute"), (119, "About a minute"), (120, "2 minutes"),
    (3599, "59 minutes"), (3600, "About an hour"), (2 * 3600, "2 hours"),
    (47 * 3600, "47 hours"), (48 * 3600, "2 days"), (14 * 86400, "2 weeks"),
    (60 * 86400, "2 months"), (2 * 365 * 86400, "2 years"),
])
def test_human_duration(secs: float, text: str) -> None:
    assert human_duration(secs) == text


def test_status_text() -> None:
    now = 1000 * S
    assert status_text(State(), now) == "Created"
    assert status_text(State(Status.RUNNING, started_ns=now - 3 * S), now) == "Up 3 seconds"
    assert status_text(State(Status.PAUSED, started_ns=now - 5 * S), now) == \
        "Up 5 seconds (Paused)"
    assert status_text(State(Status.EXITED, exit_code=2, started_ns=1, finished_ns=now - 120
                             * S), now) == "Exited (2) 2 minutes ago"
    assert status_text(State(Status.CREATED, exit_code=127, error="x"), now) == "Created"
    assert status_text(State(Status.REMOVING), now) == "Removal In Progress"


def test_times() -> None:
    assert format_ns(0) == "0001-01-01T00:00:00Z"
    assert format_ns(1700000000 * S + 120_000_000) == "2023-11-14T22:13:20.12Z"
    assert parse_rfc3339("2023-11-14T22:13:20.12Z") == 1700000000 * S + 120_000_000
    assert parse_rfc3339("2023-11-14T23:13:20+01:00") == 1700000000 * S
    assert parse_timestamp("1700000000.5") == 1700000000 * S + S // 2
    assert parse_timestamp("10m", now_ns=1000 * S) == 400 * S
    assert parse_duration("1h30m") == 5400 * S
    with pytest.raises(InvalidArgument):
        parse_timestamp("yesterday")


def test_versions() -> None:
    assert check("1.45") == "1.45" and check("1.24") == "1.24"
    for bad in ("1.46", "1.23", "2.0", "x"):
        with pytest.raises(InvalidArgument):
            check(bad)


def test_container_shapes() -> None:
    c = Container(id="a" * 64, name="web", created_ns=1700000000 * S, image_id="sha256:x",
                  config=ContainerConfig(image="busybox", cmd=("sh", "-c", "echo a b")),
                  host_config=HostConfig(), path="sh", args=("-c", "echo a b"),
                  state=State(Status.RUNNING, pid=42, started_ns=1700000001 * S))
    i = inspect_json(c)
    assert (i["Name"], i["Path"], i["Args"], i["Created"]) == (
        "/web", "sh", ["-c", "echo a b"], "2023-11-14T22:13:20Z")
    assert i["State"]["Running"] and i["State"]["Pid"] == 42
    assert i["State"]["FinishedAt"] == "0001-01-01T00:00:00Z"
    assert i["HostConfig"]["LogConfig"]["Type"] == "json-file"
    assert i["HostConfig"]["NetworkMode"] == "bridge"
    assert set(i["NetworkSettings"]["Networks"]) == {"bridge"}
    s = summary_json(c, now_ns=1700000011 * S)
    assert s["Command"] == "sh -c 'echo a b'" and s["Status"] == "Up 10 seconds"
    assert s["Names"] == ["/web"] and s["State"] == "running"
    assert wait_json(WaitResult(3)) == {"StatusCode": 3, "Error": None}
    assert wait_json(WaitResult(1, "boom")) == {"StatusCode": 1, "Error": {"Message": "boom"}}


def test_log_frames_and_queries() -> None:
    assert frame("stderr", b"hi") == b"\x02\x00\x00\x00\x00\x00\x00\x02hi"
    e = LogEntry("stdout", b"x\n", 1700000000 * S + 5, "2023-11-14T22:13:20.000000005Z")
    assert encode_log_entry(e, tty=True, timestamps=True) == \
        b"2023-11-14T22:13:20.000000005Z x\n"
    assert encode_log_entry(e, tty=False, timestamps=False) == frame("stdout", b"x\n")
    q = parse_log_query({"stdout": "1", "tail": "5", "follow": "true", "since": "10"})
    assert (q.stdout, q.stderr, q.tail, q.follow, q.since_ns) == (True, False, 5, True,
                                                                    10 * S)
    assert parse_log_query({"stderr": "1", "tail": "all"}).tail is None
    with pytest.raises(InvalidArgument, match="at least one stream"):
        parse_log_query({})
