"""Container output to a log file in Docker's json-file format, with rotation.

One JSON object per line, keys in Docker's order::

    {"log":"hello\\n","stream":"stdout","time":"2026-11-27T21:49:33.123456789Z"}

Output is cut into messages the way moby's ``logger.Copier`` does: at each newline, and
into 16 KiB pieces when a line is longer than that. A piece that does not end a line is
*partial*: its ``log`` has no trailing newline, which is how readers (``docker logs``) know
to join it with the next. What is left at end of stream is written as a partial message.

Rotation follows moby's ``loggerutils.LogFile``: before each write, if the file has reached
``max-size`` it is renamed to ``<path>.1`` (older ones shift up to ``<path>.<max-file - 1>``,
the oldest dropped); with ``max-file`` 1 the file is simply truncated.

Logs are rotated by default, unlike dockerd's json-file driver (unbounded unless told,
the classic way a chatty container fills a disk): a container given neither ``max-size``
nor ``max-file`` keeps at most ``DEFAULT_MAX_FILE`` files of ``DEFAULT_MAX_SIZE`` bytes.
``max-size=-1`` asks for an unbounded log, as before.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from dockyard import errors
from dockyard.runtime.supervisor.clock import rfc3339nano

log = logging.getLogger(__name__)

MAX_MESSAGE = 16 * 1024  # moby logger.Copier's buffer: longer lines become partial messages
DEFAULT_MAX_SIZE = 10 << 20
DEFAULT_MAX_FILE = 2
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
          "g": 1 << 30, "gb": 1 << 30}


@dataclass(frozen=True, slots=True)
class LogOptions:
    """The json-file driver's options: ``max_size`` bytes (None: unbounded), ``max_file``."""

    max_size: int | None = None
    max_file: int = 1

    @classmethod
    def from_config(cls, config: Mapping[str, str]) -> LogOptions:
        """Parse Docker's ``--log-opt`` strings (``max-size=10m``, ``max-file=3``); neither
        given: the default rotation (``DEFAULT_MAX_SIZE`` x ``DEFAULT_MAX_FILE``)."""
        unknown = set(config) - {"max-size", "max-file", "compress"}
        if unknown:
            raise errors.InvalidArgument(
                f"unknown log option(s) for json-file: {', '.join(sorted(unknown))}")
        if config.get("compress", "false") not in ("false", "0"):
            raise errors.NotImplementedByDockyard("json-file: compress is not supported")
        if "max-size" not in config and "max-file" not in config:
            return cls(DEFAULT_MAX_SIZE, DEFAULT_MAX_FILE)
        max_size = None
        if "max-size" in config and config["max-size"] != "-1":
            max_size = parse_size(config["max-size"])
        max_file = 1
        if "max-file" in config:
            try:
                max_file = int(config["max-file"])
            except ValueError:
                raise errors.InvalidArgument(
                    f"max-file: not a number: {config['max-file']!r}") from None
            if max_file < 1:
                raise errors.InvalidArgument("max-file: must be at least 1")
            if max_size is None and max_file > 1:
                raise errors.InvalidArgument("max-file needs max-size")
        return cls(max_size, max_file)

    def to_config(self) -> dict[str, str]:
        out = {"max-file": str(self.max_file)}
        if self.max_size is not None:
            out["max-size"] = str(self.max_size)
        return out


def parse_size(text: str) -> int:
    """Docker's RAMInBytes: ``10m`` = 10 MiB; a bare number is bytes."""
    t = text.strip().lower()
    num = t.rstrip("bkmg")
    unit = t[len(num):]
    try:
        value = float(num)
    except ValueError:
        raise errors.InvalidArgument(f"invalid size: {text!r}") from None
    if unit not in _UNITS or value <= 0:
        raise errors.InvalidArgument(f"invalid size: {text!r}")
    return int(value * _UNITS[unit])


