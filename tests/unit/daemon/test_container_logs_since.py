"""``logs --since``/``--until`` from the json-file as its own index: a bisection over byte
offsets that reads a few lines per file, correct across rotated files and on the lines
the supervisor really writes."""

from __future__ import annotations

import io
from pathlib import Path

from logs_reference import read

from dockyard.daemon.containers import logs
from dockyard.daemon.containers.logs import line_time
from dockyard.daemon.containers.model import LogQuery
from dockyard.runtime.supervisor.logs import JsonFileWriter, LogOptions, encode_entry

T0 = 1_700_000_000_000_000_000
STEP = 1_000_000  # 1 ms between lines


class CountingReader(io.BytesIO):
    """Counts the bytes read (the index must not read the file)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(-1 if size is None else size)
        self.bytes_read += len(line)
        return line


def write_log(path: Path, n: int, max_size: int, max_file: int) -> None:
    """``n`` lines through the supervisor's writer (rotating), one ms apart."""
    w = JsonFileWriter(str(path), LogOptions(max_size=max_size, max_file=max_file))
    try:
        for i in range(n):
            w.write("stdout" if i % 3 else "stderr", b"message %07d " % i + b"x" * 60,
                    False, T0 + i * STEP)
    finally:
        w.close()


def numbers(entries: list[logs.LogEntry]) -> list[int]:
    return [int(e.data.split()[1]) for e in entries]


def test_since_and_until_across_rotated_files(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    n = 12_000  # ~1.3 MB in three files of 500 kB
    write_log(path, n, 500_000, 3)
    assert len(logs.log_files(str(path))) == 3
    kept = numbers(read(str(path), LogQuery()))
    first = kept[0]  # the oldest lines were rotated away
    assert kept == list(range(first, n))
    for since_i in (0, first, first + 1, first + 1234, (first + n) // 2, n - 1, n + 10):
        got = numbers(read(str(path), LogQuery(since_ns=T0 + since_i * STEP)))
        assert got == list(range(max(since_i, first), n)), since_i
    got = numbers(read(str(path), LogQuery(since_ns=T0 + (n - 500) * STEP,
                                           until_ns=T0 + (n - 400) * STEP)))
    assert got == list(range(n - 500, n - 399))
    got = numbers(read(str(path), LogQuery(since_ns=T0 + (n - 10) * STEP, stdout=False)))
    assert got == [i for i in range(n - 10, n) if i % 3 == 0]


def test_the_index_reads_a_few_lines_not_the_file() -> None:
    n = 40_000
    data = b"".join(encode_entry(b"message %07d " % i + b"x" * 60, False, "stdout",
                                 T0 + i * STEP) for i in range(n))
    f = CountingReader(data)
    start = logs._since_offset(f, T0 + 27_777 * STEP, len(data))
    assert f.bytes_read < 4 * logs.SCAN  # ~16 probes of a line each, not 3.5 MB
    assert start <= data.index(b"message 0027777")
    assert data.index(b"message 0027777") - start <= logs.SCAN + 200


def test_line_time_reads_the_last_key() -> None:
    line = b'{"log":"a \\"time\\":\\"x\\"\\n","stream":"stdout","time":"2023-11-14T22:13:20.5Z"}\n'
    assert line_time(line) == T0 + 500_000_000
    assert line_time(b'{"log":"x"}\n') is None
    assert line_time(b'{"log":"x","time":"garbage"}\n') is None


def test_unreadable_lines_never_hide_later_ones(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    write_log(path, 5000, 1 << 30, 1)
    text = path.read_bytes().splitlines(keepends=True)
    text[2500] = b"not json at all\n"
    path.write_bytes(b"".join(text))
    got = numbers(read(str(path), LogQuery(since_ns=T0 + 2000 * STEP)))
    assert got == [i for i in range(2000, 5000) if i != 2500]
