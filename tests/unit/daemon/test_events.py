"""The event bus and its filters (no daemon): ring, since/until, live delivery from the
loop and from threads, slow readers dropped, and moby's filter semantics."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from dockyard import errors
from dockyard.daemon import events
from dockyard.daemon.events import (
    Event,
    EventBus,
    EventFilter,
    EventType,
    container_attributes,
)


def ticking(start: int = 1_000) -> Iterator[int]:
    t = start
    while True:
        yield t
        t += 10


def bus(capacity: int = 1024) -> EventBus:
    clock = ticking()
    return EventBus(capacity, clock=lambda: next(clock))


def ev(type: EventType = EventType.CONTAINER, action: str = "start", actor: str = "c1",
       **attrs: str) -> Event:
    return Event(type, action, actor, tuple(sorted(attrs.items())), 0)


def f(**filters: list[str]) -> EventFilter:
    return EventFilter.parse(filters)


# --------------------------------------------------------------------------- filters


def test_no_filter_matches_everything() -> None:
    assert EventFilter().matches(ev())
    assert f().matches(ev(EventType.IMAGE, "tag"))


def test_type_and_event_are_exact() -> None:
    assert f(type=["container"]).matches(ev())
    assert not f(type=["image"]).matches(ev())
    assert f(event=["start", "die"]).matches(ev(action="die"))
    assert not f(event=["sta"]).matches(ev(action="start"))


def test_exec_events_match_without_their_command() -> None:
    assert f(event=["exec_start"]).matches(ev(action="exec_start: sh -c exit 4"))
    assert f(event=["exec_create"]).matches(ev(action="exec_create: true"))
    assert f(event=["exec_die"]).matches(ev(action="exec_die"))
    assert not f(event=["exec"]).matches(ev(action="exec_start: true"))


def test_container_by_id_prefix_or_name() -> None:
    e = ev(actor="abcdef0123", name="web")
    assert f(container=["abcdef0123"]).matches(e)
    assert f(container=["abc"]).matches(e)
    assert f(container=["web"]).matches(e)
    assert f(container=["other", "we"]).matches(e)
    assert not f(container=["xyz"]).matches(e)
    # a container filter excludes events of other types, as in moby
    assert not f(container=["web"]).matches(ev(EventType.IMAGE, "tag", "sha256:1", name="x"))


def test_image_matches_id_name_and_name_without_tag() -> None:
    c = ev(image="busybox:latest", name="c")
    assert f(image=["busybox"]).matches(c)
    assert f(image=["busybox:latest"]).matches(c)
    assert not f(image=["alpine"]).matches(c)
    i = ev(EventType.IMAGE, "tag", "sha256:aa", name="mine:v1")
    assert f(image=["mine"]).matches(i)
    assert f(image=["sha256:aa"]).matches(i)
    assert not f(image=["min"]).matches(i)


def test_labels_all_must_match() -> None:
    e = ev(a="1", b="2", name="c")
    assert f(label=["a"]).matches(e)
    assert f(label=["a=1", "b"]).matches(e)
    assert not f(label=["a=2"]).matches(e)
    assert not f(label=["a", "c"]).matches(e)


def test_filters_combine_with_and() -> None:
    e = ev(action="die", actor="c1", name="web")
    assert f(type=["container"], event=["die"], container=["web"]).matches(e)
    assert not f(type=["container"], event=["start"], container=["web"]).matches(e)


def test_scope_and_unknown_keys() -> None:
    assert f(scope=["local"]).matches(ev())
    assert not f(scope=["swarm"]).matches(ev())
    assert f(whatever=["x"]).matches(ev())


def test_container_attributes_order_and_names() -> None:
    attrs = container_attributes("/web", "busybox", {"name": "label-loses", "x": "y"},
                                 {"exitCode": "3"})
    assert attrs == {"exitCode": "3", "x": "y", "image": "busybox", "name": "web"}


# --------------------------------------------------------------------------- the bus


def test_publish_keeps_a_bounded_ring() -> None:
    b = bus(capacity=3)
    for i in range(5):
        b.publish(EventType.CONTAINER, "start", f"c{i}")
    assert [e.actor_id for e in b.recent()] == ["c2", "c3", "c4"]
    assert [e.time_ns for e in b.recent()] == [1020, 1030, 1040]


def test_since_until_replay_the_ring() -> None:
    async def main() -> None:
        b = bus()
        for i in range(5):  # times 1000, 1010, ... 1040
            b.publish(EventType.CONTAINER, "start", f"c{i}", {"name": f"n{i}"})
        sub = b.subscribe(1010, 1030)
        assert [e.actor_id for e in sub.past] == ["c1", "c2", "c3"]
        sub.close()
        sub = b.subscribe(0, 0)
        assert sub.past == []  # neither since nor until: only live events
        sub.close()
        sub = b.subscribe(1020, 0, f(container=["n4", "n2"]))
        assert [e.actor_id for e in sub.past] == ["c2", "c4"]
        sub.close()
        assert b.subscribers == 0

    asyncio.run(main())


def test_live_events_reach_matching_subscribers() -> None:
    async def main() -> None:
        b = bus()
        everything = b.subscribe()
        images = b.subscribe(match=f(type=["image"]))
        b.publish(EventType.CONTAINER, "create", "c1")
        b.publish(EventType.IMAGE, "tag", "sha256:1", {"name": "x:y"})
        got = [await everything.next(1), await everything.next(1)]
        assert [e.action for e in got if e] == ["create", "tag"]
        first = await images.next(1)
        assert first is not None and first.action == "tag"
        assert await images.next(0.01) is None
        everything.close()
        images.close()
        b.publish(EventType.CONTAINER, "die", "c1")
        assert await everything.next(0.01) is None

    asyncio.run(main())


def test_until_stops_live_delivery() -> None:
    async def main() -> None:
        b = bus()
        sub = b.subscribe(0, 1005)
        b.publish(EventType.CONTAINER, "start", "c1")  # 1000
        b.publish(EventType.CONTAINER, "die", "c1")    # 1010: after until
        first = await sub.next(1)
        assert first is not None and first.action == "start"
        assert await sub.next(0.01) is None
        sub.close()

    asyncio.run(main())


def test_publish_from_a_thread() -> None:
    async def main() -> None:
        b = EventBus()
        sub = b.subscribe()
        t = threading.Thread(target=lambda: [b.publish(EventType.IMAGE, "load", f"i{i}")
                                             for i in range(100)])
        t.start()
        got: list[str] = []
        while len(got) < 100:
            e = await sub.next(5)
            assert e is not None
            got.append(e.actor_id)
        t.join()
        assert got == [f"i{i}" for i in range(100)]
        sub.close()

    asyncio.run(main())


def test_a_reader_too_far_behind_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "QUEUE_LIMIT", 10)

    async def main() -> None:
        b = bus()
        slow = b.subscribe()
        for i in range(11):
            b.publish(EventType.CONTAINER, "start", f"c{i}")
        assert slow.overflowed and b.subscribers == 0
        for _ in range(10):
            assert await slow.next(1) is not None
        with pytest.raises(errors.Unavailable):
            await slow.next(1)

    asyncio.run(main())
