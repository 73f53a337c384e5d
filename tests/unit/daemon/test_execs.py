"""The exec manager over a fake supervisor (no daemon): the OCI process of an exec (env,
user, cwd, capabilities), the lifecycle and its events, the exit code asked of the
supervisor when the stream ended first, failures to start, and the records' bounds."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.daemon.containers import execs as execs_module
from dockyard.daemon.containers.config import ContainerConfig, HostConfig
from dockyard.daemon.containers.execs import ExecManager, exec_env, exec_process
from dockyard.daemon.containers.model import Container, ExecConfig, ExecStart, State, Status
from dockyard.daemon.containers.runner import container_env
from dockyard.daemon.containers.table import Entry, Table
from dockyard.daemon.layout import ExecRoot
from dockyard.runtime.supervisor.protocol import ExecInfo, ExitStatus
from dockyard.runtime.supervisor.protocol import Status as TaskStatus

CID = "c" * 64
BASE = Container(id=CID, name="box", created_ns=1, image_id="sha256:1",
                 config=ContainerConfig(image="busybox", env=("PATH=/bin", "IN=1"),
                                        working_dir="/srv", hostname="abc"),
                 host_config=HostConfig(), path="sleep", args=("1000",),
                 state=State(Status.RUNNING, pid=5))


@pytest.fixture
def run_root(tmp_path: Path) -> ExecRoot:
    run = ExecRoot(str(tmp_path / "run"))
    rootfs = Path(run.rootfs(CID))
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                           "app:x:1000:1000::/home/app:/bin/sh\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\napp:x:1000:\nextra:x:2000:app\n")
    spec = {"process": {"args": ["sleep"], "capabilities": {"bounding": ["CAP_CHOWN"]},
                        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 9, "hard": 9}],
                        "noNewPrivileges": True}}
    Path(run.bundle(CID), "config.json").write_text(json.dumps(spec))
    return run


def test_exec_env_replaces_appends_and_unsets() -> None:
    cfg = ExecConfig(("env",), env=("IN=2", "NEW=3", "PATH"), tty=True)
    assert exec_env(BASE, cfg, "/home/app") == ["HOSTNAME=abc", "TERM=xterm", "IN=2",
                                                "HOME=/home/app", "NEW=3"]
    assert "TERM=xterm" not in exec_env(BASE, ExecConfig(("env",)), "/")


def test_container_env_unsets_an_entry_without_a_value() -> None:
    """``docker run -e NAME`` with NAME unset on the client sends ``NAME``: moby's
    ``ReplaceOrAppendEnvValues`` unsets it (even PATH), it is never ``NAME`` or ``NAME=``."""
    c = replace(BASE, config=replace(BASE.config, env=("GONE", "PATH", "HOME", "IN=1")))
    assert container_env(c, "/root") == ("HOSTNAME=abc", "IN=1", "HOME=/root")


def test_exec_process(run_root: ExecRoot) -> None:
    p = exec_process(BASE, ExecConfig(("id",), user="app"), run_root.bundle(CID),
                     run_root.rootfs(CID))
    assert p["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [1000, 2000]}
    assert (p["args"], p["cwd"], p["terminal"]) == (["id"], "/srv", False)
    assert "HOME=/home/app" in p["env"]
    assert p["capabilities"] == {"bounding": ["CAP_CHOWN"]}
    assert p["rlimits"][0]["soft"] == 9 and p["noNewPrivileges"] is True
    p = exec_process(BASE, ExecConfig(("id",), working_dir="/tmp", privileged=True, tty=True),
                     run_root.bundle(CID), run_root.rootfs(CID))
    assert (p["cwd"], p["terminal"], p["user"]) == ("/tmp", True, {"uid": 0, "gid": 0,
                                                               "additionalGids": [0]})
    assert len(p["capabilities"]["bounding"]) > 1
    assert p["capabilities"]["effective"] == p["capabilities"]["bounding"]
    with pytest.raises(errors.InvalidArgument, match="unable to find user nosuch"):
        exec_process(BASE, ExecConfig(("id",), user="nosuch"), run_root.bundle(CID),
                     run_root.rootfs(CID))


class FakeSupervisor:
    """Execs that end when told; ``exited_before_wait`` models a stream that ended before
    the daemon's wait was answered (the supervisor knows the exit, the wait is late)."""

    def __init__(self) -> None:
        self.exits: dict[str, asyncio.Future[ExitStatus]] = {}
        self.known: dict[str, ExitStatus | None] = {}
        self.deleted: list[str] = []
        self.resized: list[tuple[str, int, int]] = []
        self.refuse: errors.DockyardError | None = None

    async def exec(self, cid: str, eid: str, process: dict[str, Any], *,
                   console_size: tuple[int, int] | None) -> ExecInfo:
        return self._start(cid, eid)

    async def exec_socket(self, sock: Any, cid: str, eid: str, process: dict[str, Any],
                          **kw: Any) -> ExecInfo:
        return self._start(cid, eid)

    def _start(self, cid: str, eid: str) -> ExecInfo:
        if self.refuse is not None:
            raise self.refuse
        self.exits[eid] = asyncio.get_running_loop().create_future()
        self.known[eid] = None
        return ExecInfo(cid, eid, TaskStatus.RUNNING, 77, False, None)

    def finish(self, eid: str, code: int, *, tell_waiter: bool = True) -> None:
        self.known[eid] = ExitStatus(code, None, "2024-01-01T00:00:00Z")
        if tell_waiter:
            self.exits[eid].set_result(ExitStatus(code, None, "2024-01-01T00:00:00Z"))

    async def exec_state(self, cid: str, eid: str) -> ExecInfo:
        if eid in self.deleted or eid not in self.known:
            raise errors.NotFound(eid)
        ex = self.known[eid]
        return ExecInfo(cid, eid, TaskStatus.STOPPED if ex else TaskStatus.RUNNING, 77,
                        False, ex)

    async def wait(self, cid: str, eid: str | None = None) -> ExitStatus:
        assert eid is not None
        return await self.exits[eid]

    async def delete_exec(self, cid: str, eid: str) -> None:
        self.deleted.append(eid)

    async def resize_exec(self, cid: str, eid: str, h: int, w: int) -> None:
        self.resized.append((eid, h, w))


