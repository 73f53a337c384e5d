"""The snapshot lifecycle both snapshotters share: records, directories, crash safety.

``DirSnapshotter`` implements the ``Snapshotter`` protocol over a ``MetaStore`` and the
directory layout drawn in ``storage``; a subclass decides only how a new snapshot's directory
is filled (``_populate``), which mounts a snapshot has (``_mounts``), and what its usage is.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import sqlite3
import stat
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import ParamSpec, TypeVar

from dockyard.archive.changes import DiffMode
from dockyard.archive.safety import os_error
from dockyard.errors import (
    AlreadyExists,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from dockyard.snapshots import Filter, Info, Kind, Mount, Usage
from dockyard.snapshots.storage import MetaStore, Record

log = logging.getLogger(__name__)


P = ParamSpec("P")
R = TypeVar("R")


def translated(fn: Callable[P, R]) -> Callable[P, R]:
    """Errors of the OS and of SQLite leave a snapshotter as dockyard errors."""
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except OSError as e:
            raise os_error(e, f"snapshotter {fn.__name__}") from e
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                raise Unavailable(f"snapshot metadata is busy: {e}") from e
            raise Internal(f"snapshot metadata: {e}") from e
        except sqlite3.Error as e:
            raise Internal(f"snapshot metadata: {e}") from e
    return wrapper


def disk_usage(path: str) -> Usage:
    """Bytes allocated (``st_blocks * 512``) and distinct inodes under ``path``, not followed."""
    seen: set[tuple[int, int]] = set()
    size = 0
    st = os.lstat(path)
    seen.add((st.st_dev, st.st_ino))
    size += st.st_blocks * 512
    stack = [path]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                st = e.stat(follow_symlinks=False)
                key = (st.st_dev, st.st_ino)
                if key not in seen:
                    seen.add(key)
                    size += st.st_blocks * 512
                if stat.S_ISDIR(st.st_mode):
                    stack.append(e.path)
    return Usage(size_bytes=size, inodes=len(seen))


def _label_test(key: str, value: str | None, negate: bool) -> Filter:
    def test(info: Info) -> bool:
        if value is None:
            return key in info.labels
        return (info.labels.get(key) == value) != negate
    return test


def _field_test(name: str, value: str, negate: bool) -> Filter:
    def test(info: Info) -> bool:
        if name == "kind":
            got = info.kind.value
        elif name == "name":
            got = info.name
        else:
            got = info.parent or ""
        return (got == value) != negate
    return test


def parse_filter(text: str) -> Filter:
    """A predicate from ``field==value[,field==value...]`` (all must hold).

    Fields: ``kind``, ``name``, ``parent``, ``labels.<key>`` (``labels."<key>"`` too);
    ``field!=value`` negates one test; a bare ``labels.<key>`` tests presence.
    """
    tests: list[Filter] = []
    for clause in (c.strip() for c in text.split(",")):
        if not clause:
            continue
        neg = "!=" in clause
        fieldname, op, value = clause.partition("!=" if neg else "==")
        fieldname = fieldname.strip()
        value = value.strip().strip('"')
        if fieldname.startswith("labels."):
            tests.append(_label_test(fieldname[len("labels."):].strip('"'),
                                     value if op else None, neg))
        elif fieldname in ("kind", "name", "parent") and op:
            tests.append(_field_test(fieldname, value, neg))
        else:
            raise InvalidArgument(f"snapshot filter: cannot read {clause!r}")
    return lambda info: all(t(info) for t in tests)


class DirSnapshotter:
    """Snapshots as numbered directories under ``<root>/snapshots`` with SQLite records.

    Lifecycle: see ``dockyard.snapshots.Snapshotter``. Thread-safe: records change in
    immediate transactions; long work (copying a parent) happens before them.
    """

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.snapshots_dir = os.path.join(self.root, "snapshots")
        self._meta = self._open(os.path.join(self.root, "metadata.db"))
        self._inflight: set[str] = set()
        self._inflight_lock = threading.Lock()

    @translated
    def _open(self, db: str) -> MetaStore:
        os.makedirs(self.snapshots_dir, mode=0o700, exist_ok=True)
        return MetaStore(db)

    # -- hooks ---------------------------------------------------------------------------

    @property
    def diff_mode(self) -> DiffMode:
        return DiffMode.TREE

    def _populate(self, new_dir: str, kind: Kind, parents: list[Record]) -> None:
        """Fill ``new_dir`` (holding an empty ``fs``) for a snapshot on ``parents``."""
        raise NotImplementedError

    def _mounts(self, rec: Record, parents: list[Record]) -> list[Mount]:
        raise NotImplementedError

    # -- paths ---------------------------------------------------------------------------

    def dir_of(self, rec: Record) -> str:
        return os.path.join(self.snapshots_dir, str(rec.id))

    def fs_of(self, rec: Record) -> str:
        return os.path.join(self.snapshots_dir, str(rec.id), "fs")

    # -- protocol ------------------------------------------------------------------------

    @translated
    def stat(self, key: str) -> Info:
        return self._meta.get(key).info()

    @translated
    def update(self, info: Info, fieldpaths: Sequence[str] = ()) -> Info:
        with self._meta.transaction() as tx:
            rec = tx.get(info.name)
            if rec is None:
                raise NotFound(f"snapshot {info.name!r} not found")
            if not fieldpaths or "labels" in fieldpaths:
                labels = dict(info.labels)
            else:
                labels = dict(rec.labels)
                for fp in fieldpaths:
                    if not fp.startswith("labels."):
                        raise InvalidArgument(f"snapshot update: cannot change {fp!r}")
                    k = fp[len("labels."):]
                    if k in info.labels:
                        labels[k] = info.labels[k]
                    else:
                        labels.pop(k, None)
            tx.set_labels(info.name, labels)
        return self.stat(info.name)

    @translated
    def usage(self, key: str) -> Usage:
        rec = self._meta.get(key)
        if rec.kind is Kind.COMMITTED:
            return Usage(rec.size, rec.inodes)
        return self._usage_of(rec)

    def _usage_of(self, rec: Record) -> Usage:
        return disk_usage(self.fs_of(rec))

    @translated
    def mounts(self, key: str) -> list[Mount]:
        chain = self._meta.chain(key)
        if chain[0].kind is Kind.COMMITTED:
            raise InvalidArgument(f"snapshot {key!r} is committed: make a view to mount it")
        return self._mounts(chain[0], chain[1:])

    def prepare(self, key: str, parent: str | None = None,
                labels: Mapping[str, str] | None = None) -> list[Mount]:
        return self._create(Kind.ACTIVE, key, parent, labels or {})

    def view(self, key: str, parent: str | None = None,
             labels: Mapping[str, str] | None = None) -> list[Mount]:
        return self._create(Kind.VIEW, key, parent, labels or {})

    @translated
    def _create(self, kind: Kind, key: str, parent: str | None,
                labels: Mapping[str, str]) -> list[Mount]:
        if not key:
            raise InvalidArgument("snapshot key must not be empty")
        parents = self._meta.chain(parent) if parent is not None else []
        if parents and parents[0].kind is not Kind.COMMITTED:
            raise InvalidArgument(f"parent {parent!r} is not a committed snapshot")
        try:
            self._meta.get(key)
        except NotFound:
            pass
        else:
            raise AlreadyExists(f"snapshot {key!r} already exists")
        tmp = os.path.join(self.snapshots_dir, f"new-{uuid.uuid4().hex}")
        try:
            with self._busy(tmp):
                os.mkdir(tmp, 0o700)
                os.mkdir(os.path.join(tmp, "fs"), 0o755)
                self._populate(tmp, kind, parents)
                with self._meta.transaction() as tx:
                    rec = tx.insert(key, kind, parent, labels)
                    final = self.dir_of(rec)
                    if os.path.lexists(final):  # a crash before its record committed
                        log.warning("removing stale snapshot directory %s", final)
                        shutil.rmtree(final)
                    os.rename(tmp, final)
        except BaseException:
            if os.path.lexists(tmp):
                shutil.rmtree(tmp)
            raise
        log.debug("snapshot %s (%s) created as %d on %s", key, kind.value, rec.id, parent)
        return self._mounts(rec, parents)

    @translated
    def commit(self, name: str, key: str, labels: Mapping[str, str] | None = None) -> None:
        rec = self._meta.get(key)
        if rec.kind is not Kind.ACTIVE:
            raise FailedPrecondition(f"snapshot {key!r} is {rec.kind.value}, not active")
        used = self._usage_of(rec)
        with self._meta.transaction() as tx:
            again = tx.get(key)
            if again is None or again.id != rec.id or again.kind is not Kind.ACTIVE:
                raise FailedPrecondition(f"snapshot {key!r} changed while being committed")
            tx.commit(rec, name, rec.labels if labels is None else labels, used.size_bytes,
                      used.inodes)
        self._after_commit(rec)

    def _after_commit(self, rec: Record) -> None:
        """Hook: tidy a committed snapshot's directory (the record already says committed)."""

    @translated
    def remove(self, key: str) -> None:
        with contextlib.ExitStack() as stack:
            with self._meta.transaction() as tx:
                rec = tx.get(key)
                if rec is None:
                    raise NotFound(f"snapshot {key!r} not found")
                n = tx.children(key)
                if n:
                    raise FailedPrecondition(
                        f"snapshot {key!r} has {n} child snapshot(s): remove them first")
                tx.delete(rec)
                doomed = os.path.join(self.snapshots_dir, f"rm-{rec.id}")
                stack.enter_context(self._busy(doomed))  # not cleanup()'s to take
                try:
                    os.rename(self.dir_of(rec), doomed)
                except FileNotFoundError:
                    log.warning("snapshot %s had no directory %s", key, self.dir_of(rec))
                    return
            shutil.rmtree(doomed)

    @contextlib.contextmanager
    def _busy(self, path: str) -> Iterator[None]:
        """Mark a directory of ``snapshots/`` as being worked on: ``cleanup`` leaves it."""
        name = os.path.basename(path)
        with self._inflight_lock:
            self._inflight.add(name)
        try:
            yield
        finally:
            with self._inflight_lock:
                self._inflight.discard(name)

    def walk(self, filter: Filter | str | None = None) -> Iterator[Info]:
        pred = parse_filter(filter) if isinstance(filter, str) else filter
        for rec in self._meta.all():
            info = rec.info()
            if pred is None or pred(info):
                yield info

    @translated
    def cleanup(self) -> list[str]:
        known = {str(r.id) for r in self._meta.all()}
        with self._inflight_lock:
            busy = set(self._inflight)
        removed = []
        for name in sorted(os.listdir(self.snapshots_dir)):
            if name in known or name in busy:
                continue
            path = os.path.join(self.snapshots_dir, name)
            log.info("cleanup: removing unreferenced snapshot directory %s", path)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
            removed.append(path)
        return removed

    def close(self) -> None:
        self._meta.close()
