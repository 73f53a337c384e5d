"""Images on the overlay snapshotter (root): busybox unpacked and mounted as a container
rootfs, and whiteouts read through the mounted overlay."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.image import ImageService
from dockyard.image.busybox import find_static_busybox
from dockyard.oci.digest import digest_bytes
from dockyard.oci.manifest import chain_ids, new_image_config
from dockyard.snapshots.mount import mount_all, unmount

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="overlay mounts need root")]


def tar_of(files: dict[str, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_busybox_container_rootfs(svc: ImageService, tmp_path: Path) -> None:
    image = svc.make_busybox()
    assert image.config.config.cmd == ("sh",)
    top = chain_ids(image.config.diff_ids)[-1]
    mounts = svc.stores.snapshotter.prepare("container-1", str(top))
    target = tmp_path / "rootfs"
    target.mkdir()
    mount_all(mounts, str(target))
    try:
        with open(find_static_busybox(), "rb") as f:
            assert (target / "bin" / "busybox").read_bytes() == f.read()
        assert os.readlink(target / "bin" / "sh") == "/bin/busybox"
        assert (target / "tmp").stat().st_mode & 0o7777 == 0o1777
        assert "root:x:0:0" in (target / "etc" / "passwd").read_text()
        (target / "tmp" / "written").write_text("by the container")
    finally:
        unmount(str(target))
    # The image's own layer is untouched; the container's writes are in its snapshot.
    view = svc.stores.snapshotter.view("look", str(top))
    assert not Path(view[0].source, "tmp", "written").exists()
    svc.stores.snapshotter.remove("look")
    svc.stores.snapshotter.remove("container-1")


def test_whiteouts_through_the_mounted_overlay(svc: ImageService, tmp_path: Path) -> None:
    l1 = tar_of({"gone": b"1", "keep": b"k", "d/": None, "d/old": b"o"})
    l2 = tar_of({".wh.gone": b"", "d/": None, "d/.wh..wh..opq": b"", "d/new": b"n"})
    diff_ids = [digest_bytes(l1), digest_bytes(l2)]
    config = new_image_config(architecture="amd64", os="linux", diff_ids=diff_ids).raw
    files = {"manifest.json": json.dumps([{"Config": "c.json", "RepoTags": ["wh:1"],
                                           "Layers": ["1/layer.tar", "2/layer.tar"]}]).encode(),
             "c.json": config, "1/layer.tar": gzip.compress(l1), "2/layer.tar": l2}
    svc.load(io.BytesIO(tar_of(files)))  # type: ignore[arg-type]
    top = chain_ids(diff_ids)[-1]
    mounts = svc.stores.snapshotter.view("reader", str(top))
    target = tmp_path / "view"
    target.mkdir()
    mount_all(mounts, str(target))
    try:
        assert sorted(os.listdir(target)) == ["d", "keep"]
        assert sorted(os.listdir(target / "d")) == ["new"]
    finally:
        unmount(str(target))
        svc.stores.snapshotter.remove("reader")
