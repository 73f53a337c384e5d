"""Manifests over HTTP: push and pull by tag and digest, HEAD, validation, Accept, delete,
and content discovery (tags, catalog, referrers)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import aiohttp
from multidict import CIMultiDict

ALL_TYPES = ("application/vnd.oci.image.manifest.v1+json, "
             "application/vnd.oci.image.index.v1+json, "
             "application/vnd.docker.distribution.manifest.v2+json, "
             "application/vnd.docker.distribution.manifest.list.v2+json")


def test_push_and_pull_by_tag_and_digest(reg: Any, h: Any) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            d, raw = await h.push_image(s, reg.url, "lib/app", "v1")
            for ref in ("v1", d):
                async with s.get(f"{reg.url}/v2/lib/app/manifests/{ref}",
                                 headers={"Accept": ALL_TYPES}) as r:
                    assert r.status == 200
                    assert await r.read() == raw
                    assert r.headers["Docker-Content-Digest"] == d
                    assert r.headers["Content-Type"] == h.OCI_MANIFEST
                async with s.head(f"{reg.url}/v2/lib/app/manifests/{ref}") as r:
                    assert r.status == 200
                    assert r.headers["Docker-Content-Digest"] == d
                    assert r.headers["Content-Type"] == h.OCI_MANIFEST
                    assert r.headers["Content-Length"] == str(len(raw))
    h.run(go())


def test_put_by_digest_and_location(reg: Any, h: Any) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}'
            await h.push_blob(s, reg.url, "dig", config)
            raw = h.manifest_bytes(config, [])
            d = h.sha256(raw)
            async with s.put(f"{reg.url}/v2/dig/manifests/{d}", data=raw,
                             headers={"Content-Type": h.OCI_MANIFEST}) as r:
                assert r.status == 201
                assert r.headers["Location"] == f"{reg.url}/v2/dig/manifests/{d}"
            # the digest in the URL must be the content's
            async with s.put(f"{reg.url}/v2/dig/manifests/{h.sha256(b'other')}", data=raw,
                             headers={"Content-Type": h.OCI_MANIFEST}) as r:
                assert r.status == 400 and await h.error_code(r) == "DIGEST_INVALID"
            # sha512 references
            d512 = "sha512:" + hashlib.sha512(raw).hexdigest()
            async with s.put(f"{reg.url}/v2/dig/manifests/{d512}", data=raw,
                             headers={"Content-Type": h.OCI_MANIFEST}) as r:
                assert r.status == 201 and r.headers["Docker-Content-Digest"] == d512
            async with s.get(f"{reg.url}/v2/dig/manifests/{d512}") as r:
                assert r.status == 200 and await r.read() == raw
    h.run(go())


def test_content_type_kept_for_manifest_without_media_type(reg: Any, h: Any) -> None:
    """umoci writes no mediaType field: the type of the PUT is what GET serves."""
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            _d, raw = await h.push_image(s, reg.url, "nomt", "v1", media_type=None)
            assert b"mediaType\": \"application/vnd.oci.image.manifest" not in raw
            async with s.head(f"{reg.url}/v2/nomt/manifests/v1",
                              headers={"Accept": ALL_TYPES}) as r:
                assert r.headers["Content-Type"] == h.OCI_MANIFEST
            # a docker schema2 manifest keeps its type too
            _d2, _ = await h.push_image(s, reg.url, "dock", "v1", media_type=h.DOCKER_MANIFEST)
            async with s.get(f"{reg.url}/v2/dock/manifests/v1",
                             headers={"Accept": ALL_TYPES}) as r:
                assert r.headers["Content-Type"] == h.DOCKER_MANIFEST
    h.run(go())


def test_accept_lines_are_merged(reg: Any, h: Any) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            await h.push_image(s, reg.url, "acc", "v1")
            url = f"{reg.url}/v2/acc/manifests/v1"
            two_lines = CIMultiDict([("Accept", h.DOCKER_MANIFEST),
                                     ("Accept", h.OCI_MANIFEST + ";q=0.9")])
            async with s.get(url, headers=two_lines) as r:
                assert r.status == 200 and r.headers["Content-Type"] == h.OCI_MANIFEST
            async with s.head(url, headers=two_lines) as r:
                assert r.status == 200
            async with s.get(url, headers={"Accept": h.DOCKER_MANIFEST}) as r:
                assert r.status == 404 and await h.error_code(r) == "MANIFEST_UNKNOWN"
            async with s.get(url, headers={"Accept": "*/*"}) as r:
                assert r.status == 200
    h.run(go())


def test_manifest_validation(start_registry: Any, h: Any) -> None:
    reg = start_registry()
    lax = start_registry(require_blobs=False, max_manifest_size=2000)

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}'
            raw = h.manifest_bytes(config, [b"never pushed"])
            await h.push_blob(s, reg.url, "v", config)
            hdr = {"Content-Type": h.OCI_MANIFEST}
            async with s.put(f"{reg.url}/v2/v/manifests/t", data=raw, headers=hdr) as r:
                assert r.status == 400 and await h.error_code(r) == "MANIFEST_BLOB_UNKNOWN"
                doc = await r.json()
                assert doc["errors"][0]["detail"]["digest"] == h.sha256(b"never pushed")
            async with s.put(f"{lax.url}/v2/v/manifests/t", data=raw, headers=hdr) as r:
                assert r.status == 201  # validation of references turned off
            for bad in (b"not json", b"[]", b'{"schemaVersion": 2}',
                        b'{"schemaVersion": 2, "config": {"mediaType": "x/y"}, "layers": []}'):
                async with s.put(f"{reg.url}/v2/v/manifests/t", data=bad, headers=hdr) as r:
                    assert r.status == 400 and await h.error_code(r) == "MANIFEST_INVALID"
            # served as one type, claiming another
            async with s.put(f"{reg.url}/v2/v/manifests/t", data=raw,
                             headers={"Content-Type": h.DOCKER_MANIFEST}) as r:
                assert r.status == 400 and await h.error_code(r) == "MANIFEST_INVALID"
            schema1 = json.dumps({"schemaVersion": 1, "name": "v", "tag": "t"}).encode()
            async with s.put(f"{reg.url}/v2/v/manifests/t", data=schema1, headers={
                    "Content-Type": "application/vnd.docker.distribution.manifest.v1+json"}) as r:
                assert r.status == 405 and await h.error_code(r) == "UNSUPPORTED"
            async with s.put(f"{lax.url}/v2/v/manifests/big", data=b" " * 3000 + raw,
                             headers=hdr) as r:
                assert r.status == 413 and await h.error_code(r) == "SIZE_INVALID"
            async with s.put(f"{reg.url}/v2/v/manifests/-badtag", data=raw, headers=hdr) as r:
                assert r.status == 400 and await h.error_code(r) == "TAG_INVALID"
            async with s.get(f"{reg.url}/v2/v/manifests/missing") as r:
                assert r.status == 404 and await h.error_code(r) == "MANIFEST_UNKNOWN"
            async with s.head(f"{reg.url}/v2/v/manifests/missing") as r:
                assert r.status == 404
            async with s.get(f"{reg.url}/v2/UPPER/manifests/x") as r:
                assert r.status == 400 and await h.error_code(r) == "NAME_INVALID"
    h.run(go())


def test_index_and_its_children(reg: Any, h: Any) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            d1, raw1 = await h.push_image(s, reg.url, "multi", "amd", layers=[b"a"])
            d2, raw2 = await h.push_image(s, reg.url, "multi", "arm", layers=[b"b"])
            index = json.dumps({"schemaVersion": 2, "mediaType": h.OCI_INDEX, "manifests": [
                {"mediaType": h.OCI_MANIFEST, "digest": d1, "size": len(raw1),
                 "platform": {"architecture": "amd64", "os": "linux"}},
                {"mediaType": h.OCI_MANIFEST, "digest": d2, "size": len(raw2),
                 "platform": {"architecture": "arm64", "os": "linux"}}]}).encode()
            async with s.put(f"{reg.url}/v2/multi/manifests/latest", data=index,
                             headers={"Content-Type": h.OCI_INDEX}) as r:
                assert r.status == 201
            async with s.get(f"{reg.url}/v2/multi/manifests/latest",
                             headers={"Accept": ALL_TYPES}) as r:
                assert r.headers["Content-Type"] == h.OCI_INDEX and await r.read() == index
            orphan = index.replace(d1.encode(), h.sha256(b"nothing").encode())
            async with s.put(f"{reg.url}/v2/multi/manifests/bad", data=orphan,
                             headers={"Content-Type": h.OCI_INDEX}) as r:
                assert r.status == 400 and await h.error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    h.run(go())


def test_tags_list_pagination(reg: Any, h: Any) -> None:
    tags = ["a", "b", "c", "d", "e"]

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            for t in reversed(tags):
                await h.push_image(s, reg.url, "pg", t, layers=[b"same"])
            async with s.get(f"{reg.url}/v2/pg/tags/list") as r:
                assert await r.json() == {"name": "pg", "tags": tags}
                assert "Link" not in r.headers
            got: list[str] = []
            url = f"{reg.url}/v2/pg/tags/list?n=2"
            while True:
                async with s.get(url) as r:
                    doc = await r.json()
                    assert len(doc["tags"]) <= 2
                    got += doc["tags"]
                    link = r.headers.get("Link")
                if not link:
                    break
                assert link.endswith('>; rel="next"')
                url = reg.url + link[1:link.index(">")]
            assert got == tags
            async with s.get(f"{reg.url}/v2/pg/tags/list", params={"last": "b", "n": "10"}) as r:
                assert (await r.json())["tags"] == ["c", "d", "e"]
            async with s.get(f"{reg.url}/v2/pg/tags/list", params={"n": "0"}) as r:
                assert (await r.json())["tags"] == []
            async with s.get(f"{reg.url}/v2/pg/tags/list", params={"n": "-1"}) as r:
                assert r.status == 400
                assert await h.error_code(r) == "PAGINATION_NUMBER_INVALID"
            async with s.get(f"{reg.url}/v2/nosuchrepo/tags/list") as r:
                assert r.status == 404 and await h.error_code(r) == "NAME_UNKNOWN"
    h.run(go())


def test_catalog_pagination(reg: Any, h: Any) -> None:
    names = ["a", "a/b", "c/d/e", "z"]

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            for n in names:
                await h.push_image(s, reg.url, n, "v1")
            async with s.get(f"{reg.url}/v2/_catalog") as r:
                assert (await r.json())["repositories"] == names
            async with s.get(f"{reg.url}/v2/_catalog", params={"n": "3"}) as r:
                assert (await r.json())["repositories"] == names[:3]
                assert r.headers["Link"] == '</v2/_catalog?n=3&last=c%2Fd%2Fe>; rel="next"'
            async with s.get(f"{reg.url}/v2/_catalog", params={"n": "3", "last": "c/d/e"}) as r:
                assert (await r.json())["repositories"] == ["z"]
                assert "Link" not in r.headers
    h.run(go())


def test_referrers(reg: Any, h: Any) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            subject_d, subject_raw = await h.push_image(s, reg.url, "ref", "v1")
            subject = {"mediaType": h.OCI_MANIFEST, "digest": subject_d,
                       "size": len(subject_raw)}
            sig_d, _ = await h.push_image(s, reg.url, "ref", "sig", layers=[b"signature"],
                                          subject=subject, artifact_type="application/x.sig",
                                          annotations={"k": "v"})
            sbom_d, _ = await h.push_image(s, reg.url, "ref", "sbom", layers=[b"sbom"],
                                           subject=subject, artifact_type="application/x.sbom")
            # the OCI-Subject header on a PUT with a subject
            config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}'
            await h.push_blob(s, reg.url, "ref", config)
            raw = h.manifest_bytes(config, [b"signature"], subject=subject,
                                   artifact_type="application/x.other")
            async with s.put(f"{reg.url}/v2/ref/manifests/{h.sha256(raw)}", data=raw,
                             headers={"Content-Type": h.OCI_MANIFEST}) as r:
                assert r.status == 201 and r.headers["OCI-Subject"] == subject_d
            async with s.get(f"{reg.url}/v2/ref/referrers/{subject_d}") as r:
                assert r.status == 200
                assert r.headers["Content-Type"] == h.OCI_INDEX
                doc = await r.json()
                assert doc["mediaType"] == h.OCI_INDEX and doc["schemaVersion"] == 2
                by = {m["digest"]: m for m in doc["manifests"]}
                assert set(by) == {sig_d, sbom_d, h.sha256(raw)}
                assert by[sig_d]["artifactType"] == "application/x.sig"
                assert by[sig_d]["annotations"] == {"k": "v"}
                assert by[sig_d]["mediaType"] == h.OCI_MANIFEST
            async with s.get(f"{reg.url}/v2/ref/referrers/{subject_d}",
                             params={"artifactType": "application/x.sbom"}) as r:
                assert r.headers["OCI-Filters-Applied"] == "artifactType"
                assert [m["digest"] for m in (await r.json())["manifests"]] == [sbom_d]
            async with s.delete(f"{reg.url}/v2/ref/manifests/{sbom_d}") as r:
                assert r.status == 202
            async with s.get(f"{reg.url}/v2/ref/referrers/{subject_d}") as r:
                assert sbom_d not in {m["digest"] for m in (await r.json())["manifests"]}
            # a subject nobody pushed: an empty index, not 404
            async with s.get(f"{reg.url}/v2/ref/referrers/{h.sha256(b'x')}") as r:
                assert r.status == 200 and (await r.json())["manifests"] == []
            async with s.get(f"{reg.url}/v2/ref/referrers/notadigest") as r:
                assert r.status == 400
    h.run(go())


def test_delete_manifests_and_tags(reg: Any, h: Any) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            d, _ = await h.push_image(s, reg.url, "dm", "v1")
            async with s.put(f"{reg.url}/v2/dm/manifests/v2",
                             data=(await (await s.get(f"{reg.url}/v2/dm/manifests/v1")).read()),
                             headers={"Content-Type": h.OCI_MANIFEST}) as r:
                assert r.status == 201
            # delete a tag: the manifest and the other tag stay
            async with s.delete(f"{reg.url}/v2/dm/manifests/v2") as r:
                assert r.status == 202
            async with s.get(f"{reg.url}/v2/dm/tags/list") as r:
                assert (await r.json())["tags"] == ["v1"]
            async with s.head(f"{reg.url}/v2/dm/manifests/{d}") as r:
                assert r.status == 200
            # delete by digest: gone by digest and by every tag
            async with s.delete(f"{reg.url}/v2/dm/manifests/{d}") as r:
                assert r.status == 202
            for ref in (d, "v1"):
                async with s.get(f"{reg.url}/v2/dm/manifests/{ref}") as r:
                    assert r.status == 404 and await h.error_code(r) == "MANIFEST_UNKNOWN"
            async with s.delete(f"{reg.url}/v2/dm/manifests/{d}") as r:
                assert r.status == 404 and await h.error_code(r) == "MANIFEST_UNKNOWN"
            async with s.delete(f"{reg.url}/v2/dm/manifests/nosuchtag") as r:
                assert r.status == 404
    h.run(go())


def test_manifest_sent_in_chunks(start_registry: Any, h: Any) -> None:
    """A manifest streamed with chunked encoding is read whole, and still bounded."""
    reg = start_registry(max_manifest_size=5000)

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}'
            await h.push_blob(s, reg.url, "chunks", config)
            raw = h.manifest_bytes(config, [], annotations={"pad": "x" * 2000})

            async def pieces(data: bytes) -> Any:
                for i in range(0, len(data), 100):
                    yield data[i:i + 100]

            async with s.put(f"{reg.url}/v2/chunks/manifests/v1", data=pieces(raw),
                             headers={"Content-Type": h.OCI_MANIFEST}) as r:
                assert r.status == 201, await r.text()
                assert r.headers["Docker-Content-Digest"] == h.sha256(raw)
            big = h.manifest_bytes(config, [], annotations={"pad": "x" * 6000})
            async with s.put(f"{reg.url}/v2/chunks/manifests/v2", data=pieces(big),
                             headers={"Content-Type": h.OCI_MANIFEST}) as r:
                assert r.status == 413
    h.run(go())
