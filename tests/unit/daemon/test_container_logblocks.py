"""``docker logs`` a block at a time (``logblocks``) gives what the entry-by-entry reader
(``logs.read`` + ``encode_log_entry``) gives, on random json-file logs written by the
supervisor's own encoder (plain lines, escapes, invalid UTF-8, partials, both streams)
with malformed lines mixed in, for random queries and block sizes; and one frame per
chunk demultiplexes to the same bytes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from logs_reference import read

from dockyard.apitypes.streams import encode_log_chunk, encode_log_entry
from dockyard.daemon.containers import logblocks
from dockyard.daemon.containers.logs import Follower
from dockyard.daemon.containers.model import LogChunk, LogEntry, LogQuery
from dockyard.runtime.supervisor.logs import LineSplitter, encode_entry, encode_output

BASE = 1_700_000_000 * 10**9
PIECES = [b"plain text", b"x", b"", b'a "quoted" word', b"back\\slash", b"tab\there",
          "unicod\u00e9 \u2603 \U0001f600".encode(), b"bad \xff\xfe utf8", b"ctl \x01\x1b[0m",
          b"\x7f del", b"\xed\xa0\x80 surrogate", b"y" * 40000]
JUNK = [b"not json", b"{}", b'{"log":"k\\n","time":"2024-01-01T00:00:00Z","stream":"stdout"}',
        b'{"log": "spaced\\n", "stream": "stdout", "time": "2024-01-01T00:00:01Z"}',
        b'{"log":"\\ud800 lone\\n","stream":"stderr","time":"2024-01-01T00:00:02Z"}',
        b'{"log":"odd\\n","stream":"stdin","time":"2024-01-01T00:00:03Z"}',
        b'{"log":"badtime\\n","stream":"stdout","time":"yesterday"}',
        b'{"log":5,"stream":"stdout","time":"2024-01-01T00:00:04Z"}', b""]


def random_log(rng: random.Random, n: int, t: int = BASE,
               junk: float = 0.05) -> tuple[bytes, list[int]]:
    """A json-file body as the supervisor writes it, and the times it used."""
    out: list[bytes] = []
    times: list[int] = []
    splitters = {"stdout": LineSplitter(), "stderr": LineSplitter()}
    for _ in range(n):
        t += rng.choice([0, 1, 999, 10**6, 10**9])
        times.append(t)
        stream = "stderr" if rng.random() < 0.2 else "stdout"
        if rng.random() < junk:
            out.append(rng.choice(JUNK) + b"\n")
            continue
        if rng.random() < 0.6:
            data = b"".join(b"line %d %s\n" % (rng.randrange(10**6), b"w" * rng.randrange(90))
                            for _ in range(rng.randrange(1, 30)))
        else:
            data = b"".join(rng.choice(PIECES) + rng.choice([b"\n", b"", b" "])
                            for _ in range(rng.randrange(1, 5)))
        out.append(encode_output(splitters[stream], data, stream, t))
    return b"".join(out), times


def merged(pairs: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The bytes a client gets of each run of one stream (frames joined)."""
    runs: list[tuple[str, list[bytes]]] = []
    for stream, data in pairs:
        if runs and runs[-1][0] == stream:
            runs[-1][1].append(data)
        elif data:
            runs.append((stream, [data]))
    return [(stream, b"".join(parts)) for stream, parts in runs]


def reference(entries: list[LogEntry], q: LogQuery) -> list[tuple[str, bytes]]:
    return merged([(e.stream, encode_log_entry(e, tty=True, timestamps=q.timestamps))
                   for e in entries])


def shown(chunks: list[LogChunk]) -> list[tuple[str, bytes]]:
    return merged([(c.stream, c.data) for c in chunks])


def blocks(path: str, q: LogQuery, live_end: int | None = None) -> list[LogChunk]:
    return [c for step in logblocks.history(path, q, live_end) for c in step]


def random_query(rng: random.Random, times: list[int]) -> LogQuery:
    stdout = rng.random() < 0.8
    return LogQuery(
        stdout=stdout, stderr=not stdout or rng.random() < 0.8,
        since_ns=rng.choice([0, 0, rng.choice(times), rng.choice(times) + 1]),
        until_ns=rng.choice([0, 0, rng.choice(times), max(times) + 10**9]),
        tail=rng.choice([None, None, 0, 1, rng.randrange(1, 400), 10**6]),
        timestamps=rng.random() < 0.4)


