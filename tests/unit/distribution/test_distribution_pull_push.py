"""ImageService.pull/push against our registry (in a thread) behind a fault-injecting
proxy, on a native-snapshotter data root: round trips with identical digests, pull by
digest, platform choice from an index, faults that leave no image behind and pulls that
resume with Range."""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from registry_fakes import Fault, FaultProxy, ThreadRegistry

from dockyard.archive import Compression
from dockyard.distribution import RegistryAuth, RegistryConfig
from dockyard.distribution.client import Repository
from dockyard.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    NotImplementedByDockyard,
    PermissionDenied,
    Unavailable,
)
from dockyard.image import Image, ImageService
from dockyard.image import push as push_module
from dockyard.image.create import commit_image, image_config_doc, store_layer
from dockyard.image.progress import Progress
from dockyard.image.push import GZIP_LABEL
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import parse_digest
from dockyard.oci.manifest import ContainerConfig, canonical_json, new_index
from dockyard.oci.platform import Platform

FAST = RegistryConfig(retries=2, backoff=0.01, timeout=10, max_concurrent_downloads=3)


def layer_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_image(svc: ImageService, name: str, layers: list[dict[str, bytes]],
               arch: str = "amd64") -> Image:
    stores = svc.stores
    with stores.meta.leases.temporary("test") as lease:
        descs, diff_ids = [], []
        for files in layers:
            d, diff_id = store_layer(stores, lease.id, io.BytesIO(layer_tar(files)))
            descs.append(d)
            diff_ids.append(diff_id)
        doc = image_config_doc(ContainerConfig(cmd=("sh",)), diff_ids,
                               platform=Platform("linux", arch), created="2026-01-01T00:00:00Z")
        return commit_image(stores, lease.id, canonical_json(doc), descs, [name])


def random_layers(n: int, size: int) -> list[dict[str, bytes]]:
    return [{f"f{i}": os.urandom(size), "shared": f"layer {i}".encode()} for i in range(n)]


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ImageService]:
    s = ImageService.open(str(tmp_path / "root"), "native")
    try:
        yield s
    finally:
        s.close()


def rootfs_file(svc: ImageService, image: Image, path: str) -> bytes:
    chain = image.config.chain_id()
    assert chain is not None
    key = f"view-{os.urandom(4).hex()}"
    mounts = svc.stores.snapshotter.view(key, str(chain))
    try:
        return Path(mounts[0].source, path).read_bytes()
    finally:
        svc.stores.snapshotter.remove(key)


def no_image_for(svc: ImageService, name: str) -> None:
    with pytest.raises(NotFound):
        svc.get(name)


def test_push_remove_pull_roundtrip(svc: ImageService, registry: ThreadRegistry,
                                    proxy: FaultProxy) -> None:
    name = f"{proxy.host}/team/app:v1"
    layers = random_layers(3, 200_000)
    img = make_image(svc, name, layers)
    events: list[Progress] = []
    res = svc.push(name, config=FAST, progress=events.append)
    assert res.tag == "v1" and res.digest == str(img.manifest.digest)
    statuses = [e.status for e in events]
    assert statuses[0] == f"The push refers to repository [{proxy.host}/team/app]"
    assert statuses.count("Pushed") == 3
    assert statuses[-1] == f"v1: digest: {img.manifest.digest} size: {len(img.manifest.raw)}"
    assert svc.get(name).repo_digests == [f"{proxy.host}/team/app@{img.manifest.digest}"]
    svc.remove(name, force=True)
    no_image_for(svc, name)
    events.clear()
    pulled = svc.pull(name, config=FAST, progress=events.append)
    assert pulled.updated and pulled.digest == str(img.manifest.digest)
    assert pulled.image.id == img.id
    assert pulled.image.repo_tags == [name]
    assert pulled.image.repo_digests == [f"{proxy.host}/team/app@{img.manifest.digest}"]
    assert [d.digest for d in pulled.image.manifest.layers] == [
        d.digest for d in img.manifest.layers]
    assert svc.is_unpacked(name)
    for i, files in enumerate(layers):
        assert rootfs_file(svc, pulled.image, f"f{i}") == files[f"f{i}"]
    assert rootfs_file(svc, pulled.image, "shared") == b"layer 2"
    by_id = {e.id for e in events if e.status == "Pull complete"}
    assert by_id == {d.digest.hex[:12] for d in img.manifest.layers}
    assert f"Digest: {img.manifest.digest}" in [e.status for e in events]
    assert events[0] == Progress("Pulling from team/app", "v1")
    # pulled again: nothing to do, and (as moby: the image is here) no layer lines
    events.clear()
    again = svc.pull(name, config=FAST, progress=events.append)
    assert not again.updated
    assert [e.status for e in events].count("Already exists") == 0
    assert events[-1].status == f"Status: Image is up to date for {name}"
    # a second push finds every layer there
    events.clear()
    svc.push(name, config=FAST, progress=events.append)
    assert [e.status for e in events].count("Layer already exists") == 3


