"""Pull and push on the overlay snapshotter against real registry processes: ours
(``dockyard.registry.cli serve``, token auth) and Debian's reference ``docker-registry``
(distribution, htpasswd auth), both on 127.0.0.1 with their storage in the test's temp dir.

Round trips of the offline busybox image with identical digests and contents, pull by
digest, an index's platform choice, credentials and Docker's texts for wrong ones, and a
registry killed in the middle of a pull: the pull fails cleanly, and once the registry is
back the next pull resumes the layer with a Range request (the access log shows the 206).
"""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dockyard.archive import Compression
from dockyard.distribution import RegistryAuth, RegistryConfig, check_login
from dockyard.distribution.client import Repository
from dockyard.errors import NotFound, PermissionDenied, Unavailable
from dockyard.image import Image, ImageService
from dockyard.image.create import commit_image, image_config_doc, store_layer
from dockyard.image.progress import Progress
from dockyard.oci import mediatypes as mt
from dockyard.oci.manifest import ContainerConfig, canonical_json, new_index
from dockyard.oci.platform import Platform
from dockyard.registry.auth.htpasswd import hash_password

SRC = str(Path(__file__).resolve().parents[3] / "src")
REFERENCE_REGISTRY = "/usr/bin/docker-registry"
USER, PASSWORD = "alice", "wonderland"
GOOD = RegistryAuth(username=USER, password=PASSWORD)
CFG = RegistryConfig(retries=2, backoff=0.05, timeout=20)

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="overlay mounts need root")]


@dataclass
class Server:
    kind: str  # "ours" | "reference"
    root: Path
    port: int
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.root / f"{self.kind}.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=log,
                                     env=self.env or None, cwd=self.root,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((self.root / f"{self.kind}.log").read_text()) from None
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()

    def access_log(self) -> str:
        path = self.root / "access.log"
        return path.read_text() if path.exists() else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ours(root: Path) -> Server:
    (root / "htpasswd").write_text(f"{USER}:{hash_password(PASSWORD, 4)}\n")
    (root / "reg.toml").write_text('[auth]\ntype = "token"\nhtpasswd = "htpasswd"\n')
    port = free_port()
    return Server("ours", root, port, [
        sys.executable, "-m", "dockyard.registry.cli", "serve", "--listen",
        f"127.0.0.1:{port}", "--storage", str(root / "store"), "--config",
        str(root / "reg.toml"), "--access-log", str(root / "access.log")],
        env=dict(os.environ, PYTHONPATH=SRC))


def reference(root: Path) -> Server:
    (root / "htpasswd").write_text(f"{USER}:{hash_password(PASSWORD, 4)}\n")
    port = free_port()
    (root / "config.yml").write_text(f"""version: 0.1
log: {{level: error}}
storage: {{filesystem: {{rootdirectory: {root / 'store'}}}, delete: {{enabled: true}}}}
http: {{addr: "127.0.0.1:{port}"}}
auth: {{htpasswd: {{realm: basic-realm, path: {root / 'htpasswd'}}}}}
""")
    return Server("reference", root, port, [REFERENCE_REGISTRY, "serve",
                                            str(root / "config.yml")])


