"""Reading a container's json-file log (written by the supervisor), rotated files included.

Files, oldest first: ``<log>.<max-file - 1>`` … ``<log>.1``, ``<log>``. Each line is one
entry ``{"log": "...", "stream": "stdout", "time": "<RFC 3339 nano>"}``. ``tail`` counts
entries from the end across files, before the stream and time filters (as dockerd's
json-file reader does). ``Follower`` keeps reading the live file as it grows and notices
a rotation (the file it reads is renamed to ``.1``: it finishes that file, then opens the
new one from its start).

``since`` is served from an index rather than a scan: the json-file *is* its own index.
The supervisor stamps each message as it writes it, one writer per file, so every file's
lines are in time order, and so are the files (oldest first). The first line at or after
``since`` is found by bisection over byte offsets (``_since_offset``): each probe seeks
to the middle of the range, skips to the next line start and reads that one line's
``time``; after about log2(size / ``SCAN``) probes, what is left of the range is read
line by line (``logblocks`` reads the files a block at a time from there). A 100 MB log costs a dozen short reads instead of 100 MB of JSON. A line
whose time cannot be read never moves the start past it (the search stays
conservative: the lines are filtered by ``LogQuery.wants`` afterwards anyway), and
reading stops at the first line after ``until``.
"""

from __future__ import annotations

import calendar
import functools
import json
import logging
import os
import re
import time
from typing import BinaryIO

from dockyard.daemon.containers.model import LogEntry

log = logging.getLogger(__name__)

BLOCK = 64 * 1024
MAX_LINE = 1 << 20
_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$")


@functools.lru_cache(maxsize=256)
def _epoch(text: str) -> int:
    """Seconds since the epoch of ``YYYY-MM-DDTHH:MM:SS`` (UTC); cached: consecutive log
    lines mostly share their second, and ``strptime`` is the slow part of decoding."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))


def _time_ns(text: str) -> int:
    m = _TIME.match(text)
    if m is None:
        return 0
    try:
        secs = _epoch(m.group(1))
    except ValueError:
        return 0
    return secs * 1_000_000_000 + int((m.group(2) or "0").ljust(9, "0"))


def decode(line: bytes) -> LogEntry | None:
    """One entry, or None for a line that is not one (logged, skipped)."""
    try:
        doc = json.loads(line)
        text, stream, when = doc["log"], doc["stream"], doc["time"]
        if not isinstance(text, str) or not isinstance(stream, str) or not isinstance(when, str):
            raise TypeError("field types")
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("skipping a malformed log line (%s): %r", exc, line[:120])
        return None
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate written as a \\u escape
        data = text.encode("utf-8", "surrogatepass")
    return LogEntry(stream, data, _time_ns(when), when)


def log_files(path: str) -> list[str]:
    """The rotated files and the live one, oldest first (those that exist)."""
    rotated = []
    n = 1
    while os.path.exists(f"{path}.{n}"):
        rotated.append(f"{path}.{n}")
        n += 1
    files = list(reversed(rotated))
    if os.path.exists(path):
        files.append(path)
    return files


_TIME_KEY = b'"time":"'
SCAN = 64 * 1024


def line_time(line: bytes) -> int | None:
    """The ``time`` of a json-file line (the last key, as the supervisor writes it), in
    ns; None if it cannot be read."""
    i = line.rfind(_TIME_KEY)
    if i < 0:
        return None
    j = line.find(b'"', i + len(_TIME_KEY))
    if j < 0:
        return None
    ns = _time_ns(line[i + len(_TIME_KEY):j].decode("ascii", "replace"))
    return ns or None


def _since_offset(f: BinaryIO, since_ns: int, end: int) -> int:
    """A line start in ``f`` (of its first ``end`` bytes) before which every line is older
    than ``since_ns``: bisection over byte offsets, one line read per probe."""
    lo, hi = 0, end
    while hi - lo > SCAN:
        mid = (lo + hi) // 2
        f.seek(mid)
        f.readline()  # the rest of the line mid falls in
        start = f.tell()
        if start >= hi:
            break
        line = f.readline()
        t = line_time(line)
        if t is None or t >= since_ns or not line.endswith(b"\n"):
            hi = start
        else:
            lo = start + len(line)
    return lo


class Follower:
    """Reads what is appended to the live log (blocking, quick calls).

    Open it *before* reading the history with ``logblocks`` (``live_end=follower.offset``), so
    that no line falls between the two and none is read twice.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._f: BinaryIO | None = None
        self._ino = -1
        self._rest = b""
        self.offset = 0
        try:
            f = open(path, "rb")  # noqa: SIM115 (held until close())
        except FileNotFoundError:
            return
        self.offset = f.seek(0, os.SEEK_END)
        self._f = f
        self._ino = os.fstat(f.fileno()).st_ino

    def poll(self) -> list[LogEntry]:
        """Entries appended since the last call; follows a rotation."""
        out = self._drain()
        if self._reopen_if_rotated():
            out += self._drain()
        return out

    def poll_raw(self) -> bytes:
        """The complete lines appended since the last call (each with its newline);
        follows a rotation."""
        out = self._drain_raw()
        if self._reopen_if_rotated():
            out += self._drain_raw()
        return out

    def _reopen_if_rotated(self) -> bool:
        """The live file is a new one (the one read was renamed away, after being drained
        by the caller): read that from its start."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        if st.st_ino == self._ino:
            return False
        if self._f is not None:
            self._f.close()
        self._f = open(self.path, "rb")  # noqa: SIM115 (held until close())
        self._ino = os.fstat(self._f.fileno()).st_ino
        self._rest = b""
        return True

    def _drain_raw(self) -> bytes:
        if self._f is None:
            return b""
        data = self._rest + self._f.read()
        nl = data.rfind(b"\n")
        self._rest = data[nl + 1:]
        if len(self._rest) > MAX_LINE:
            log.warning("dropping an over-long partial log line in %s", self.path)
            self._rest = b""
        return data[:nl + 1]

    def _drain(self) -> list[LogEntry]:
        out = []
        for line in self._drain_raw().split(b"\n")[:-1]:
            e = decode(line)
            if e is not None:
                out.append(e)
        return out

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