def test_pull_by_digest_and_mount(svc: ImageService, registry: ThreadRegistry,
                                  proxy: FaultProxy) -> None:
    name = f"{proxy.host}/a/b:v1"
    img = make_image(svc, name, random_layers(2, 1000))
    svc.push(name, config=FAST)
    # a pushed blob is known to be in a/b: pushing it to c/d mounts it
    svc.tag(name, f"{proxy.host}/c/d", "v2")
    events: list[Progress] = []
    svc.push(f"{proxy.host}/c/d:v2", config=FAST, progress=events.append)
    assert [e.status for e in events].count("Mounted from a/b") == 2
    assert proxy.count("POST", r"/v2/c/d/blobs/uploads/\?mount=") == 3  # + config
    svc.remove(name, force=True)
    svc.remove(f"{proxy.host}/c/d:v2", force=True)
    by_digest = f"{proxy.host}/a/b@{img.manifest.digest}"
    res = svc.pull(by_digest, config=FAST)
    assert res.image.id == img.id and res.reference == by_digest
    assert res.image.repo_tags == [] and res.image.repo_digests == [by_digest]


def test_index_pull_picks_platform(svc: ImageService, registry: ThreadRegistry,
                                   proxy: FaultProxy) -> None:
    amd = make_image(svc, f"{proxy.host}/m/p:amd64", [{"arch": b"amd64"}])
    arm = make_image(svc, f"{proxy.host}/m/p:arm64", [{"arch": b"arm64"}], arch="arm64")
    for tag in ("amd64", "arm64"):
        svc.push(f"{proxy.host}/m/p:{tag}", config=FAST)
    index = new_index([amd.manifest.descriptor(Platform("linux", "amd64")),
                       arm.manifest.descriptor(Platform("linux", "arm64", "v8"))])
    with Repository.open(proxy.host, "m/p", None, FAST, push=True) as repo:
        repo.put_manifest("multi", mt.OCI_INDEX, index.raw)
    for tag in ("amd64", "arm64"):
        svc.remove(f"{proxy.host}/m/p:{tag}", force=True)
    res = svc.pull(f"{proxy.host}/m/p:multi", platform="linux/arm64/v8", config=FAST)
    assert res.image.id == arm.id and res.digest == str(index.digest)
    assert res.image.config.architecture == "arm64"
    assert res.image.repo_digests == [f"{proxy.host}/m/p@{index.digest}"]
    res = svc.pull(f"{proxy.host}/m/p:multi", platform="linux/amd64", config=FAST)
    assert res.image.id == amd.id
    with pytest.raises(NotImplementedByDockyard, match="no matching manifest for "
                       "linux/s390x in the manifest list entries"):
        svc.pull(f"{proxy.host}/m/p:multi", platform="linux/s390x", config=FAST)
    # a single-platform image must be of the platform asked for (none asked: any)
    with pytest.raises(NotImplementedByDockyard, match=re.escape(
            f"image with reference {proxy.host}/m/p:arm64 was found but its platform "
            "(linux/arm64) does not match the specified platform (linux/amd64)")):
        svc.pull(f"{proxy.host}/m/p:arm64", platform="linux/amd64", config=FAST)
    assert svc.pull(f"{proxy.host}/m/p:arm64", config=FAST).image.id == arm.id


