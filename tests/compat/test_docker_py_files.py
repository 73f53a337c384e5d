"""docker-py 7.1 against dockyardd's file endpoints: ``Container.put_archive`` /
``get_archive`` (its stat), ``diff()``, ``export()``, ``commit()`` and a run of the
committed image, and ``APIClient.copy``-era errors as docker-py raises them."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import docker
import docker.errors
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "daemon"))
import daemon_harness as harness

pytestmark = pytest.mark.root


def tar_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o640
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_put_get_diff_export_commit(d: harness.Daemon, client: docker.DockerClient) -> None:
    c = client.containers.run("busybox", ["sh", "-c", "rm /bin/ls; exec sleep 1000"],
                              detach=True)
    harness.wait_for(lambda: c.diff() is not None, 10, "the rm in the container")
    assert c.put_archive("/tmp", tar_of({"dir/a.txt": b"alpha", "b.txt": b"beta"}))
    with pytest.raises(docker.errors.NotFound):
        c.put_archive("/nonexistent", tar_of({"x": b"x"}))
    with pytest.raises(docker.errors.APIError) as err:
        c.put_archive("/tmp/b.txt", tar_of({"x": b"x"}))
    assert err.value.status_code == 400

    chunks, st = c.get_archive("/tmp/dir")
    assert st["name"] == "dir" and st["mode"] & (1 << 31)
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as t:
        assert t.getnames() == ["dir", "dir/a.txt"]
        member = t.extractfile("dir/a.txt")
        assert member is not None and member.read() == b"alpha"
        assert t.getmember("dir/a.txt").mode == 0o640
    with pytest.raises(docker.errors.NotFound):
        c.get_archive("/nope")

    changes = {(x["Path"], x["Kind"]) for x in c.diff()}
    assert {("/tmp", 0), ("/tmp/dir", 1), ("/tmp/dir/a.txt", 1), ("/tmp/b.txt", 1),
            ("/bin", 0), ("/bin/ls", 2)} <= changes

    exported = b"".join(c.export())
    with tarfile.open(fileobj=io.BytesIO(exported)) as t:
        names = set(t.getnames())
    assert {"tmp/dir/a.txt", "tmp/b.txt", "bin/sh"} <= names and "bin/ls" not in names

    image = c.commit(repository="pycommit", tag="v2", message="from docker-py",
                     author="py", changes=["CMD cat /tmp/b.txt", "ENV K=V"],
                     conf={"Labels": {"made": "py"}})
    try:
        assert image.tags == ["pycommit:v2"]
        assert image.attrs["Comment"] == "from docker-py"
        assert image.attrs["Config"]["Labels"] == {"made": "py"}
        assert "K=V" in image.attrs["Config"]["Env"]
        assert image.history()[0]["Comment"] == "from docker-py"
        out = client.containers.run("pycommit:v2", remove=True)
        assert out == b"beta"
        c.reload()
        assert c.status == "running"
    finally:
        client.images.remove("pycommit:v2", force=True)
