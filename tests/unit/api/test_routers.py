"""The routers over fake backends (no daemon): statuses, the one error mapping, versions,
and the wait's headers sent before its answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence

import pytest
from aiohttp.test_utils import TestClient, TestServer

from dockyard import errors
from dockyard.api.app import build_app
from dockyard.api.containers import ContainerRouter
from dockyard.api.errors import http_status
from dockyard.api.stubs import StubRouter
from dockyard.apitypes.containers import (
    Container,
    CreateResult,
    PruneResult,
    TopResult,
    WaitCondition,
    WaitResult,
)
from dockyard.apitypes.create import CreateRequest


class FakeContainers:
    def __init__(self) -> None:
        self.raise_on_get: Exception | None = None
        self.waiter: asyncio.Future[WaitResult] | None = None
        self.created: list[CreateRequest] = []

    async def create(self, req: CreateRequest) -> CreateResult:
        self.created.append(req)
        return CreateResult("f" * 64, ("careful",))

    async def get(self, ref: str) -> Container:
        raise self.raise_on_get or errors.NotFound(f"No such container: {ref}")

    async def list(self, *, all: bool = False, limit: int = -1,
                   filters: Mapping[str, Sequence[str]] | None = None) -> list[Container]:
        return []

    async def start(self, ref: str) -> bool:
        return ref != "running"

    async def stop(self, ref: str, *, timeout: int | None = None, signal: str = "") -> bool:
        return False

    async def kill(self, ref: str, signal: str = "") -> None:
        raise errors.Conflict("Container x is not running")

    async def restart(self, ref: str, *, timeout: int | None = None, signal: str = "") -> None:
        return None

    async def wait(self, ref: str, condition: WaitCondition) -> asyncio.Future[WaitResult]:
        self.waiter = asyncio.get_running_loop().create_future()
        return self.waiter

    async def remove(self, ref: str, *, force: bool = False) -> None:
        return None

    async def resize(self, ref: str, height: int, width: int) -> None:
        return None

    async def rename(self, ref: str, new_name: str) -> None:
        return None

    async def pause(self, ref: str) -> None:
        if ref == "paused":
            raise errors.Conflict(f"container {ref} is already paused")

    async def unpause(self, ref: str) -> None:
        return None

    async def top(self, ref: str, ps_args: str = "") -> TopResult:
        self.ps_args = ps_args
        return TopResult(("PID", "CMD"), (("1", "sleep 9"),))

    async def prune(self, filters: Mapping[str, Sequence[str]]) -> PruneResult:
        self.pruned_with = dict(filters)
        return PruneResult((), 0) if filters else PruneResult(("a" * 64,), 4096)


def run(test: Callable[[TestClient, FakeContainers], Awaitable[None]]) -> None:
    async def main() -> None:
        backend = FakeContainers()
        app = build_app([ContainerRouter(backend), StubRouter()])
        async with TestClient(TestServer(app)) as client:
            await test(client, backend)

    asyncio.run(main())


@pytest.mark.parametrize(("exc", "status"), [
    (errors.NotFound("x"), 404), (errors.InvalidArgument("x"), 400),
    (errors.FailedPrecondition("x"), 400), (errors.Conflict("x"), 409),
    (errors.AlreadyExists("x"), 409), (errors.PermissionDenied("x"), 403),
    (errors.Unavailable("x"), 503), (errors.NotImplementedByDockyard("x"), 501),
    (errors.Internal("x"), 500), (RuntimeError("x"), 500),
])
def test_error_mapping(exc: Exception, status: int) -> None:
    assert http_status(exc) == status

    async def t(client: TestClient, backend: FakeContainers) -> None:
        backend.raise_on_get = exc
        r = await client.get("/v1.45/containers/x/json")
        assert r.status == status
        assert r.headers["Content-Type"] == "application/json"
        assert await r.json() == {"message": "x"}

    run(t)


def test_routes_statuses() -> None:
    async def t(client: TestClient, backend: FakeContainers) -> None:
        r = await client.post("/containers/create?name=web", json={"Image": "busybox"})
        assert r.status == 201
        assert await r.json() == {"Id": "f" * 64, "Warnings": ["careful"]}
        assert backend.created[0].name == "web"
        assert (await client.post("/containers/x/start")).status == 204
        assert (await client.post("/v1.41/containers/running/start")).status == 304
        assert (await client.post("/containers/x/stop")).status == 304
        assert (await client.post("/containers/x/kill")).status == 409
        assert (await client.delete("/containers/x?force=1")).status == 204
        assert (await client.post("/containers/x/start", data=b'{"Binds": ["/a:/b"]}',
                                  headers={"Content-Type": "application/json"})).status == 400
        r = await client.get("/v1.99/containers/json")
        assert r.status == 400 and "too new" in (await r.json())["message"]
        r = await client.get("/no/such/path")
        assert r.status == 404 and await r.json() == {"message": "page not found"}
        r = await client.post("/containers/create", data=b"{", headers={
            "Content-Type": "application/json"})
        assert r.status == 400 and "invalid JSON" in (await r.json())["message"]
        r = await client.post("/containers/create", data=b'{"Image": "b"}',
                              headers={"Content-Type": "text/plain"})
        assert r.status == 400 and "Content-Type" in (await r.json())["message"]
        r = await client.get("/swarm")
        assert r.status == 503

    run(t)


def test_wait_headers_come_first() -> None:
    async def t(client: TestClient, backend: FakeContainers) -> None:
        r = await client.post("/containers/x/wait?condition=next-exit")
        assert r.status == 200 and r.headers["Content-Type"] == "application/json"
        assert backend.waiter is not None and not backend.waiter.done()
        backend.waiter.set_result(WaitResult(7))
        assert await r.json() == {"StatusCode": 7, "Error": None}

    run(t)


def test_every_response_carries_the_api_headers() -> None:
    async def t(client: TestClient, backend: FakeContainers) -> None:
        for r in (await client.get("/containers/json"), await client.get("/nope")):
            assert r.headers["Api-Version"] == "1.45" and r.headers["Ostype"] == "linux"

    run(t)



def test_pause_top_prune() -> None:
    async def t(client: TestClient, backend: FakeContainers) -> None:
        assert (await client.post("/v1.45/containers/x/pause")).status == 204
        assert (await client.post("/containers/paused/pause")).status == 409
        assert (await client.post("/containers/x/unpause")).status == 204
        r = await client.get("/containers/x/top", params={"ps_args": "aux"})
        assert await r.json() == {"Titles": ["PID", "CMD"], "Processes": [["1", "sleep 9"]]}
        assert backend.ps_args == "aux"
        r = await client.post("/containers/prune")
        assert await r.json() == {"ContainersDeleted": ["a" * 64], "SpaceReclaimed": 4096}
        r = await client.post("/containers/prune",
                              params={"filters": '{"label":{"a=b":true}}'})
        assert await r.json() == {"ContainersDeleted": None, "SpaceReclaimed": 0}
        assert backend.pruned_with == {"label": ["a=b"]}

    run(t)
