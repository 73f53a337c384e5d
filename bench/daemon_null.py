#!/usr/bin/env python3
"""The floor of ``bench/daemon.py``'s ``ps -q``, ``run`` and ``exec`` rows: an Engine API
stub that does no work at all. It answers just the requests the docker CLI sends for

- ``docker ps -q``: ``GET /containers/json`` → ``[]``;
- ``docker run --rm busybox true``: ``POST /containers/create`` → 201 with a fresh ID;
  ``POST .../attach`` → ``101 UPGRADED`` (``Upgrade: tcp``), the stream held open;
  ``POST .../wait?condition=removed`` → the chunked 200's headers at once; ``POST
  .../start`` → 204, which ends the attach stream and sends the wait's body
  ``{"Error":null,"StatusCode":0}`` (nothing runs: the "container" ends when it starts);
- ``docker exec <name> true``: ``GET /containers/<name>/json`` → a running container's
  document (any name); ``POST .../exec`` → 201; ``POST /exec/<id>/start`` → 101 and the
  stream closed at once; ``GET /exec/<id>/json`` → not running, exit code 0;

plus ``HEAD``/``GET /_ping`` and ``/version``, each with or without a ``/v1.NN`` prefix.
What a row takes against it is the docker CLI's own share of the row: its start-up, its
requests, its connections and hijacked streams, its work between them.

The server is a raw ``asyncio`` unix-socket server with the least HTTP/1.1 it needs
(keep-alive, request bodies read and dropped), so it adds as little as a server can.

``python3 bench/daemon_null.py SOCKET``: serve on the unix socket ``SOCKET`` until SIGTERM
or SIGINT. Only the standard library, nothing of dockyard.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import secrets
import signal
import sys

API_VERSION = "1.45"
REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request",
           404: "Not Found"}
UPGRADE = (b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
           b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
WAIT_HEAD = (b"HTTP/1.1 200 OK\r\nApi-Version: " + API_VERSION.encode() +
             b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
WAIT_BODY = b'{"Error":null,"StatusCode":0}\n'
WAIT_TAIL = b"%x\r\n%s\r\n0\r\n\r\n" % (len(WAIT_BODY), WAIT_BODY)
EXEC_ID = "e" * 64
IMAGE_ID = "sha256:" + "b" * 64
VERSION = json.dumps({
    "ApiVersion": API_VERSION, "MinAPIVersion": "1.24", "Version": "28.2.2",
    "Os": "linux", "Arch": "amd64", "KernelVersion": os.uname().release,
    "Components": [{"Name": "Engine", "Version": "28.2.2", "Details": {
        "ApiVersion": API_VERSION, "MinAPIVersion": "1.24", "Os": "linux",
        "Arch": "amd64"}}]}).encode()
PING_HEADERS = ("Docker-Experimental: false\r\nOstype: linux\r\n"
                "Cache-Control: no-cache, no-store, must-revalidate\r\nPragma: no-cache\r\n")


def response(status: int, body: bytes = b"", ctype: str = "application/json",
             extra: str = "") -> bytes:
    head = (f"HTTP/1.1 {status} {REASONS[status]}\r\nApi-Version: {API_VERSION}\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n{extra}\r\n")
    return head.encode() + body


@functools.lru_cache(maxsize=64)
def container_doc(name: str) -> bytes:
    """A running ``sleep`` container's inspect document, as much of it as the CLI reads."""
    cid = name if len(name) == 64 else "c" * 64
    return json.dumps({
        "Id": cid, "Name": "/" + name, "Created": "2026-01-01T00:00:00Z", "Path": "sleep",
        "Args": ["600"], "Image": IMAGE_ID, "Driver": "overlay2", "Platform": "linux",
        "RestartCount": 0, "ExecIDs": None,
        "State": {"Status": "running", "Running": True, "Paused": False,
                  "Restarting": False, "OOMKilled": False, "Dead": False, "Pid": 1,
                  "ExitCode": 0, "Error": "", "StartedAt": "2026-01-01T00:00:00Z",
                  "FinishedAt": "0001-01-01T00:00:00Z"},
        "Config": {"Hostname": cid[:12], "User": "", "Tty": False, "AttachStdin": False,
                   "AttachStdout": False, "AttachStderr": False, "OpenStdin": False,
                   "StdinOnce": False, "Env": ["PATH=/bin"], "Cmd": ["sleep", "600"],
                   "Image": "busybox", "WorkingDir": "", "Entrypoint": None,
                   "Labels": {}},
        "HostConfig": {"AutoRemove": False, "NetworkMode": "none",
                       "LogConfig": {"Type": "json-file", "Config": {}}},
        "Mounts": [], "NetworkSettings": {"Networks": {}}}).encode()


