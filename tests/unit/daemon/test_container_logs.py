"""Reading json-file logs: all, tail across rotated files, time and stream filters, and
following a live file through a rotation."""

from __future__ import annotations

import json
import os
from pathlib import Path

from logs_reference import read

from dockyard.daemon.containers.logs import Follower
from dockyard.daemon.containers.model import LogQuery


def entry(i: int, stream: str = "stdout") -> str:
    when = f"2024-01-01T00:00:{i:02d}.5Z"
    return json.dumps({"log": f"line {i}\n", "stream": stream, "time": when}) + "\n"


def texts(entries: list) -> list[str]:  # type: ignore[type-arg]
    return [e.data.decode().strip() for e in entries]


def write_rotated(path: Path) -> None:
    Path(f"{path}.2").write_text("".join(entry(i) for i in range(0, 3)))
    Path(f"{path}.1").write_text("".join(entry(i) for i in range(3, 6)))
    path.write_text("".join(entry(i, "stderr" if i % 2 else "stdout") for i in range(6, 9))
                    + '{"log": "partial')


def test_read_all_in_order_across_rotated_files(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write_rotated(log)
    assert texts(read(str(log), LogQuery())) == [f"line {i}" for i in range(9)]


def test_tail_spans_files(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write_rotated(log)
    assert texts(read(str(log), LogQuery(tail=5))) == [f"line {i}" for i in range(4, 9)]
    assert texts(read(str(log), LogQuery(tail=0))) == []
    assert texts(read(str(log), LogQuery(tail=100))) == [f"line {i}" for i in range(9)]


def test_filters(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write_rotated(log)
    base = 1704067200 * 10**9
    q = LogQuery(since_ns=base + 4 * 10**9, until_ns=base + 7 * 10**9)
    assert texts(read(str(log), q)) == ["line 4", "line 5", "line 6"]
    assert texts(read(str(log), LogQuery(stdout=False))) == ["line 7"]
    e = read(str(log), LogQuery(tail=1))[0]
    assert (e.stream, e.time_ns) == ("stdout", base + 8 * 10**9 + 500_000_000)


def test_missing_log_is_empty(tmp_path: Path) -> None:
    assert read(str(tmp_path / "none.log"), LogQuery()) == []


def test_follower_reads_appends_and_rotations(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    log.write_text(entry(0))
    f = Follower(str(log))
    assert f.offset == log.stat().st_size
    assert texts(read(str(log), LogQuery(), live_end=f.offset)) == ["line 0"]
    with open(log, "a") as out:
        out.write(entry(1))
        out.write(entry(2)[:10])  # half a line: not yet
    assert texts(f.poll()) == ["line 1"]
    with open(log, "a") as out:
        out.write(entry(2)[10:])
        out.write(entry(3))
    os.rename(log, f"{log}.1")  # rotation: the rest of the old file, then the new one
    log.write_text(entry(4))
    assert texts(f.poll()) == ["line 2", "line 3", "line 4"]
    assert f.poll() == []
    f.close()