@pytest.fixture(scope="module", params=["ours", "reference"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Server]:
    root = tmp_path_factory.mktemp(f"registry-{request.param}")
    s = ours(root) if request.param == "ours" else reference(root)
    s.start()
    try:
        yield s
    finally:
        s.stop()


def tree_digest(svc: ImageService, image: Image) -> dict[str, tuple[int, int]]:
    """Path → (mode, size) of every file of the image's top snapshot's layers."""
    out: dict[str, tuple[int, int]] = {}
    chain = image.config.chain_id()
    assert chain is not None
    key = f"check-{os.urandom(4).hex()}"
    mounts = svc.stores.snapshotter.view(key, str(chain))
    try:
        opts = [o for o in mounts[0].options if o.startswith("lowerdir=")]
        lowers = opts[0].removeprefix("lowerdir=").split(":") if opts else [mounts[0].source]
        for lower in lowers:
            for dirpath, _dirs, files in os.walk(lower):
                for f in files:
                    p = os.path.join(dirpath, f)
                    st = os.lstat(p)
                    out.setdefault(os.path.relpath(p, lower), (st.st_mode, st.st_size))
    finally:
        svc.stores.snapshotter.remove(key)
    return out


def test_push_remove_pull_busybox(svc: ImageService, server: Server) -> None:
    """The offline busybox image goes out and comes back byte for byte."""
    name = f"{server.host}/dy/busybox:1"
    img = svc.make_busybox(name)
    before = tree_digest(svc, img)
    assert "bin/busybox" in before
    res = svc.push(name, auth=GOOD, config=CFG)
    assert res.digest == str(img.manifest.digest)
    svc.remove(name, force=True)
    with pytest.raises(NotFound):
        svc.get(name)
    events: list[Progress] = []
    pulled = svc.pull(name, auth=GOOD, config=CFG, progress=events.append)
    assert pulled.image.id == img.id and pulled.digest == res.digest
    assert pulled.image.repo_digests == [f"{server.host}/dy/busybox@{res.digest}"]
    assert tree_digest(svc, pulled.image) == before
    assert "Pull complete" in [e.status for e in events]
    # by digest, into a data root that has nothing yet of it
    svc.remove(name, force=True)
    by_digest = f"{server.host}/dy/busybox@{res.digest}"
    again = svc.pull(by_digest, auth=GOOD, config=CFG)
    assert again.image.id == img.id and again.image.repo_digests == [by_digest]


def test_credentials(server: Server) -> None:
    """Wrong credentials get Docker's words; none get refused; good ones log in."""
    bad = RegistryAuth(username=USER, password="nope")
    assert check_login(server.host, GOOD, CFG) == ""
    with pytest.raises(PermissionDenied) as e:
        check_login(server.host, bad, CFG)
    if server.kind == "ours":
        assert str(e.value) == (f'Get "http://{server.host}/v2/": unauthorized: invalid '
                                "username or password")
    else:
        assert str(e.value) == (f"login attempt to http://{server.host}/v2/ failed with "
                                "status: 401 Unauthorized")
    # none: an anonymous token without push is distribution's "denied"; a Basic
    # challenge without credentials is Docker's "no basic auth credentials"
    anonymous = ("denied: requested access to the resource is denied" if server.kind == "ours"
                 else "no basic auth credentials")
    for auth, words in ((bad, "unauthorized"), (None, anonymous)):
        with pytest.raises(PermissionDenied, match=words), \
                Repository.open(server.host, "dy/x", auth, CFG, push=True) as repo:
            repo.start_upload()


def one_layer_image(svc: ImageService, name: str, arch: str, data: bytes,
                    level: int | None = None) -> Image:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("data")
        info.size, info.mode = len(data), 0o644
        tf.addfile(info, io.BytesIO(data))
    stores = svc.stores
    with stores.meta.leases.temporary("test") as lease:
        desc, diff_id = store_layer(stores, lease.id, io.BytesIO(buf.getvalue()),
                                    compression=Compression.GZIP, level=level)
        doc = image_config_doc(ContainerConfig(), [diff_id], platform=Platform("linux", arch),
                               created="2026-01-01T00:00:00Z")
        return commit_image(stores, lease.id, canonical_json(doc), [desc], [name])


def test_index_platform(svc: ImageService, server: Server) -> None:
    """An index of two platforms (pushed as children + index): the pull takes the child
    the platform asks for."""
    base = f"{server.host}/dy/multi"
    amd = one_layer_image(svc, f"{base}:amd64", "amd64", b"amd64 bits")
    arm = one_layer_image(svc, f"{base}:arm64", "arm64", b"arm64 bits")
    for tag in ("amd64", "arm64"):
        svc.push(f"{base}:{tag}", auth=GOOD, config=CFG)
    index = new_index([amd.manifest.descriptor(Platform("linux", "amd64")),
                       arm.manifest.descriptor(Platform("linux", "arm64", "v8"))])
    with Repository.open(server.host, "dy/multi", GOOD, CFG, push=True) as repo:
        repo.put_manifest("all", mt.OCI_INDEX, index.raw)
    for tag in ("amd64", "arm64"):
        svc.remove(f"{base}:{tag}", force=True)
    res = svc.pull(f"{base}:all", auth=GOOD, platform="linux/arm64", config=CFG)
    assert res.image.id == arm.id and res.digest == str(index.digest)
    res = svc.pull(f"{base}:all", auth=GOOD, platform="linux/amd64", config=CFG)
    assert res.image.id == amd.id
    # GET /distribution/{name}/json: the index's descriptor and its children's platforms;
    # for a single manifest, the platform of its config (moby's DistributionInspect)
    assert svc.distribution_inspect(f"{base}:all", auth=GOOD, config=CFG) == {
        "Descriptor": {"mediaType": mt.OCI_INDEX, "digest": str(index.digest),
                       "size": len(index.raw)},
        "Platforms": [{"architecture": "amd64", "os": "linux"},
                      {"architecture": "arm64", "os": "linux", "variant": "v8"}]}
    one = svc.distribution_inspect(f"{base}@{arm.manifest.digest}", auth=GOOD, config=CFG)
    assert one["Descriptor"]["digest"] == str(arm.manifest.digest)
    assert one["Platforms"] == [{"architecture": "arm64", "os": "linux"}]
    with pytest.raises(NotFound, match=r"manifest for .*:nope not found"):
        svc.distribution_inspect(f"{base}:nope", auth=GOOD, config=CFG)


def test_registry_killed_mid_pull(svc: ImageService, tmp_path: Path) -> None:
    """SIGKILL the registry while a 16 MiB layer downloads: a clear error, no image; the
    registry back on the same port and storage, the next pull resumes with Range."""
    root = tmp_path / "killed"
    root.mkdir()
    server = ours(root)
    server.start()
    try:
        name = f"{server.host}/dy/big:1"
        img = one_layer_image(svc, name, "amd64", os.urandom(16 << 20), level=1)
        svc.push(name, auth=GOOD, config=CFG)
        svc.remove(name, force=True)
        layer = img.manifest.layers[0]

        def kill_on_download(p: Progress) -> None:
            if p.status == "Downloading":
                server.kill()

        with pytest.raises(Unavailable) as e:
            svc.pull(name, auth=GOOD, config=CFG, progress=kill_on_download)
        assert "connection refused" in str(e.value) or "download failed" in str(e.value)
        with pytest.raises(NotFound):
            svc.get(name)
        [status] = svc.stores.content.list_statuses("pull-")
        assert 0 < status.offset < layer.size
        server.start()
        res = svc.pull(name, auth=GOOD, config=CFG)
        assert res.image.id == img.id and svc.is_unpacked(name)
        gets = [line for line in server.access_log().splitlines()
                if f"GET /v2/dy/big/blobs/{layer.digest}" in line]
        assert re.search(r'" 206 ', gets[-1]), gets
    finally:
        server.stop()
