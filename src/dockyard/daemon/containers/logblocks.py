"""``docker logs`` a block at a time: json-file bytes in, what the client shows out.

Decoding an entry per line (``json.loads``, a ``LogEntry``, an async hand-over, a frame)
held ``docker logs`` at a few MB/s. Here a worker thread turns a block of complete lines
(``READ`` bytes of the file) into a few ``LogChunk`` s: the messages of consecutive
entries of one stream joined (each after its timestamp with ``-t``), which the API frames
once per chunk. Docker's multiplexed format allows that: a client concatenates the
payloads of a stream's frames, so one frame may carry many entries.

The fast path is for the lines the supervisor writes for plain text
(``runtime/supervisor/logs.py``, ``encode_output``)::

    {"log":"<text>\\n","stream":"stdout","time":"<RFC 3339 nano>"}

where ``<text>`` holds no quote, backslash or control character: its bytes *are* the
message. ``_PLAIN`` matches such a line (anchored at a line start, ending at its newline),
so a block whose every line matches (``findall`` counts as many matches as newlines), that
is valid UTF-8 and of one stream becomes one chunk with a ``findall`` and a ``join``: C
loops, no step per line in Python (``--since``/``--until`` that keep the whole block
too: ``_within`` checks its runs of lines of one time). A block of lines of that shape
whose strings have escapes (quotes, tabs, ``\\u`` escapes: JSON logs of an application)
or no final newline (partial messages) has all its ``log`` strings decoded by one
``json.loads`` of them as a JSON array (``_escaped``). Otherwise the matches are walked
one by one and every other line (other key orders, bad lines) is decoded by
``logs.decode``, the reference path, so the output is the same bytes either way
(``tests/unit/daemon/test_container_logblocks.py`` checks it on random logs).

``history`` reads the files in blocks (memory bounded by ``READ`` and the longest line,
not by the log's size), from the ``since`` index or the ``tail`` start; ``poll`` does
the same for what a ``Follower`` drains.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import time
from collections.abc import Generator, Iterator

from dockyard.daemon.containers.logs import (
    BLOCK,
    Follower,
    _since_offset,
    _time_ns,
    decode,
    line_time,
    log_files,
)
from dockyard.daemon.containers.model import LogChunk, LogEntry, LogQuery
from dockyard.runtime.supervisor.logs import is_utf8

READ = 4 * BLOCK
_TEXT = rb'[^"\\\x00-\x1f]*'
_PLAIN_TEXT = re.compile(rb'^\{"log":"(' + _TEXT + rb')\\n","stream":"(?:stdout|stderr)'
                         rb'","time":"' + _TEXT + rb'"\}\n', re.M)
_PLAIN = re.compile(rb'^\{"log":"(' + _TEXT + rb')\\n","stream":"(stdout|stderr)'
                    rb'","time":"(' + _TEXT + rb')"\}\n', re.M)
_ESCAPED = re.compile(rb'^\{"log":("' + _TEXT + rb'(?:\\.' + _TEXT + rb')*"),"stream":"'
                      rb'(stdout|stderr)","time":"(' + _TEXT + rb')"\}\n', re.M)
_TIME_KEY = b'"time":"'
RUNS = 16
_STDERR = b'"stream":"stderr"'
_STDOUT = b'"stream":"stdout"'


@functools.lru_cache(maxsize=256)
def _second(secs: int) -> bytes:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)).encode()


def fixed_time(ns: int) -> bytes:
    """moby's ``RFC3339NanoFixed`` (nine digits of fraction), as ``-t`` prints it."""
    secs, frac = divmod(ns, 1_000_000_000)
    return _second(secs) + b".%09dZ" % frac


class _Out:
    """Chunks being built: consecutive pieces of one stream go into one chunk."""

    __slots__ = ("chunks", "parts", "stream")

    def __init__(self) -> None:
        self.chunks: list[LogChunk] = []
        self.parts: list[bytes] = []
        self.stream = ""

    def add(self, stream: str, data: bytes) -> None:
        if stream != self.stream:
            self.close()
            self.stream = stream
        self.parts.append(data)

    def close(self) -> None:
        if self.parts:
            self.chunks.append(LogChunk(self.stream, b"".join(self.parts)))
            self.parts = []


def convert(buf: bytes, q: LogQuery, *, stop_by_line: bool = False,
            stop_by_entry: bool = False) -> tuple[list[LogChunk], bool]:
    """The chunks of ``buf`` (complete json-file lines, each ending with a newline) that
    ``q`` wants, and whether a line past ``q.until_ns`` ended the read: read from the
    raw line (``line_time``) with ``stop_by_line``, as the history is; from the decoded
    entry with ``stop_by_entry``, as a follow is."""
    if not buf:
        return [], False
    until = q.until_ns if stop_by_line or stop_by_entry else 0
    lines = buf.count(b"\n")
    if buf.count(b"\\") != lines:  # a plain line has one backslash, its \n's
        return _escaped(buf, q, lines, until, stop_by_line)
    if not q.timestamps and (not (q.since_ns or q.until_ns) or _within(buf, q)):
        # No time shown, and none that filters a line out (--since/--until that keep
        # the whole block: its lines share a few times, checked once each).
        texts = _PLAIN_TEXT.findall(buf)
        if len(texts) != lines or not is_utf8(buf):
            return _escaped(buf, q, lines, until, stop_by_line)
        if _STDERR not in buf or _STDOUT not in buf:
            stream = "stdout" if _STDERR not in buf else "stderr"
            if not (q.stdout if stream == "stdout" else q.stderr):
                return [], False
            texts.append(b"")
            return [LogChunk(stream, b"\n".join(texts))], False
    rows = _PLAIN.findall(buf)
    if len(rows) == lines and is_utf8(buf):
        return _plain_rows(rows, q, until)
    return _escaped(buf, q, lines, until, stop_by_line)


