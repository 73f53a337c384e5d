"""Ingest directories: the per-ref lock, the header files, removal and status.

The layout of an ingest is drawn in ``layout.py``. The lock is ``flock(2)`` on
``<ingest>/lock``: it works across processes and dies with its holder, so a killed
writer never leaves a ref locked. Because a holder may remove the whole directory, a
new locker checks after locking that the file it locked is still the one at that path,
and starts over otherwise.
"""

from __future__ import annotations

import errno
import fcntl
import io
import logging
import os
import secrets
from typing import NamedTuple

from dockyard.errors import Internal, InvalidArgument, NotFound, Unavailable
from dockyard.oci.digest import Digest, parse_digest

from .files import from_ns, parse_time, read_text, remove_tree, write_atomic
from .layout import TRASH_PREFIX
from .store import Status

log = logging.getLogger(__name__)

LOCK = "lock"
DATA = "data"
REF = "ref"
TOTAL = "total"
EXPECTED = "expected"
STARTED_AT = "startedat"
UPDATED_AT = "updatedat"


def validate_ref(ref: str) -> None:
    if not isinstance(ref, str) or not ref:
        raise InvalidArgument("content ref must be a non-empty string")
    if "\x00" in ref:
        raise InvalidArgument("content ref must not contain NUL")


def try_lock(ingest_dir: str) -> io.FileIO | None:
    """Lock the ingest (creating its directory); ``None`` if another writer holds it."""
    path = os.path.join(ingest_dir, LOCK)
    for _ in range(64):
        os.makedirs(ingest_dir, mode=0o755, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            continue  # the directory was removed between makedirs and open: again
        f = io.FileIO(fd, "r+", closefd=True)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            f.close()
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
            raise
        try:
            on_disk = os.stat(path)
        except FileNotFoundError:
            on_disk = None
        mine = os.fstat(fd)
        if on_disk is not None and (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino):
            return f
        f.close()  # we locked a file its previous holder has since removed: again
    raise Internal(f"could not lock ingest {ingest_dir}: it keeps being removed")


def lock(ingest_dir: str, ref: str) -> io.FileIO:
    """Lock the ingest of ``ref`` or raise ``Unavailable`` ("ref is locked")."""
    f = try_lock(ingest_dir)
    if f is None:
        raise Unavailable(f"ref {ref!r} is locked: another writer has this ingest open")
    return f


def remove(ingest_root: str, ingest_dir: str) -> None:
    """Remove an ingest whose lock the caller holds: rename to trash, then delete."""
    trash = os.path.join(ingest_root,
                         f"{TRASH_PREFIX}{os.path.basename(ingest_dir)}-{secrets.token_hex(4)}")
    os.rename(ingest_dir, trash)
    remove_tree(trash)


class Header(NamedTuple):
    """The ingest's description, as stored beside its data."""

    ref: str
    total: int | None
    expected: Digest | None
    started_at_text: str


def read_header(ingest_dir: str) -> Header | None:
    """The header, or ``None`` when it is missing or incomplete (``ref`` not written)."""
    ref = read_text(os.path.join(ingest_dir, REF))
    if ref is None:
        return None
    total_s = read_text(os.path.join(ingest_dir, TOTAL))
    expected_s = read_text(os.path.join(ingest_dir, EXPECTED))
    started = read_text(os.path.join(ingest_dir, STARTED_AT))
    try:
        total = int(total_s) if total_s else None
        expected = parse_digest(expected_s.strip()) if expected_s else None
        if started is None:
            raise ValueError("no startedat")
        parse_time(started)
    except (ValueError, InvalidArgument) as e:
        log.warning("ingest %s: unreadable header (%s); treating it as new", ingest_dir, e)
        return None
    return Header(ref, total, expected, started)


def write_header(ingest_dir: str, ref: str, total: int | None, expected: Digest | None,
                 started_at_text: str) -> None:
    """Write a fresh header; ``ref`` last, so that a crash leaves it incomplete, not wrong."""
    os.makedirs(ingest_dir, mode=0o755, exist_ok=True)
    for name in (REF, TOTAL, EXPECTED):
        try:
            os.unlink(os.path.join(ingest_dir, name))
        except FileNotFoundError:
            continue
    if total is not None:
        write_atomic(os.path.join(ingest_dir, TOTAL), str(total).encode(), durable=False)
    if expected is not None:
        write_atomic(os.path.join(ingest_dir, EXPECTED), str(expected).encode(), durable=False)
    write_atomic(os.path.join(ingest_dir, STARTED_AT), started_at_text.encode(), durable=False)
    write_atomic(os.path.join(ingest_dir, UPDATED_AT), started_at_text.encode(), durable=False)
    write_atomic(os.path.join(ingest_dir, REF), ref.encode("utf-8"))


def write_expectations(ingest_dir: str, total: int, expected: Digest) -> None:
    """Record the size and digest a resumed ingest has just been told to expect."""
    write_atomic(os.path.join(ingest_dir, TOTAL), str(total).encode(), durable=False)
    write_atomic(os.path.join(ingest_dir, EXPECTED), str(expected).encode(), durable=False)


def write_updated_at(ingest_dir: str, text: str) -> None:
    write_atomic(os.path.join(ingest_dir, UPDATED_AT), text.encode(), durable=False)


def read_status(ingest_dir: str) -> Status:
    """The status of an ingest, read without its lock; ``NotFound`` if incomplete."""
    header = read_header(ingest_dir)
    if header is None:
        raise NotFound(f"no ingest at {ingest_dir}")
    try:
        st = os.stat(os.path.join(ingest_dir, DATA))
    except FileNotFoundError as e:
        raise NotFound(f"ingest {header.ref!r} has no data") from e
    updated = parse_time(read_text(os.path.join(ingest_dir, UPDATED_AT))
                         or header.started_at_text)
    # updatedat is written on close; the data's mtime is fresher while a writer writes.
    updated = max(updated, from_ns(st.st_mtime_ns))
    return Status(ref=header.ref, offset=st.st_size, total=header.total,
                  expected=header.expected, started_at=parse_time(header.started_at_text),
                  updated_at=updated)


def last_activity_ns(ingest_dir: str) -> int | None:
    """The newest mtime among the ingest's files other than its lock (``None``: none)."""
    newest = None
    for name in os.listdir(ingest_dir):
        if name == LOCK:
            continue
        try:
            m = os.stat(os.path.join(ingest_dir, name)).st_mtime_ns
        except FileNotFoundError:
            continue
        newest = m if newest is None else max(newest, m)
    return newest

