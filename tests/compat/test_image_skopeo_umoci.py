"""Round trips judged by outside tools: skopeo reads what we save and umoci unpacks it to the
same files as our unpack; an OCI layout umoci builds (as is, and after skopeo turned it into a
docker-archive) loads here with the same image ID and the same files."""

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

from dockyard.image import ImageService
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import digest_bytes
from dockyard.oci.manifest import chain_ids, new_image_config

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="umoci unpack keeps owners: needs root"),
    pytest.mark.skipif(shutil.which("skopeo") is None or shutil.which("umoci") is None,
                       reason="skopeo and umoci are installed by scripts/bootstrap.sh --test"),
]

Tree = dict[str, tuple[str, int, int, int, str]]


def run(*argv: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, check=False)
    assert proc.returncode == 0, f"{argv}: {proc.stderr}"
    return proc.stdout


def tree(root: Path) -> Tree:
    """Every path under root: kind, mode, owner, size and content hash or link target."""
    out: Tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            rel = str(p.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                what = "link:" + os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                what = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                what = ""
            out[rel] = (stat.filemode(st.st_mode)[0], stat.S_IMODE(st.st_mode), st.st_uid,
                        st.st_gid, what)
    return out


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ImageService]:
    s = ImageService.open(str(tmp_path / "root"), "native")
    try:
        yield s
    finally:
        s.close()


def our_tree(svc: ImageService, ref: str) -> Tree:
    image = svc.get(ref)
    svc.unpack(ref)
    top = str(chain_ids(image.config.diff_ids)[-1])
    mounts = svc.stores.snapshotter.view("compare", top)  # native: a bind of the tree
    try:
        return tree(Path(mounts[0].source))
    finally:
        svc.stores.snapshotter.remove("compare")


def layer_tar(path: Path, files: dict[str, bytes | str | None]) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.mtime = 1_600_000_000
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o750
                tf.addfile(info)
            elif isinstance(data, str):
                info.type, info.linkname = tarfile.SYMTYPE, data
                tf.addfile(info)
            else:
                info.size, info.mode, info.uid, info.gid = len(data), 0o4755, 1000, 100
                tf.addfile(info, io.BytesIO(data))


def test_saved_image_read_by_skopeo_and_unpacked_by_umoci(svc: ImageService,
                                                          tmp_path: Path) -> None:
    svc.make_busybox("busybox:latest")
    layer = tmp_path / "layer.tar"
    layer_tar(layer, {"opt/": None, "opt/tool": os.urandom(300_000), "opt/rel": "tool",
                      "bin/": None, ".wh.linuxrc": b"", "etc/motd": b"welcome\n"})
    with open(layer, "rb") as f:
        base = svc.import_image(f, repository="layer-only")
    assert base.id
    # A two-layer image: busybox plus that layer, built by a docker-archive load.
    bb = svc.get("busybox")
    legacy = {
        "manifest.json": json.dumps([{"Config": "config.json", "RepoTags": ["two:layers"],
                                      "Layers": ["l0.tar", "l1.tar"]}]).encode()}
    with svc.stores.content.open_blob(bb.manifest.layers[0].digest) as f:
        l0 = f.read()
    l1 = layer.read_bytes()
    config = new_image_config(architecture=bb.config.architecture, os="linux",
                              diff_ids=[bb.config.diff_ids[0], digest_bytes(l1)]).raw
    legacy.update({"config.json": config, "l0.tar": l0, "l1.tar": l1})
    archive = tmp_path / "legacy.tar"
    with tarfile.open(archive, "w") as tf:
        for name, data in legacy.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    with open(archive, "rb") as f:
        svc.load(f)

    for ref in ("busybox:latest", "two:layers"):
        saved = tmp_path / f"{ref.replace(':', '_')}.tar"
        with open(saved, "wb") as out:
            svc.save([ref], out)
        oci = tmp_path / f"oci-{ref.replace(':', '_')}"
        run("skopeo", "copy", "--quiet", f"docker-archive:{saved}", f"oci:{oci}:img")
        bundle = tmp_path / f"bundle-{ref.replace(':', '_')}"
        run("umoci", "unpack", "--image", f"{oci}:img", str(bundle))
        theirs, ours = tree(bundle / "rootfs"), our_tree(svc, ref)
        assert theirs == ours, ref
        # skopeo also reads the same archive as an OCI archive; an OCI manifest goes
        # through unchanged (a Docker schema2 one is converted, by design).
        oci2 = tmp_path / f"oci2-{ref.replace(':', '_')}"
        run("skopeo", "copy", "--quiet", f"oci-archive:{saved}", f"oci:{oci2}:img")
        index = json.loads((oci2 / "index.json").read_text())
        target = svc.get(ref).target
        if target.media_type == mt.OCI_MANIFEST:
            assert index["manifests"][0]["digest"] == str(target.digest)
    assert "linuxrc" not in our_tree(svc, "two:layers")
    assert our_tree(svc, "two:layers")["opt/tool"][1:4] == (0o4755, 1000, 100)