def hijacked() -> socket.socket:
    """A stand-in for the hijacked connection: one end of a socket pair."""
    ours, theirs = socket.socketpair()
    theirs.close()
    return ours


def manager(run: ExecRoot, c: Container = BASE) -> tuple[ExecManager, FakeSupervisor,
                                                          list[tuple[str, dict[str, str]]]]:
    table = Table()
    table.add(Entry(c))
    table.names.reserve(c.name, c.id)
    sv = FakeSupervisor()
    events: list[tuple[str, dict[str, str]]] = []
    m = ExecManager(table, run, sv, lambda c, action, extra: events.append(  # type: ignore[arg-type]
        (action, dict(extra or {}))))
    return m, sv, events


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_lifecycle_and_events(run_root: ExecRoot) -> None:
    async def main() -> None:
        m, sv, events = manager(run_root)
        eid = await m.exec_create("box", ExecConfig(("sh", "-c", "exit 4")))
        view = await m.exec_inspect(eid)
        assert (view.running, view.exit_code, view.pid) == (False, None, 0)
        sock = hijacked()
        await m.exec_start(eid, ExecStart(), sock)
        assert sock.fileno() == -1  # the supervisor has its own: ours is closed at once
        assert (await m.exec_inspect(eid)).running
        sv.finish(eid, 4)
        await settle()
        view = await m.exec_inspect(eid)
        assert (view.running, view.exit_code, view.pid) == (False, 4, 77)
        assert sv.deleted == [eid]
        assert [a for a, _ in events] == ["exec_create: sh -c exit 4",
                                          "exec_start: sh -c exit 4", "exec_die"]
        assert events[2][1] == {"execID": eid, "exitCode": "4"}
        with pytest.raises(errors.Conflict, match="has already run"):
            await m.exec_start(eid, ExecStart(detach=True), None)
        assert m.ids_of(CID) == (eid,)
        m.forget_container(CID)
        with pytest.raises(errors.NotFound, match="No such exec instance"):
            await m.exec_inspect(eid)

    asyncio.run(main())


def test_exit_code_known_before_the_wait_is_answered(run_root: ExecRoot) -> None:
    async def main() -> None:
        m, sv, _events = manager(run_root)
        eid = await m.exec_create("box", ExecConfig(("true",)))
        await m.exec_start(eid, ExecStart(), hijacked())
        sv.finish(eid, 9, tell_waiter=False)  # the stream ended; our wait lags behind
        view = await m.exec_inspect(eid)
        assert (view.running, view.exit_code) == (False, 9)
        sv.exits[eid].set_result(ExitStatus(9, None, ""))
        await settle()
        assert (await m.exec_inspect(eid)).exit_code == 9
        m.close()

    asyncio.run(main())


