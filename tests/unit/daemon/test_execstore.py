"""Exec records on disk (``execstore``) and their reconciliation with the supervisor after
a daemon restart (``ExecManager.recover``), over a fake supervisor (no daemon)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.daemon.containers import execs as execs_module
from dockyard.daemon.containers.config import ContainerConfig, HostConfig
from dockyard.daemon.containers.execs import ExecManager
from dockyard.daemon.containers.execstore import ExecRecord, ExecStore
from dockyard.daemon.containers.model import Container, ExecConfig, ExecStart, State, Status
from dockyard.daemon.containers.table import Entry, Table
from dockyard.daemon.layout import DataRoot, ExecRoot
from dockyard.runtime.supervisor.protocol import (
    ContainerInfo,
    ExecInfo,
    ExitStatus,
    RuntimeKind,
    RuntimeSpec,
)
from dockyard.runtime.supervisor.protocol import Status as TaskStatus

CID = "c" * 64
BOX = Container(id=CID, name="box", created_ns=1, image_id="sha256:1",
                config=ContainerConfig(image="busybox"), host_config=HostConfig(),
                path="sleep", args=("1000",), state=State(Status.RUNNING, pid=5))
CFG = ExecConfig(("sh", "-c", "exit 4"), env=("A=1",), tty=True, detach_keys="ctrl-x",
                 console_size=(10, 20))


def eid(n: int) -> str:
    return f"{n:064x}"


@pytest.fixture
def data(tmp_path: Path) -> DataRoot:
    d = DataRoot(str(tmp_path / "data"))
    d.prepare()
    Path(d.container(CID)).mkdir()
    return d


@pytest.fixture
def run(tmp_path: Path) -> ExecRoot:
    r = ExecRoot(str(tmp_path / "run"))
    Path(r.rootfs(CID), "etc").mkdir(parents=True)
    Path(r.rootfs(CID), "etc", "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    Path(r.rootfs(CID), "etc", "group").write_text("root:x:0:\n")
    Path(r.bundle(CID), "config.json").write_text(json.dumps({"process": {}}))
    return r


def test_records_round_trip_in_creation_order(data: DataRoot) -> None:
    store = ExecStore(data)
    second = ExecRecord(eid(2), CID, ExecConfig(("true",)), created_ns=20, pid=9, exit_code=0)
    first = ExecRecord(eid(1), CID, CFG, created_ns=10)
    store.save(second)
    store.save(first)
    assert store.load(CID) == [first, second]
    doc = json.loads(Path(store.path(CID, eid(1))).read_text())
    assert doc["schema"] == 1 and doc["exec"]["config"]["cmd"] == ["sh", "-c", "exit 4"]
    store.delete(CID, eid(2))
    store.delete(CID, eid(2))  # already gone: fine
    assert store.load(CID) == [first]
    store.delete_all(CID)
    store.delete_all(CID)
    assert store.load(CID) == [] and not Path(store.directory(CID)).exists()


def test_damaged_and_foreign_files_are_skipped(data: DataRoot) -> None:
    store = ExecStore(data)
    good = ExecRecord(eid(1), CID, CFG, created_ns=1)
    store.save(good)
    directory = Path(store.directory(CID))
    (directory / f"{eid(2)}.json").write_text("{not json")
    (directory / f"{eid(3)}.json").write_text(json.dumps({"schema": 99, "exec": {}}))
    (directory / f"{eid(4)}.json").write_text(  # names another exec than its file
        json.dumps({"schema": 1, "exec": {**json.loads(
            (directory / f"{eid(1)}.json").read_text())["exec"]}}))
    (directory / f"{eid(5)}.json.tmp").write_text("half")
    (directory / "notes.txt").write_text("x")
    assert store.load(CID) == [good]
    with pytest.raises(errors.InvalidArgument):
        store.path(CID, "../../escape")


class FakeSupervisor:
    def __init__(self, execs: dict[str, ExitStatus | None]) -> None:
        self.execs = execs
        self.waits: dict[str, asyncio.Future[ExitStatus]] = {}
        self.deleted: list[str] = []

    def info(self) -> ContainerInfo:
        execs = tuple(ExecInfo(CID, i, TaskStatus.STOPPED if ex else TaskStatus.RUNNING,
                               100 + n, False, ex)
                      for n, (i, ex) in enumerate(self.execs.items()))
        return ContainerInfo(CID, TaskStatus.RUNNING, 5, "/b",
                             RuntimeSpec(RuntimeKind.IN_PROCESS, "/r"), False, False, None,
                             "", None, execs)

    async def wait(self, cid: str, exec_id: str | None = None) -> ExitStatus:
        assert exec_id is not None
        if exec_id not in self.execs:
            raise errors.NotFound(exec_id)
        return await self.waits.setdefault(exec_id,
                                           asyncio.get_running_loop().create_future())

    async def delete_exec(self, cid: str, exec_id: str) -> None:
        self.deleted.append(exec_id)

    async def exec_state(self, cid: str, exec_id: str) -> ExecInfo:
        if exec_id in self.deleted or exec_id not in self.execs:
            raise errors.NotFound(exec_id)
        return ExecInfo(cid, exec_id, TaskStatus.RUNNING, 100, False, self.execs[exec_id])

    async def exec(self, cid: str, exec_id: str, process: Any, **kw: Any) -> ExecInfo:
        self.execs[exec_id] = None
        return ExecInfo(cid, exec_id, TaskStatus.RUNNING, 77, False, None)


def manager(data: DataRoot, run: ExecRoot,
            sv: FakeSupervisor) -> tuple[ExecManager, list[tuple[str, dict[str, str]]]]:
    table = Table()
    table.add(Entry(BOX))
    events: list[tuple[str, dict[str, str]]] = []
    m = ExecManager(table, run, sv, lambda c, action, extra: events.append(  # type: ignore[arg-type]
        (action, dict(extra or {}))), ExecStore(data))
    return m, events


async def until(cond: Callable[[], bool]) -> None:
    """Let the manager's tasks (and their worker threads) run until ``cond`` holds."""
    for _ in range(500):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


