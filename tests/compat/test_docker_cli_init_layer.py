"""Docker's init layer under every container (``daemon.containers.initlayer``): an empty
``/.dockerenv``, ``/etc/mtab -> /proc/mounts``, the /etc mount points; none of it a change
of the container (``docker diff``, ``docker commit``), all of it in ``docker export``."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile

import daemon_harness as harness
from daemon_harness import DOCKER


def _top_layer(d: harness.Daemon, image: str) -> dict[str, tarfile.TarInfo]:
    """The entries of ``image``'s top layer (through ``docker save``), by name."""
    saved = subprocess.run([DOCKER, "save", image], env=d.env(), capture_output=True,
                           check=True, timeout=60).stdout
    with tarfile.open(fileobj=io.BytesIO(saved)) as outer:
        manifest_file = outer.extractfile("manifest.json")
        assert manifest_file is not None
        top = json.load(manifest_file)[0]["Layers"][-1]
        layer = outer.extractfile(top)
        assert layer is not None
        with tarfile.open(fileobj=io.BytesIO(layer.read())) as inner:
            return {m.name.removeprefix("./").rstrip("/"): m for m in inner.getmembers()}


def test_dockerenv_and_mtab(d: harness.Daemon) -> None:
    p = d.docker("run", "--rm", "busybox", "sh", "-c",
                 "stat -c '%s %a %U' /.dockerenv; readlink /etc/mtab; "
                 "stat -c '%a %U %Y' /etc", timeout=60)
    assert p.returncode == 0, (p.stderr, d.tail())
    env, mtab, etc = p.stdout.splitlines()
    assert env == "0 755 root"
    assert mtab == "/proc/mounts"
    # /etc keeps the image's attributes (its time too), not the init layer's own.
    image_etc = _top_layer(d, "busybox")["etc"]
    assert etc == f"{image_etc.mode & 0o7777:o} root {int(image_etc.mtime)}"


def test_not_a_change_of_the_container(d: harness.Daemon) -> None:
    d.docker("run", "--name", "initlayer", "busybox", "sh", "-c",
             "touch /newfile; cat /.dockerenv /etc/mtab >/dev/null", check=True, timeout=60)
    try:
        assert d.docker("diff", "initlayer", check=True).stdout == "A /newfile\n"
        d.docker("commit", "initlayer", "initlayer:1", check=True)
        try:
            # Only what the container did: no .dockerenv, mtab, nor the /etc mount points.
            assert sorted(_top_layer(d, "initlayer:1")) == ["newfile"]
            # A container of the committed image gets its own init layer all the same.
            p = d.docker("run", "--rm", "initlayer:1", "ls", "/.dockerenv", "/newfile",
                         check=True, timeout=60)
            assert p.stdout == "/.dockerenv\n/newfile\n"
        finally:
            d.docker("rmi", "initlayer:1")
        exported = subprocess.run([DOCKER, "export", "initlayer"], env=d.env(),
                                  capture_output=True, check=True, timeout=60).stdout
        with tarfile.open(fileobj=io.BytesIO(exported)) as t:
            names = {m.name.removeprefix("./").rstrip("/"): m for m in t.getmembers()}
        assert names[".dockerenv"].size == 0
        assert names["etc/mtab"].issym() and names["etc/mtab"].linkname == "/proc/mounts"
        assert "newfile" in names and "bin/busybox" in names
    finally:
        d.docker("rm", "-f", "initlayer")
