"""One layer blob downloaded into the content store, readable while it downloads.

A ``Download`` runs on a worker thread: it opens (or resumes) the ingest
``pull-<digest>``, asks the registry for the bytes from the ingest's offset (``Range``),
writes them to the ingest (hashing as they go) and commits the blob, which verifies size
and digest. Connection errors and truncated bodies are retried from the new offset with
backoff; bytes that do not hash to the digest abort the ingest (it would poison the next
resume) and fail the layer.

``Download.reader()`` gives the unpacker a file object over the same bytes *while they
arrive*: it reads the ingest's ``data`` file (opened once: the descriptor stays valid
when the commit renames it into ``blobs/``) from offset 0, waiting for the writer at its
end. An unpack that starts late, or after a resumed download, reads what is on disk
first and then follows the download: the unpack always restarts from the ingest file.
The reader hands out bytes that are not yet verified; the caller commits its snapshot
only after ``wait_verified()`` says every byte hashes to the digest *and* the layer's
diff_id matched; ``wait()`` waits for the blob's commit too.
"""

from __future__ import annotations

import enum
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from typing import BinaryIO

from urllib3.exceptions import HTTPError as Urllib3Error

from dockyard.content import LocalContentStore, Writer
from dockyard.distribution.client import Repository
from dockyard.distribution.errors import detail_of
from dockyard.distribution.transport import reason
from dockyard.errors import (
    AlreadyExists,
    DockyardError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from dockyard.metadata import Resource
from dockyard.oci.descriptor import Descriptor

from .progress import Progress, ProgressFn
from .sources import source_labels
from .stores import Stores

log = logging.getLogger(__name__)

CHUNK = 256 << 10
LOCK_WAIT = 0.2


class State(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    VERIFIED = "verified"
    """Every byte is in the ingest and hashes to the digest; the commit (fsync, rename)
    is under way. The layer's snapshot may be committed from here on."""
    DONE = "done"
    FAILED = "failed"


class Cancelled(FailedPrecondition):
    """The pull was cancelled (or another layer failed)."""


class StopFlag:
    """Set when a pull must stop: by its caller (``cancel``) or by a failed layer."""

    def __init__(self, cancel: threading.Event | None = None) -> None:
        self._own = threading.Event()
        self._cancel = cancel

    def is_set(self) -> bool:
        return self._own.is_set() or (self._cancel is not None and self._cancel.is_set())

    def set(self) -> None:
        self._own.set()


_ENDED = (State.VERIFIED, State.DONE, State.FAILED)
"""No more bytes will come (the reader's end of waiting)."""


def ingest_ref(desc: Descriptor) -> str:
    return f"pull-{desc.digest}"


class Throttle:
    """Report progress at most every ``step`` bytes (and at the end)."""

    def __init__(self, total: int) -> None:
        self.step = max(128 << 10, total // 50)
        self.last = -1

    def due(self, current: int, total: int) -> bool:
        if current >= total or self.last < 0 or current - self.last >= self.step:
            self.last = current
            return True
        return False


class Download:
    """The download of one layer blob (see the module docstring)."""

    def __init__(self, stores: Stores, repo: Repository, desc: Descriptor, lease_id: str,
                 progress: ProgressFn, stop: StopFlag, *, retries: int = 3,
                 backoff: float = 0.5, sleep: Callable[[float], None] = time.sleep) -> None:
        self.stores = stores
        self.repo = repo
        self.desc = desc
        self.short = desc.digest.hex[:12]
        self.lease_id = lease_id
        self.progress = progress
        self.stop = stop
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.cond = threading.Condition()
        self.state = State.PENDING
        self.error: BaseException | None = None
        self.written = 0
        self.resumed_from = 0
        self.data_path: str | None = None
        self.announced = False
        """"Download complete" is said: the layer's "Extracting" lines may follow (set
        before the state turns VERIFIED, so a "Pull complete" always comes after it)."""

    # ----------------------------------------------------------------- the worker

    def run(self) -> None:
        """Download and commit (on a worker thread); failures are kept in ``error``."""
        try:
            self._run()
        except BaseException as e:  # kept for wait() and the reader, raised there
            with self.cond:
                self.error = e
                self.state = State.FAILED
                self.cond.notify_all()
            self.stop.set()
            return
        with self.cond:
            self.state = State.DONE
            self.cond.notify_all()

    def _check(self) -> None:
        if self.stop.is_set():
            raise Cancelled("pull cancelled")

    def _run(self) -> None:
        content = self.stores.content
        self.stores.meta.leases.add(self.lease_id, Resource.content(self.desc.digest))
        labels = source_labels(self.stores, self.desc.digest, self.repo.domain,
                               self.repo.name)
        while True:
            self._check()
            try:
                w = content.writer(ingest_ref(self.desc), self.desc)
                break
            except AlreadyExists:
                self._present(labels)
                return
            except Unavailable:  # another pull is writing it: wait for that one
                self.sleep(LOCK_WAIT)
        with w:
            if w.offset > self.desc.size:
                w.truncate(0)
            self.resumed_from = self.written = w.offset
            if isinstance(content, LocalContentStore):
                self.data_path = os.path.join(content.layout.ingest_dir(w.ref), "data")
            with self.cond:
                self.state = State.RUNNING
                self.cond.notify_all()
            if self.resumed_from:
                log.info("layer %s: resuming the download at %d of %d bytes", self.desc.digest,
                         self.resumed_from, self.desc.size)
            self._transfer(w)
            self.progress(Progress("Verifying Checksum", self.short))
            if w.offset == self.desc.size and w.digest() == self.desc.digest:
                self._announce()
                with self.cond:
                    self.state = State.VERIFIED
                    self.cond.notify_all()
            try:
                w.commit(self.desc.size, self.desc.digest, labels)
            except AlreadyExists:
                self._present(labels)
            except FailedPrecondition as e:
                self._discard()
                log.warning("layer %s: %s", self.desc.digest, e)  # the detail: the log's
                raise InvalidArgument(f"filesystem layer verification failed for digest "
                                      f"{self.desc.digest}") from e  # moby's words
        self._announce()

    def _announce(self) -> None:
        if not self.announced:
            self.progress(Progress("Download complete", self.short))
            self.announced = True

    def _present(self, labels: dict[str, str]) -> None:
        if labels:
            self.stores.content.update_labels(self.desc.digest, labels)
        self._announce()
        with self.cond:
            self.written = self.desc.size
            self.state = State.RUNNING
            self.cond.notify_all()

    def _discard(self) -> None:
        # The lock may still be held a moment by a copy of its descriptor (a process
        # forked meanwhile by another thread keeps the flock until it execs): retry.
        for attempt in range(40):
            try:
                self.stores.content.abort(ingest_ref(self.desc))
                return
            except NotFound:
                return
            except Unavailable as e:
                if attempt == 39:
                    log.debug("abort ingest of %s: %s", self.desc.digest, e)
                    return
                self.sleep(0.05)

    def _pause(self, delay: float) -> None:
        """Wait before retrying, telling the client as Docker does."""
        self.progress(Progress(f"Retrying in {max(1, math.ceil(delay))} second"
                               f"{'' if math.ceil(delay) <= 1 else 's'}", self.short))
        self.sleep(delay)

    def _transfer(self, writer: Writer) -> None:
        size = self.desc.size
        throttle = Throttle(size)
        delay = self.backoff
        failures = 0
        while writer.offset < size:
            self._check()
            offset = writer.offset
            try:
                resp = self.repo.blob_response(self.desc.digest, offset)
            except Unavailable as e:
                failures += 1
                if failures > self.retries:
                    # dockerd names no request for a layer's download: the reason alone
                    # ("dial tcp 127.0.0.1:5000: connect: connection refused")
                    raise Unavailable(detail_of(e)) from e
                self._pause(delay)
                delay *= 2
                continue
            try:
                skip = offset if resp.status == 200 else 0
                for chunk in resp.stream(CHUNK, decode_content=False):
                    if writer.offset < size:  # a whole blob is committed, never dropped
                        self._check()
                    if skip:
                        cut = min(skip, len(chunk))
                        chunk, skip = chunk[cut:], skip - cut
                        if not chunk:
                            continue
                    if writer.offset + len(chunk) > size:
                        writer.truncate(0)
                        raise InvalidArgument(f"filesystem layer verification failed for "
                                              f"digest {self.desc.digest}: more than "
                                              f"{size} bytes")
                    writer.write(chunk)
                    with self.cond:
                        self.written = writer.offset
                        self.cond.notify_all()
                    if throttle.due(writer.offset, size):
                        self.progress(Progress("Downloading", self.short, writer.offset, size))
            except Urllib3Error as e:
                failures += 1
                log.info("layer %s: download broke at %d of %d bytes: %s", self.desc.digest,
                         writer.offset, size, reason(e))
                if failures > self.retries:
                    raise Unavailable(f"layer {self.desc.digest}: download failed at "
                                      f"{writer.offset} of {size} bytes: {reason(e)}") from e
                self._pause(delay)
                delay *= 2
                continue
            finally:
                resp.release_conn()
            if writer.offset < size:  # the server ended the body early without an error
                failures += 1
                if failures > self.retries:
                    raise Unavailable(f"layer {self.desc.digest}: the registry sent "
                                      f"{writer.offset} of {size} bytes")
                self._pause(delay)
                delay *= 2

    # ----------------------------------------------------------------- the consumer

    def wait(self) -> None:
        """Until the blob is committed (verified); raises the download's error."""
        with self.cond:
            while self.state not in (State.DONE, State.FAILED):
                self.cond.wait(1.0)
            if self.error is not None:
                raise self.error

    def wait_verified(self) -> None:
        """Until the blob's bytes are verified against its digest (its commit may still
        be under way: ``wait()`` for that); raises the download's error."""
        with self.cond:
            while self.state not in (State.VERIFIED, State.DONE, State.FAILED):
                self.cond.wait(1.0)
            if self.error is not None:
                raise self.error

    def wait_started(self) -> None:
        with self.cond:
            while self.state is State.PENDING:
                self.cond.wait(1.0)
            if self.state is State.FAILED and self.error is not None:
                raise self.error

    def reader(self) -> LayerReader:
        """A file object over the blob's bytes as they arrive (see the module docstring)."""
        self.wait_started()
        f: BinaryIO | None = None
        if self.data_path is not None:
            try:
                f = open(self.data_path, "rb")  # noqa: SIM115 - the reader owns and closes it
            except FileNotFoundError:
                self.wait()  # committed meanwhile (or discarded: its error is raised)
                f = None
        if f is None:
            f = self.stores.content.open_blob(self.desc.digest)
        return LayerReader(self, f)


class LayerReader:
    """Reads a layer's bytes from the ingest file, following its download."""

    def __init__(self, download: Download, f: BinaryIO) -> None:
        self.d = download
        self.f = f
        self.pos = 0
        self.throttle = Throttle(download.desc.size)
        self.extracting_said = False

    def read(self, size: int = -1) -> bytes:
        d = self.d
        total = d.desc.size
        if size < 0:
            size = CHUNK
        while True:
            if self.pos >= total:
                return b""
            with d.cond:
                while d.written <= self.pos and d.state not in _ENDED:
                    if d.stop.is_set():
                        raise Cancelled("pull cancelled")
                    d.cond.wait(0.5)
                if d.state is State.FAILED and d.error is not None:
                    raise d.error
                avail = d.written - self.pos
            if avail <= 0:
                return b""
            data = os.pread(self.f.fileno(), min(size, avail), self.pos)
            if not data:
                return b""
            self.pos += len(data)
            # While the layer still downloads its "Downloading" lines tell the progress
            # (one status per layer at a time, as the docker CLI draws one bar per id);
            # "Extracting" only once "Download complete" is said, as Docker orders them.
            if d.announced and self.throttle.due(self.pos, total):
                self.say_extracting()
            return data

    def say_extracting(self) -> None:
        self.d.progress(Progress("Extracting", self.d.short, self.pos, self.d.desc.size))
        self.extracting_said = True

    def close(self) -> None:
        self.f.close()

    def __enter__(self) -> LayerReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fail_message(e: BaseException) -> str:
    return str(e) if isinstance(e, DockyardError) else f"{type(e).__name__}: {e}"
