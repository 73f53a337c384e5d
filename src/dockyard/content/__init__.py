"""The content store: immutable blobs by digest, written through verified ingests.

``ContentStore`` (``store.py``) is the seam, ``LocalContentStore`` (``local.py``) the
implementation on a local file system (on-disk layout drawn in ``layout.py``), and
``helpers.py`` has what callers build on it.
"""

from __future__ import annotations

from .helpers import ingest_bytes, ingest_stream, read_at, read_blob
from .local import LocalContentStore
from .store import ContentStore, Info, Status, Writer

__all__ = [
    "ContentStore",
    "Info",
    "LocalContentStore",
    "Status",
    "Writer",
    "ingest_bytes",
    "ingest_stream",
    "read_at",
    "read_blob",
]
