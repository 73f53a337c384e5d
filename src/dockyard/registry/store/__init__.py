"""The registry's stores over a storage driver: blobs, uploads, manifests (with tags and
referrers). ``Registry`` bundles them; it is what the HTTP handlers and GC are given.

Everything here is synchronous; the layout is drawn in ``paths.py``.
"""

from __future__ import annotations

from dockyard.errors import FailedPrecondition, NotFound
from dockyard.registry.storage.driver import StorageDriver
from dockyard.registry.store import paths
from dockyard.registry.store.blobs import BlobStore
from dockyard.registry.store.manifests import ManifestPolicy, ManifestStore
from dockyard.registry.store.uploads import UploadStore


class Registry:
    """The stores of one registry on one driver."""

    def __init__(self, driver: StorageDriver, *, policy: ManifestPolicy | None = None,
                 max_blob_size: int = 0) -> None:
        check_schema(driver)
        self.driver = driver
        self.blobs = BlobStore(driver)
        self.uploads = UploadStore(driver, self.blobs, max_blob_size=max_blob_size)
        self.manifests = ManifestStore(driver, self.blobs, policy)


def check_schema(driver: StorageDriver) -> None:
    """Write the schema version into a new store; refuse a store of another version."""
    try:
        text = driver.get_content(paths.VERSION_PATH).decode(errors="replace")
    except NotFound:
        driver.put_content(paths.VERSION_PATH, paths.VERSION_TEXT.encode())
        return
    if text != paths.VERSION_TEXT:
        raise FailedPrecondition(f"registry storage has schema {text.strip()!r}; this "
                                 f"version of dockyard reads {paths.VERSION_TEXT.strip()!r}")


__all__ = ["BlobStore", "ManifestPolicy", "ManifestStore", "Registry", "UploadStore"]
