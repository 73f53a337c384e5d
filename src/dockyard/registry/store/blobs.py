"""Blobs: the content-addressed store shared by all repositories, and the links into it.

A blob enters the store only verified: an upload is moved (atomically) to its content
address after its digest was recomputed (``commit_upload``), a manifest is written with
``put_verified`` after the caller hashed it. A repository sees a blob only through a link
(``_layers/<alg>/<hex>/link``), so pushing the same bytes to two repositories stores
them once, and deleting a blob from one repository removes only its link.

The mtime of a blob's data file is its last use: linking and ``touch`` refresh it, and the
garbage collector leaves blobs younger than its grace period alone (see ``gc.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci.digest import ALGORITHMS, Digest, validate_encoded
from dockyard.registry.errors import BlobUnknown
from dockyard.registry.names import RepoName
from dockyard.registry.storage.driver import StorageDriver
from dockyard.registry.store import paths


class BlobStore:
    """The global blob store and the per-repository links into it."""

    def __init__(self, driver: StorageDriver) -> None:
        self.driver = driver

    # ----------------------------------------------------------- global content

    def size(self, d: Digest) -> int:
        """The size of blob ``d`` in the global store (``BlobUnknown`` if absent)."""
        try:
            return self.driver.stat(paths.blob_data(d)).size
        except NotFound as e:
            raise BlobUnknown(f"blob {d} unknown to registry") from e

    def exists(self, d: Digest) -> bool:
        try:
            self.driver.stat(paths.blob_data(d))
        except NotFound:
            return False
        return True

    def open(self, d: Digest, offset: int = 0) -> BinaryIO:
        try:
            return self.driver.reader(paths.blob_data(d), offset)
        except NotFound as e:
            raise BlobUnknown(f"blob {d} unknown to registry") from e

    def read(self, d: Digest) -> bytes:
        try:
            return self.driver.get_content(paths.blob_data(d))
        except NotFound as e:
            raise BlobUnknown(f"blob {d} unknown to registry") from e

    def local_path(self, d: Digest) -> str | None:
        return self.driver.local_path(paths.blob_data(d))

    def commit_upload(self, upload_data_path: str, d: Digest) -> None:
        """Move a verified upload's data to the content address ``d`` (atomic).

        When the blob is already there (the same bytes pushed twice, perhaps at the same
        time) the existing file is kept and refreshed, and the upload's data is left for
        the caller to remove with the rest of the upload.
        """
        target = paths.blob_data(d)
        if self.exists(d):
            self.touch(d)
            return
        self.driver.move(upload_data_path, target)

    def put_verified(self, d: Digest, data: bytes) -> None:
        """Store ``data`` whose digest the caller computed as ``d`` (manifests)."""
        if self.exists(d):
            self.touch(d)
            return
        self.driver.put_content(paths.blob_data(d), data)

    def touch(self, d: Digest) -> None:
        try:
            self.driver.touch(paths.blob_data(d))
        except NotFound:
            pass  # collected meanwhile: callers check existence where it matters

    def delete(self, d: Digest) -> None:
        try:
            self.driver.delete(paths.blob_dir(d))
        except NotFound as e:
            raise BlobUnknown(f"blob {d} unknown to registry") from e

    def mtime(self, d: Digest) -> float:
        try:
            return self.driver.stat(paths.blob_data(d)).mtime
        except NotFound as e:
            raise BlobUnknown(f"blob {d} unknown to registry") from e

    def all(self) -> Iterator[Digest]:
        """Every blob in the store (for the garbage collector)."""
        for alg in ALGORITHMS:
            try:
                prefixes = self.driver.list(f"{paths.BLOBS}/{alg}")
            except NotFound:
                continue
            for prefix in prefixes:
                try:
                    entries = self.driver.list(prefix)
                except NotFound:
                    continue
                for entry in entries:
                    hex_ = entry.rsplit("/", 1)[1]
                    try:
                        validate_encoded(alg, hex_)
                    except InvalidArgument:
                        continue
                    yield Digest(alg, hex_)

    # ----------------------------------------------------------- repository links

    def link(self, name: RepoName, d: Digest) -> None:
        """Make blob ``d`` visible in repository ``name`` (and refresh its mtime)."""
        self.driver.put_content(paths.layer_link(name, d), str(d).encode())
        self.touch(d)

    def is_linked(self, name: RepoName, d: Digest) -> bool:
        try:
            self.driver.stat(paths.layer_link(name, d))
        except NotFound:
            return False
        return True

    def linked_size(self, name: RepoName, d: Digest) -> int:
        """The size of blob ``d`` as seen from repository ``name`` (``BlobUnknown``)."""
        if not self.is_linked(name, d):
            raise BlobUnknown(f"blob {d} unknown to repository {name}")
        return self.size(d)

    def unlink(self, name: RepoName, d: Digest) -> None:
        try:
            self.driver.delete(paths.layer_link(name, d).rsplit("/", 1)[0])
        except NotFound as e:
            raise BlobUnknown(f"blob {d} unknown to repository {name}") from e

    def links(self, name: RepoName) -> Iterator[Digest]:
        """The blobs linked into repository ``name``."""
        for alg in ALGORITHMS:
            try:
                entries = self.driver.list(f"{paths.layers_dir(name)}/{alg}")
            except NotFound:
                continue
            for entry in entries:
                hex_ = entry.rsplit("/", 1)[1]
                try:
                    validate_encoded(alg, hex_)
                except InvalidArgument:
                    continue
                yield Digest(alg, hex_)
