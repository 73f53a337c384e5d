"""docker-py (7.x) against dockyardd's images: ``images.list/get``, ``Image.save`` and
``images.load`` (same image ID), ``tag``, ``history``, ``remove``, ``prune``,
``import_image``, and ``ImageNotFound``/``APIError`` with the right status.

The daemon is a real one on a temp socket with temp roots
(``tests/integration/daemon/daemon_harness.py``), cleaned up even when a test fails.
"""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import docker
import docker.errors
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "daemon"))

pytestmark = pytest.mark.root


def test_list_and_get(client: docker.DockerClient) -> None:
    images = client.images.list()
    assert [i.tags for i in images] == [["busybox:latest"]]
    image = client.images.get("busybox")
    assert image.id == images[0].id and image.short_id == image.id[:19]
    assert image.attrs["Config"]["Cmd"] == ["sh"] and image.labels == {}
    assert client.images.get(image.id[7:19]).id == image.id
    assert client.images.list(name="busybox")[0].id == image.id
    assert client.images.list(name="nosuch") == []
    assert client.images.list(filters={"dangling": True}) == []
    history = image.history()
    assert history[0]["Id"] == image.id and history[0]["Tags"] == ["busybox:latest"]


def test_save_load_round_trip(client: docker.DockerClient, tmp_path: Path) -> None:
    image = client.images.get("busybox")
    data = b"".join(image.save(named=True))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert "manifest.json" in tar.getnames()
    image.tag("keep", "1")
    client.images.remove("busybox")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("busybox")
    loaded = client.images.load(data)
    assert [i.id for i in loaded] == [image.id]
    assert client.images.get("busybox").id == image.id
    # Through the low-level API, a file object as docker-py users stream it.
    path = tmp_path / "bb.tar"
    with open(path, "wb") as f:
        for chunk in client.api.get_image("busybox", chunk_size=64 * 1024):
            f.write(chunk)
    with open(path, "rb") as f:
        out = list(client.api.load_image(f, quiet=True))
    assert out == [{"stream": "Loaded image: busybox:latest\n"}]
    client.images.remove("keep:1")
    with pytest.raises(docker.errors.ImageLoadError):
        client.images.load(b"\0" * 4096)


def test_tag_remove_and_conflicts(client: docker.DockerClient) -> None:
    image = client.images.get("busybox")
    assert image.tag("py/tagged", "v1") is True
    assert sorted(client.images.get("busybox").tags) == ["busybox:latest", "py/tagged:v1"]
    client.images.remove("py/tagged:v1")
    c = client.containers.create("busybox", ["true"])
    with pytest.raises(docker.errors.APIError) as conflict:
        client.images.remove("busybox")
    assert conflict.value.status_code == 409
    assert "container " + c.id[:12] + " is using its referenced image" in str(conflict.value)
    with pytest.raises(docker.errors.APIError) as by_id:
        client.images.remove(image.id)
    assert by_id.value.status_code == 409 and "must be forced" in str(by_id.value)
    c.remove()
    with pytest.raises(docker.errors.ImageNotFound) as missing:
        client.images.remove("nosuch")
    assert missing.value.status_code == 404
    with pytest.raises(docker.errors.APIError) as bad:
        client.images.get("UPPER")
    assert bad.value.status_code == 400


def test_import_prune_and_pull(client: docker.DockerClient, busybox_rootfs: Path,
                               tmp_path: Path) -> None:
    tar = tmp_path / "rootfs.tar"
    with tarfile.open(tar, "w") as t:
        t.add(str(busybox_rootfs), arcname=".")
    out = client.api.import_image(src=str(tar), repository="py/imported", tag="1",
                                  changes=['CMD ["echo", "imported"]'])
    assert '"status":"sha256:' in out
    assert client.containers.run("py/imported:1", remove=True) == b"imported\n"
    client.api.import_image(src=str(tar), changes=["LABEL dangling=yes"])
    pruned = client.images.prune()
    assert len([x for x in pruned["ImagesDeleted"] if "Deleted" in x]) >= 1
    assert pruned["SpaceReclaimed"] >= 0
    keeper = client.containers.create("busybox", ["true"])  # an image in use stays
    pruned = client.images.prune(filters={"dangling": False})
    assert {"Untagged": "py/imported:1"} in pruned["ImagesDeleted"]
    assert [i.tags for i in client.images.list()] == [["busybox:latest"]]
    keeper.remove()
    with pytest.raises(docker.errors.APIError) as pull:  # no registry there (loopback)
        client.images.pull("127.0.0.1:1/alpine", tag="3")
    assert pull.value.status_code == 503 and "connection refused" in str(pull.value)
