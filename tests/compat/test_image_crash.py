"""kill -9 during a load and during an unpack: the next open cleans the partial work, and no
blob is ever visible with wrong content."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.image import ImageService
from dockyard.image.load import load
from dockyard.oci.digest import digest_bytes
from dockyard.oci.manifest import new_image_config

LAYERS = 4
LAYER_BYTES = 24 << 20

_CHILD = """
import sys
from dockyard.image import ImageService
svc = ImageService.open(sys.argv[1], "native")
if sys.argv[2] == "load":
    with open(sys.argv[3], "rb") as f:
        svc.load(f)
else:
    svc.unpack("crash:test")
svc.close()
"""


def layer(i: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for j in range(4):
            data = os.urandom(LAYER_BYTES // 4)
            info = tarfile.TarInfo(f"layer{i}/file{j}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    layers = [layer(i) for i in range(LAYERS)]
    config = new_image_config(architecture="amd64", os="linux",
                              diff_ids=[digest_bytes(x) for x in layers]).raw
    path = tmp_path_factory.mktemp("crash") / "image.tar"
    with tarfile.open(path, "w") as tf:
        files = {"manifest.json": json.dumps([{
            "Config": "config.json", "RepoTags": ["crash:test"],
            "Layers": [f"{i}/layer.tar" for i in range(LAYERS)]}]).encode(),
            "config.json": config}
        files.update({f"{i}/layer.tar": x for i, x in enumerate(layers)})
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def kill_when(argv: list[str], ready: Callable[[], bool], timeout: float = 60) -> bool:
    """Run argv and SIGKILL it once ``ready()``; False if it finished first."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            if ready():
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.002)
        raise AssertionError("the child never reached the point to kill it at")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def ingest_bytes(root: Path) -> int:
    total = 0
    for d in (root / "content" / "ingest").glob("*/data"):
        try:
            total += d.stat().st_size
        except FileNotFoundError:
            continue
    return total


def blobs_ok(svc: ImageService) -> int:
    n = 0
    for info in svc.stores.content.walk():
        with svc.stores.content.open_blob(info.digest) as f:
            assert hashlib.sha256(f.read()).hexdigest() == info.digest.hex
        n += 1
    return n


def test_kill_during_load(tmp_path: Path, archive: Path) -> None:
    root = tmp_path / "root"
    ImageService.open(str(root), "native").close()
    # Killed once the second layer is being written: one blob committed, one half-written.
    killed = kill_when([sys.executable, "-c", _CHILD, str(root), "load", str(archive)],
                       lambda: len(list((root / "content" / "blobs" / "sha256").iterdir()))
                       >= 1 and ingest_bytes(root) > 1 << 20)
    assert killed
    with ImageService.open(str(root), "native") as svc:  # recovery
        assert svc.images() == []
        assert svc.stores.meta.leases.all() == []
        assert svc.stores.content.list_statuses() == []
        assert blobs_ok(svc) == 0  # the dead load's lease is gone, so is its content
        assert list(svc.stores.snapshotter.walk()) == []
        # And the same load now succeeds.
        with open(archive, "rb") as f:
            assert svc.load(f)[0].names == ("docker.io/library/crash:test",)
        assert svc.is_unpacked("crash:test")


def active_extracts(root: Path) -> int:
    db = root / "snapshots" / "native" / "metadata.db"
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM snapshots WHERE kind = 'active' "
                                "AND key LIKE 'extract-%'").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def test_kill_during_unpack(tmp_path: Path, archive: Path) -> None:
    root = tmp_path / "root"
    with ImageService.open(str(root), "native") as svc, open(archive, "rb") as f:
        load(svc.stores, f, do_unpack=False)
        assert not svc.is_unpacked("crash:test")
        before = {i.digest for i in svc.stores.content.walk()}
    killed = kill_when([sys.executable, "-c", _CHILD, str(root), "unpack"],
                       lambda: active_extracts(root) > 0 and any(
                           (root / "snapshots" / "native" / "snapshots").glob("*/fs/layer*/*")))
    assert killed
    with ImageService.open(str(root), "native") as svc:
        assert active_extracts(root) == 0
        names = {i.name for i in svc.stores.snapshotter.walk()}
        assert not any(n.startswith("extract-") for n in names)
        assert {i.digest for i in svc.stores.content.walk()} == before
        blobs_ok(svc)
        result = svc.unpack("crash:test")
        assert result.unpacked + result.skipped == LAYERS
        assert svc.is_unpacked("crash:test")
