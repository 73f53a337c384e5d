"""Streams on the wire: log queries, Docker's 8-byte stdout/stderr framing, attach options,
and the media types of raw and multiplexed streams."""

from __future__ import annotations

import struct
import time
from collections.abc import Mapping

from dockyard.apitypes.times import parse_timestamp
from dockyard.daemon.containers.model import AttachOptions, LogChunk, LogEntry, LogQuery
from dockyard.errors import InvalidArgument
from dockyard.runtime.detachkeys import parse_detach_keys

__all__ = [
    "MULTIPLEXED_STREAM",
    "RAW_STREAM",
    "AttachOptions",
    "LogChunk",
    "LogEntry",
    "LogQuery",
    "encode_log_chunk",
    "encode_log_entry",
    "frame",
    "parse_log_query",
]

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"
_HEADER = struct.Struct(">BxxxL")
_STREAM_NO = {"stdin": 0, "stdout": 1, "stderr": 2}


def frame(stream: str, data: bytes) -> bytes:
    """One frame of the multiplexed format: ``[stream, 0, 0, 0, size BE32] + data``."""
    return _HEADER.pack(_STREAM_NO[stream], len(data)) + data


def _bool(query: Mapping[str, str], key: str) -> bool:
    return query.get(key, "").strip().lower() not in ("", "0", "no", "false", "none")


def parse_log_query(query: Mapping[str, str]) -> LogQuery:
    stdout, stderr = _bool(query, "stdout"), _bool(query, "stderr")
    if not stdout and not stderr:
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    tail_text = query.get("tail", "all").strip()
    tail: int | None = None
    if tail_text not in ("", "all"):
        try:
            tail = int(tail_text)
        except ValueError:
            raise InvalidArgument(f"invalid value for tail: {tail_text!r}") from None
        if tail < 0:
            tail = None
    since = query.get("since", "")
    until = query.get("until", "")
    return LogQuery(stdout=stdout, stderr=stderr, follow=_bool(query, "follow"),
                    since_ns=parse_timestamp(since) if since and since != "0" else 0,
                    until_ns=parse_timestamp(until) if until and until != "0" else 0,
                    tail=tail, timestamps=_bool(query, "timestamps"))


def format_fixed(ns: int) -> str:
    """moby's ``RFC3339NanoFixed``: always nine digits of fraction (aligned columns)."""
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def encode_log_entry(e: LogEntry, *, tty: bool, timestamps: bool) -> bytes:
    data = e.data
    if timestamps:
        data = format_fixed(e.time_ns).encode() + b" " + data
    return data if tty else frame(e.stream, data)


def encode_log_chunk(c: LogChunk, *, tty: bool) -> bytes:
    """A chunk of ``docker logs`` (entries of one stream, ``-t`` applied by the daemon):
    as it is on a tty's raw stream, else one frame, whose payload a client concatenates
    with its stream's other frames as it would the entries' own frames (an unknown
    stream name goes out as stdout)."""
    if tty:
        return c.data
    return _HEADER.pack(_STREAM_NO.get(c.stream, 1), len(c.data)) + c.data


def parse_attach_options(query: Mapping[str, str]) -> AttachOptions:
    keys = query.get("detachKeys", "")
    return AttachOptions(stdin=_bool(query, "stdin"), stdout=_bool(query, "stdout"),
                         stderr=_bool(query, "stderr"),
                         detach_keys=parse_detach_keys(keys) if keys else None)
