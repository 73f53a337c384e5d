"""A request body taken off aiohttp and read straight from the socket (``socketbody``): every
byte arrives once and in order whatever aiohttp had buffered or held back, a failed
request still lets the client finish sending and read the answer, a client that goes
away mid-body is an error for the reader, and the server closes the connection after."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import io
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from dockyard.api.socketbody import take_body


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str, blocksize: int = 8192) -> None:
        super().__init__("localhost", timeout=30, blocksize=blocksize)
        self.path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


async def _sha(request: web.Request) -> web.Response:
    """Reads the body in a worker thread; answers its digest and length."""
    body = take_body(request)
    if body is None:
        return web.Response(status=500, text="not taken")

    def work() -> tuple[str, int]:
        h, n = hashlib.sha256(), 0
        while data := body.read(1 << 20):
            h.update(data)
            n += len(data)
        return h.hexdigest(), n

    try:
        digest, n = await asyncio.to_thread(work)
    except OSError as exc:
        body.finish(0.0)
        return web.Response(status=500, text=f"read failed: {exc}")
    body.finish(0.0)
    return web.Response(text=f"{digest} {n}")


async def _refuse(request: web.Request) -> web.Response:
    """Fails before reading a byte, as a PUT to a missing path does."""
    body = take_body(request)
    if body is None:
        return web.Response(status=500, text="not taken")
    body.finish(10.0)
    return web.Response(status=404, text="no such path")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "s.sock")
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()

    async def main() -> None:
        app = web.Application()
        app.router.add_put("/sha", _sha)
        app.router.add_put("/refuse", _refuse)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.UnixSite(runner, path).start()
        ready.set()
        await stop.wait()
        await runner.cleanup()

    t = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    t.start()
    try:
        assert ready.wait(10)
        yield path
    finally:
        loop.call_soon_threadsafe(stop.set)
        t.join(10)
        loop.close()


@pytest.mark.parametrize("size", [0, 10, 70_000, 300_000, 6_000_000])
@pytest.mark.parametrize("blocksize", [8192, 1 << 20])
def test_every_byte_once_in_order(server: str, size: int, blocksize: int) -> None:
    data = os.urandom(size)
    conn = UnixHTTP(server, blocksize)
    try:
        conn.request("PUT", "/sha", body=io.BytesIO(data),
                     headers={"Content-Length": str(size)})
        r = conn.getresponse()
        text = r.read().decode()
        # The parser still waits for the body it never saw: the server closes.
        assert conn.sock is None or conn.sock.recv(1) == b""
    finally:
        conn.close()
    assert r.status == 200, text
    assert text == f"{hashlib.sha256(data).hexdigest()} {size}"


def test_a_refused_request_still_reads_the_body_so_the_client_sees_the_answer(
        server: str) -> None:
    data = os.urandom(8 << 20)  # far more than the socket buffers hold
    conn = UnixHTTP(server, 1 << 20)
    try:
        conn.request("PUT", "/refuse", body=data)  # no BrokenPipeError while sending
        r = conn.getresponse()
        assert (r.status, r.read()) == (404, b"no such path")
    finally:
        conn.close()


def test_a_client_gone_mid_body_is_an_error_for_the_reader(server: str) -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    try:
        s.connect(server)
        s.sendall(b"PUT /sha HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n"
                  + os.urandom(400_000))
        s.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    finally:
        s.close()
    assert answer.startswith(b"HTTP/1.1 500"), answer[:200]
    assert b"the connection ended after 400000 bytes, 4600000 short" in answer


def test_chunked_bodies_are_left_to_aiohttp(server: str) -> None:
    conn = UnixHTTP(server)
    try:
        conn.request("PUT", "/sha", body=iter([b"abc"]), encode_chunked=True)
        r = conn.getresponse()
        assert (r.status, r.read()) == (500, b"not taken")
    finally:
        conn.close()