def _escaped(buf: bytes, q: LogQuery, lines: int, until: int,
             stop_by_line: bool) -> tuple[list[LogChunk], bool]:
    """A block whose every line has the supervisor's shape but whose ``log`` strings
    have escapes (quotes, tabs, ``\\u`` escapes) or no final newline (partial messages):
    all its ``log`` strings decoded by one ``json.loads`` of them as a JSON array (one
    C scan, not one call per line); a block with any other line, or a string that is
    not valid JSON, goes line by line (``_convert_lines``)."""
    rows = _ESCAPED.findall(buf) if is_utf8(buf) else []
    if len(rows) != lines:
        return _convert_lines(buf, q, until, stop_by_line)
    try:
        texts = json.loads(b"[" + b",".join([r[0] for r in rows]) + b"]")
        data = [t.encode("utf-8", "surrogateescape") for t in texts]
    except ValueError:  # invalid JSON, or a lone surrogate (logs.decode's other encoding)
        return _convert_lines(buf, q, until, stop_by_line)
    return _plain_rows([(d, r[1], r[2]) for d, r in zip(data, rows, strict=True)], q, until,
                       b"")


def _within(buf: bytes, q: LogQuery) -> bool:
    """Every line of ``buf`` ends with a ``time`` within ``q`` 's since and until, told
    from a few runs of lines that share their time (the supervisor stamps a read's
    lines with one time); False when unsure (more than ``RUNS`` runs, a line whose end is
    not a time). For plain lines that is every entry's time; for others it only picks
    the path (``_convert_lines`` then decides line by line)."""
    pos, end = 0, len(buf)
    for _ in range(RUNS):
        i = buf.find(_TIME_KEY, pos)
        j = buf.find(b'"}\n', i)
        if i < 0 or j < 0 or buf.find(b"\n", pos, i) >= 0:
            return False
        marker = buf[i:j + 3]
        last = buf.rfind(marker) + len(marker)
        if buf.count(marker, pos, last) != buf.count(b"\n", pos, last):
            return False  # not a run of lines of that time: some other line among them
        try:
            t = _time_ns(buf[i + len(_TIME_KEY):j].decode())
        except UnicodeDecodeError:
            return False
        if t < q.since_ns or (q.until_ns and t > q.until_ns):
            return False
        if last == end:
            return True
        pos = last
    return False


def _plain_rows(rows: list[tuple[bytes, bytes, bytes]], q: LogQuery, until: int,
                end: bytes = b"\n") -> tuple[list[LogChunk], bool]:
    """Every line of a block as (message without ``end``, stream, time): a loop with no
    call per line but when the time changes (a read's lines share theirs)."""
    chunks: list[LogChunk] = []
    parts: list[bytes] = []
    current = b""
    ts, since, until_f = q.timestamps, q.since_ns, q.until_ns
    timed = ts or since or until_f
    last: bytes | None = None
    t = 0
    prefix = b""
    stopped = False
    for text, stream, when in rows:
        if timed and when != last:
            last = when
            t = _time_ns(when.decode())
            if ts:
                prefix = fixed_time(t) + b" "
        if until and t > until:
            stopped = True
            break
        if not (q.stdout if stream == b"stdout" else q.stderr):
            continue
        if (since and t < since) or (until_f and t > until_f):
            continue
        if stream != current:
            if parts:
                chunks.append(LogChunk(current.decode(), b"".join(parts)))
                parts = []
            current = stream
        if ts:
            parts.append(prefix)
        parts.append(text)
        if end:
            parts.append(end)
    if parts:
        chunks.append(LogChunk(current.decode(), b"".join(parts)))
    return chunks, stopped