EXEC_DOC = json.dumps({
    "ID": EXEC_ID, "Running": False, "ExitCode": 0, "Pid": 0, "ContainerID": "c" * 64,
    "ProcessConfig": {"tty": False, "entrypoint": "true", "arguments": [],
                      "privileged": False},
    "OpenStdin": False, "OpenStdout": True, "OpenStderr": True, "CanRemove": False,
    "DetachKeys": ""}).encode()


class Stub:
    """The containers made by ``create`` and not yet waited for: ID → its start."""

    def __init__(self) -> None:
        self.started: dict[str, asyncio.Event] = {}

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self.one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, UnicodeError):
            pass
        finally:
            writer.close()

    async def one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Read and answer one request; ``False`` when the connection is done."""
        line = await reader.readline()
        if not line:
            return False
        method, target, _ = line.decode("latin-1").split(" ", 2)
        length, chunked, close = 0, False, False
        while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = h.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value
            elif name == "connection":
                close = "close" in value
        if chunked:
            while size := int((await reader.readline()).split(b";")[0], 16):
                await reader.readexactly(size + 2)
            while await reader.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
        elif length:
            await reader.readexactly(length)
        path = target.split("?", 1)[0]
        if path.startswith("/v1."):
            path = "/" + path.split("/", 2)[2] if path.count("/") > 1 else "/"
        keep = await self.route(method, path, writer)
        await writer.drain()
        return keep and not close

    async def route(self, method: str, path: str, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; ``False`` when the connection must end after it."""
        parts = path.split("/")
        if path == "/_ping":
            writer.write(response(200, b"" if method == "HEAD" else b"OK", "text/plain",
                                  PING_HEADERS))
        elif path == "/version":
            writer.write(response(200, VERSION))
        elif path == "/containers/json":
            writer.write(response(200, b"[]"))
        elif path == "/containers/create" and method == "POST":
            cid = secrets.token_hex(32)
            self.started[cid] = asyncio.Event()
            writer.write(response(201, b'{"Id":"%s","Warnings":[]}' % cid.encode()))
        elif len(parts) == 4 and parts[1] == "containers" and method == "POST":
            return await self.container_post(parts[2], parts[3], writer)
        elif len(parts) == 4 and parts[1] == "containers" and parts[3] == "json":
            writer.write(response(200, container_doc(parts[2])))
        elif len(parts) == 4 and parts[1] == "exec" and parts[3] == "start":
            writer.write(UPGRADE)  # nothing runs: the stream ends at once
            return False
        elif len(parts) == 4 and parts[1] == "exec" and parts[3] == "json":
            writer.write(response(200, EXEC_DOC))
        else:
            writer.write(response(404, json.dumps(
                {"message": f"daemon_null: no {method} {path}"}).encode()))
        return True

    async def container_post(self, cid: str, op: str, writer: asyncio.StreamWriter) -> bool:
        if op == "exec":
            writer.write(response(201, b'{"Id":"%s"}' % EXEC_ID.encode()))
            return True
        started = self.started.get(cid)
        if started is None:
            writer.write(response(404, json.dumps(
                {"message": f"No such container: {cid}"}).encode()))
        elif op == "attach":
            writer.write(UPGRADE)
            await writer.drain()
            await started.wait()  # the "container" ends as it starts: EOF on its stream
            return False
        elif op == "wait":
            writer.write(WAIT_HEAD)
            await writer.drain()
            await started.wait()
            self.started.pop(cid, None)  # AutoRemove: gone once its wait is answered
            writer.write(WAIT_TAIL)
        elif op == "start":
            writer.write(response(204))
            await writer.drain()
            started.set()
        else:
            writer.write(response(204))  # kill, stop, resize...: nothing to do
        return True


async def main(sock: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(sock)
    server = await asyncio.start_unix_server(Stub().serve, sock)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    server.close()  # held streams are cancelled with the loop
    with contextlib.suppress(FileNotFoundError):
        os.unlink(sock)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: daemon_null.py SOCKET")
    asyncio.run(main(sys.argv[1]))