def umoci_layout(tmp_path: Path) -> tuple[Path, str, str]:
    """An OCI layout built by umoci (init, new, unpack, edit, repack); (layout, manifest
    digest, config digest)."""
    layout = tmp_path / "layout"
    run("umoci", "init", "--layout", str(layout))
    run("umoci", "new", "--image", f"{layout}:t")
    bundle = tmp_path / "work-bundle"
    run("umoci", "unpack", "--image", f"{layout}:t", str(bundle))
    rootfs = bundle / "rootfs"
    (rootfs / "etc").mkdir()
    (rootfs / "etc" / "hello").write_text("hi\n")
    (rootfs / "etc" / "link").symlink_to("hello")
    (rootfs / "data").mkdir(mode=0o700)
    (rootfs / "data" / "rand").write_bytes(os.urandom(200_000))
    os.link(rootfs / "data" / "rand", rootfs / "data" / "hard")
    os.chown(rootfs / "data" / "rand", 123, 456)
    run("umoci", "repack", "--image", f"{layout}:t", str(bundle))
    run("umoci", "config", "--image", f"{layout}:t", "--config.cmd", "sh",
        "--config.env", "A=1")
    index = json.loads((layout / "index.json").read_text())
    manifest = index["manifests"][0]["digest"]
    doc = json.loads((layout / "blobs" / "sha256" / manifest.split(":")[1]).read_bytes())
    return layout, manifest, doc["config"]["digest"]


def test_umoci_layout_and_skopeo_docker_archive_load_with_same_id(svc: ImageService,
                                                                   tmp_path: Path) -> None:
    layout, manifest, config = umoci_layout(tmp_path)
    bundle = tmp_path / "umoci-bundle"
    run("umoci", "unpack", "--image", f"{layout}:t", str(bundle))
    theirs = tree(bundle / "rootfs")
    # The plain OCI layout, as a tar: the manifest digest survives too.
    as_tar = tmp_path / "layout.tar"
    with tarfile.open(as_tar, "w") as tf:
        tf.add(layout, arcname=".")
    with open(as_tar, "rb") as f:
        loaded = svc.load(f)
    assert [str(i.id) for i in loaded] == [config]
    assert str(svc.get(config).target.digest) == manifest
    assert our_tree(svc, config) == theirs
    svc.remove(config, force=True)
    # Through skopeo's docker-archive writer (legacy layout, symlinked layer.tar).
    archive = tmp_path / "docker.tar"
    run("skopeo", "copy", "--quiet", f"oci:{layout}:t",
        f"docker-archive:{archive}:example.com/test/img:v1")
    with open(archive, "rb") as f:
        loaded = svc.load(f)
    assert [(str(i.id), i.names) for i in loaded] == [(config, ("example.com/test/img:v1",))]
    assert svc.inspect("example.com/test/img:v1")["Config"]["Env"] == ["A=1"]
    assert our_tree(svc, "example.com/test/img:v1") == theirs


def test_umoci_insert_at_root_loads(svc: ImageService, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    src = tmp_path / "src"
    (src / "etc").mkdir(parents=True)
    (src / "etc" / "x").write_text("x")
    run("umoci", "init", "--layout", str(layout))
    run("umoci", "new", "--image", f"{layout}:t")
    run("umoci", "insert", "--image", f"{layout}:t", str(src), "/")
    as_tar = tmp_path / "layout.tar"
    with tarfile.open(as_tar, "w") as tf:
        tf.add(layout, arcname=".")
    with open(as_tar, "rb") as f:  # umoci insert at / writes a "/" entry: the root
        loaded = svc.load(f)
    assert our_tree(svc, str(loaded[0].id))["etc/x"][4] == hashlib.sha256(b"x").hexdigest()