def _convert_lines(buf: bytes, q: LogQuery, until: int,
                   stop_by_line: bool) -> tuple[list[LogChunk], bool]:
    """A block with lines outside the plain shape: the plain ones as they match, the
    others (the gaps between matches) decoded by ``_slow``."""
    out = _Out()
    pos = 0
    for m in _PLAIN.finditer(buf):
        start = m.start()
        if start > pos and _slow(buf[pos:start], q, out, until, stop_by_line):
            out.close()
            return out.chunks, True
        pos = m.end()
        line = m.group(0)
        if not is_utf8(line):
            if _slow(line, q, out, until, stop_by_line):
                out.close()
                return out.chunks, True
            continue
        text, stream, when = m.groups()
        t = _time_ns(when.decode()) if q.timestamps or q.since_ns or q.until_ns else 0
        if until and t > until:
            out.close()
            return out.chunks, True
        if stream == b"stdout":
            if not q.stdout:
                continue
            name = "stdout"
        else:
            if not q.stderr:
                continue
            name = "stderr"
        if (q.since_ns and t < q.since_ns) or (q.until_ns and t > q.until_ns):
            continue
        data = text + b"\n"
        out.add(name, fixed_time(t) + b" " + data if q.timestamps else data)
    if pos < len(buf) and _slow(buf[pos:], q, out, until, stop_by_line):
        out.close()
        return out.chunks, True
    out.close()
    return out.chunks, False


def _slow(lines: bytes, q: LogQuery, out: _Out, until: int, by_line: bool) -> bool:
    """Lines outside the fast path, decoded one by one; True if one passed ``until``."""
    for line in lines.split(b"\n")[:-1]:
        if until and by_line:
            t = line_time(line)
            if t is not None and t > until:
                return True
        e = decode(line)
        if e is None:
            continue
        if until and not by_line and e.time_ns > until:
            return True
        if q.wants(e):
            out.add(e.stream, _shown(e, q))
    return False


def _shown(e: LogEntry, q: LogQuery) -> bytes:
    return fixed_time(e.time_ns) + b" " + e.data if q.timestamps else e.data


def history(path: str, q: LogQuery,
            live_end: int | None = None) -> Generator[list[LogChunk], None, None]:
    """What ``logs.read`` returns, as chunks, one block of the files at a time (blocking:
    run each step in a worker thread)."""
    files = log_files(path)

    def end_of(p: str) -> int | None:
        return live_end if p == path else None

    if q.tail is None:
        for p in files:
            yield from _file_blocks(p, end_of(p), q, None)
        return
    starts: list[tuple[str, int]] = []
    need = q.tail
    for p in reversed(files):
        if need <= 0:
            break
        offset, found = _tail_start(p, need, end_of(p))
        starts.insert(0, (p, offset))
        need -= found
    for p, offset in starts:
        yield from _file_blocks(p, end_of(p), q, offset)


class History:
    """``history`` as steps, each a blocking call for a worker thread."""

    def __init__(self, path: str, q: LogQuery, live_end: int | None = None) -> None:
        self._blocks = history(path, q, live_end)

    def step(self) -> list[LogChunk] | None:
        """The next block's chunks; None at the end."""
        return next(self._blocks, None)

    def close(self) -> None:
        """Close the file being read, unless a step still runs in its thread (a client
        that went away): that step's file is closed when the reader is collected."""
        with contextlib.suppress(ValueError):
            self._blocks.close()


def _file_blocks(path: str, end: int | None, q: LogQuery,
                 start: int | None) -> Iterator[list[LogChunk]]:
    """The chunks of one file's complete lines, from ``start`` (None: from the ``since``
    index, stopping after ``until``) up to ``end``."""
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed by the with below; absent is normal)
    except FileNotFoundError:
        return
    with f:
        size = f.seek(0, os.SEEK_END)
        limit = size if end is None else min(end, size)
        by_line = start is None
        if start is None:
            start = _since_offset(f, q.since_ns, limit) if q.since_ns else 0
        f.seek(start)
        pos, rest = start, b""
        while pos < limit:
            data = f.read(min(READ, limit - pos))
            if not data:
                return
            pos += len(data)
            buf = rest + data if rest else data
            nl = buf.rfind(b"\n")
            if nl < 0:
                rest = buf
                continue
            rest = buf[nl + 1:]
            chunks, stop = convert(buf if nl == len(buf) - 1 else buf[:nl + 1], q,
                                   stop_by_line=by_line)
            if chunks:
                yield chunks
            if stop:
                return


def _tail_start(path: str, n: int, end: int | None) -> tuple[int, int]:
    """Where the last ``n`` complete lines of a file (of its first ``end`` bytes) start,
    and how many complete lines that is (fewer than ``n`` if the file has fewer)."""
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed by the with below; absent is normal)
    except FileNotFoundError:
        return 0, 0
    with f:
        size = f.seek(0, os.SEEK_END)
        stop = size if end is None else min(end, size)
        f.seek(0)
        pos = stop
        seen = 0  # newlines in [pos, stop)
        while pos > 0:
            step = min(BLOCK, pos)
            pos -= step
            f.seek(pos)
            block = f.read(step)
            k = block.count(b"\n")
            if seen + k > n:
                # The (n + 1)th newline from the end is in this block: start after it.
                i = len(block)
                for _ in range(n + 1 - seen):
                    i = block.rfind(b"\n", 0, i)
                return pos + i + 1, n
            seen += k
        return 0, seen


def poll(follower: Follower, q: LogQuery) -> tuple[list[LogChunk], bool]:
    """What was appended since the last call (``Follower.poll_raw``) that ``q`` wants,
    and whether an entry past ``q.until_ns`` ended the follow."""
    return convert(follower.poll_raw(), q, stop_by_entry=bool(q.until_ns))
