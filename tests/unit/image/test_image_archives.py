"""Save and load: round trips byte for byte, every accepted layout, and hostile archives."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument, NotFound
from dockyard.image import Image, ImageService
from dockyard.oci import mediatypes as mt
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import digest_bytes
from dockyard.oci.manifest import canonical_json, new_image_config, new_index, new_manifest

Tarball = Callable[..., bytes]


def saved(svc: ImageService, *refs: str) -> bytes:
    out = io.BytesIO()
    svc.save(list(refs), out)
    return out.getvalue()


def members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {m.name: tf.extractfile(m).read()  # type: ignore[union-attr]
                for m in tf.getmembers() if m.isfile()}


def test_save_layout_and_round_trip(svc: ImageService, imp: Callable[..., Image],
                                    tmp_path: Path) -> None:
    image = imp({"etc/": None, "etc/motd": b"hi\n"}, "example.com/a/b", "1")
    svc.tag("example.com/a/b:1", "other")
    data = saved(svc, "example.com/a/b:1", "other")
    files = members(data)
    assert set(files) == {"oci-layout", "index.json", "manifest.json", "repositories",
                          f"blobs/sha256/{image.id.hex}", f"blobs/sha256/{image.target.digest.hex}",
                          f"blobs/sha256/{image.manifest.layers[0].digest.hex}"}
    assert files[f"blobs/sha256/{image.id.hex}"] == image.config.raw
    assert files[f"blobs/sha256/{image.target.digest.hex}"] == image.manifest.raw
    index = json.loads(files["index.json"])
    assert [m["annotations"]["io.containerd.image.name"] for m in index["manifests"]] == [
        "example.com/a/b:1", "docker.io/library/other:latest"]
    legacy = json.loads(files["manifest.json"])
    assert legacy == [{"Config": f"blobs/sha256/{image.id.hex}",
                       "RepoTags": ["example.com/a/b:1", "other:latest"],
                       "Layers": [f"blobs/sha256/{image.manifest.layers[0].digest.hex}"]}]
    # Into a fresh store: same ID, same manifest digest, same names.
    other = ImageService.open(str(tmp_path / "other"), "native")
    try:
        loaded = other.load(io.BytesIO(data))
        assert [(i.id, i.names) for i in loaded] == [
            (image.id, ("example.com/a/b:1", "docker.io/library/other:latest"))]
        got = other.get("other")
        assert got.target.digest == image.target.digest and got.config.raw == image.config.raw
        assert other.is_unpacked("other")
        assert loaded[0].messages() == ["Loaded image: example.com/a/b:1",
                                        "Loaded image: other:latest"]
    finally:
        other.close()


@pytest.mark.parametrize("wrap", [gzip.compress, lzma.compress], ids=["gzip", "xz"])
def test_load_whole_archive_compressed(svc: ImageService, imp: Callable[..., Image],
                                       wrap: Callable[[bytes], bytes]) -> None:
    image = imp({"f": b"zipped"}, "zipped")
    data = wrap(saved(svc, "zipped"))
    svc.remove("zipped")
    assert [i.id for i in svc.load(io.BytesIO(data))] == [image.id]
    assert svc.get("zipped").id == image.id


def test_save_by_id_is_unnamed(svc: ImageService, imp: Callable[..., Image]) -> None:
    image = imp({"f": b"anon"}, "named")
    files = members(saved(svc, str(image.id)))
    assert "annotations" not in json.loads(files["index.json"])["manifests"][0]
    assert json.loads(files["manifest.json"])[0]["RepoTags"] is None
    svc.remove("named")
    loaded = svc.load(io.BytesIO(saved_from(files)))
    assert loaded[0].names == () and loaded[0].messages() == [f"Loaded image ID: {image.id}"]
    assert svc.get(str(image.id)).dangling


def saved_from(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def legacy_archive(tarball: Tarball, layer_files: list[dict[str, bytes]],
                   repo_tags: list[str], *, gzip_layers: bool = False,
                   symlinked: bool = True) -> tuple[bytes, bytes]:
    """A docker-archive as dockerd 20.10/skopeo write it; returns (archive, config)."""
    layers = [tarball(f) for f in layer_files]
    diff_ids = [digest_bytes(layer) for layer in layers]
    config = new_image_config(architecture="amd64", os="linux", diff_ids=diff_ids).raw
    files: dict[str, bytes | tuple[str, str] | None] = {}
    paths = []
    for layer, d in zip(layers, diff_ids, strict=True):
        blob = gzip.compress(layer) if gzip_layers else layer
        if symlinked:  # skopeo: <hex>.tar plus <id>/layer.tar -> ../<hex>.tar
            files[f"{d.hex}.tar"] = blob
            files[f"{d.hex[:20]}/"] = None
            files[f"{d.hex[:20]}/layer.tar"] = ("link", f"../{d.hex}.tar")
            files[f"{d.hex[:20]}/VERSION"] = b"1.0"
            files[f"{d.hex[:20]}/json"] = b"{}"
        else:
            files[f"{d.hex[:20]}/layer.tar"] = blob
        paths.append(f"{d.hex[:20]}/layer.tar")
    cfg_name = f"{hashlib.sha256(config).hexdigest()}.json"
    files[cfg_name] = config
    files["manifest.json"] = json.dumps([{"Config": cfg_name, "RepoTags": repo_tags,
                                          "Layers": paths}]).encode()
    files["repositories"] = b"{}"
    return tarball(files), config


@pytest.mark.parametrize("gzip_layers", [False, True], ids=["plain", "gzip-layers"])
def test_load_legacy_docker_archive(svc: ImageService, tarball: Tarball,
                                    gzip_layers: bool) -> None:
    data, config = legacy_archive(tarball, [{"a": b"1", "d/": None, "d/x": b"x"},
                                            {"b": b"2", ".wh.a": b""}],
                                  ["legacy:v1", "legacy:v2"], gzip_layers=gzip_layers)
    loaded = svc.load(io.BytesIO(data))
    assert loaded[0].id == digest_bytes(config)
    assert loaded[0].names == ("docker.io/library/legacy:v1", "docker.io/library/legacy:v2")
    image = svc.get("legacy:v2")
    assert image.target.media_type == mt.DOCKER_MANIFEST
    assert image.manifest.config.media_type == mt.DOCKER_CONFIG
    want = mt.DOCKER_LAYER_GZIP if gzip_layers else mt.DOCKER_LAYER
    assert [d.media_type for d in image.manifest.layers] == [want, want]
    assert svc.is_unpacked("legacy:v1")


def test_load_plain_oci_layout(svc: ImageService, tarball: Tarball) -> None:
    layer = tarball({"hello": b"oci"})
    layer_d = Descriptor(mt.OCI_LAYER, digest_bytes(layer), len(layer))
    cfg = new_image_config(architecture="amd64", os="linux", diff_ids=[layer_d.digest]).raw
    cfg_d = Descriptor(mt.OCI_CONFIG, digest_bytes(cfg), len(cfg))
    man = new_manifest(cfg_d, [layer_d])
    target = man.descriptor()._replace(annotations={
        "org.opencontainers.image.ref.name": "latest"})
    named = man.descriptor()._replace(annotations={
        "org.opencontainers.image.ref.name": "example.com/x:tag"})
    index = new_index([target, named])
    data = tarball({"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index.raw,
                    "blobs/": None, "blobs/sha256/": None,
                    f"blobs/sha256/{layer_d.digest.hex}": layer,
                    f"blobs/sha256/{cfg_d.digest.hex}": cfg,
                    f"blobs/sha256/{man.digest.hex}": man.raw})
    loaded = svc.load(io.BytesIO(data))
    # A bare tag ("latest") names nothing; a whole reference does.
    assert loaded[0].names == ("example.com/x:tag",)
    assert svc.get("example.com/x:tag").target.digest == man.digest


def oci_archive(tarball: Tarball, extra: dict[str, bytes | tuple[str, str] | None],
                layer: bytes | None = None, blob_override: bytes | None = None) -> bytes:
    layer = layer if layer is not None else tarball({"f": b"x"})
    layer_d = Descriptor(mt.OCI_LAYER, digest_bytes(layer), len(layer))
    cfg = new_image_config(architecture="amd64", os="linux", diff_ids=[layer_d.digest]).raw
    cfg_d = Descriptor(mt.OCI_CONFIG, digest_bytes(cfg), len(cfg))
    man = new_manifest(cfg_d, [layer_d])
    index = new_index([man.descriptor()._replace(annotations={
        "io.containerd.image.name": "docker.io/library/evil:latest"})])
    files: dict[str, bytes | tuple[str, str] | None] = {
        "oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index.raw,
        f"blobs/sha256/{layer_d.digest.hex}": blob_override or layer,
        f"blobs/sha256/{cfg_d.digest.hex}": cfg, f"blobs/sha256/{man.digest.hex}": man.raw}
    files.update(extra)
    return tarball(files)


@pytest.mark.parametrize("case", [
    "dotdot", "absolute", "symlink-out", "device", "wrong-blob", "wrong-big-blob",
    "missing-blob", "legacy-layer-outside", "bad-layer-content", "not-an-archive",
])
def test_hostile_archives_are_refused_and_leave_nothing(svc: ImageService, tarball: Tarball,
                                                        tmp_path: Path, case: str) -> None:
    outside = tmp_path / "outside"
    if case == "dotdot":
        data = oci_archive(tarball, {"../outside": b"pwned"})
    elif case == "absolute":
        data = oci_archive(tarball, {str(outside): b"pwned"})
    elif case == "symlink-out":
        data = tarball({"link": ("link", "../../etc"),
                        "manifest.json": json.dumps([{"Config": "link/passwd",
                                                      "Layers": []}]).encode()})
    elif case == "device":
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            info = tarfile.TarInfo("dev/null")
            info.type = tarfile.CHRTYPE
            tf.addfile(info)
        data = buf.getvalue()
    elif case == "wrong-blob":
        data = oci_archive(tarball, {}, blob_override=tarball({"f": b"y"}))
    elif case == "wrong-big-blob":
        big = tarball({"big": b"\0" * (2 << 20)})
        data = oci_archive(tarball, {}, layer=big, blob_override=tarball({"big": b"\1" * (2 << 20)}))
    elif case == "missing-blob":
        data = tarball({"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json":
                        canonical_json({"schemaVersion": 2, "manifests": [
                            {"mediaType": mt.OCI_MANIFEST, "size": 2,
                             "digest": str(digest_bytes(b"{}"))}]})})
    elif case == "legacy-layer-outside":
        data = tarball({"manifest.json": json.dumps([{
            "Config": "c.json", "Layers": ["../../etc/passwd"]}]).encode(),
            "c.json": new_image_config(architecture="amd64", os="linux",
                                       diff_ids=[digest_bytes(b"")]).raw})
    elif case == "bad-layer-content":
        data = oci_archive(tarball, {}, layer=tarball({"../../escape": b"x"}))
    else:
        data = b"this is not a tar archive at all" * 100
    with pytest.raises((InvalidArgument, NotFound)):
        svc.load(io.BytesIO(data))
    assert not outside.exists()
    assert svc.images() == []
    svc.collect()
    assert list(svc.stores.content.walk()) == []
    assert list(svc.stores.snapshotter.walk()) == []
    assert svc.stores.meta.leases.all() == []
