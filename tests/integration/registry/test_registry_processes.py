"""The registry as processes: kill -9 during an upload and during GC loses nothing
committed and shows nothing half-written; several workers share one port."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dockyard.oci.descriptor import new_descriptor
from dockyard.oci.digest import digest_bytes
from dockyard.oci.manifest import new_manifest
from dockyard.registry import gc
from dockyard.registry.names import validate_name
from dockyard.registry.storage import FilesystemDriver
from dockyard.registry.store import Registry

SRC = str(Path(__file__).resolve().parents[3] / "src")


class Server:
    def __init__(self, root: Path, *extra: str) -> None:
        self.root = root
        env = dict(os.environ, PYTHONPATH=SRC)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dockyard.registry.cli", "serve", "--listen", "127.0.0.1:0",
             "--storage", str(root), *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        m = re.search(r"listening on (http://[0-9.]+:\d+)", line)
        if m is None:
            self.kill()
            raise AssertionError(f"no server: {line!r} {self.proc.stderr.read()!r}")  # type: ignore[union-attr]
        self.url = m.group(1)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        self.proc.wait(20)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        yield started
    finally:
        for s in started:
            s.kill()


def verify_blob_store(root: Path) -> int:
    """Every visible blob's bytes hash to its name; the number of blobs. A blob a running
    gc sweeps between the listing and the read is gone, not broken: it does not count."""
    n = 0
    blobs = root / "blobs"
    for data in blobs.glob("*/*/*/data"):
        alg, hex_ = data.parts[-4], data.parts[-2]
        try:
            content = data.read_bytes()
        except FileNotFoundError:
            continue
        assert hashlib.new(alg, content).hexdigest() == hex_, data
        n += 1
    return n


def test_kill_during_upload(tmp_path: Path, servers: list[Server], h: Any) -> None:
    root = tmp_path / "store"
    first = Server(root)
    servers.append(first)
    big = os.urandom(8 * 1024 * 1024)
    sent = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 256 * 1024):
            yield big[i:i + 256 * 1024]
            if i >= 2 * 1024 * 1024:
                sent.set()
                await asyncio.sleep(0.2)

    async def before() -> tuple[str, bytes, str]:
        async with aiohttp.ClientSession() as s:
            d, raw = await h.push_image(s, first.url, "crash/app", "v1", layers=[b"committed"])
            async with s.post(f"{first.url}/v2/crash/app/blobs/uploads/") as r:
                loc = r.headers["Location"]
            patch = asyncio.ensure_future(s.patch(loc, data=slow_body()))
            await asyncio.wait_for(sent.wait(), 30)
            await asyncio.sleep(0.3)
            first.kill()  # kill -9 in the middle of the PATCH
            with pytest.raises(aiohttp.ClientError):
                r = await patch
                r.release()
                raise aiohttp.ClientError("the PATCH survived the kill")
            return d, raw, loc.rsplit("/", 1)[1]

    d, raw, upload_id = h.run(before())
    n_before = verify_blob_store(root)
    second = Server(root)
    servers.append(second)

    async def after() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{second.url}/v2/crash/app/manifests/v1") as r:
                assert r.status == 200 and await r.read() == raw
            async with s.get(f"{second.url}/v2/crash/app/blobs/{h.sha256(b'committed')}") as r:
                assert await r.read() == b"committed"
            async with s.head(f"{second.url}/v2/crash/app/blobs/{h.sha256(big)}") as r:
                assert r.status == 404  # the half-sent blob is nowhere visible
            loc = f"{second.url}/v2/crash/app/blobs/uploads/{upload_id}"
            async with s.get(loc) as r:
                assert r.status == 204
                have = int(r.headers["Range"].split("-")[1]) + 1
                assert 0 < have < len(big)
            # resumed where the dead server left it, on another process
            async with s.patch(loc, data=big[have:],
                               headers={"Content-Range": f"{have}-{len(big) - 1}"}) as r:
                assert r.status == 202, await r.text()
            async with s.put(loc, params={"digest": h.sha256(big)}) as r:
                assert r.status == 201
            async with s.get(f"{second.url}/v2/crash/app/blobs/{h.sha256(big)}") as r:
                assert await r.read() == big

    h.run(after())
    assert verify_blob_store(root) == n_before + 1
    assert d


def test_kill_during_gc(tmp_path: Path) -> None:
    root = tmp_path / "store"
    registry = Registry(FilesystemDriver(str(root)))
    name = validate_name("gc/app")
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}'
    layer = os.urandom(50_000)
    for blob in (config, layer):
        d = digest_bytes(blob)
        registry.blobs.put_verified(d, blob)
        registry.blobs.link(name, d)
    m = new_manifest(new_descriptor("application/vnd.oci.image.config.v1+json", config),
                     [new_descriptor("application/vnd.oci.image.layer.v1.tar", layer)])
    registry.manifests.put(name, "v1", m.raw, m.media_type)  # type: ignore[arg-type]
    for i in range(400):
        junk = os.urandom(20_000) + str(i).encode()
        d = digest_bytes(junk)
        registry.blobs.put_verified(d, junk)
        registry.blobs.link(name, d)
    old = time.time() - 7200
    for data in (root / "blobs").glob("*/*/*/data"):
        os.utime(data, (old, old))
    total = verify_blob_store(root)
    env = dict(os.environ, PYTHONPATH=SRC)
    proc = subprocess.Popen([sys.executable, "-m", "dockyard.registry.cli", "gc", "--storage",
                             str(root), "--grace", "60"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while verify_blob_store(root) > total - 50 and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # committed content intact and verifiable; nothing half-deleted visible
    left = verify_blob_store(root)
    assert left < total
    stored = registry.manifests.get(name, m.digest)
    assert stored.raw == m.raw
    assert registry.blobs.read(digest_bytes(layer)) == layer
    assert registry.blobs.read(digest_bytes(config)) == config
    for d in registry.blobs.all():
        assert registry.blobs.exists(d)
    # the next run finishes the job
    report = gc.collect(registry, grace=60)
    assert verify_blob_store(root) == 3
    assert report.marked == {m.digest, digest_bytes(config), digest_bytes(layer)}
    assert len(list(registry.blobs.links(name))) == 2  # links of swept blobs removed


def test_several_workers_share_the_port(tmp_path: Path, servers: list[Server],
                                        h: Any) -> None:
    srv = Server(tmp_path / "store", "--workers", "2")
    servers.append(srv)

    async def go() -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
            pushed = await asyncio.gather(*(h.push_image(s, srv.url, f"w/app{i}", "v1",
                                                         layers=[os.urandom(100_000)])
                                            for i in range(8)))
            for i, (d, raw) in enumerate(pushed):
                for _ in range(3):  # new connections land on either worker
                    async with s.get(f"{srv.url}/v2/w/app{i}/manifests/{d}") as r:
                        assert r.status == 200 and await r.read() == raw
            # an upload started on one worker and finished on another
            data = os.urandom(300_000)
            async with s.post(f"{srv.url}/v2/w/x/blobs/uploads/") as r:
                loc = r.headers["Location"]
            for i in range(0, len(data), 100_000):
                async with s.patch(loc, data=data[i:i + 100_000],
                                   headers={"Content-Range": f"{i}-{i + 99_999}"}) as r:
                    assert r.status == 202, await r.text()
            async with s.put(loc, params={"digest": h.sha256(data)}) as r:
                assert r.status == 201, await r.text()
    h.run(go())
    srv.kill(signal.SIGTERM)
    assert srv.proc.returncode == 0


def test_inmemory_driver_refuses_several_workers(tmp_path: Path) -> None:
    cfg = tmp_path / "reg.toml"
    cfg.write_text('[storage]\ndriver = "inmemory"\n')
    env = dict(os.environ, PYTHONPATH=SRC)
    proc = subprocess.run([sys.executable, "-m", "dockyard.registry.cli", "serve", "--config",
                           str(cfg), "--listen", "127.0.0.1:0", "--workers", "2"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert "cannot serve several workers" in proc.stderr
