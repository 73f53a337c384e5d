"""Blob push and pull over HTTP: every upload workflow, ranges, mounts, and their errors."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from yarl import URL

API = "Docker-Distribution-API-Version"


def test_base_endpoint(reg: Any, h: Any) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s, s.get(f"{reg.url}/v2/") as r:
            assert r.status == 200
            assert r.headers[API] == "registry/2.0"
            assert await r.json() == {}
    h.run(go())


@pytest.mark.parametrize("driver", ["filesystem", "inmemory"])
def test_monolithic_post_put_then_pull(start_registry: Any, h: Any, driver: str) -> None:
    reg = start_registry(storage_driver=driver)
    data = os.urandom(300_000)

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{reg.url}/v2/a/b/blobs/uploads/") as r:
                assert r.status == 202
                loc = r.headers["Location"]
                uuid = r.headers["Docker-Upload-UUID"]
                assert loc.startswith(f"{reg.url}/v2/a/b/blobs/uploads/{uuid}")
                assert r.headers["Range"] == "0-0"
                assert r.headers["Content-Length"] == "0"
            d = h.sha256(data)
            async with s.put(loc, params={"digest": d}, data=data) as r:
                assert r.status == 201
                assert r.headers["Location"] == f"{reg.url}/v2/a/b/blobs/{d}"
                assert r.headers["Docker-Content-Digest"] == d
            async with s.head(f"{reg.url}/v2/a/b/blobs/{d}") as r:
                assert r.status == 200
                assert r.headers["Content-Length"] == str(len(data))
                assert r.headers["Docker-Content-Digest"] == d
                assert await r.read() == b""
            async with s.get(f"{reg.url}/v2/a/b/blobs/{d}") as r:
                assert r.status == 200
                assert await r.read() == data
    h.run(go())


def test_single_post_with_digest(reg: Any, h: Any) -> None:
    data = b"single post"

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            d = h.sha256(data)
            async with s.post(f"{reg.url}/v2/x/blobs/uploads/", params={"digest": d},
                              data=data) as r:
                assert r.status == 201
                assert r.headers["Docker-Content-Digest"] == d
            async with s.get(f"{reg.url}/v2/x/blobs/{d}") as r:
                assert await r.read() == data
            # a wrong digest leaves nothing behind
            async with s.post(f"{reg.url}/v2/x/blobs/uploads/",
                              params={"digest": h.sha256(b"other")}, data=data) as r:
                assert r.status == 400 and await h.error_code(r) == "DIGEST_INVALID"
        assert reg.state.registry.uploads.ids() == []
    h.run(go())


def test_chunked_upload_in_order_and_out_of_order(reg: Any, h: Any) -> None:
    data = os.urandom(250_000)
    chunks = [data[:100_000], data[100_000:200_000], data[200_000:]]

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{reg.url}/v2/c/blobs/uploads/") as r:
                loc = r.headers["Location"]
            offset = 0
            for i, chunk in enumerate(chunks):
                rng = f"{offset}-{offset + len(chunk) - 1}"
                async with s.patch(loc, data=chunk, headers={
                        "Content-Range": rng, "Content-Type": "application/octet-stream"}) as r:
                    assert r.status == 202, await r.text()
                    offset += len(chunk)
                    assert r.headers["Range"] == f"0-{offset - 1}"
                    assert r.headers["Location"] == loc
                if i == 0:
                    # the same chunk again, or one further on: 416, and nothing written
                    for bad in ("0-99999", "150000-249999"):
                        async with s.patch(loc, data=chunk[:100_000],
                                           headers={"Content-Range": bad}) as r:
                            assert r.status == 416
                            assert await h.error_code(r) == "RANGE_INVALID"
                    async with s.get(loc) as r:
                        assert r.status == 204
                        assert r.headers["Range"] == "0-99999"
            # Content-Range and Content-Length must agree
            async with s.patch(loc, data=b"xy", headers={"Content-Range": f"{offset}-{offset + 5}"}) as r:
                assert r.status == 416
            async with s.put(loc, params={"digest": h.sha256(data)}) as r:
                assert r.status == 201, await r.text()
            async with s.get(f"{reg.url}/v2/c/blobs/{h.sha256(data)}") as r:
                assert await r.read() == data
    h.run(go())


def test_streamed_patch_with_chunked_encoding_then_put(reg: Any, h: Any) -> None:
    """What dockerd does: one PATCH of the whole blob, chunked transfer encoding."""
    parts = [os.urandom(64 * 1024) for _ in range(40)]
    data = b"".join(parts)

    async def body() -> AsyncIterator[bytes]:
        for p in parts:
            yield p
            await asyncio.sleep(0)

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{reg.url}/v2/s/blobs/uploads/") as r:
                loc = r.headers["Location"]
            async with s.patch(loc, data=body()) as r:
                assert r.status == 202
                assert r.request_info.headers.get("Transfer-Encoding") == "chunked"
                assert r.headers["Range"] == f"0-{len(data) - 1}"
            async with s.put(loc, params={"digest": h.sha256(data)}) as r:
                assert r.status == 201
            async with s.get(f"{reg.url}/v2/s/blobs/{h.sha256(data)}") as r:
                assert await r.read() == data
    h.run(go())


def test_put_with_final_chunk_and_sha512(reg: Any, h: Any) -> None:
    data = os.urandom(5000)
    d512 = "sha512:" + hashlib.sha512(data).hexdigest()

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{reg.url}/v2/p/blobs/uploads/") as r:
                loc = r.headers["Location"]
            async with s.patch(loc, data=data[:1000]) as r:
                assert r.status == 202
            async with s.put(loc, params={"digest": d512}, data=data[1000:],
                             headers={"Content-Range": f"1000-{len(data) - 1}"}) as r:
                assert r.status == 201, await r.text()
                assert r.headers["Docker-Content-Digest"] == d512
            async with s.get(f"{reg.url}/v2/p/blobs/{d512}") as r:
                assert r.status == 200 and await r.read() == data
    h.run(go())


def test_resume_after_status(reg: Any, h: Any) -> None:
    """A client that lost its connection asks where the upload is and continues there."""
    data = os.urandom(10_000)

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{reg.url}/v2/r/blobs/uploads/") as r:
                loc = r.headers["Location"]
            async with s.patch(loc, data=data[:3000], headers={"Content-Range": "0-2999"}) as r:
                assert r.status == 202
        # a new session, as after a restart of the client
        async with aiohttp.ClientSession() as s:
            async with s.get(loc) as r:
                assert r.status == 204
                assert r.headers["Range"] == "0-2999"
                assert r.headers["Docker-Upload-UUID"] in loc
                end = int(r.headers["Range"].split("-")[1])
            async with s.patch(loc, data=data[end + 1:],
                               headers={"Content-Range": f"{end + 1}-{len(data) - 1}"}) as r:
                assert r.status == 202
            async with s.put(loc, params={"digest": h.sha256(data)}) as r:
                assert r.status == 201
    h.run(go())


def test_resume_when_hash_state_is_gone(reg: Any, h: Any) -> None:
    """Another worker (no hash state in memory) continues an upload: hash recomputed."""
    data = os.urandom(4000)

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{reg.url}/v2/w/blobs/uploads/") as r:
                loc = r.headers["Location"]
            async with s.patch(loc, data=data[:1000]) as r:
                assert r.status == 202
            reg.state.registry.uploads._hashes.clear()
            async with s.patch(loc, data=data[1000:]) as r:
                assert r.status == 202
            reg.state.registry.uploads._hashes.clear()
            async with s.put(loc, params={"digest": h.sha256(data)}) as r:
                assert r.status == 201
    h.run(go())


def test_cancel_and_unknown_uploads(reg: Any, h: Any) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{reg.url}/v2/k/blobs/uploads/") as r:
                loc = r.headers["Location"]
                uuid = r.headers["Docker-Upload-UUID"]
            # the session belongs to its repository
            async with s.get(f"{reg.url}/v2/other/blobs/uploads/{uuid}") as r:
                assert r.status == 404 and await h.error_code(r) == "BLOB_UPLOAD_UNKNOWN"
            async with s.delete(loc) as r:
                assert r.status == 204
            for method in ("GET", "PATCH", "PUT", "DELETE"):
                async with s.request(method, loc, params={"digest": h.sha256(b"")}) as r:
                    assert r.status == 404, method
                    assert await h.error_code(r) == "BLOB_UPLOAD_UNKNOWN"
            for bad in ("../../etc", "x" * 32, "0" * 31):
                async with s.get(f"{reg.url}/v2/k/blobs/uploads/{bad}") as r:
                    assert r.status in (404, 400), bad
    h.run(go())


def test_upload_errors(reg: Any, h: Any) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{reg.url}/v2/e/blobs/uploads/") as r:
                loc = r.headers["Location"]
            async with s.put(loc, data=b"abc") as r:  # no digest
                assert r.status == 400 and await h.error_code(r) == "DIGEST_INVALID"
            async with s.put(loc, params={"digest": "sha256:nothex"}) as r:
                assert r.status == 400 and await h.error_code(r) == "DIGEST_INVALID"
            async with s.put(loc, params={"digest": h.sha256(b"xyz")}) as r:
                assert r.status == 400 and await h.error_code(r) == "DIGEST_INVALID"
            async with s.put(loc, params={"digest": "md5:" + "0" * 32}) as r:
                assert r.status == 400 and await h.error_code(r) == "DIGEST_INVALID"
            async with s.patch(loc, data=b"z", headers={"Content-Range": "garbage"}) as r:
                assert r.status == 416
            async with s.post(f"{reg.url}/v2/Bad/Name/blobs/uploads/") as r:
                assert r.status == 400 and await h.error_code(r) == "NAME_INVALID"
            # dot segments arrive decoded from %2F-encoded slashes: refused, never a path
            async with s.post(URL(f"{reg.url}/v2/a%2F..%2F..%2Fb/blobs/uploads/",
                                  encoded=True)) as r:
                assert r.status == 400 and await h.error_code(r) == "NAME_INVALID"
    h.run(go())


def test_blob_size_bound(start_registry: Any, h: Any) -> None:
    reg = start_registry(max_blob_size=1000)

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{reg.url}/v2/l/blobs/uploads/") as r:
                loc = r.headers["Location"]
            async with s.patch(loc, data=b"x" * 2000) as r:
                assert r.status == 413 and await h.error_code(r) == "SIZE_INVALID"
            async with s.post(f"{reg.url}/v2/l/blobs/uploads/",
                              params={"digest": h.sha256(b"y" * 1000)}, data=b"y" * 1000) as r:
                assert r.status == 201
    h.run(go())


def test_ranges_on_blob_get(reg: Any, h: Any) -> None:
    data = bytes(range(256)) * 10

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            d = await h.push_blob(s, reg.url, "rg", data)
            url = f"{reg.url}/v2/rg/blobs/{d}"
            async with s.get(url, headers={"Range": "bytes=10-19"}) as r:
                assert r.status == 206
                assert r.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
                assert r.headers["Content-Length"] == "10"
                assert await r.read() == data[10:20]
            async with s.get(url, headers={"Range": "bytes=-5"}) as r:
                assert r.status == 206 and await r.read() == data[-5:]
            async with s.get(url, headers={"Range": "bytes=2550-"}) as r:
                assert r.status == 206 and await r.read() == data[2550:]
            async with s.head(url, headers={"Range": "bytes=0-0"}) as r:
                assert r.status == 206 and r.headers["Content-Length"] == "1"
            async with s.get(url, headers={"Range": f"bytes={len(data)}-"}) as r:
                assert r.status == 416
                assert r.headers["Content-Range"] == f"bytes */{len(data)}"
    h.run(go())


def test_blob_unknown_and_repository_isolation(reg: Any, h: Any) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            d = await h.push_blob(s, reg.url, "one", b"private bytes")
            async with s.get(f"{reg.url}/v2/two/blobs/{d}") as r:
                assert r.status == 404 and await h.error_code(r) == "BLOB_UNKNOWN"
            async with s.head(f"{reg.url}/v2/two/blobs/{d}") as r:
                assert r.status == 404
            async with s.get(f"{reg.url}/v2/one/blobs/sha256:{'0' * 64}") as r:
                assert r.status == 404 and await h.error_code(r) == "BLOB_UNKNOWN"
            async with s.get(f"{reg.url}/v2/one/blobs/sha256:short") as r:
                assert r.status == 400 and await h.error_code(r) == "DIGEST_INVALID"
    h.run(go())


def test_cross_repository_mount(reg: Any, h: Any) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            d = await h.push_blob(s, reg.url, "src/repo", b"shared layer")
            async with s.post(f"{reg.url}/v2/dst/blobs/uploads/",
                              params={"mount": d, "from": "src/repo"}) as r:
                assert r.status == 201
                assert r.headers["Location"] == f"{reg.url}/v2/dst/blobs/{d}"
                assert r.headers["Docker-Content-Digest"] == d
            async with s.get(f"{reg.url}/v2/dst/blobs/{d}") as r:
                assert await r.read() == b"shared layer"
            # without from: the registry finds it (authentication is off here)
            async with s.post(f"{reg.url}/v2/dst2/blobs/uploads/", params={"mount": d}) as r:
                assert r.status == 201
            # from a repository that does not have it: a normal upload session
            async with s.post(f"{reg.url}/v2/dst3/blobs/uploads/",
                              params={"mount": d, "from": "nothere"}) as r:
                assert r.status == 202 and "Docker-Upload-UUID" in r.headers
            async with s.post(f"{reg.url}/v2/dst3/blobs/uploads/",
                              params={"mount": h.sha256(b"unknown")}) as r:
                assert r.status == 202
        # stored once, linked three times
        blobs = list(reg.state.registry.blobs.all())
        assert blobs.count(type(blobs[0])("sha256", d.split(":")[1])) == 1
    h.run(go())


def test_delete_blob(reg: Any, h: Any) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            d = await h.push_blob(s, reg.url, "del", b"to delete")
            await h.push_blob(s, reg.url, "keep", b"to delete")
            async with s.delete(f"{reg.url}/v2/del/blobs/{d}") as r:
                assert r.status == 202
            async with s.head(f"{reg.url}/v2/del/blobs/{d}") as r:
                assert r.status == 404
            async with s.delete(f"{reg.url}/v2/del/blobs/{d}") as r:
                assert r.status == 404 and await h.error_code(r) == "BLOB_UNKNOWN"
            async with s.head(f"{reg.url}/v2/keep/blobs/{d}") as r:
                assert r.status == 200  # other repositories keep their link
    h.run(go())


def test_two_uploads_of_the_same_blob_at_once(reg: Any, h: Any) -> None:
    data = os.urandom(2_000_000)

    async def one(s: aiohttp.ClientSession, name: str) -> str:
        return str(await h.push_blob(s, reg.url, name, data))

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            results = await asyncio.gather(*(one(s, n) for n in ("c/a", "c/b", "c/a", "c/b")))
            assert len(set(results)) == 1
            for name in ("c/a", "c/b"):
                async with s.get(f"{reg.url}/v2/{name}/blobs/{results[0]}") as r:
                    assert await r.read() == data
        assert len(list(reg.state.registry.blobs.all())) == 1
        assert reg.state.registry.uploads.ids() == []
    h.run(go())


def test_unsupported_method(reg: Any, h: Any) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.put(f"{reg.url}/v2/x/blobs/sha256:{'a' * 64}") as r:
                assert r.status == 405 and await h.error_code(r) == "UNSUPPORTED"
            async with s.get(f"{reg.url}/v2/x/nothing") as r:
                assert r.status == 404
    h.run(go())