def test_missing_manifest_text(svc: ImageService, registry: ThreadRegistry) -> None:
    with pytest.raises(NotFound) as e:
        svc.pull(f"{registry.host}/x/y:nope", config=FAST)
    # the registry's own message follows Docker's prefix (distribution's is "manifest
    # unknown"; ours names the tag)
    assert str(e.value).startswith(f"manifest for {registry.host}/x/y:nope not found: "
                                   "manifest unknown: manifest")
    with pytest.raises(NotFound, match="An image does not exist locally with the tag: "
                       f"{registry.host}/x/y"):
        svc.push(f"{registry.host}/x/y:v1", config=FAST)
    with pytest.raises(InvalidArgument):
        svc.pull(f"{registry.host}/Upper:x", config=FAST)


def _pushed(svc: ImageService, proxy: FaultProxy, repo: str, layers: int = 2,
            size: int = 300_000) -> Image:
    name = f"{proxy.host}/{repo}:v1"
    img = make_image(svc, name, random_layers(layers, size))
    svc.push(name, config=FAST)
    svc.remove(name, force=True)
    return img


def test_corrupt_layer_leaves_nothing(svc: ImageService, registry: ThreadRegistry,
                                      proxy: FaultProxy) -> None:
    img = _pushed(svc, proxy, "bad/bytes")
    name = f"{proxy.host}/bad/bytes:v1"
    bad = img.manifest.layers[1].digest
    proxy.faults.append(Fault("GET", f"/blobs/{bad}", "corrupt"))
    with pytest.raises(InvalidArgument) as e:
        svc.pull(name, config=FAST)
    assert str(e.value) == f"filesystem layer verification failed for digest {bad}"  # moby's
    no_image_for(svc, name)
    with pytest.raises(NotFound):
        svc.stores.content.info(bad)
    # the bad ingest is gone (a good layer's partial one may stay, for a resume)
    assert svc.stores.content.list_statuses(f"pull-{bad}") == []
    res = svc.pull(name, config=FAST)
    assert res.image.id == img.id and svc.is_unpacked(name)


def test_truncated_download_resumes_with_range(svc: ImageService, registry: ThreadRegistry,
                                               proxy: FaultProxy) -> None:
    img = _pushed(svc, proxy, "cut/body", layers=1)
    name = f"{proxy.host}/cut/body:v1"
    layer = img.manifest.layers[0]
    # cut short once: the pull itself resumes from its ingest
    proxy.faults.append(Fault("GET", f"/blobs/{layer.digest}", "truncate", 100_000))
    events: list[Progress] = []
    res = svc.pull(name, config=FAST, progress=events.append)
    assert res.image.id == img.id
    assert Progress("Retrying in 1 second", layer.digest.hex[:12]) in events
    ranges = proxy.ranges(f"/blobs/{layer.digest}")
    assert ranges[0] == "" and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    assert int(ranges[1][6:-1]) > 0


def test_failed_pull_keeps_work_and_next_pull_resumes(
        svc: ImageService, registry: ThreadRegistry, proxy: FaultProxy) -> None:
    img = _pushed(svc, proxy, "kill/mid", layers=2)
    name = f"{proxy.host}/kill/mid:v1"
    first, second = img.manifest.layers
    # the second layer's body is always cut: the pull gives up after its retries
    proxy.faults.append(Fault("GET", f"/blobs/{second.digest}", "truncate", 50_000,
                              times=3))
    one_at_a_time = RegistryConfig(retries=2, backoff=0.01, max_concurrent_downloads=1)
    with pytest.raises(Unavailable, match="download failed"):
        svc.pull(name, config=one_at_a_time)
    no_image_for(svc, name)
    svc.collect()  # a GC meanwhile keeps the finished blob (the resume lease)
    assert svc.stores.content.info(first.digest).size == first.size
    [status] = svc.stores.content.list_statuses("pull-")
    assert status.offset > 0
    res = svc.pull(name, config=FAST)
    assert res.image.id == img.id
    assert proxy.ranges(f"/blobs/{first.digest}") == [""]  # not fetched again
    assert proxy.ranges(f"/blobs/{second.digest}")[-1] == f"bytes={status.offset}-"
    assert not [le for le in svc.stores.meta.leases.all() if le.id.startswith("pull-resume")]


