"""json-file logs: Docker's message splitting, entry format, timestamps, rotation."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.runtime.supervisor.clock import rfc3339nano
from dockyard.runtime.supervisor.logs import (
    MAX_MESSAGE,
    JsonFileWriter,
    LineSplitter,
    LogOptions,
    encode_entry,
    encode_output,
    parse_size,
)


def split(*chunks: bytes) -> list[tuple[bytes, bool]]:
    s = LineSplitter()
    out = [m for c in chunks for m in s.feed(c)]
    return out + list(s.flush())


def test_lines_are_cut_at_newlines_across_chunks() -> None:
    assert split(b"a\nb", b"c\n", b"\n") == [(b"a", False), (b"bc", False), (b"", False)]


def test_a_tail_without_newline_is_partial_at_end_of_stream() -> None:
    assert split(b"x\ny") == [(b"x", False), (b"y", True)]


def test_long_lines_become_16k_partial_pieces() -> None:
    line = b"z" * (2 * MAX_MESSAGE + 5)
    assert split(line + b"\n") == [(b"z" * MAX_MESSAGE, True), (b"z" * MAX_MESSAGE, True),
                                   (b"z" * 5, False)]
    # exactly 16 KiB of content: moby's buffer is full before the newline arrives
    assert split(b"q" * MAX_MESSAGE + b"\n") == [(b"q" * MAX_MESSAGE, True), (b"", False)]
    # a long incomplete line is emitted as it fills, not held
    s = LineSplitter()
    assert list(s.feed(b"w" * (MAX_MESSAGE + 1))) == [(b"w" * MAX_MESSAGE, True)]
    assert list(s.flush()) == [(b"w", True)]


def test_entry_format_is_dockers() -> None:
    line = encode_entry(b"h\xc3\xa9llo <&>", False, "stdout", 1_700_000_000_123_456_789)
    assert line == ('{"log":"héllo <&>\\n","stream":"stdout",'
                    '"time":"2023-11-14T22:13:20.123456789Z"}\n').encode()
    partial = json.loads(encode_entry(b"\xff", True, "stderr", 0))
    assert partial == {"log": "\ufffd", "stream": "stderr", "time": "1970-01-01T00:00:00Z"}


def test_timestamps_trim_zeros_like_go_rfc3339nano() -> None:
    assert rfc3339nano(1_700_000_000_100_000_000) == "2023-11-14T22:13:20.1Z"
    assert rfc3339nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert rfc3339nano(1_700_000_000_000_000_001) == "2023-11-14T22:13:20.000000001Z"


def test_options_parse_dockers_strings() -> None:
    assert LogOptions.from_config({}) == LogOptions(10 << 20, 2)  # rotated by default
    assert LogOptions.from_config({"max-size": "-1"}) == LogOptions(None, 1)
    assert LogOptions.from_config({"max-size": "10m", "max-file": "3"}) == LogOptions(
        10 << 20, 3)
    assert parse_size("1.5k") == 1536 and parse_size("2g") == 2 << 30 and parse_size("7") == 7
    for bad in ({"max-size": "ten"}, {"max-file": "0"}, {"max-file": "x", "max-size": "1k"},
                {"max-file": "2"}, {"labels": "a"}):
        with pytest.raises(errors.InvalidArgument):
            LogOptions.from_config(bad)
    with pytest.raises(errors.NotImplementedByDockyard):
        LogOptions.from_config({"compress": "true"})


def entries(path: Path) -> list[str]:
    return [json.loads(line)["log"] for line in path.read_text().splitlines()]


def test_rotation_keeps_max_file_files(tmp_path: Path) -> None:
    path = tmp_path / "c" / "c-json.log"
    w = JsonFileWriter(str(path), LogOptions(max_size=200, max_file=3))
    try:
        for i in range(40):
            w.write("stdout", f"line {i:02}".encode(), False, 0)
        w.sync()
    finally:
        w.close()
    files = [Path(f"{path}.2"), Path(f"{path}.1"), path]
    assert all(f.exists() for f in files) and not Path(f"{path}.3").exists()
    lines = [x for f in files for x in entries(f)]
    first = int(lines[0].split()[1])
    assert lines == [f"line {i:02}\n" for i in range(first, 40)]
    for f in files[:2]:
        assert 200 <= f.stat().st_size < 200 + 80


def test_max_file_one_truncates_and_reopening_appends(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    w = JsonFileWriter(str(path), LogOptions(max_size=100, max_file=1))
    for i in range(10):
        w.write("stdout", f"{i}".encode(), False, 0)
    w.close()
    assert list(tmp_path.iterdir()) == [path]
    assert path.stat().st_size < 100 + 80
    w = JsonFileWriter(str(path), LogOptions())
    w.write("stderr", b"again", False, 0)
    w.close()
    assert entries(path)[-1] == "again\n" and len(entries(path)) >= 2


def test_encode_output_equals_line_by_line_encoding() -> None:
    """The chunk-at-once path (plain lines) and the line-by-line one give the same bytes
    for any chunking: escapes, invalid UTF-8, 16K pieces, partial tails."""
    rnd = random.Random(7)
    pieces = [b"a", b"\n", b"\n", b'"', b"\\", b"\x01", "\u00e9".encode(), b"\xff", b"\t"]
    for trial in range(1500):
        data = b"".join(rnd.choice(pieces) if rnd.random() < 0.3 else b"x" * rnd.randint(0, 5)
                        for _ in range(rnd.randint(0, 60)))
        if trial % 50 == 0:
            data += b"y" * rnd.randint(MAX_MESSAGE - 3, 2 * MAX_MESSAGE + 3) + b"\nz\n"
        cuts = sorted(rnd.randint(0, len(data)) for _ in range(rnd.randint(0, 4)))
        chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        slow, fast = LineSplitter(), LineSplitter()
        expected = b"".join(encode_entry(m, p, "stdout", 5) for c in chunks for m, p in slow.feed(c))
        got = b"".join(encode_output(fast, c, "stdout", 5) for c in chunks)
        assert got == expected, chunks
        assert list(fast.flush()) == list(slow.flush())


def test_encode_output_of_plain_lines_is_one_entry_per_line() -> None:
    sp = LineSplitter()
    out = encode_output(sp, b"y\n" * 1000 + b"tail", "stderr", 0)
    rows = [json.loads(x) for x in out.splitlines()]
    assert len(rows) == 1000 and rows[0] == {"log": "y\n", "stream": "stderr",
                                             "time": rfc3339nano(0)}
    assert list(sp.flush()) == [(b"tail", True)]


def test_write_encoded_rotates_between_entries(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    w = JsonFileWriter(str(path), LogOptions(max_size=1000, max_file=3))
    try:
        w.write_encoded(encode_output(LineSplitter(), b"".join(
            f"line {i:03}\n".encode() for i in range(100)), "stdout", 0))
    finally:
        w.close()
    files = [Path(f"{path}.2"), Path(f"{path}.1"), path]
    lines = [x for f in files for x in entries(f)]
    first = int(lines[0].split()[1])
    assert lines == [f"line {i:03}\n" for i in range(first, 100)]
    for f in files[:2]:  # each full file passed max-size by less than one entry
        assert 1000 <= f.stat().st_size < 1000 + 80