def test_refused_starts_and_states(run_root: ExecRoot) -> None:
    async def main() -> None:
        m, sv, _events = manager(run_root)
        eid = await m.exec_create("box", ExecConfig(("nosuch",)))
        sv.refuse = errors.FailedPrecondition('exec: "nosuch": executable file not found')
        with pytest.raises(errors.FailedPrecondition):
            await m.exec_start(eid, ExecStart(detach=True), None)
        assert (await m.exec_inspect(eid)).exit_code == 127
        eid = await m.exec_create("box", ExecConfig(("nosuch",)))
        sock = hijacked()
        with pytest.raises(errors.FailedPrecondition):
            await m.exec_start(eid, ExecStart(), sock)
        assert sock.fileno() != -1  # left open for the caller to say why in the stream
        sock.close()
        sv.refuse = None
        eid = await m.exec_create("box", ExecConfig(("id",), user="nosuch"))
        with pytest.raises(errors.InvalidArgument):
            await m.exec_start(eid, ExecStart(detach=True), None)
        assert (await m.exec_inspect(eid)).exit_code == 126
        with pytest.raises(errors.NotFound):
            await m.exec_create("nope", ExecConfig(("true",)))
        with pytest.raises(errors.Conflict, match=r"^Container box is paused"):  # as named
            m2, _sv, _ev = manager(run_root, replace(BASE, state=State(Status.PAUSED)))
            await m2.exec_create("box", ExecConfig(("true",)))
        with pytest.raises(errors.Conflict, match="is not running"):
            m3, _sv, _ev = manager(run_root, replace(BASE, state=State(Status.EXITED)))
            await m3.exec_create("box", ExecConfig(("true",)))

    asyncio.run(main())


def test_resize_waits_for_the_start(run_root: ExecRoot) -> None:
    async def main() -> None:
        m, sv, _events = manager(run_root)
        eid = await m.exec_create("box", ExecConfig(("sh",), tty=True))
        resize = asyncio.create_task(m.exec_resize(eid, 10, 20))
        await settle()
        assert not resize.done()
        await m.exec_start(eid, ExecStart(tty=True), hijacked())
        await resize
        assert sv.resized == [(eid, 10, 20)]
        m.close()

    asyncio.run(main())


def test_exited_records_are_bounded(run_root: ExecRoot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execs_module, "MAX_EXITED", 3)

    async def main() -> None:
        m, sv, _events = manager(run_root)
        made = []
        for _ in range(6):
            eid = await m.exec_create("box", ExecConfig(("true",)))
            made.append(eid)
            await m.exec_start(eid, ExecStart(detach=True), None)
            sv.finish(eid, 0)
            await settle()
        running = await m.exec_create("box", ExecConfig(("sleep", "9")))
        assert m.ids_of(CID) == (*made[3:], running)

    asyncio.run(main())


def test_no_error_is_left_unretrieved(run_root: ExecRoot) -> None:
    """A health probe's ``exec_inspect`` cancelled (``rm -f`` of its container) while the
    supervisor's answer is on its way, and a wait the supervisor fails: neither leaves an
    asyncio "exception was never retrieved" (the daemon logged it as an ERROR)."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        reported: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, ctx: reported.append(ctx))
        m, sv, _ev = manager(run_root)
        eid = await m.exec_create("box", ExecConfig(("true",)))
        await m.exec_start(eid, ExecStart(detach=True), None)
        gate = asyncio.Event()

        async def late_state(cid: str, exec_id: str) -> ExecInfo:
            await gate.wait()
            raise errors.NotFound(exec_id)

        sv.exec_state = late_state  # type: ignore[method-assign]
        inspecting = asyncio.create_task(m.exec_inspect(eid))
        await asyncio.sleep(0.01)
        inspecting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await inspecting
        gate.set()
        await asyncio.sleep(0.01)

        async def failing_wait(cid: str, exec_id: str | None = None) -> ExitStatus:
            raise errors.Conflict("container is being removed")

        sv.wait = failing_wait  # type: ignore[method-assign]
        other = await m.exec_create("box", ExecConfig(("true",)))
        await m.exec_start(other, ExecStart(detach=True), None)
        await asyncio.sleep(0.01)
        assert (await m.exec_inspect(other)).exit_code == 255  # lost, said in the log
        gc.collect()
        await asyncio.sleep(0)
        assert [c.get("message") for c in reported] == []

    asyncio.run(main())