def test_500_on_one_blob(svc: ImageService, registry: ThreadRegistry,
                         proxy: FaultProxy) -> None:
    img = _pushed(svc, proxy, "err/blob", layers=2, size=1000)
    name = f"{proxy.host}/err/blob:v1"
    proxy.faults.append(Fault("GET", f"/blobs/{img.manifest.layers[0].digest}", "status",
                              500, times=20))
    with pytest.raises(Unavailable, match="500"):
        svc.pull(name, config=FAST)
    no_image_for(svc, name)
    proxy.faults.clear()
    assert svc.pull(name, config=FAST).image.id == img.id


def test_cancel(svc: ImageService, registry: ThreadRegistry, proxy: FaultProxy) -> None:
    _pushed(svc, proxy, "stop/now", layers=1, size=1000)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(FailedPrecondition, match="cancelled"):
        svc.pull(f"{proxy.host}/stop/now:v1", config=FAST, cancel=cancel)
    no_image_for(svc, f"{proxy.host}/stop/now:v1")


def test_auth_texts(svc: ImageService, auth_registry: Callable[[str], ThreadRegistry]) -> None:
    """Docker's words: a push without credentials shows the registry's denial alone; a
    pull with the wrong password names the request; a good login pushes and pulls."""
    reg = auth_registry("token")
    name = f"{reg.host}/team/app:v1"
    make_image(svc, name, [{"a": b"a"}])
    with pytest.raises(PermissionDenied) as e:
        svc.push(name, config=FAST)
    # the anonymous token lacks push: the 401's error="insufficient_scope" is Docker's
    # "denied", as distribution's client reads it
    assert str(e.value) == "denied: requested access to the resource is denied"
    good = RegistryAuth(username="alice", password="wonderland")
    svc.push(name, auth=good, config=FAST)
    with pytest.raises(PermissionDenied) as e:
        svc.pull(name, auth=RegistryAuth(username="alice", password="x"), config=FAST)
    assert str(e.value).startswith(f'Head "http://{reg.host}/v2/team/app/manifests/v1": '
                                   "unauthorized: ")
    svc.remove(name, force=True)
    assert svc.pull(name, auth=good, config=FAST).updated


def test_unknown_repository_text(svc: ImageService, registry: ThreadRegistry) -> None:
    with pytest.raises(NotFound) as e:
        svc.pull(f"{registry.host}/no/such:v1", config=FAST)
    assert re.match(rf"(manifest for {registry.host}/no/such:v1 not found: manifest unknown"
                    rf"|repository {registry.host}/no/such not found: name unknown): ",
                    str(e.value)), str(e.value)


def test_push_retries_a_failed_upload(svc: ImageService, registry: ThreadRegistry,
                                      proxy: FaultProxy) -> None:
    name = f"{proxy.host}/up/retry:v1"
    img = make_image(svc, name, random_layers(1, 400_000))
    proxy.faults.append(Fault("PATCH", "/v2/up/retry/blobs/uploads/", "status", 500))
    proxy.faults.append(Fault("PATCH", "/v2/up/retry/blobs/uploads/", "drop"))
    res = svc.push(name, config=FAST)
    assert res.digest == str(img.manifest.digest)
    assert proxy.count("PATCH", "/v2/up/retry/blobs/uploads/") == 3
    assert proxy.count("DELETE", "/v2/up/retry/blobs/uploads/") >= 1  # failed ones cancelled
    with Repository.open(proxy.host, "up/retry", None, FAST) as repo:
        layer = img.manifest.layers[0]
        assert repo.stat_blob(layer.digest) == layer.size


