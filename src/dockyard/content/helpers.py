"""Helpers over any ``ContentStore``: ingest a stream or bytes (resuming when possible,
``AlreadyExists`` taken as success), read a whole blob, read at an offset."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from typing import BinaryIO

from dockyard.errors import AlreadyExists, FailedPrecondition
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest, digest_bytes

from .files import os_errors
from .store import ContentStore, Info

log = logging.getLogger(__name__)

CHUNK = 1 << 20


def ingest_stream(store: ContentStore, ref: str, reader: BinaryIO,
                  expected: Descriptor | None = None,
                  labels: Mapping[str, str] | None = None) -> Info:
    """Write ``reader`` (positioned at the content's start) to the store and commit.

    An interrupted earlier ingest of ``ref`` is resumed when ``reader`` can seek past
    what is there, else restarted. Content already present is success: its ``Info``
    (with ``labels``, if given, merged into the existing ones).
    """
    try:
        w = store.writer(ref, expected)
    except AlreadyExists:
        if expected is None:
            raise
        return store.info(expected.digest)
    with w:
        if w.offset:
            if reader.seekable():
                with os_errors(f"seek input of {ref!r}"):
                    reader.seek(w.offset, os.SEEK_CUR)
            else:
                w.truncate(0)
        while True:
            chunk = reader.read(CHUNK)
            if not chunk:
                break
            w.write(chunk)
        digest = w.digest()
        try:
            return w.commit(expected.size if expected else None,
                            expected.digest if expected else None, labels)
        except AlreadyExists:
            log.debug("content %s was already present (ref %r)", digest, ref)
            info = store.info(digest)
            if labels:
                info = store.update_labels(digest, labels)
            return info


def ingest_bytes(store: ContentStore, data: bytes, expected: Descriptor | None = None,
                 labels: Mapping[str, str] | None = None) -> Info:
    """Store ``data``; verified against ``expected`` when given. Present already: success.

    The ref is unique to the call (bytes in memory gain nothing from resuming), so
    concurrent ingests of the same bytes never wait for each other.
    """
    digest = expected.digest if expected is not None else digest_bytes(data)
    if expected is not None and expected.size != len(data):
        raise FailedPrecondition(f"unexpected size {len(data)}, expected {expected.size} "
                                 f"for {expected.digest}")
    ref = f"bytes-{digest.hex}-{secrets.token_hex(6)}"
    try:
        w = store.writer(ref, expected)
    except AlreadyExists:
        return store.info(digest)
    with w:
        w.write(data)
        try:
            return w.commit(len(data), expected.digest if expected else None, labels)
        except AlreadyExists:
            info = store.info(w.digest())
            if labels:
                info = store.update_labels(info.digest, labels)
            return info


def read_blob(store: ContentStore, digest: Digest, max_size: int | None = None) -> bytes:
    """The whole blob (``FailedPrecondition`` if it is larger than ``max_size``)."""
    with store.open_blob(digest) as f:
        data = f.read() if max_size is None else f.read(max_size + 1)
    if max_size is not None and len(data) > max_size:
        raise FailedPrecondition(f"content {digest} is larger than {max_size} bytes")
    return data


def read_at(f: BinaryIO, offset: int, size: int) -> bytes:
    """Up to ``size`` bytes at ``offset`` of a blob, without moving its position."""
    out = bytearray()
    with os_errors("read blob"):
        while len(out) < size:
            chunk = os.pread(f.fileno(), size - len(out), offset + len(out))
            if not chunk:
                break
            out += chunk
    return bytes(out)
