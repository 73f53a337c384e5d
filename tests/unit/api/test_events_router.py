"""``GET /events`` over an in-memory bus (no daemon): JSON lines in Docker's shape,
since/until, filters, live streaming and bad parameters."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient, TestServer

from dockyard.api.app import build_app
from dockyard.api.events import EventsRouter
from dockyard.daemon.events import EventBus, EventType, container_attributes


def run(test: Callable[[TestClient, EventBus], Awaitable[None]]) -> None:
    async def main() -> None:
        bus = EventBus()
        app = build_app([EventsRouter(bus)])
        async with TestClient(TestServer(app)) as client:
            await test(client, bus)

    asyncio.run(main())


def lines(body: bytes) -> list[dict[str, object]]:
    return [json.loads(ln) for ln in body.splitlines() if ln.strip()]


def test_past_events_then_end_when_until_is_past() -> None:
    async def t(client: TestClient, bus: EventBus) -> None:
        t0 = time.time_ns()
        bus.publish(EventType.CONTAINER, "create", "c" * 64,
                    container_attributes("web", "busybox", {"tier": "front"}))
        bus.publish(EventType.IMAGE, "tag", "sha256:" + "a" * 64, {"name": "mine:v1"})
        until = f"{time.time_ns() / 1e9 + 0.000001:.9f}"
        r = await client.get("/v1.45/events", params={"since": str(t0 // 10**9),
                                                      "until": until})
        assert r.status == 200 and r.headers["Content-Type"] == "application/json"
        got = lines(await r.read())
        assert got[0] == {
            "status": "create", "id": "c" * 64, "from": "busybox", "Type": "container",
            "Action": "create",
            "Actor": {"ID": "c" * 64, "Attributes": {"image": "busybox", "name": "web",
                                                     "tier": "front"}},
            "scope": "local", "time": got[0]["time"], "timeNano": got[0]["timeNano"]}
        assert isinstance(got[0]["timeNano"], int) and got[0]["timeNano"] >= t0
        assert got[1]["Type"] == "image" and "from" not in got[1]
        assert got[1]["Actor"] == {"ID": "sha256:" + "a" * 64,
                                   "Attributes": {"name": "mine:v1"}}

    run(t)


def test_filters_apply_to_the_past_and_the_live() -> None:
    async def t(client: TestClient, bus: EventBus) -> None:
        bus.publish(EventType.CONTAINER, "start", "c1", {"name": "a"})
        bus.publish(EventType.CONTAINER, "start", "c2", {"name": "b"})
        r = await client.get("/events", params={
            "since": "0.000000001", "filters": json.dumps({"container": ["b"]})})
        assert r.status == 200
        assert json.loads(await r.content.readline())["Actor"]["ID"] == "c2"
        bus.publish(EventType.CONTAINER, "die", "c1", {"name": "a"})
        bus.publish(EventType.CONTAINER, "die", "c2", {"name": "b"})
        live = json.loads(await asyncio.wait_for(r.content.readline(), 5))
        assert (live["Action"], live["Actor"]["ID"]) == ("die", "c2")
        r.close()

    run(t)


def test_without_since_only_live_events_and_a_future_until_ends_the_stream() -> None:
    async def t(client: TestClient, bus: EventBus) -> None:
        bus.publish(EventType.CONTAINER, "start", "old")
        until = f"{time.time() + 0.5:.9f}"
        r = await client.get("/events", params={"until": until})
        assert r.status == 200
        await asyncio.sleep(0.05)
        bus.publish(EventType.CONTAINER, "start", "new")
        body = await asyncio.wait_for(r.read(), 5)  # ends by itself at `until`
        assert [e["id"] for e in lines(body)] == ["old", "new"]

    run(t)


def test_bad_parameters() -> None:
    async def t(client: TestClient, bus: EventBus) -> None:
        r = await client.get("/events", params={"since": "200", "until": "100"})
        assert r.status == 400
        assert "cannot be after `until`" in (await r.json())["message"]
        r = await client.get("/events", params={"since": "yesterday"})
        assert r.status == 400
        r = await client.get("/events", params={"filters": "{nope"})
        assert r.status == 400
        assert bus.subscribers == 0

    run(t)


def test_a_reader_that_leaves_is_unsubscribed() -> None:
    async def t(client: TestClient, bus: EventBus) -> None:
        r = await client.get("/events")
        assert r.status == 200
        assert bus.subscribers == 1
        r.close()
        for _ in range(40):
            if bus.subscribers == 0:
                break
            await asyncio.sleep(0.05)
        bus.publish(EventType.CONTAINER, "start", "x")  # a write to a gone reader ends it
        for _ in range(60):
            if bus.subscribers == 0:
                break
            await asyncio.sleep(0.05)
        assert bus.subscribers == 0

    run(t)