def test_layer_unpacks_while_it_downloads(svc: ImageService, registry: ThreadRegistry,
                                          proxy: FaultProxy) -> None:
    """The registry sends the first part of the layer and stalls: the files of that part
    are already in the layer's (still active) snapshot, before the rest arrives."""
    first, rest = os.urandom(200_000), os.urandom(600_000)
    img = make_image(svc, f"{proxy.host}/s/lw:v1", [{"first": first, "rest": rest}])
    svc.push(f"{proxy.host}/s/lw:v1", config=FAST)
    svc.remove(f"{proxy.host}/s/lw:v1", force=True)
    layer = img.manifest.layers[0]
    stall = Fault("GET", f"/blobs/{layer.digest}", "stall", 400_000)
    proxy.faults.append(stall)
    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(
        svc.pull(f"{proxy.host}/s/lw:v1", config=FAST)))
    t.start()
    try:
        sn = svc.stores.snapshotter
        deadline = time.monotonic() + 30
        seen = b""
        while time.monotonic() < deadline and seen != first:
            for info in sn.walk("kind==active"):
                path = Path(sn.mounts(info.name)[0].source, "first")
                if path.exists():
                    seen = path.read_bytes()
            time.sleep(0.02)
        assert seen == first
        assert not svc.stores.meta.images.by_image_id(img.id)  # not named yet
        assert t.is_alive()
    finally:
        stall.release.set()
        t.join(30)
    assert result and svc.get(f"{proxy.host}/s/lw:v1").id == img.id


def test_uncompressed_layers_compressed_once(svc: ImageService, registry: ThreadRegistry,
                                             proxy: FaultProxy,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """An image whose layers are stored uncompressed (a legacy docker load) is pushed with
    gzip layers made once: the next push reuses the same compressed blob."""
    stores = svc.stores
    name = f"{proxy.host}/plain/layers:v1"
    with stores.meta.leases.temporary("test") as lease:
        desc, diff_id = store_layer(stores, lease.id, io.BytesIO(layer_tar({"x": b"x" * 5000})),
                                    compression=Compression.NONE)
        assert desc.media_type == mt.OCI_LAYER and desc.digest == diff_id
        doc = image_config_doc(ContainerConfig(), [diff_id], platform=Platform("linux", "amd64"),
                               created="2026-01-01T00:00:00Z")
        img = commit_image(stores, lease.id, canonical_json(doc), [desc], [name])
    first = svc.push(name, config=FAST)
    assert first.digest != str(img.manifest.digest)  # the manifest names the gzip layer
    gz = stores.content.info(desc.digest).labels[GZIP_LABEL]
    with Repository.open(proxy.host, "plain/layers", None, FAST) as repo:
        pushed_desc, raw = repo.fetch_manifest("v1")
    assert pushed_desc.digest == parse_digest(first.digest)
    [layer] = json.loads(raw)["layers"]
    assert layer["mediaType"] == mt.OCI_LAYER_GZIP and layer["digest"] == gz
    def no_recompression(*args: object, **kw: object) -> None:
        raise AssertionError("compressed again")

    monkeypatch.setattr(push_module, "CompressingWriter", no_recompression)
    events: list[Progress] = []
    again = svc.push(name, config=FAST, progress=events.append)
    assert again.digest == first.digest
    assert [e.status for e in events].count("Layer already exists") == 1
    svc.remove(name, force=True)
    assert svc.pull(name, config=FAST).image.id == img.id


def test_resume_when_the_registry_ignores_range(svc: ImageService, registry: ThreadRegistry,
                                                proxy: FaultProxy) -> None:
    """A registry that answers a Range request with the whole blob (200): the bytes the
    ingest has are skipped, the rest appended."""
    img = _pushed(svc, proxy, "no/range", layers=1)
    name = f"{proxy.host}/no/range:v1"
    layer = img.manifest.layers[0]
    proxy.faults.append(Fault("GET", f"/blobs/{layer.digest}", "truncate", 20_000, times=3))
    with pytest.raises(Unavailable):
        svc.pull(name, config=FAST)
    [status] = svc.stores.content.list_statuses("pull-")
    assert status.offset > 0
    proxy.faults[:] = [Fault("GET", f"/blobs/{layer.digest}", "norange")]
    assert svc.pull(name, config=FAST).image.id == img.id
    assert proxy.ranges(f"/blobs/{layer.digest}")[-1] == f"bytes={status.offset}-"
    assert proxy.faults[0].hits == 1