class LineSplitter:
    """Cuts one stream's bytes into (message, partial) pairs as moby's Copier does."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> Iterator[tuple[bytes, bool]]:
        buf = self._buf + data if self._buf else data
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            while nl - start >= MAX_MESSAGE:
                yield buf[start:start + MAX_MESSAGE], True
                start += MAX_MESSAGE
            yield buf[start:nl], False
            start = nl + 1
        while len(buf) - start >= MAX_MESSAGE:
            yield buf[start:start + MAX_MESSAGE], True
            start += MAX_MESSAGE
        self._buf = buf[start:]

    def take(self, data: bytes) -> bytes:
        """What is buffered followed by ``data``, the buffer left empty (``keep`` puts the
        unfinished end back)."""
        buf = self._buf + data if self._buf else data
        self._buf = b""
        return buf

    def keep(self, rest: bytes) -> None:
        self._buf = rest

    def flush(self) -> Iterator[tuple[bytes, bool]]:
        """What is left at end of stream, as one partial message."""
        if self._buf:
            rest, self._buf = self._buf, b""
            yield rest, True


# Bytes that a json-file ``log`` string cannot hold as they are: control characters (the
# newline is the separator, handled apart), the quote and the backslash.
_NEEDS_ESCAPE_RE = re.compile(rb'[\x00-\x09\x0b-\x1f"\\]')


def encode_output(splitter: LineSplitter, data: bytes, stream: str, time_ns: int) -> bytes:
    """Every json-file entry that ``data`` (a chunk of one stream) completes, encoded.

    The common case — whole lines of plain text, none longer than ``MAX_MESSAGE`` — is
    built with a few bytes operations over the whole chunk (split, join), so a stream of
    short lines (``yes``) costs per chunk, not per line: line by line in Python it was
    ~10 us a line, which held a chatty container's output at a few hundred KB/s. Anything
    else (escapes, invalid UTF-8, long lines) goes through ``encode_entry`` line by line.
    Every entry of one chunk carries the same time, the moment the chunk was read.
    """
    buf = splitter.take(data)
    nl = buf.rfind(b"\n")
    if nl >= 0:
        body = buf[:nl]
        if _NEEDS_ESCAPE_RE.search(body) is None and _lines_short(body) and is_utf8(body):
            splitter.keep(buf[nl + 1:])
            tail = (b'\\n","stream":"' + stream.encode() + b'","time":"'
                    + rfc3339nano(time_ns).encode() + b'"}\n')
            head = b'{"log":"'
            out = b"".join((head, body.replace(b"\n", tail + head), tail))
            rest = b"".join(encode_entry(m, p, stream, time_ns) for m, p in splitter.feed(b""))
            return out + rest if rest else out
    splitter.keep(b"")
    return b"".join(encode_entry(m, p, stream, time_ns) for m, p in splitter.feed(buf))


def _lines_short(body: bytes) -> bool:
    """Every line of ``body`` shorter than ``MAX_MESSAGE``, checked a window at a time
    (each step a C scan of up to ``MAX_MESSAGE`` bytes, not a step per line)."""
    start, end = 0, len(body)
    while start + MAX_MESSAGE <= end:
        last = body.rfind(b"\n", start, start + MAX_MESSAGE)
        if last < 0:
            return False  # the line at ``start`` is MAX_MESSAGE long or more
        start = last + 1
    return True


def is_utf8(data: bytes) -> bool:
    """Valid UTF-8 (ASCII checked first: the common case, and much the cheapest)."""
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def encode_entry(message: bytes, partial: bool, stream: str, time_ns: int) -> bytes:
    """One json-file line (with its newline)."""
    text = message.decode("utf-8", "replace")
    if not partial:
        text += "\n"
    entry = {"log": text, "stream": stream, "time": rfc3339nano(time_ns)}
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class JsonFileWriter:
    """Appends json-file entries to one log file, rotating by size.

    Lifecycle: open at container create (the file is created if missing, appended to if
    not, so a restarted container keeps its history), ``write`` for each message,
    ``sync`` before the container's exit is recorded (so a reader that sees the exit sees
    every line), ``close`` when the container is deleted or the supervisor stops.
    Writes are plain blocking ``write(2)`` to a regular file: no buffering in this process,
    so the file holds every line the moment the line is complete.
    """

    __slots__ = ("_fd", "_options", "_size", "path")

    def __init__(self, path: str, options: LogOptions) -> None:
        self.path = path
        self._options = options
        self._fd = -1
        self._open()

    def _open(self) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                           0o640)
        self._size = os.fstat(self._fd).st_size

    def write(self, stream: str, message: bytes, partial: bool, time_ns: int) -> None:
        cap = self._options.max_size
        if cap is not None and self._size >= cap:
            self._rotate()
        line = encode_entry(message, partial, stream, time_ns)
        view = memoryview(line)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._size += len(line)

    def write_encoded(self, data: bytes) -> None:
        """Append already encoded entries (``encode_output``), rotating between entries as
        ``write`` does: a file may pass ``max-size`` by at most one entry."""
        cap = self._options.max_size
        start, end = 0, len(data)
        while start < end:
            if cap is not None and self._size >= cap:
                self._rotate()
            stop = end
            if cap is not None and end - start > cap - self._size:
                cut = data.rfind(b"\n", start, start + cap - self._size)
                if cut < 0:  # the first entry alone passes the room left: it goes whole
                    cut = data.find(b"\n", start)
                stop = end if cut < 0 else cut + 1
            view = memoryview(data)[start:stop]
            while view:
                view = view[os.write(self._fd, view):]
            self._size += stop - start
            start = stop

    def _rotate(self) -> None:
        os.close(self._fd)
        self._fd = -1
        keep = self._options.max_file
        if keep < 2:
            os.truncate(self.path, 0)
        else:
            oldest = f"{self.path}.{keep - 1}"
            if os.path.exists(oldest):
                os.unlink(oldest)
            for i in range(keep - 2, 0, -1):
                src = f"{self.path}.{i}"
                if os.path.exists(src):
                    os.rename(src, f"{self.path}.{i + 1}")
            os.rename(self.path, f"{self.path}.1")
        self._open()
        log.debug("rotated %s", self.path)

    def sync(self) -> None:
        if self._fd >= 0:
            os.fdatasync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
