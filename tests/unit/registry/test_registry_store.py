"""The stores and GC over the in-memory driver (no server): uploads, manifests, sweeping."""

from __future__ import annotations

import time

import pytest

from dockyard.oci.descriptor import new_descriptor
from dockyard.oci.digest import digest_bytes
from dockyard.oci.manifest import new_manifest
from dockyard.registry import gc
from dockyard.registry.errors import (
    BlobUnknown,
    DigestMismatch,
    ManifestBlobUnknown,
    RangeInvalid,
    UploadUnknown,
)
from dockyard.registry.names import Tag, validate_name
from dockyard.registry.storage import MemoryDriver
from dockyard.registry.store import Registry, paths

NAME = validate_name("unit/app")


@pytest.fixture
def reg() -> Registry:
    return Registry(MemoryDriver())


def upload(reg: Registry, data: bytes, name: str = "unit/app") -> None:
    n = validate_name(name)
    st = reg.uploads.start(n)
    w = reg.uploads.open_writer(st.id, n)
    try:
        w.write(data)
    finally:
        w.close()
    reg.uploads.finish(st.id, n, digest_bytes(data))


def test_schema_version_written_and_checked() -> None:
    driver = MemoryDriver()
    Registry(driver)
    assert driver.get_content(paths.VERSION_PATH) == paths.VERSION_TEXT.encode()
    driver.put_content(paths.VERSION_PATH, b"dockyard-registry-storage 99\n")
    with pytest.raises(Exception, match="schema"):
        Registry(driver)


def test_upload_lifecycle(reg: Registry) -> None:
    st = reg.uploads.start(NAME)
    w = reg.uploads.open_writer(st.id, NAME, at=0)
    w.write(b"abc")
    with pytest.raises(RangeInvalid):  # one writer at a time
        reg.uploads.open_writer(st.id, NAME)
    w.close()
    with pytest.raises(RangeInvalid):  # out of order
        reg.uploads.open_writer(st.id, NAME, at=1)
    assert reg.uploads.status(st.id, NAME).size == 3
    with pytest.raises(UploadUnknown):
        reg.uploads.status(st.id, validate_name("other"))
    with pytest.raises(DigestMismatch):
        reg.uploads.finish(st.id, NAME, digest_bytes(b"abcd"))
    assert reg.uploads.finish(st.id, NAME, digest_bytes(b"abc")) == 3
    assert reg.blobs.linked_size(NAME, digest_bytes(b"abc")) == 3
    with pytest.raises(UploadUnknown):
        reg.uploads.status(st.id, NAME)


def test_manifest_requires_its_blobs_then_gc(reg: Registry) -> None:
    config, layer = b'{"architecture":"amd64","os":"linux"}', b"layer"
    m = new_manifest(new_descriptor("application/vnd.oci.image.config.v1+json", config),
                     [new_descriptor("application/vnd.oci.image.layer.v1.tar", layer)])
    with pytest.raises(ManifestBlobUnknown):
        reg.manifests.put(NAME, Tag("v1"), m.raw, m.media_type)
    upload(reg, config)
    upload(reg, layer)
    upload(reg, b"orphan")
    assert reg.manifests.put(NAME, Tag("v1"), m.raw, m.media_type).digest == m.digest
    # young orphans stay; aged ones go
    assert gc.collect(reg, grace=60).swept == []
    driver = reg.driver
    assert isinstance(driver, MemoryDriver)
    for d in list(reg.blobs.all()):
        driver.set_mtime(paths.blob_data(d), time.time() - 3600)
    report = gc.collect(reg, grace=60)
    assert report.swept == [digest_bytes(b"orphan")]
    with pytest.raises(BlobUnknown):
        reg.blobs.linked_size(NAME, digest_bytes(b"orphan"))
    assert reg.manifests.get(NAME, Tag("v1")).raw == m.raw
    # deleting the manifest releases everything
    reg.manifests.delete(NAME, m.digest)
    for d in list(reg.blobs.all()):
        driver.set_mtime(paths.blob_data(d), time.time() - 3600)
    gc.collect(reg, grace=60)
    assert list(reg.blobs.all()) == []
    assert reg.manifests.repositories() == []  # nothing left in it: not listed
