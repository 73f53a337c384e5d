"""Layers through real overlay mounts, judged by an outside tool (umoci).

1. Changes made through a mounted overlay (the kernel makes the whiteouts and opaque dirs)
   are reported by ``changes`` as Docker reports them, and the layer ``write_snapshot_diff``
   takes from the upper dir reproduces the mounted tree when applied on the parent.
2. The two layers, gzip-compressed by ``CompressingWriter`` into an OCI layout, are unpacked
   by ``umoci unpack`` to the same tree our overlay snapshotter mounts.

Needs root (overlay mounts); every mount is undone in ``finally`` and checked gone.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.archive import (
    ChangeKind,
    CompressingWriter,
    DiffMode,
    apply_layer,
    changes,
    write_diff,
)
from dockyard.snapshots import layer_dirs
from dockyard.snapshots.diffs import write_snapshot_diff
from dockyard.snapshots.mount import mount_all, mounted_under, unmount
from dockyard.snapshots.overlay import OverlaySnapshotter

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="overlay mounts need root")


@pytest.fixture
def overlay(tmp_path: Path) -> Iterator[OverlaySnapshotter]:
    s = OverlaySnapshotter(str(tmp_path / "snap"))
    try:
        yield s
    finally:
        s.close()
        for mp in mounted_under(str(tmp_path)):
            unmount(mp, detach=True)
        assert mounted_under(str(tmp_path)) == []


def facts(root: Path) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            data = hashlib.sha256(p.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
            link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else ""
            mtime = 0 if stat.S_ISLNK(st.st_mode) else int(st.st_mtime)
            out[str(p.relative_to(root))] = (st.st_mode, st.st_uid, st.st_gid, data, link,
                                             mtime, st.st_rdev)
    return out


def make_base(tree: Path) -> None:
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (tree / "etc/hosts").write_text("127.0.0.1 localhost\n")
    (tree / "usr/bin").mkdir(parents=True)
    (tree / "usr/bin/tool").write_bytes(os.urandom(50_000))
    os.chmod(tree / "usr/bin/tool", 0o4755)
    os.link(tree / "usr/bin/tool", tree / "usr/bin/tool-link")
    os.symlink("usr/bin", tree / "bin")
    (tree / "var/cache/apt").mkdir(parents=True)
    for i in range(5):
        (tree / f"var/cache/apt/pkg{i}").write_text(f"package {i}")
    (tree / "home/u").mkdir(parents=True)
    os.chown(tree / "home/u", 1000, 1000)
    for p in sorted(tree.rglob("*"), key=lambda p: -len(p.parts)):
        os.utime(p, (1_600_000_000, 1_600_000_000), follow_symlinks=False)


def test_container_changes_through_overlay_and_umoci(overlay: OverlaySnapshotter,
                                                     tmp_path: Path) -> None:
    s = overlay
    assert s.diff_mode is DiffMode.OVERLAY
    base = tmp_path / "base"
    make_base(base)
    layer1 = io.BytesIO()
    write_diff(None, str(base), layer1, mode="tree")
    dirs = layer_dirs(s.prepare("extract-1"))
    apply_layer(io.BytesIO(layer1.getvalue()), dirs.upper, whiteout_mode=dirs.whiteout_mode)
    s.commit("l1", "extract-1")

    # a "container" changes its rootfs through the mounted overlay
    mounts = s.prepare("ctr", "l1")
    m = tmp_path / "ctr"
    m.mkdir()
    mount_all(mounts, str(m))
    try:
        os.unlink(m / "etc/hosts")
        (m / "etc/passwd").write_text("root:x:0:0::/root:/bin/bash\n")
        shutil.rmtree(m / "var/cache/apt")
        (m / "var/cache/apt").mkdir()  # the kernel makes it opaque
        (m / "var/cache/apt/fresh").write_text("new")
        (m / "home/u/.profile").write_text("export A=1\n")
        os.chown(m / "home/u/.profile", 1000, 1000)
        os.chmod(m / "usr/bin/tool", 0o755)
        mounted = facts(m)
    finally:
        unmount(str(m))

    found = [(c.kind, c.path) for c in changes(dirs_lowers(s, "ctr"), layer_dirs(mounts).upper,
                                               mode="overlay")]
    assert (ChangeKind.DELETED, "/etc/hosts") in found
    assert (ChangeKind.MODIFIED, "/etc/passwd") in found
    assert (ChangeKind.ADDED, "/home/u/.profile") in found
    assert (ChangeKind.MODIFIED, "/usr/bin/tool") in found
    assert (ChangeKind.ADDED, "/var/cache/apt/fresh") in found
    assert (ChangeKind.DELETED, "/var/cache/apt/pkg0") in found
    assert not any(p.startswith("/var/cache/apt/pkg") and k is not ChangeKind.DELETED
                   for k, p in found)

    layer2 = io.BytesIO()
    write_snapshot_diff(s, "ctr", layer2, scratch=str(tmp_path))
    with tarfile.open(fileobj=io.BytesIO(layer2.getvalue())) as tf:
        names = tf.getnames()
    assert "etc/.wh.hosts" in names and "var/cache/apt/.wh..wh..opq" in names

    # the layer, applied on the parent in a fresh snapshot, gives the container's tree
    dirs2 = layer_dirs(s.prepare("extract-2", "l1"))
    apply_layer(io.BytesIO(layer2.getvalue()), dirs2.upper, whiteout_mode=dirs2.whiteout_mode,
                parents=dirs2.lowers)
    s.commit("l2", "extract-2")
    v = tmp_path / "view"
    v.mkdir()
    mount_all(s.view("v", "l2"), str(v))
    try:
        ours = facts(v)
    finally:
        unmount(str(v))
    assert ours == mounted

    # umoci, an outside judge, unpacks the same two layers to the same tree
    if shutil.which("umoci") is None:
        pytest.fail("umoci is not installed (scripts/bootstrap.sh --test installs it)")
    layout = oci_layout(tmp_path / "oci", [layer1.getvalue(), layer2.getvalue()])
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:t", str(bundle)], check=True,
                   capture_output=True)
    assert facts(bundle / "rootfs") == mounted


def dirs_lowers(s: OverlaySnapshotter, key: str) -> list[str]:
    return list(layer_dirs(s.mounts(key)).lowers)


def oci_layout(layout: Path, layers: list[bytes]) -> Path:
    blobs = layout / "blobs/sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> tuple[str, int]:
        h = hashlib.sha256(data).hexdigest()
        (blobs / h).write_bytes(data)
        return "sha256:" + h, len(data)

    descs, diff_ids = [], []
    for raw in layers:
        out = io.BytesIO()
        w = CompressingWriter(out, "gzip")
        w.write(raw)
        r = w.finish()
        d, n = put(out.getvalue())
        assert d == r.digest
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      "digest": d, "size": n})
        diff_ids.append(r.diff_id)
    cdig, csize = put(json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                                  "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode())
    mdig, msize = put(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdig,
                   "size": csize}, "layers": descs}).encode())
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdig,
        "size": msize, "annotations": {"org.opencontainers.image.ref.name": "t"}}]}))
    return layout