def test_a_started_exec_is_recorded_then_its_exit(data: DataRoot, run: ExecRoot) -> None:
    async def main() -> None:
        sv = FakeSupervisor({})
        m, _events = manager(data, run, sv)
        e = await m.exec_create(CID, ExecConfig(("true",)))
        assert ExecStore(data).load(CID) == []  # created only: not recorded
        await m.exec_start(e, ExecStart(detach=True), None)
        (rec,) = ExecStore(data).load(CID)
        assert (rec.id, rec.exit_code) == (e, None)
        sv.waits.setdefault(e, asyncio.get_running_loop().create_future()).set_result(
            ExitStatus(4, None, ""))
        await until(lambda: ExecStore(data).load(CID)[0].exit_code == 4)
        m.forget_container(CID)  # the container's next start
        assert not Path(ExecStore(data).directory(CID)).exists()

    asyncio.run(main())


def test_recover_reconciles_with_the_supervisor(data: DataRoot, run: ExecRoot) -> None:
    store = ExecStore(data)
    for n, code in ((1, None), (2, None), (3, 3), (4, None)):
        store.save(ExecRecord(eid(n), CID, CFG, created_ns=n, exit_code=code))
    sv = FakeSupervisor({eid(1): None,                          # still running
                         eid(2): ExitStatus(6, None, ""),       # exited while down
                         eid(5): ExitStatus(0, None, "")})      # exited, never recorded
    # eid(4): running as recorded, unknown to the supervisor: lost.

    async def main() -> None:
        m, events = manager(data, run, sv)
        await m.recover(BOX, sv.info())
        views = {i: await m.exec_inspect(i) for i in m.ids_of(CID)}
        assert list(views) == [eid(1), eid(2), eid(3), eid(4)]
        assert (views[eid(1)].running, views[eid(1)].pid) == (True, 100)
        assert (views[eid(2)].running, views[eid(2)].exit_code) == (False, 6)
        assert views[eid(3)].exit_code == 3 and views[eid(4)].exit_code == 255
        assert views[eid(1)].config == CFG
        assert sorted(sv.deleted) == [eid(2), eid(5)]
        assert [x["execID"] for a, x in events if a == "exec_die"] == [eid(2), eid(4)]
        on_disk = {r.id: r.exit_code for r in store.load(CID)}
        assert on_disk == {eid(1): None, eid(2): 6, eid(3): 3, eid(4): 255}
        sv.waits.setdefault(eid(1), asyncio.get_running_loop().create_future()).set_result(
            ExitStatus(5, None, ""))
        await until(lambda: store.load(CID)[0].exit_code == 5)
        assert (await m.exec_inspect(eid(1))).exit_code == 5
        m.close()

    asyncio.run(main())


def test_recover_of_a_container_the_supervisor_lost(data: DataRoot, run: ExecRoot) -> None:
    ExecStore(data).save(ExecRecord(eid(1), CID, CFG, created_ns=1))

    async def main() -> None:
        m, _events = manager(data, run, FakeSupervisor({}))
        await m.recover(BOX, None)
        view = await m.exec_inspect(eid(1))
        assert (view.running, view.exit_code) == (False, 255)

    asyncio.run(main())


def test_recover_trims_old_exits(data: DataRoot, run: ExecRoot,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execs_module, "MAX_EXITED", 2)
    store = ExecStore(data)
    for n in range(1, 5):
        store.save(ExecRecord(eid(n), CID, CFG, created_ns=n, exit_code=0))

    async def main() -> None:
        m, _events = manager(data, run, FakeSupervisor({}))
        await m.recover(BOX, FakeSupervisor({}).info())
        assert m.ids_of(CID) == (eid(3), eid(4))
        assert [r.id for r in store.load(CID)] == [eid(3), eid(4)]

    asyncio.run(main())
