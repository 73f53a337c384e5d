"""The image routes over a fake backend (no daemon): paths (names with slashes and
versions), statuses, JSON lines and their errors, the save stream, the base image
extension."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from dockyard import errors
from dockyard.api import images as images_api
from dockyard.api.app import build_app
from dockyard.api.images import BodyReader, ImageRouter
from dockyard.apitypes.images import (
    BaseRequest,
    DeleteItem,
    ImageSummary,
    ImportRequest,
    LoadedImage,
    PruneReport,
    summary_json,
)
from dockyard.oci.digest import parse_digest

ID = parse_digest("sha256:" + "ab" * 32)


class FakeImages:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.body = b""
        self.load_error: Exception | None = None
        self.save_error_after: int | None = None
        self.base_delay = 0.0

    async def list_images(self, *, filters: Mapping[str, Sequence[str]],
                          shared_size: bool = False) -> list[ImageSummary]:
        self.calls.append(("list", dict(filters), shared_size))
        return [ImageSummary(ID, (), (), 1, 10, {}, 0)]

    async def inspect(self, name: str) -> dict[str, Any]:
        if name != "example.com:5000/a/b:v1":
            raise errors.NotFound(f"No such image: {name}")
        return {"Id": str(ID), "Size": 10}

    async def history(self, name: str) -> list[dict[str, Any]]:
        return [{"Id": str(ID), "CreatedBy": name}]

    async def tag(self, name: str, repository: str, tag: str) -> None:
        self.calls.append(("tag", name, repository, tag))
        if not repository:
            raise errors.InvalidArgument("invalid reference format")

    async def remove(self, name: str, *, force: bool = False) -> list[DeleteItem]:
        self.calls.append(("remove", name, force))
        if name == "used":
            raise errors.Conflict("conflict: unable to delete x (must be forced)")
        return [DeleteItem(untagged=name), DeleteItem(deleted=str(ID))]

    async def prune(self, filters: Mapping[str, Sequence[str]]) -> PruneReport:
        self.calls.append(("prune", dict(filters)))
        return PruneReport((), 0)

    async def import_image(self, body: BodyReader, req: ImportRequest) -> str:
        self.body = await body.read()
        self.calls.append(("import", req))
        return str(ID)

    async def load(self, body: BodyReader) -> list[LoadedImage]:
        self.body = await body.read()
        if self.load_error is not None:
            raise self.load_error
        return [LoadedImage(ID, ("docker.io/library/busybox:latest",)), LoadedImage(ID, ())]

    async def save(self, names: Sequence[str]) -> AsyncGenerator[bytes, None]:
        if "nosuch" in names:
            raise errors.NotFound("No such image: nosuch:latest")

        async def chunks() -> AsyncGenerator[bytes, None]:
            for i in range(3):
                if self.save_error_after == i:
                    raise errors.Internal("disk on fire")
                yield f"chunk{i};".encode()
        return chunks()

    async def make_base(self, req: BaseRequest) -> LoadedImage:
        self.calls.append(("base", req))
        await asyncio.sleep(self.base_delay)
        if req.kind == "debian":
            raise errors.FailedPrecondition("neither mmdebstrap nor debootstrap is installed")
        return LoadedImage(ID, (req.name or "docker.io/library/busybox:latest",))


def run(test: Callable[[TestClient, FakeImages], Awaitable[None]]) -> None:
    async def main() -> None:
        backend = FakeImages()
        app = build_app([ImageRouter(backend)])
        async with TestClient(TestServer(app)) as client:
            await test(client, backend)

    asyncio.run(main())


def lines(body: bytes) -> list[dict[str, Any]]:
    assert body.endswith(b"\r\n"), body
    return [json.loads(x) for x in body.split(b"\r\n") if x]


def test_names_with_slashes_and_versions() -> None:
    async def t(client: TestClient, backend: FakeImages) -> None:
        for prefix in ("", "/v1.45", "/v1.24"):
            r = await client.get(f"{prefix}/images/example.com:5000/a/b:v1/json")
            assert r.status == 200, await r.text()
        r = await client.get("/v1.43/images/example.com:5000/a/b:v1/json")
        assert (await r.json())["VirtualSize"] == 10
        r = await client.get("/images/busybox/json")
        assert r.status == 404 and await r.json() == {"message": "No such image: busybox"}
        r = await client.get("/images/a/b/history")
        assert (await r.json())[0]["CreatedBy"] == "a/b"
        r = await client.delete("/images/reg:5000/x/y:1?force=1")
        assert r.status == 200
        assert await r.json() == [{"Untagged": "reg:5000/x/y:1"}, {"Deleted": str(ID)}]
        assert backend.calls[-1] == ("remove", "reg:5000/x/y:1", True)
        r = await client.delete("/images/used")
        assert r.status == 409

    run(t)


def test_list_filters_and_versions() -> None:
    async def t(client: TestClient, backend: FakeImages) -> None:
        f = json.dumps({"dangling": ["true"], "label": {"a=b": True}})
        r = await client.get("/images/json", params={"filters": f, "shared-size": "1"})
        assert r.status == 200
        assert backend.calls[-1] == ("list", {"dangling": ["true"], "label": ["a=b"]}, True)
        row = (await r.json())[0]
        assert row["RepoTags"] == [] and "VirtualSize" not in row
        r = await client.get("/v1.41/images/json", params={"filter": "busy*"})
        old = (await r.json())[0]
        assert old["RepoTags"] == ["<none>:<none>"] and old["VirtualSize"] == 10
        assert backend.calls[-1][1] == {"reference": ["busy*"]}
        r = await client.get("/images/json", params={"filters": "{"})
        assert r.status == 400

    run(t)


def test_summary_json_keeps_docker_fields() -> None:
    row = summary_json(ImageSummary(ID, ("a:1",), ("a@sha256:" + "0" * 64,), 5, 7,
                                    {"k": "v"}, 2, 3), "1.45")
    assert row == {"Id": str(ID), "ParentId": "", "RepoTags": ["a:1"],
                   "RepoDigests": ["a@sha256:" + "0" * 64], "Created": 5, "Size": 7,
                   "SharedSize": 3, "Labels": {"k": "v"}, "Containers": 2}


def test_tag_and_prune() -> None:
    async def t(client: TestClient, backend: FakeImages) -> None:
        r = await client.post("/images/busybox/tag?repo=mine&tag=1")
        assert r.status == 201 and await r.read() == b""
        assert backend.calls[-1] == ("tag", "busybox", "mine", "1")
        r = await client.post("/images/busybox/tag")
        assert r.status == 400
        r = await client.post("/images/prune", params={"filters": '{"dangling":["false"]}'})
        assert await r.json() == {"ImagesDeleted": None, "SpaceReclaimed": 0}
        assert backend.calls[-1] == ("prune", {"dangling": ["false"]})

    run(t)


def test_import_and_pull() -> None:
    async def t(client: TestClient, backend: FakeImages) -> None:
        r = await client.post("/images/create?fromSrc=-&repo=imp&tag=1&message=hi"
                              "&changes=CMD%20%5B%22echo%22%5D&changes=ENV%20A%3D1"
                              "&platform=linux/amd64", data=b"TARBYTES")
        assert r.status == 200 and r.headers["Content-Type"] == "application/json"
        assert lines(await r.read()) == [{"status": str(ID)}]
        req = backend.calls[-1][1]
        assert (req.repository, req.tag, req.changes, req.message) == (
            "imp", "1", ('CMD ["echo"]', "ENV A=1"), "hi")
        assert req.platform is not None and req.platform.architecture == "amd64"
        assert backend.body == b"TARBYTES"
        r = await client.post("/images/create?fromSrc=http://example.com/x.tar")
        assert r.status == 400 and "URL" in (await r.json())["message"]
        r = await client.post("/images/create")
        assert r.status == 400
        r = await client.post("/images/create?fromImage=docker.io/library/busybox&tag=latest")
        assert r.status == 404
        message = (await r.json())["message"]
        assert "pull access is not available" in message and "busybox:latest" in message

    run(t)


def test_load_answers_200_with_errors_in_the_stream() -> None:
    async def t(client: TestClient, backend: FakeImages) -> None:
        r = await client.post("/images/load?quiet=1", data=b"ARCHIVE")
        assert r.status == 200 and backend.body == b"ARCHIVE"
        assert lines(await r.read()) == [
            {"stream": "Loaded image: busybox:latest\n"},
            {"stream": f"Loaded image ID: {ID}\n"}]
        backend.load_error = errors.InvalidArgument("archive: not an image archive")
        r = await client.post("/images/load", data=b"junk")
        assert r.status == 200
        assert lines(await r.read()) == [{
            "errorDetail": {"message": "archive: not an image archive"},
            "error": "archive: not an image archive"}]

    run(t)


def test_save_streams_a_tar_and_404s_before_it_starts() -> None:
    async def t(client: TestClient, backend: FakeImages) -> None:
        r = await client.get("/images/busybox/get")
        assert r.status == 200 and r.headers["Content-Type"] == "application/x-tar"
        assert await r.read() == b"chunk0;chunk1;chunk2;"
        r = await client.get("/images/get?names=a&names=b")
        assert r.status == 200 and await r.read() == b"chunk0;chunk1;chunk2;"
        r = await client.get("/images/get?names=a&names=nosuch")
        assert r.status == 404
        assert await r.json() == {"message": "No such image: nosuch:latest"}
        r = await client.get("/images/get")
        assert r.status == 400
        # An error after the first bytes cuts the connection: no archive that looks whole.
        backend.save_error_after = 1
        r = await client.get("/images/busybox/get")
        assert r.status == 200
        with pytest.raises(Exception):  # noqa: B017 (aiohttp's payload error)
            await r.read()

    run(t)


def test_base_image_extension() -> None:
    async def t(client: TestClient, backend: FakeImages) -> None:
        r = await client.post("/dockyard/images/base?name=busybox")
        assert r.status == 200
        assert lines(await r.read()) == [
            {"status": "Making busybox:latest offline (busybox)"},
            {"stream": f"Made image: busybox:latest ({ID})\n"},
            {"aux": {"ID": str(ID), "Names": ["busybox:latest"]}}]
        r = await client.post("/v1.45/dockyard/images/base?name=busybox&ref=tools/bb:1")
        assert lines(await r.read())[-1]["aux"]["Names"] == ["tools/bb:1"]
        r = await client.post("/dockyard/images/base?name=alpine")
        assert r.status == 400 and "busybox, debian" in (await r.json())["message"]
        r = await client.post("/dockyard/images/base?name=busybox&suite=sid")
        assert r.status == 400
        r = await client.post("/dockyard/images/base?name=debian&suite=trixie")
        out = lines(await r.read())
        assert out[0] == {"status": "Making debian:trixie offline (debian)"}
        assert out[-1]["error"] == "neither mmdebstrap nor debootstrap is installed"

    run(t)


def test_base_image_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images_api, "HEARTBEAT", 0.05)

    async def t(client: TestClient, backend: FakeImages) -> None:
        backend.base_delay = 0.18
        r = await client.post("/dockyard/images/base?name=busybox")
        out = lines(await r.read())
        beats = [m["status"] for m in out[1:-2]]
        assert 1 <= len(beats) <= 3 and set(beats) == {"Still making busybox:latest (0 s)"}
        assert out[-1]["aux"]["ID"] == str(ID)

    run(t)
