"""The content store seam: immutable blobs keyed by digest, written through ingests.

Lifecycle (containerd's ``core/content/content.go``):

1. **Ingest.** ``writer(ref, expected)`` opens (or resumes) the write identified by
   ``ref``, a caller-chosen name for one transfer (``"layer-sha256:..."``, an upload
   id). One writer per ref at a time, across processes: a second gets ``Unavailable``
   ("ref is locked"). The ingest is invisible to readers. A writer that is closed
   without committing leaves the ingest in place; the next ``writer(ref)`` resumes at
   ``offset`` (the bytes already there are re-hashed), or ``truncate(0)`` starts over.
2. **Commit.** ``Writer.commit(size, expected)`` makes the data durable, verifies size
   and digest, and moves the blob into place atomically: a blob is never visible with
   wrong content. A wrong size or digest is ``FailedPrecondition`` and the ingest stays
   (resume, truncate or abort it). Committing a digest the store already has is
   ``AlreadyExists`` and removes the ingest: **callers treat ``AlreadyExists`` as
   success**, since the content they wanted is there (``ingest_bytes`` and
   ``helpers.ingest_stream`` do so themselves). ``writer(ref, expected)`` raises
   ``AlreadyExists`` up front when the expected blob is already present.
3. **Manage ingests.** ``status``/``list_statuses`` show ingests in progress, ``abort``
   removes one, ``clean_stale_ingests`` removes those nobody has touched for a while
   (an interrupted pull, a killed daemon).
4. **Read and manage content.** ``info``, ``open_blob``, ``walk``, ``update_labels``,
   ``delete``. Deleting content that something still uses is the metadata store's
   business (leases, garbage collection), not this one's.

Every method raises only ``dockyard.errors`` errors. Stores are safe to use from many
threads and processes at once; a single ``Writer`` belongs to one thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import BinaryIO, NamedTuple, Protocol

from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest


class Info(NamedTuple):
    """What the store knows about a committed blob."""

    digest: Digest
    size: int
    created_at: datetime  # when it was committed
    updated_at: datetime  # last commit or label change
    labels: Mapping[str, str]


class Status(NamedTuple):
    """An ingest in progress."""

    ref: str
    offset: int  # bytes written so far
    total: int | None  # the expected size, when the writer was told
    expected: Digest | None  # the expected digest, when the writer was told
    started_at: datetime
    updated_at: datetime


class Writer(Protocol):
    """One ingest, open for writing. Use as a context manager: leaving closes it (a
    committed or closed writer closes again as a no-op)."""

    @property
    def ref(self) -> str: ...

    @property
    def offset(self) -> int:
        """Bytes in the ingest so far (where the next ``write`` goes)."""
        ...

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append all of ``data``; returns ``len(data)``."""
        ...

    def digest(self) -> Digest:
        """The digest of the bytes written so far."""
        ...

    def status(self) -> Status: ...

    def commit(self, size: int | None = None, expected: Digest | None = None,
               labels: Mapping[str, str] | None = None) -> Info:
        """Verify and publish the blob; always closes the writer, even on error.

        ``size``/``expected`` default to what the writer was opened with; ``None``
        means "not checked" (``0`` means zero bytes). Errors: ``FailedPrecondition``
        (size or digest mismatch; the ingest is kept), ``AlreadyExists`` (the blob is
        already there: success for callers; the ingest is removed).
        """
        ...

    def truncate(self, size: int = 0) -> None:
        """Discard what was written (only ``0`` is supported) to start over."""
        ...

    def close(self) -> None:
        """Release the ref, keeping the ingest for a later resume."""
        ...

    def __enter__(self) -> Writer: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


class ContentStore(Protocol):
    """Blobs by digest; see the module docstring for the lifecycle."""

    def info(self, digest: Digest) -> Info:
        """``NotFound`` when the blob is not (or not yet) committed."""
        ...

    def open_blob(self, digest: Digest) -> BinaryIO:
        """A readable, seekable binary file; ``os.pread`` on its ``fileno()`` reads at an
        offset (see ``helpers.read_at``). The caller closes it."""
        ...

    def writer(self, ref: str, expected: Descriptor | None = None) -> Writer:
        """Open or resume the ingest ``ref``; ``Unavailable`` if another writer has it,
        ``AlreadyExists`` if ``expected`` is already committed."""
        ...

    def status(self, ref: str) -> Status:
        """``NotFound`` when there is no such ingest."""
        ...

    def list_statuses(self, prefix: str = "") -> list[Status]:
        """Ingests whose ref starts with ``prefix``, by ref."""
        ...

    def abort(self, ref: str) -> None:
        """Remove an ingest; ``Unavailable`` while a writer has it, ``NotFound`` if none."""
        ...

    def delete(self, digest: Digest) -> None:
        """Remove a blob and its labels; ``NotFound`` if absent."""
        ...

    def walk(self, filter: Callable[[Info], bool] | None = None) -> Iterator[Info]:
        """Every committed blob (for which ``filter`` is true), by digest."""
        ...

    def update_labels(self, digest: Digest, labels: Mapping[str, str], *,
                      replace: bool = False) -> Info:
        """Merge ``labels`` into the blob's (an empty value deletes that key), or with
        ``replace`` set them exactly."""
        ...

    def ingest_bytes(self, data: bytes, expected: Descriptor | None = None,
                     labels: Mapping[str, str] | None = None) -> Info:
        """Store ``data`` in one call (present already: its info, as success)."""
        ...

    def clean_stale_ingests(self, older_than: float,
                            keep: Callable[[str], bool] | None = None) -> list[str]:
        """Remove ingests untouched for ``older_than`` seconds that no writer holds;
        returns their refs. With ``keep``, an idle ingest whose ref it refuses (or whose
        header is unreadable, or not its directory's) goes whatever its age."""
        ...
