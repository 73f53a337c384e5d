"""Byte ranges: the ``Range`` header of blob GETs and the ``Content-Range`` of chunk PATCHes.

``parse_range`` follows RFC 9110 section 14 for a single range (``bytes=a-b``,
``bytes=a-``, ``bytes=-n``); a header it cannot parse, or a multi-range request, is
ignored (the whole blob is sent, as RFC 9110 allows); a range no byte satisfies raises
``RangeInvalid`` (416 with ``Content-Range: bytes */<size>``).

``parse_content_range`` reads the spec's chunk range ``<start>-<end>`` (inclusive), and
also the RFC forms ``bytes a-b`` and ``bytes a-b/total`` some clients send.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from dockyard.registry.errors import RangeInvalid

_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.ASCII)
_CONTENT_RANGE = re.compile(r"\s*(?:bytes[ =])?\s*(\d+)-(\d+)(?:/(\d+|\*))?\s*", re.ASCII)


class ByteRange(NamedTuple):
    """Bytes ``start`` .. ``end`` inclusive."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range of a blob of ``size`` bytes to send, or None for all of it."""
    if not header:
        return None
    m = _RANGE.fullmatch(header)
    if m is None:
        return None  # unparseable or several ranges: ignored
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:  # suffix: the last n bytes
        n = int(last)
        if n == 0:
            raise RangeInvalid(f"range {header!r} selects no byte", size)
        return ByteRange(max(0, size - n), size - 1) if size else _unsatisfiable(header, size)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid syntax per RFC: ignored
    if start >= size:
        _unsatisfiable(header, size)
    return ByteRange(start, min(end, size - 1))


def _unsatisfiable(header: str, size: int) -> ByteRange:
    raise RangeInvalid(f"range {header!r} not satisfiable for a blob of {size} bytes", size)


def parse_content_range(header: str) -> ByteRange:
    """A chunk's ``Content-Range``; malformed ones are ``RangeInvalid`` (416)."""
    m = _CONTENT_RANGE.fullmatch(header)
    if m is None:
        raise RangeInvalid(f"malformed Content-Range {header[:100]!r}")
    start, end = int(m.group(1)), int(m.group(2))
    if end < start:
        raise RangeInvalid(f"Content-Range {header!r} ends before it starts")
    return ByteRange(start, end)


def upload_range_header(size: int) -> str:
    """The ``Range`` header of an upload status: ``0-<last byte>`` (``0-0`` when empty,
    as distribution and every client expect)."""
    return f"0-{max(size - 1, 0)}"
