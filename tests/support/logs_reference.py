"""The entry-at-a-time json-file reader the daemon used before ``logblocks``: the tests'
reference (``read(path, query)``: every entry the query asks for, from the rotated files
and the live one) for what the block reader must give, and a plain statement of the
json-file's tail/since/until rules."""

from __future__ import annotations

import os
from collections.abc import Iterator

from dockyard.daemon.containers.logs import (
    BLOCK,
    _since_offset,
    decode,
    line_time,
    log_files,
)
from dockyard.daemon.containers.model import LogEntry, LogQuery


def _lines(path: str, end: int | None, since_ns: int = 0,
           until_ns: int = 0) -> Iterator[bytes]:
    """The complete lines of a file (of its first ``end`` bytes), from the first one not
    older than ``since_ns`` to the last one not newer than ``until_ns`` (0: no bound)."""
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed by the with below; absent is normal)
    except FileNotFoundError:
        return
    with f:
        size = f.seek(0, os.SEEK_END)
        limit = size if end is None else min(end, size)
        start = _since_offset(f, since_ns, limit) if since_ns else 0
        f.seek(start)
        left = limit - start
        for line in f:
            if len(line) > left:
                return
            left -= len(line)
            if not line.endswith(b"\n"):
                continue
            if until_ns:
                t = line_time(line)
                if t is not None and t > until_ns:
                    return
            yield line


def _last_lines(path: str, n: int, end: int | None) -> list[bytes]:
    """The last ``n`` complete lines of a file (of its first ``end`` bytes), read
    backwards in blocks."""
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed by the with below; absent is normal)
    except FileNotFoundError:
        return []
    with f:
        size = f.seek(0, os.SEEK_END)
        end = size if end is None else min(end, size)
        buf = b""
        pos = end
        while pos > 0 and buf.count(b"\n") <= n:
            step = min(BLOCK, pos)
            pos -= step
            f.seek(pos)
            buf = f.read(step) + buf
        lines = buf.split(b"\n")
        complete = lines[:-1]  # the part after the last newline is incomplete (or empty)
        if pos > 0:
            complete = complete[1:]  # the first piece may be the end of an earlier line
        return [ln + b"\n" for ln in complete[-n:]] if n else []


def read(path: str, q: LogQuery, live_end: int | None = None) -> list[LogEntry]:
    """Every entry the query asks for, from the rotated files and the live one (only its
    first ``live_end`` bytes if given: a ``Follower`` reads the rest)."""
    files = log_files(path)
    raw: list[bytes] = []

    def end_of(p: str) -> int | None:
        return live_end if p == path else None

    if q.tail is None:
        for p in files:
            raw.extend(_lines(p, end_of(p), q.since_ns, q.until_ns))
    else:
        for p in reversed(files):
            need = q.tail - len(raw)
            if need <= 0:
                break
            raw = _last_lines(p, need, end_of(p)) + raw
    out = []
    for line in raw:
        e = decode(line)
        if e is not None and q.wants(e):
            out.append(e)
    return out