@pytest.mark.parametrize("seed", range(6))
def test_history_matches_the_entry_reader(tmp_path: Path, seed: int,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    # Small blocks put block edges everywhere (inside lines, inside the tail's search).
    monkeypatch.setattr(logblocks, "READ", rng.choice([1000, 4096, 1 << 18]))
    monkeypatch.setattr(logblocks, "BLOCK", rng.choice([61, 4096, 1 << 16]))
    path = tmp_path / "c-json.log"
    junk = 0.05 if seed % 2 else 0.0  # without: whole blocks take the fast paths
    older, t1 = random_log(rng, 150, BASE, junk)
    newer, t2 = random_log(rng, 150, max(t1), junk)
    Path(f"{path}.1").write_bytes(older)
    path.write_bytes(newer + b'{"log":"unfinished')
    times = t1 + t2
    for _ in range(15):
        q = random_query(rng, times)
        want = reference(read(str(path), q), q)
        assert shown(blocks(str(path), q)) == want, q
    live_end = len(newer) // 2
    q = LogQuery(timestamps=True)
    assert shown(blocks(str(path), q, live_end)) == reference(read(str(path), q, live_end), q)


def test_plain_blocks_take_the_fast_path(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    body, _ = random_log(random.Random(1), 0)
    lines = b"".join(encode_output(LineSplitter(), b"abc %d\n" % i * 3, "stdout",
                                   BASE + i // 10)
                     for i in range(100))
    (tmp_path / "l.log").write_bytes(body + lines)

    def no_slow(*args: object) -> bool:
        raise AssertionError("slow path taken")

    monkeypatch.setattr(logblocks, "_slow", no_slow)
    got = blocks(str(tmp_path / "l.log"), LogQuery())
    assert got == [LogChunk("stdout", b"".join(b"abc %d\n" % i * 3 for i in range(100)))]
    ts = blocks(str(tmp_path / "l.log"), LogQuery(timestamps=True, stderr=False))
    assert shown(ts)[0][1].startswith(b"2023-11-14T22:13:20.000000000Z abc 0\n")
    # --since/--until that keep the whole block: no loop over its lines either.
    monkeypatch.setattr(logblocks, "_plain_rows", no_slow)
    assert blocks(str(tmp_path / "l.log"), LogQuery(since_ns=BASE, until_ns=BASE + 99)) == got


def test_escaped_blocks_decode_in_one_call(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    printed = b'{"k": "v\\t' + "\u00e9".encode() + b'"}\ttab\x01\n' + b"z" * 40000 + b"\nend"
    splitter = LineSplitter()
    body = encode_output(splitter, printed, "stderr", BASE)
    body += b"".join(encode_entry(m, p, "stderr", BASE + 1) for m, p in splitter.flush())
    (tmp_path / "e.log").write_bytes(body)

    def no_slow(*args: object) -> bool:
        raise AssertionError("slow path taken")

    monkeypatch.setattr(logblocks, "_slow", no_slow)
    assert blocks(str(tmp_path / "e.log"), LogQuery()) == [LogChunk("stderr", printed)]
    assert blocks(str(tmp_path / "e.log"), LogQuery(stderr=False)) == []


def test_follow_poll_matches_the_entry_reader(tmp_path: Path) -> None:
    rng = random.Random(7)
    path = tmp_path / "c-json.log"
    path.write_bytes(b"")
    f, g = Follower(str(path)), Follower(str(path))
    body, times = random_log(rng, 200)
    q = LogQuery(stderr=False, timestamps=True, until_ns=times[150])
    try:
        for cut in range(0, len(body), 5000):
            with open(path, "ab") as out:
                out.write(body[cut:cut + 5000])
            chunks, stop = logblocks.poll(f, q)
            entries = g.poll()
            ref: list[LogEntry] = []
            ref_stop = False
            for e in entries:
                if e.time_ns > q.until_ns:
                    ref_stop = True
                    break
                if q.wants(e):
                    ref.append(e)
            assert (shown(chunks), stop) == (reference(ref, q), ref_stop)
            if stop:
                break
        else:
            raise AssertionError("the follow never passed until")
    finally:
        f.close()
        g.close()


def test_one_frame_per_chunk() -> None:
    c = LogChunk("stderr", b"a\nb\n")
    assert encode_log_chunk(c, tty=False) == b"\x02\x00\x00\x00\x00\x00\x00\x04a\nb\n"
    assert encode_log_chunk(c, tty=True) == b"a\nb\n"
