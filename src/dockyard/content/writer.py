"""The local store's writer: appends to an ingest's ``data``, hashing as it goes, and
commits by verify-then-rename (containerd's ``plugins/content/local/writer.go``)."""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING

from dockyard.errors import AlreadyExists, FailedPrecondition, Internal, InvalidArgument
from dockyard.oci.digest import CANONICAL, Digest, Digester

from . import ingest
from .files import format_time, fsync_dir, now, os_errors
from .store import Info, Status

if TYPE_CHECKING:
    from datetime import datetime

    from .local import LocalContentStore

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


class LocalWriter:
    """An open ingest of a ``LocalContentStore`` (see ``store.Writer`` for the contract).

    It owns the ingest's flock and the ``data`` file descriptor until ``commit`` or
    ``close``. Not thread-safe: one thread writes.
    """

    def __init__(self, store: LocalContentStore, ref: str, ingest_dir: str,
                 lock_file: io.FileIO, data: io.FileIO, digester: Digester,
                 total: int | None, expected: Digest | None, started_at: datetime,
                 updated_at: datetime) -> None:
        self._store = store
        self._ref = ref
        self._dir = ingest_dir
        self._lock: io.FileIO | None = lock_file
        self._data: io.FileIO | None = data
        self._digester = digester
        self._total = total
        self._expected = expected
        self._started_at = started_at
        self._updated_at = updated_at

    # -- reading the state

    @property
    def ref(self) -> str:
        return self._ref

    @property
    def offset(self) -> int:
        return self._digester.size

    def digest(self) -> Digest:
        return self._digester.digest()

    def status(self) -> Status:
        return Status(ref=self._ref, offset=self.offset, total=self._total,
                      expected=self._expected, started_at=self._started_at,
                      updated_at=self._updated_at)

    def _open_data(self) -> io.FileIO:
        if self._data is None:
            raise FailedPrecondition(f"writer for ref {self._ref!r} is closed")
        return self._data

    # -- writing

    def write(self, data: bytes | bytearray | memoryview) -> int:
        f = self._open_data()
        view = memoryview(data).cast("B")
        n = len(view)
        with os_errors(f"write to ingest {self._ref!r}"):
            fd = f.fileno()
            while view:
                done = os.write(fd, view)
                self._digester.update(view[:done])
                view = view[done:]
        self._updated_at = now()
        return n

    def truncate(self, size: int = 0) -> None:
        if size != 0:
            raise InvalidArgument(f"truncate to {size}: only 0 is supported")
        f = self._open_data()
        with os_errors(f"truncate ingest {self._ref!r}"):
            os.ftruncate(f.fileno(), 0)
            os.lseek(f.fileno(), 0, os.SEEK_SET)
        self._digester.reset()
        self._updated_at = now()

    # -- finishing

    def commit(self, size: int | None = None, expected: Digest | None = None,
               labels: Mapping[str, str] | None = None) -> Info:
        f = self._open_data()
        want_size = size if size is not None else self._total
        want_digest = expected if expected is not None else self._expected
        try:
            with os_errors(f"commit ingest {self._ref!r}"):
                return self._commit(f, want_size, want_digest, labels)
        finally:
            self._release(keep_ingest_time=False)

    def _commit(self, f: io.FileIO, want_size: int | None, want_digest: Digest | None,
                labels: Mapping[str, str] | None) -> Info:
        fd = f.fileno()
        os.fsync(fd)
        actual_size = os.fstat(fd).st_size
        if actual_size != self.offset:
            raise Internal(f"ingest {self._ref!r}: data file is {actual_size} bytes but "
                           f"{self.offset} were written (changed behind the writer?)")
        if want_size is not None and actual_size != want_size:
            raise FailedPrecondition(f"unexpected commit size {actual_size}, expected "
                                     f"{want_size} (ref {self._ref!r})")
        digest = self._digester.digest()
        if want_digest is not None and digest != want_digest:
            raise FailedPrecondition(f"unexpected commit digest {digest}, expected "
                                     f"{want_digest} (ref {self._ref!r})")
        if labels:
            self._store.validate_labels(labels)
        layout = self._store.layout
        target = layout.blob_path(digest)
        if os.path.exists(target):
            ingest.remove(layout.ingest, self._dir)
            raise AlreadyExists(f"content {digest}: already exists")
        # Read-only and stamped with the commit time *before* it becomes visible.
        os.fchmod(fd, 0o444)
        t = time.time_ns()
        os.utime(fd, ns=(t, t))
        # Concurrent commits of the same digest from other refs may rename over each
        # other here: the bytes are verified identical, so readers cannot tell.
        os.rename(os.path.join(self._dir, ingest.DATA), target)
        fsync_dir(os.path.dirname(target))
        log.debug("committed %s (%d bytes) from ref %r", digest, actual_size, self._ref)
        try:
            ingest.remove(layout.ingest, self._dir)
        except OSError as e:
            # The blob is published and cannot be rolled back; the leftover ingest has no
            # data and is cleaned by clean_stale_ingests. Report, do not fail the commit.
            log.warning("committed %s but could not remove ingest %s: %s", digest, self._dir, e)
        if labels:
            self._store.write_labels(digest, labels)
        return self._store.info(digest)

    def close(self) -> None:
        """Keep the ingest for resuming; release the ref."""
        if self._data is None:
            return
        self._release(keep_ingest_time=True)

    def _release(self, keep_ingest_time: bool) -> None:
        data, lock_file = self._data, self._lock
        self._data = self._lock = None
        try:
            if data is not None:
                try:
                    if keep_ingest_time:
                        with os_errors(f"close ingest {self._ref!r}"):
                            os.fsync(data.fileno())
                            if os.path.isdir(self._dir):
                                ingest.write_updated_at(self._dir, format_time(self._updated_at))
                finally:
                    data.close()
        finally:
            if lock_file is not None:
                lock_file.close()  # releases the flock

    def __enter__(self) -> LocalWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        if self._data is not None:
            log.warning("writer for ref %r was never closed", self._ref)


def rehash(data: io.FileIO, algorithm: str = CANONICAL) -> Digester:
    """A digester fed with the whole of ``data`` (to resume an ingest)."""
    d = Digester(algorithm)
    fd = data.fileno()
    offset = 0
    while True:
        chunk = os.pread(fd, _CHUNK, offset)
        if not chunk:
            return d
        d.update(chunk)
        offset += len(chunk)
