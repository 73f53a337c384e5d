"""The exec routes over a fake backend (no daemon): bodies parsed and refused by name,
statuses, the inspect shape, a detached start, and a hijacked start whose failure is
written into the stream (framed when the stream is)."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient, TestServer

from dockyard import errors
from dockyard.api.app import build_app
from dockyard.api.execs import ExecRouter
from dockyard.apitypes.execs import (
    ExecConfig,
    ExecStart,
    ExecView,
    parse_detach_keys,
    parse_exec_config,
    parse_exec_start,
)


class FakeExecs:
    def __init__(self) -> None:
        self.configs: dict[str, ExecConfig] = {}
        self.started: list[tuple[str, ExecStart, bool]] = []
        self.fail_start: errors.DockyardError | None = None

    async def exec_create(self, ref: str, config: ExecConfig) -> str:
        if ref == "gone":
            raise errors.NotFound("No such container: gone")
        self.configs["e1"] = config
        return "e1"

    async def exec_inspect(self, exec_id: str) -> ExecView:
        if exec_id not in self.configs:
            raise errors.NotFound(f"No such exec instance: {exec_id}")
        return ExecView(exec_id, "c" * 64, self.configs[exec_id], False, 3, 42)

    async def exec_start(self, exec_id: str, start: ExecStart,
                         sock: socket.socket | None) -> None:
        self.started.append((exec_id, start, sock is not None))
        if self.fail_start is not None:
            raise self.fail_start
        if sock is not None:  # as the supervisor would: output on the connection
            sock.setblocking(True)
            sock.sendall(b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n")

    async def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        await self.exec_inspect(exec_id)


def run(test: Callable[[TestClient, FakeExecs], Awaitable[None]]) -> None:
    async def main() -> None:
        backend = FakeExecs()
        app = build_app([ExecRouter(backend)])
        async with TestClient(TestServer(app)) as client:
            await test(client, backend)

    asyncio.run(main())


def test_parse_exec_config() -> None:
    cfg = parse_exec_config({"Cmd": ["sh", "-c", "x"], "Env": ["A=1", "B"], "User": "1:2",
                             "WorkingDir": "/w", "Tty": True, "Privileged": True,
                             "AttachStdin": True, "AttachStdout": True, "AttachStderr": True,
                             "DetachKeys": "ctrl-p,ctrl-q", "ConsoleSize": [10, 20],
                             "Detach": False, "Container": "abc"})
    assert cfg == ExecConfig(("sh", "-c", "x"), ("A=1", "B"), "1:2", "/w", True, True, True,
                             True, True, "ctrl-p,ctrl-q", (10, 20))
    assert parse_exec_config({"Cmd": "true"}).cmd == ("true",)
    assert parse_exec_config({"Cmd": ["true"], "ConsoleSize": [0, 0]}).console_size is None
    for body, words in (({"Cmd": []}, "No exec command specified"), ({}, "No exec command"),
                        ({"Cmd": ["x"], "WorkingDir": "w"}, "absolute path"),
                        ({"Cmd": ["x"], "Env": ["=x"]}, "environment variable"),
                        ({"Cmd": ["x"], "DetachKeys": "ctrl-1"}, "Invalid detach keys"),
                        ({"Cmd": ["x"], "ConsoleSize": [1]}, "ConsoleSize"),
                        ({"Cmd": ["x"], "Tty": "yes"}, "Tty"),
                        ({"Cmd": ["x"], "Unknown": 1}, "Unknown")):
        with pytest.raises(errors.InvalidArgument, match=words):
            parse_exec_config(body)
    assert parse_exec_start(None) == ExecStart()
    assert parse_exec_start({"Detach": True, "Tty": True, "ConsoleSize": [3, 4]}) \
        == ExecStart(True, True, (3, 4))


def test_detach_keys() -> None:
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("a,ctrl-@,ctrl-_,DEL") == b"a\x00\x1f\x7f"


def test_create_inspect_resize_detached_start() -> None:
    async def t(client: TestClient, backend: FakeExecs) -> None:
        r = await client.post("/v1.45/containers/c/exec", json={"Cmd": ["sh", "-c", "exit 3"],
                                                                "AttachStdout": True})
        assert r.status == 201 and await r.json() == {"Id": "e1"}
        r = await client.post("/containers/gone/exec", json={"Cmd": ["true"]})
        assert r.status == 404
        r = await client.post("/containers/c/exec", json={"Cmd": []})
        assert r.status == 400
        info = await (await client.get("/exec/e1/json")).json()
        assert info["ExitCode"] == 3 and info["Pid"] == 42 and info["ContainerID"] == "c" * 64
        assert info["ProcessConfig"] == {"tty": False, "entrypoint": "sh",
                                         "arguments": ["-c", "exit 3"], "privileged": False,
                                         "user": ""}
        assert (await client.get("/exec/nope/json")).status == 404
        assert (await client.post("/exec/e1/resize?h=10&w=20")).status == 200
        assert (await client.post("/exec/e1/resize?h=10")).status == 400
        r = await client.post("/exec/e1/start", json={"Detach": True})
        assert r.status == 200 and backend.started[-1] == ("e1", ExecStart(True), False)
        backend.fail_start = errors.Conflict("Container c is not running")
        r = await client.post("/exec/e1/start", json={"Detach": True})
        assert r.status == 409
        assert (await client.post("/exec/nope/start", json={"Detach": True})).status == 404

    run(t)


async def _hijacked(client: TestClient, body: dict[str, object]) -> tuple[bytes, bytes]:
    reader, writer = await asyncio.open_connection(client.host, client.port)
    data = json.dumps(body).encode()
    writer.write(b"POST /v1.45/exec/e1/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                 b"Upgrade: tcp\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    rest = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return head, rest


def test_hijacked_start_and_errors_in_the_stream() -> None:
    async def t(client: TestClient, backend: FakeExecs) -> None:
        await client.post("/containers/c/exec", json={"Cmd": ["true"]})
        head, rest = await _hijacked(client, {"Detach": False, "Tty": False})
        assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n")
        assert b"Content-Type: application/vnd.docker.multiplexed-stream" in head
        assert rest == b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
        backend.fail_start = errors.InvalidArgument('exec: "x": executable file not found')
        _head, rest = await _hijacked(client, {"Tty": False})
        size = struct.unpack(">BxxxL", rest[:8])
        assert size == (1, len(rest) - 8)
        assert rest[8:] == b'exec: "x": executable file not found\r\n'
        head, rest = await _hijacked(client, {"Tty": True})
        assert b"application/vnd.docker.raw-stream" in head
        assert rest == b'exec: "x": executable file not found\r\n'

    run(t)
