"""Garbage collection while the registry serves: what is swept, what is kept, and why."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

from dockyard.oci.digest import parse_digest
from dockyard.registry import gc
from dockyard.registry.store import paths
from dockyard.registry.store.manifests import GC_LOCK


def age(reg: Any, path: str, seconds: float = 7200) -> None:
    p = reg.state.registry.driver.local_path(path)
    old = time.time() - seconds
    os.utime(p, (old, old))


def age_blob(reg: Any, digest: str, seconds: float = 7200) -> None:
    age(reg, paths.blob_data(parse_digest(digest)), seconds)


def test_gc_sweeps_unreferenced_and_keeps_referenced(reg: Any, h: Any) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            _d, raw = await h.push_image(s, reg.url, "g/img", "v1", layers=[b"kept layer"])
            orphan = await h.push_blob(s, reg.url, "g/img", b"orphan")
            for blob in reg.state.registry.blobs.all():
                age_blob(reg, str(blob))
            report = await asyncio.to_thread(gc.collect, reg.state.registry, grace=60)
            assert [str(x) for x in report.swept] == [orphan]
            assert report.links_removed == [("g/img", parse_digest(orphan))]
            assert report.bytes_freed == len(b"orphan")
            async with s.head(f"{reg.url}/v2/g/img/blobs/{orphan}") as r:
                assert r.status == 404
            async with s.get(f"{reg.url}/v2/g/img/manifests/v1") as r:
                assert r.status == 200 and await r.read() == raw
            async with s.get(f"{reg.url}/v2/g/img/blobs/{h.sha256(b'kept layer')}") as r:
                assert await r.read() == b"kept layer"
    h.run(go())


def test_gc_dry_run_removes_nothing(reg: Any, h: Any) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            orphan = await h.push_blob(s, reg.url, "dry", b"orphan")
            age_blob(reg, orphan)
            report = await asyncio.to_thread(gc.collect, reg.state.registry, grace=60,
                                             dry_run=True)
            assert [str(x) for x in report.swept] == [orphan]
            async with s.get(f"{reg.url}/v2/dry/blobs/{orphan}") as r:
                assert r.status == 200
    h.run(go())


def test_gc_during_a_push_keeps_the_in_flight_blobs(reg: Any, h: Any) -> None:
    """Blobs pushed but not yet referenced (the manifest comes last) survive a GC run
    between the two, as does an upload still in progress."""
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}'
            layer = os.urandom(100_000)
            await h.push_blob(s, reg.url, "inflight", config)
            await h.push_blob(s, reg.url, "inflight", layer)
            async with s.post(f"{reg.url}/v2/inflight/blobs/uploads/") as r:
                upload = r.headers["Location"]
            async with s.patch(upload, data=b"half of a blob") as r:
                assert r.status == 202
            report = await asyncio.to_thread(gc.collect, reg.state.registry)  # default grace
            assert report.swept == [] and len(report.kept_young) == 2
            assert report.uploads_purged == []
            raw = h.manifest_bytes(config, [layer])
            async with s.put(f"{reg.url}/v2/inflight/manifests/v1", data=raw,
                             headers={"Content-Type": h.OCI_MANIFEST}) as r:
                assert r.status == 201, await r.text()
            async with s.get(upload) as r:
                assert r.status == 204 and r.headers["Range"] == "0-13"
    h.run(go())


def test_stale_uploads_are_purged(reg: Any, h: Any) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{reg.url}/v2/st/blobs/uploads/") as r:
                stale = r.headers["Docker-Upload-UUID"]
            async with s.post(f"{reg.url}/v2/st/blobs/uploads/") as r:
                fresh = r.headers["Docker-Upload-UUID"]
            for p in (paths.upload_data(stale), paths.upload_startedat(stale)):
                age(reg, p, 3 * 86400)
            report = await asyncio.to_thread(gc.collect, reg.state.registry)
            assert report.uploads_purged == [stale]
            async with s.get(f"{reg.url}/v2/st/blobs/uploads/{stale}") as r:
                assert r.status == 404
            async with s.get(f"{reg.url}/v2/st/blobs/uploads/{fresh}") as r:
                assert r.status == 204
    h.run(go())


def test_deleted_manifest_frees_its_blobs(reg: Any, h: Any) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            d, _ = await h.push_image(s, reg.url, "gone", "v1", layers=[b"only here"])
            async with s.delete(f"{reg.url}/v2/gone/manifests/{d}") as r:
                assert r.status == 202
            for blob in reg.state.registry.blobs.all():
                age_blob(reg, str(blob))
            report = await asyncio.to_thread(gc.collect, reg.state.registry, grace=60)
            assert {str(x) for x in report.swept} >= {d, h.sha256(b"only here")}
            assert list(reg.state.registry.blobs.all()) == []
    h.run(go())


def test_manifest_put_waits_for_a_running_gc(reg: Any, h: Any) -> None:
    """The gc lock: a manifest PUT does not interleave with a mark-and-sweep."""
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}'
            await h.push_blob(s, reg.url, "lk", config)
            raw = h.manifest_bytes(config, [])
            held, release = threading.Event(), threading.Event()

            def hold() -> None:
                with reg.state.registry.driver.lock(GC_LOCK, exclusive=True):
                    held.set()
                    release.wait(10)

            t = threading.Thread(target=hold)
            t.start()
            held.wait(5)
            put = asyncio.ensure_future(s.put(f"{reg.url}/v2/lk/manifests/v1", data=raw,
                                              headers={"Content-Type": h.OCI_MANIFEST}))
            await asyncio.sleep(0.5)
            assert not put.done()
            release.set()
            r = await asyncio.wait_for(put, 10)
            assert r.status == 201
            r.release()
            t.join()
    h.run(go())


def test_gc_lock_holds_across_processes(tmp_path: Path) -> None:
    """flock, not a thread lock: a second process waits for the first."""
    root = tmp_path / "root"
    code = ("import sys, time\n"
            "from dockyard.registry.storage import FilesystemDriver\n"
            "d = FilesystemDriver(sys.argv[1])\n"
            "with d.lock('gc', exclusive=True):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(1.0)\n")
    from dockyard.registry.storage import FilesystemDriver
    driver = FilesystemDriver(str(root))
    proc = subprocess.Popen([sys.executable, "-c", code, str(root)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        start = time.monotonic()
        with driver.lock("gc", exclusive=False):
            waited = time.monotonic() - start
        assert waited > 0.5
    finally:
        proc.kill()
        proc.wait()


def test_gc_command_line(reg: Any, h: Any) -> None:
    async def go() -> str:
        async with aiohttp.ClientSession() as s:
            await h.push_image(s, reg.url, "cli", "v1")
            orphan = await h.push_blob(s, reg.url, "cli", b"cli orphan")
            age_blob(reg, orphan)
            return str(orphan)

    orphan = h.run(go())
    cmd = [sys.executable, "-m", "dockyard.registry.cli", "gc", "--storage", str(reg.root),
           "--grace", "60"]
    dry = subprocess.run([*cmd, "--dry-run"], capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert "would remove 1 blobs" in dry.stdout and orphan in dry.stdout
    assert reg.state.registry.blobs.exists(parse_digest(orphan))
    real = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert real.returncode == 0 and "removed 1 blobs" in real.stdout
    assert not reg.state.registry.blobs.exists(parse_digest(orphan))


def test_gc_inside_the_server(start_registry: Any, h: Any) -> None:
    """``gc.interval``: the server collects by itself, on the same rules."""
    # a grace period long enough for the push below (blobs, then the manifest)
    reg = start_registry(gc_interval=0.2, gc_grace=1.0)

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            d, raw = await h.push_image(s, reg.url, "bg", "v1")
            orphan = await h.push_blob(s, reg.url, "bg", b"background orphan")
            # (polled in the store: a HEAD would count as a use and keep it young)
            for _ in range(100):
                await asyncio.sleep(0.1)
                if not reg.state.registry.blobs.exists(parse_digest(orphan)):
                    break
            else:
                raise AssertionError("the background GC never swept the orphan")
            async with s.head(f"{reg.url}/v2/bg/blobs/{orphan}") as r:
                assert r.status == 404
            async with s.get(f"{reg.url}/v2/bg/manifests/{d}") as r:
                assert await r.read() == raw
    h.run(go())
