"""A Debian base image from Debian's packages (mmdebstrap or debootstrap, installed with apt
when missing), unpacked on overlay. Marked ``debian``: see this directory's conftest."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dockyard.image import ImageService
from dockyard.oci.manifest import chain_ids
from dockyard.snapshots.mount import mount_all, unmount

pytestmark = [pytest.mark.root, pytest.mark.debian,
              pytest.mark.skipif(os.geteuid() != 0, reason="debootstrap and overlay need root"),
              pytest.mark.timeout(900)]


def ensure_tool() -> None:
    if shutil.which("mmdebstrap") or shutil.which("debootstrap"):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "debootstrap"], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def test_debian_image(svc: ImageService, tmp_path: Path) -> None:
    ensure_tool()
    image = svc.make_debian("bookworm")
    assert svc.get("debian:bookworm").id == image.id
    info = svc.inspect("debian:bookworm")
    assert info["Config"]["Cmd"] == ["bash"] and info["Os"] == "linux"
    top = chain_ids(image.config.diff_ids)[-1]
    target = tmp_path / "view"
    target.mkdir()
    mounts = svc.stores.snapshotter.view("look", str(top))
    mount_all(mounts, str(target))
    try:
        assert (target / "etc" / "debian_version").read_text().startswith("12")
        assert (target / "usr" / "bin" / "apt-get").exists()
        assert (target / "bin").is_symlink() or (target / "bin" / "bash").exists()
    finally:
        unmount(str(target))
        svc.stores.snapshotter.remove("look")
