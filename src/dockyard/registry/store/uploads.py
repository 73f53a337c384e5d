"""Upload sessions: bytes received in one or more requests, verified, then committed.

Lifecycle of an upload (the spec's push workflows all map onto it)::

    start(name) -> id          POST /v2/<name>/blobs/uploads/
    open_writer(id, name, at)  PATCH (chunked or streamed) and the body of a closing PUT:
      .write(chunk)...         bytes appended to uploads/<id>/data while hashing
      .close()
    status(id, name)           GET  .../uploads/<id>: the bytes received so far
    finish(id, name, digest)   PUT  ...?digest=: recompute, compare, fsync, move the data
                               to blobs/<alg>/..., link it into <name>, remove the session
    cancel(id, name)           DELETE .../uploads/<id>
    purge(older_than)          stale sessions (no write for that long) removed

The digest is computed while the bytes stream in. The hash state lives in this process
(``hashlib`` states cannot be saved), keyed by upload and offset; when another worker
process, or this one after a restart, continues an upload, the hash of what is already
on disk is recomputed once. Nothing is visible as a blob before ``finish`` verified it.
A session is bound to the repository it was started in: using its id under another
name is ``BLOB_UPLOAD_UNKNOWN``.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
import uuid
from dataclasses import dataclass

from dockyard.errors import NotFound
from dockyard.oci.digest import CANONICAL, Digest, Digester
from dockyard.registry.errors import (
    BlobUploadInvalid,
    DigestMismatch,
    RangeInvalid,
    TooLarge,
    UploadUnknown,
)
from dockyard.registry.names import RepoName
from dockyard.registry.storage.driver import FileWriter, StorageDriver
from dockyard.registry.store import paths
from dockyard.registry.store.blobs import BlobStore

log = logging.getLogger(__name__)

_READ = 1 << 20


@dataclass(frozen=True, slots=True)
class UploadStatus:
    id: str
    name: RepoName
    size: int  # bytes received so far
    started: float


class UploadWriter:
    """Appends to one upload; ``close`` always (it releases the session)."""

    def __init__(self, store: UploadStore, upload_id: str, w: FileWriter,
                 digester: Digester, lock: threading.Lock) -> None:
        self._store, self._id, self._w, self._d, self._lock = store, upload_id, w, digester, lock
        self._closed = False

    @property
    def size(self) -> int:
        return self._w.size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        limit = self._store.max_blob_size
        if limit and self._w.size + len(data) > limit:
            raise TooLarge(f"blob exceeds the {limit} bytes this registry accepts")
        self._w.write(data)
        self._d.update(data)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._w.close()
            self._store._remember(self._id, self._d)
        finally:
            self._lock.release()


class UploadStore:
    """The upload sessions of one registry (see the module docstring)."""

    def __init__(self, driver: StorageDriver, blobs: BlobStore, *,
                 max_blob_size: int = 0) -> None:
        self.driver = driver
        self.blobs = blobs
        self.max_blob_size = max_blob_size
        self._mu = threading.Lock()
        self._hashes: dict[str, Digester] = {}
        self._busy: dict[str, threading.Lock] = {}

    # ------------------------------------------------------------------ sessions

    def start(self, name: RepoName) -> UploadStatus:
        upload_id = uuid.uuid4().hex
        now = time.time()
        stamp = datetime.datetime.fromtimestamp(now, datetime.UTC).isoformat()
        self.driver.put_content(paths.upload_repo(upload_id), name.encode())
        self.driver.put_content(paths.upload_startedat(upload_id), stamp.encode())
        w = self.driver.writer(paths.upload_data(upload_id))
        w.close()
        return UploadStatus(upload_id, name, 0, now)

    def _check(self, upload_id: str, name: RepoName) -> None:
        paths.validate_upload_id(upload_id)
        try:
            owner = self.driver.get_content(paths.upload_repo(upload_id)).decode()
        except NotFound as e:
            raise UploadUnknown(f"blob upload {upload_id} unknown") from e
        if owner != name:
            raise UploadUnknown(f"blob upload {upload_id} unknown to repository {name}")

    def status(self, upload_id: str, name: RepoName) -> UploadStatus:
        self._check(upload_id, name)
        try:
            st = self.driver.stat(paths.upload_data(upload_id))
            started = self.driver.stat(paths.upload_startedat(upload_id)).mtime
        except NotFound as e:
            raise UploadUnknown(f"blob upload {upload_id} unknown") from e
        return UploadStatus(upload_id, name, st.size, started)

    def open_writer(self, upload_id: str, name: RepoName,
                    at: int | None = None) -> UploadWriter:
        """A writer appending to the upload; ``at`` (from Content-Range) must be its size.

        A second writer on the same upload while one is open is refused (416): chunks
        must arrive in order, one at a time.
        """
        self._check(upload_id, name)
        with self._mu:
            lock = self._busy.setdefault(upload_id, threading.Lock())
        if not lock.acquire(blocking=False):
            raise RangeInvalid(f"blob upload {upload_id}: another chunk is being written")
        try:
            w = self.driver.writer(paths.upload_data(upload_id), append=True)
            if at is not None and at != w.size:
                size = w.size
                w.close()
                raise RangeInvalid(f"blob upload {upload_id}: chunk starts at {at}, "
                                   f"but {size} bytes were received", size)
            digester = self._digester(upload_id, w.size)
            return UploadWriter(self, upload_id, w, digester, lock)
        except BaseException:
            lock.release()
            raise

    def _remember(self, upload_id: str, d: Digester) -> None:
        with self._mu:
            self._hashes[upload_id] = d

    def _digester(self, upload_id: str, size: int, algorithm: str = CANONICAL) -> Digester:
        """The hash of the first ``size`` bytes of the upload (cached, else recomputed)."""
        with self._mu:
            cached = self._hashes.pop(upload_id, None)
        if cached is not None and cached.size == size and cached.algorithm == algorithm:
            return cached
        d = Digester(algorithm)
        with self.driver.reader(paths.upload_data(upload_id)) as f:
            while d.size < size:
                chunk = f.read(min(_READ, size - d.size))
                if not chunk:
                    raise BlobUploadInvalid(f"blob upload {upload_id}: data shorter than "
                                            "recorded")
                d.update(chunk)
        return d

    def finish(self, upload_id: str, name: RepoName, digest: Digest) -> int:
        """Verify the upload against ``digest``, commit it as a blob linked into ``name``.

        Returns the blob's size. On a mismatch the session stays (DIGEST_INVALID), so a
        client may still cancel it.
        """
        self._check(upload_id, name)
        with self._mu:
            lock = self._busy.setdefault(upload_id, threading.Lock())
        if not lock.acquire(blocking=False):
            raise RangeInvalid(f"blob upload {upload_id}: a chunk is being written")
        try:
            data = paths.upload_data(upload_id)
            try:
                size = self.driver.stat(data).size
            except NotFound as e:
                raise UploadUnknown(f"blob upload {upload_id} unknown") from e
            got = self._digester(upload_id, size, digest.algorithm).digest()
            if got != digest:
                raise DigestMismatch(f"upload {upload_id}: content digest is {got}, "
                                     f"not {digest}")
            # Durable before it becomes visible under its content address.
            w = self.driver.writer(data, append=True)
            try:
                w.commit()
            finally:
                w.close()
            self.blobs.commit_upload(data, digest)
            self.blobs.link(name, digest)
            self._drop(upload_id)
            return size
        finally:
            lock.release()
            with self._mu:
                self._busy.pop(upload_id, None)

    def cancel(self, upload_id: str, name: RepoName) -> None:
        self._check(upload_id, name)
        self._drop(upload_id)

    def _drop(self, upload_id: str) -> None:
        with self._mu:
            self._hashes.pop(upload_id, None)
            busy = self._busy.get(upload_id)
            if busy is not None and not busy.locked():
                del self._busy[upload_id]
        try:
            self.driver.delete(paths.upload_dir(upload_id))
        except NotFound:
            pass

    # ------------------------------------------------------------------ housekeeping

    def ids(self) -> list[str]:
        try:
            entries = self.driver.list(paths.UPLOADS)
        except NotFound:
            return []
        out = []
        for e in entries:
            upload_id = e.rsplit("/", 1)[1]
            try:
                out.append(paths.validate_upload_id(upload_id))
            except UploadUnknown:
                continue
        return out

    def last_activity(self, upload_id: str) -> float:
        """The last time bytes were written (or the session started)."""
        times = []
        for p in (paths.upload_data(upload_id), paths.upload_startedat(upload_id)):
            try:
                times.append(self.driver.stat(p).mtime)
            except NotFound:
                continue
        if not times:
            raise UploadUnknown(f"blob upload {upload_id} unknown")
        return max(times)

    def purge(self, older_than: float, *, dry_run: bool = False,
              now: float | None = None) -> list[str]:
        """Remove sessions idle for more than ``older_than`` seconds; their ids."""
        now = time.time() if now is None else now
        purged = []
        for upload_id in self.ids():
            with self._mu:
                busy = self._busy.get(upload_id)
            if busy is not None and busy.locked():
                continue
            try:
                idle = now - self.last_activity(upload_id)
            except UploadUnknown:
                continue
            if idle <= older_than:
                continue
            purged.append(upload_id)
            if not dry_run:
                self._drop(upload_id)
                log.info("purged stale upload %s (idle %.0f s)", upload_id, idle)
        return purged
