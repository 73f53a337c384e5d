"""``docker run --rm busybox true`` without the docker CLI: the CLI's own requests, in its
order, from a small blocking client on raw unix sockets (``bench/daemon.py``'s ``api``
row). What remains of the CLI's figure is the engine's share, plus this client's few
hundred microseconds.

The sequence (the docker CLI's for ``run --rm`` without a terminal)::

    conn 1  POST /containers/create            (AutoRemove, attach stdout and stderr)
    conn 2  POST /containers/<id>/attach        Upgrade: tcp → 101, then the stream
    conn 1  POST /containers/<id>/wait?condition=removed   (its headers before the start)
    conn 3  POST /containers/<id>/start         204
            the stream's end (conn 2), the wait's body (conn 1): {"StatusCode": 0}
"""

from __future__ import annotations

import json
import socket

API = "/v1.41"
"""A version both engines serve (Debian's dockerd 20.10 stops at 1.41)."""
TIMEOUT = 60.0


class _Conn:
    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(path)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, method: str, path: str, body: bytes = b"",
             headers: tuple[str, ...] = ()) -> None:
        head = [f"{method} {API}{path} HTTP/1.1", "Host: api.moby.localhost",
                f"Content-Length: {len(body)}", *headers]
        if body:
            head.append("Content-Type: application/json")
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError("the engine closed the connection")
        self.buf += chunk

    def head(self) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        raw, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, headers

    def body(self, headers: dict[str, str]) -> bytes:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            out = b""
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                size_line, _, self.buf = self.buf.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self._fill()
                out += self.buf[:size]
                self.buf = self.buf[size + 2:]
                if size == 0:
                    return out
        length = int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        out, self.buf = self.buf[:length], self.buf[length:]
        return out

    def drain(self) -> None:
        """Read until the engine closes (the attached stream's end)."""
        while self.sock.recv(65536):
            pass


def _expect(status: int, want: int, what: str, body: bytes = b"") -> None:
    if status != want:
        raise RuntimeError(f"{what}: {status} {body[:200]!r}")


def run_rm_true(socket_path: str) -> None:
    """One ``run --rm busybox true`` through the API; ``RuntimeError`` if it fails."""
    main = _Conn(socket_path)
    attach = start = None
    try:
        spec = {"Image": "busybox", "Cmd": ["true"], "AttachStdout": True,
                "AttachStderr": True, "HostConfig": {"AutoRemove": True}}
        main.send("POST", "/containers/create", json.dumps(spec).encode())
        status, headers = main.head()
        body = main.body(headers)
        _expect(status, 201, "create", body)
        cid = json.loads(body)["Id"]
        attach = _Conn(socket_path)
        attach.send("POST", f"/containers/{cid}/attach?stderr=1&stdout=1&stream=1",
                    headers=("Connection: Upgrade", "Upgrade: tcp"))
        _expect(attach.head()[0], 101, "attach")
        main.send("POST", f"/containers/{cid}/wait?condition=removed")
        status, wait_headers = main.head()
        _expect(status, 200, "wait")
        start = _Conn(socket_path)
        start.send("POST", f"/containers/{cid}/start")
        status, headers = start.head()
        _expect(status, 204, "start", start.body(headers))
        attach.drain()
        result = json.loads(main.body(wait_headers))
        if result.get("StatusCode") != 0:
            raise RuntimeError(f"wait: {result!r}")
    finally:
        for c in (main, attach, start):
            if c is not None:
                c.close()
