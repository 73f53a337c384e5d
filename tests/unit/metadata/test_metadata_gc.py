"""Garbage collection over a real content store and the native snapshotter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from dockyard.content import LocalContentStore
from dockyard.metadata import MetadataStore, Resource
from dockyard.oci import mediatypes as mt
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest, digest_bytes
from dockyard.oci.manifest import chain_ids, new_image_config, new_index, new_manifest
from dockyard.oci.platform import Platform
from dockyard.snapshots.native import NativeSnapshotter


class Env(NamedTuple):
    meta: MetadataStore
    content: LocalContentStore
    sn: NativeSnapshotter


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(MetadataStore(str(tmp_path / "metadata.db")),
            LocalContentStore(str(tmp_path / "content")),
            NativeSnapshotter(str(tmp_path / "snapshots")))
    try:
        yield e
    finally:
        e.sn.close()
        e.meta.close()


def put(env: Env, media_type: str, data: bytes) -> Descriptor:
    d = Descriptor(media_type, digest_bytes(data), len(data))
    env.content.ingest_bytes(data, d)
    return d


class Img(NamedTuple):
    manifest: Descriptor
    config: Descriptor
    layers: tuple[Descriptor, ...]
    chains: tuple[Digest, ...]


def make_image(env: Env, tag: bytes, n_layers: int = 2, commit: bool = True) -> Img:
    layers = tuple(put(env, mt.OCI_LAYER, tag + b" layer %d" % i) for i in range(n_layers))
    diff_ids = [d.digest for d in layers]  # plain tars: digest == diff_id
    cfg = new_image_config(architecture="amd64", os="linux", diff_ids=diff_ids)
    config = put(env, mt.OCI_CONFIG, cfg.raw)
    m = new_manifest(config, layers)
    manifest = put(env, mt.OCI_MANIFEST, m.raw)
    chains = chain_ids(diff_ids)
    if commit:
        parent = None
        for c in chains:
            if not any(i.name == str(c) for i in env.sn.walk()):
                env.sn.prepare("x", parent)
                env.sn.commit(str(c), "x")
            parent = str(c)
    return Img(manifest, config, layers, chains)


def blobs(env: Env) -> set[Digest]:
    return {i.digest for i in env.content.walk()}


def snaps(env: Env) -> set[str]:
    return {i.name for i in env.sn.walk()}


def collect(env: Env) -> object:
    return env.meta.collect(env.content, {"native": env.sn})


def test_records_keep_their_graph_and_the_rest_is_swept(env: Env) -> None:
    kept = make_image(env, b"kept")
    gone = make_image(env, b"gone", 3)
    stray = put(env, "application/octet-stream", b"stray")
    env.sn.prepare("orphan-active", str(kept.chains[0]))
    env.meta.images.set_names(["docker.io/library/kept:latest"], kept.config.digest,
                              kept.manifest)
    result = env.meta.collect(env.content, {"native": env.sn})
    assert blobs(env) == {kept.manifest.digest, kept.config.digest,
                          *(d.digest for d in kept.layers)}
    assert snaps(env) == {str(c) for c in kept.chains}
    assert set(result.blobs) == {gone.manifest.digest, gone.config.digest, stray.digest,
                                 *(d.digest for d in gone.layers)}
    assert "native/orphan-active" in result.snapshots
    assert {f"native/{c}" for c in gone.chains} <= set(result.snapshots)
    assert result.reclaimed > 0 and result.errors == ()


def test_leases_keep_content_and_snapshots(env: Env) -> None:
    img = make_image(env, b"leased")
    env.sn.prepare("container-rw", str(img.chains[-1]))
    lease = env.meta.leases.create("c1")
    env.meta.leases.add(lease.id, Resource.content(img.manifest.digest))  # type unknown: sniffed
    env.meta.leases.add(lease.id, Resource.snapshot("native", "container-rw"))
    collect(env)
    assert img.config.digest in blobs(env) and img.layers[0].digest in blobs(env)
    assert snaps(env) == {str(c) for c in img.chains} | {"container-rw"}
    env.meta.leases.delete(lease.id)
    collect(env)
    assert blobs(env) == set() and snaps(env) == set()


def test_index_keeps_its_manifests_and_layer_rows_follow(env: Env) -> None:
    a, b = make_image(env, b"a"), make_image(env, b"b", 1)
    index = new_index([a.manifest._replace(platform=Platform("linux", "amd64")),
                       b.manifest._replace(platform=Platform("linux", "arm64"))])
    idx = put(env, mt.OCI_INDEX, index.raw)
    from dockyard.metadata import LayerSnapshot

    for c in a.chains:
        env.meta.layers.record(LayerSnapshot("native", c, c, None, c, 1))
    env.meta.images.set_names(["docker.io/library/multi:latest"], a.config.digest, idx)
    collect(env)
    assert {a.manifest.digest, b.manifest.digest, b.config.digest} <= blobs(env)
    assert {str(c) for c in a.chains + b.chains} <= snaps(env)
    env.meta.images.delete_image(a.config.digest)
    collect(env)
    assert blobs(env) == set() and snaps(env) == set()
    assert env.meta.layers.all() == []


def test_shared_parent_snapshot_stays_for_the_other_image(env: Env) -> None:
    # Two images sharing their bottom layer: removing one keeps the shared snapshot.
    shared = put(env, mt.OCI_LAYER, b"shared")
    extra = put(env, mt.OCI_LAYER, b"extra")
    imgs = []
    for layers in ((shared,), (shared, extra)):
        cfg = new_image_config(architecture="amd64", os="linux",
                               diff_ids=[d.digest for d in layers])
        config = put(env, mt.OCI_CONFIG, cfg.raw)
        manifest = put(env, mt.OCI_MANIFEST, new_manifest(config, layers).raw)
        imgs.append((config, manifest, chain_ids([d.digest for d in layers])))
    parent = None
    for c in imgs[1][2]:
        env.sn.prepare("x", parent)
        env.sn.commit(str(c), "x")
        parent = str(c)
    env.meta.images.set_names(["docker.io/library/small:1"], imgs[0][0].digest, imgs[0][1])
    collect(env)
    assert snaps(env) == {str(imgs[0][2][0])}
    assert extra.digest not in blobs(env) and shared.digest in blobs(env)


def test_stale_ingests_are_cleaned(env: Env) -> None:
    w = env.content.writer("abandoned")
    w.write(b"half")
    w.close()
    result = env.meta.collect(env.content, {"native": env.sn}, ingest_age=0)
    assert result.ingests == ("abandoned",)
    assert env.content.list_statuses() == []
