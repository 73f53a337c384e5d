"""``daemon.containers.prepare``: a fake runner stands for the rootfs and the supervisor."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

import pytest

from dockyard import errors
from dockyard.daemon.containers import prepare
from dockyard.daemon.containers.config import ContainerConfig, HostConfig
from dockyard.daemon.containers.model import Container, State, Status
from dockyard.daemon.containers.prepare import Preparations
from dockyard.daemon.containers.table import Entry
from dockyard.runtime.supervisor.protocol import ContainerInfo, RuntimeKind, RuntimeSpec
from dockyard.runtime.supervisor.protocol import Status as TaskStatus


def container(n: int = 0) -> Container:
    return Container(id=f"{n:x}" * 64 if n else "c" * 64, name=f"c{n}", created_ns=1,
                     image_id="sha256:x", config=ContainerConfig(image="busybox"),
                     host_config=HostConfig(), path="true", args=(),
                     state=State(Status.CREATED))


class FakeMaker:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.made: list[str] = []
        self.unmade: list[str] = []
        self.tasks: set[asyncio.Task[None]] = set()

    def make_task(self, c: Container, created: list[ContainerInfo]) -> ContainerInfo:
        if self.fail:
            raise errors.InvalidArgument("unable to find user nobody-here")
        info = ContainerInfo(c.id, TaskStatus.CREATED, 42, "/b", RuntimeSpec(RuntimeKind.IN_PROCESS, "/r"),
                             False, False, None, "", None)
        created.append(info)
        self.made.append(c.id)
        return info

    async def unmake_task(self, container_id: str) -> None:
        self.unmade.append(container_id)

    def background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def settle(self, p: Preparations) -> None:
        while self.tasks or p.tasks:
            await asyncio.gather(*self.tasks, *p.tasks)


def test_take_only_for_the_same_container() -> None:
    async def main() -> None:
        maker = FakeMaker()
        p = Preparations(maker)
        same, changed = Entry(container(1)), Entry(container(2))
        p.begin(same)
        p.begin(changed)
        await maker.settle(p)
        assert maker.made == [same.id, changed.id]
        async with same.lock:
            info = await p.take(same, same.container)
        assert info is not None and info.pid == 42
        async with changed.lock:
            moved = replace(changed.container, name="renamed")
            assert await p.take(changed, moved) is None
        assert maker.unmade == [changed.id]
        assert same.id not in p and changed.id not in p
    asyncio.run(main())


def test_limit_failure_and_removal() -> None:
    async def main() -> None:
        maker = FakeMaker()
        p = Preparations(maker)
        entries = [Entry(container(i)) for i in range(1, 5)]
        for e in entries:
            p.begin(e)
        await maker.settle(p)
        assert maker.made == [entries[0].id, entries[1].id]  # LIMIT
        assert p.drop(entries[0].id) and not p.drop(entries[0].id)
        failing = FakeMaker(fail=True)
        q = Preparations(failing)
        e = Entry(container(5))
        q.begin(e)
        await failing.settle(q)
        assert e.id not in q and failing.unmade == []
        async with e.lock:
            assert await q.take(e, e.container) is None
    asyncio.run(main())


def test_expiry_and_close(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepare, "TTL", 0.01)

    async def main() -> None:
        maker = FakeMaker()
        p = Preparations(maker)
        old, kept = Entry(container(1)), Entry(container(2))
        p.begin(old)
        await maker.settle(p)
        await asyncio.sleep(0.05)
        await maker.settle(p)
        assert maker.unmade == [old.id] and old.id not in p
        monkeypatch.setattr(prepare, "TTL", 60.0)
        p.begin(kept)
        await maker.settle(p)
        await p.close(5)
        assert maker.unmade == [old.id, kept.id]
        p.begin(Entry(container(3)))  # closed: no new preparation
        await maker.settle(p)
        assert len(maker.made) == 2
    asyncio.run(main())


def test_mount_hook_from_a_worker_thread() -> None:
    async def main() -> None:
        maker = FakeMaker()
        p = Preparations(maker)
        e = Entry(container(1))
        p.begin(e)
        await maker.settle(p)
        with pytest.raises(errors.Internal):
            p.before_mount(e.id)  # from the loop's own thread: refused, not a deadlock
        await asyncio.to_thread(p.before_mount, "0" * 64)  # not prepared: nothing
        assert maker.unmade == []
        seen: list[str] = []

        def hook() -> None:
            p.before_mount(e.id)
            seen.append(threading.current_thread().name)

        await asyncio.to_thread(hook)
        assert maker.unmade == [e.id] and e.id not in p
        assert seen and seen[0] != threading.main_thread().name
    asyncio.run(main())


def test_close_while_one_is_under_way() -> None:
    gate = threading.Event()

    class SlowMaker(FakeMaker):
        def make_task(self, c: Container, created: list[ContainerInfo]) -> ContainerInfo:
            gate.wait(10)
            return super().make_task(c, created)

    async def main() -> None:
        maker = SlowMaker()
        p = Preparations(maker)
        e = Entry(container(1))
        p.begin(e)
        await asyncio.sleep(0)
        closing = asyncio.ensure_future(p.close(10))
        await asyncio.sleep(0.01)
        gate.set()
        await closing
        assert maker.made == [e.id] and maker.unmade == [e.id] and e.id not in p
    asyncio.run(main())


def test_make_prepares_in_the_same_thread_and_undoes_a_failed_create() -> None:
    async def main() -> None:
        maker = FakeMaker()
        p = Preparations(maker)
        threads: list[int] = []

        def make(c: Container) -> tuple[Container, str]:
            threads.append(threading.get_ident())
            return c, "image"

        real = maker.make_task

        def make_task(c: Container, created: list[ContainerInfo]) -> ContainerInfo:
            threads.append(threading.get_ident())
            return real(c, created)

        maker.make_task = make_task  # type: ignore[method-assign]
        c = container(1)
        got, image, adopt = await p.make(c.id, lambda: make(c))
        assert got is c and image == "image" and adopt is not None
        entry = Entry(c)
        await entry.lock.acquire()
        adopt(entry)
        await maker.settle(p)
        assert not entry.lock.locked() and maker.made == [c.id]
        assert len(threads) == 2 and threads[0] == threads[1]  # no hop in between
        async with entry.lock:
            info = await p.take(entry, c)
        assert info is not None and info.pid == 42

        # The make fails: nothing prepared, the slot free again.
        def broken() -> tuple[Container, str]:
            raise errors.InvalidArgument("no such image")

        with pytest.raises(errors.InvalidArgument):
            await p.make(container(2).id, broken)
        await maker.settle(p)
        assert container(2).id not in p and maker.made == [c.id]

        # The create is cancelled while its thread makes: once the thread has
        # prepared, that is torn down and the slot freed.
        gone = container(3)
        release = threading.Event()

        def slow() -> tuple[Container, str]:
            release.wait(10)
            return gone, "image"

        making = asyncio.ensure_future(p.make(gone.id, slow))
        await asyncio.sleep(0.01)
        making.cancel()
        with pytest.raises(asyncio.CancelledError):
            await making
        release.set()
        await maker.settle(p)
        assert maker.made == [c.id, gone.id] and maker.unmade == [gone.id]
        assert gone.id not in p

        # A preparation that fails in the thread leaves the container unprepared.
        failing = FakeMaker(fail=True)
        q = Preparations(failing)
        d = container(4)
        _, _, adopt = await q.make(d.id, lambda: (d, "image"))
        assert adopt is not None
        e = Entry(d)
        await e.lock.acquire()
        adopt(e)
        await failing.settle(q)
        assert d.id not in q and not e.lock.locked() and failing.unmade == []
    asyncio.run(main())
