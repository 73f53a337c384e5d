"""``LocalContentStore``: the content store on a local file system (layout: ``layout.py``).

Everything is on disk; the only shared state between threads and processes is the
file system and its ``flock(2)`` locks, so any number of store objects, in any number of
processes, may use one root at once.
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from typing import TYPE_CHECKING, BinaryIO

from dockyard.errors import AlreadyExists, InvalidArgument, NotFound, Unavailable
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import ALGORITHMS, CANONICAL, Digest, Digester, validate_encoded

from . import ingest
from .files import format_time, from_ns, now, os_errors, remove_tree, write_atomic
from .layout import TRASH_PREFIX, Layout
from .store import Info, Status
from .writer import LocalWriter, rehash

log = logging.getLogger(__name__)

MAX_LABEL_BYTES = 4096  # key + value, as containerd limits them


class LocalContentStore:
    """A ``ContentStore`` rooted at a directory (created if missing)."""

    def __init__(self, root: str) -> None:
        self.layout = Layout(root)
        with os_errors(f"open content store {root}"):
            self.layout.init()

    @property
    def root(self) -> str:
        return self.layout.root

    def __repr__(self) -> str:
        return f"LocalContentStore({self.root!r})"

    # ----------------------------------------------------------------- content

    def info(self, digest: Digest) -> Info:
        path = self.layout.blob_path(digest)
        with os_errors(f"stat content {digest}"):
            try:
                st = os.stat(path)
            except FileNotFoundError as e:
                raise NotFound(f"content {digest}: not found") from e
            return self._info(digest, st)

    def _info(self, digest: Digest, st: os.stat_result) -> Info:
        labels, labels_mtime = self._read_labels(digest)
        created = from_ns(st.st_mtime_ns)
        updated = from_ns(max(st.st_mtime_ns, labels_mtime)) if labels_mtime else created
        return Info(digest=digest, size=st.st_size, created_at=created, updated_at=updated,
                    labels=labels)

    def open_blob(self, digest: Digest) -> BinaryIO:
        with os_errors(f"open content {digest}"):
            try:
                return open(self.layout.blob_path(digest), "rb")
            except FileNotFoundError as e:
                raise NotFound(f"content {digest}: not found") from e

    def delete(self, digest: Digest) -> None:
        with os_errors(f"delete content {digest}"):
            try:
                os.unlink(self.layout.blob_path(digest))
            except FileNotFoundError as e:
                raise NotFound(f"content {digest}: not found") from e
            with self._labels_locked(), suppress(FileNotFoundError):  # had no labels
                os.unlink(self.layout.labels_path(digest))

    def walk(self, filter: Callable[[Info], bool] | None = None) -> Iterator[Info]:
        for algorithm in sorted(ALGORITHMS):
            d = os.path.join(self.layout.blobs, algorithm)
            with os_errors(f"list {d}"):
                names = sorted(os.listdir(d))
            for name in names:
                try:
                    validate_encoded(algorithm, name)
                except InvalidArgument:
                    log.warning("content store %s: ignoring stray file %s/%s", self.root,
                                algorithm, name)
                    continue
                digest = Digest(algorithm, name)
                with os_errors(f"stat content {digest}"):
                    try:
                        st = os.stat(os.path.join(d, name))
                    except FileNotFoundError:
                        continue  # deleted while we walked: not there any more
                    info = self._info(digest, st)
                if filter is None or filter(info):
                    yield info

    # ----------------------------------------------------------------- labels

    def _labels_locked(self) -> _FileLock:
        return _FileLock(self.layout.labels_lock())

    def _read_labels(self, digest: Digest) -> tuple[dict[str, str], int]:
        """The labels and the sidecar's mtime (0 when there is none)."""
        path = self.layout.labels_path(digest)
        try:
            with open(path, "rb") as f:
                mtime = os.fstat(f.fileno()).st_mtime_ns
                labels = json.loads(f.read())
        except FileNotFoundError:
            return {}, 0
        except ValueError as e:
            raise InvalidArgument(f"labels of {digest} are corrupt ({path}): {e}") from e
        if not isinstance(labels, dict):
            raise InvalidArgument(f"labels of {digest} are corrupt ({path}): not an object")
        return labels, mtime

    @staticmethod
    def validate_labels(labels: Mapping[str, str]) -> None:
        """Keys non-empty strings, values strings, each pair at most 4 KiB."""
        for k, v in labels.items():
            if not isinstance(k, str) or not k or not isinstance(v, str):
                raise InvalidArgument(f"label {k!r}={v!r}: keys must be non-empty strings and "
                                      "values strings")
            if len(k.encode()) + len(v.encode()) > MAX_LABEL_BYTES:
                raise InvalidArgument(f"label {k!r}: key and value exceed {MAX_LABEL_BYTES} "
                                      "bytes")

    def write_labels(self, digest: Digest, labels: Mapping[str, str]) -> None:
        """Set the blob's labels exactly (used by commit)."""
        with os_errors(f"write labels of {digest}"), self._labels_locked():
            self._store_labels(digest, dict(labels))

    def _store_labels(self, digest: Digest, labels: dict[str, str]) -> None:
        """Write the sidecar (``{}`` too: its mtime is the blob's updated time), stamped
        with a precise time (the kernel's file clock is coarse)."""
        path = self.layout.labels_path(digest)
        write_atomic(path, json.dumps(labels, sort_keys=True).encode())
        t = time.time_ns()
        os.utime(path, ns=(t, t))

    def update_labels(self, digest: Digest, labels: Mapping[str, str], *,
                      replace: bool = False) -> Info:
        self.validate_labels(labels)
        with os_errors(f"update labels of {digest}"), self._labels_locked():
            self.info(digest)  # NotFound for absent content
            if replace:
                new = {k: v for k, v in labels.items() if v}
            else:
                new, _ = self._read_labels(digest)
                for k, v in labels.items():
                    if v:
                        new[k] = v
                    else:
                        new.pop(k, None)
            self._store_labels(digest, new)
        return self.info(digest)

    # ----------------------------------------------------------------- ingests

    def writer(self, ref: str, expected: Descriptor | None = None) -> LocalWriter:
        ingest.validate_ref(ref)
        if expected is not None and os.path.exists(self.layout.blob_path(expected.digest)):
            raise AlreadyExists(f"content {expected.digest}: already exists")
        d = self.layout.ingest_dir(ref)
        with os_errors(f"open ingest {ref!r}"):
            lock_file = ingest.lock(d, ref)
            try:
                return self._open_writer(ref, d, lock_file, expected)
            except BaseException:
                lock_file.close()
                raise

    def _open_writer(self, ref: str, d: str, lock_file: io.FileIO,
                     expected: Descriptor | None) -> LocalWriter:
        header = ingest.read_header(d)
        if header is not None and header.ref != ref:
            raise InvalidArgument(f"ingest {d} belongs to ref {header.ref!r}, not {ref!r}")
        if header is not None and expected is not None and (
                (header.expected is not None and header.expected != expected.digest)
                or (header.total is not None and header.total != expected.size)):
            log.info("ingest %r: expectation changed (%s/%s -> %s/%s); starting over", ref,
                     header.expected, header.total, expected.digest, expected.size)
            header = None
        data_path = os.path.join(d, ingest.DATA)
        if header is None:
            started = now()
            total = expected.size if expected is not None else None
            want = expected.digest if expected is not None else None
            ingest.write_header(d, ref, total, want, format_time(started))
            fd = os.open(data_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            data = io.FileIO(fd, "r+", closefd=True)
            algorithm = want.algorithm if want is not None else CANONICAL
            return LocalWriter(self, ref, d, lock_file, data, Digester(algorithm), total, want,
                               started, started)
        # Resuming: expectations learnt only now are recorded for later resumes.
        total, want = header.total, header.expected
        if expected is not None and (total is None or want is None):
            total, want = expected.size, expected.digest
            ingest.write_expectations(d, total, want)
        fd = os.open(data_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        data = io.FileIO(fd, "r+", closefd=True)
        try:
            digester = rehash(data, want.algorithm if want is not None else CANONICAL)
            os.lseek(fd, 0, os.SEEK_END)
            status = ingest.read_status(d)
        except BaseException:
            data.close()
            raise
        log.debug("resuming ingest %r at %d bytes", ref, digester.size)
        return LocalWriter(self, ref, d, lock_file, data, digester, total, want,
                           status.started_at, status.updated_at)

    def status(self, ref: str) -> Status:
        ingest.validate_ref(ref)
        with os_errors(f"status of ingest {ref!r}"):
            st = ingest.read_status(self.layout.ingest_dir(ref))
        if st.ref != ref:
            raise NotFound(f"no ingest for ref {ref!r}")
        return st

    def list_statuses(self, prefix: str = "") -> list[Status]:
        out = []
        with os_errors("list ingests"):
            for name in os.listdir(self.layout.ingest):
                if name.startswith("."):
                    continue
                try:
                    st = ingest.read_status(os.path.join(self.layout.ingest, name))
                except NotFound:
                    continue  # incomplete, committing or being removed: not an ingest now
                if st.ref.startswith(prefix):
                    out.append(st)
        return sorted(out, key=lambda s: s.ref)

    def abort(self, ref: str) -> None:
        ingest.validate_ref(ref)
        d = self.layout.ingest_dir(ref)
        if not os.path.isdir(d):
            raise NotFound(f"no ingest for ref {ref!r}")
        with os_errors(f"abort ingest {ref!r}"):
            lock_file = ingest.try_lock(d)
            if lock_file is None:
                raise Unavailable(f"ref {ref!r} is locked: close its writer before aborting")
            try:
                had = ingest.read_header(d) is not None or os.path.exists(
                    os.path.join(d, ingest.DATA))
                ingest.remove(self.layout.ingest, d)
            finally:
                lock_file.close()
        if not had:
            raise NotFound(f"no ingest for ref {ref!r}")

    def clean_stale_ingests(self, older_than: float,
                            keep: Callable[[str], bool] | None = None) -> list[str]:
        """Remove ingests idle for ``older_than`` seconds and not locked by a writer, and
        any removal leftovers; returns the refs (or directory names) removed. With
        ``keep``, an idle ingest is removed at any age when its header is unreadable, its
        ref is not its directory's or ``keep(ref)`` is false (start-up recovery keeps only
        the ingests a pull can resume)."""
        removed = []
        cutoff = time.time_ns() - int(older_than * 1e9)
        with os_errors("clean stale ingests"):
            for name in sorted(os.listdir(self.layout.ingest)):
                d = os.path.join(self.layout.ingest, name)
                if name.startswith(TRASH_PREFIX):
                    remove_tree(d)
                    continue
                if name.startswith(".") or not os.path.isdir(d):
                    continue
                lock_file = ingest.try_lock(d)
                if lock_file is None:
                    continue  # a writer has it: live
                try:
                    last = ingest.last_activity_ns(d)
                    header = ingest.read_header(d)
                    if last is not None and last > cutoff and (
                            keep is None or (header is not None and keep(header.ref)
                                             and self.layout.ingest_dir(header.ref) == d)):
                        continue
                    if last is None and header is None:
                        # Only our lock file: the directory vanished under us and try_lock
                        # recreated it. Tidy it away without reporting an ingest.
                        ingest.remove(self.layout.ingest, d)
                        continue
                    ingest.remove(self.layout.ingest, d)
                    removed.append(header.ref if header is not None else name)
                finally:
                    lock_file.close()
        for r in removed:
            log.info("content store %s: removed stale ingest %r", self.root, r)
        return removed

    def ingest_bytes(self, data: bytes, expected: Descriptor | None = None,
                     labels: Mapping[str, str] | None = None) -> Info:
        from .helpers import ingest_bytes

        return ingest_bytes(self, data, expected, labels)


if TYPE_CHECKING:
    from .store import ContentStore

    def _implements(s: LocalContentStore) -> ContentStore:
        return s  # mypy checks that LocalContentStore satisfies the protocol


class _FileLock:
    """A blocking, exclusive ``flock`` on a lock file, as a context manager."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd = -1

    def __enter__(self) -> None:
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX)
                    return
                except InterruptedError:
                    continue
        except BaseException:
            os.close(self._fd)
            raise

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)

