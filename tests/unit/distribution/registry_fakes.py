"""Test registries on 127.0.0.1: ours in a thread, and a recording proxy that injects faults.

``serve_registry(root, **config)`` serves ``dockyard.registry`` (a ``RegistryConfig``) on an
ephemeral loopback port in a thread; ``.stop()`` ends it. ``FaultProxy(upstream)`` is a
threaded HTTP proxy in front of any registry: it records every request (method, path,
headers) and applies ``Fault`` rules to matching requests (answer a status, cut a body
short and drop the connection, corrupt a byte, drop the connection), each a given number
of times. Nothing here talks to anything but loopback.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from registry_thread import ThreadRegistry, serve_registry

__all__ = ["BlobServer", "Fault", "FaultProxy", "ThreadRegistry", "serve_registry"]


@dataclass
class Fault:
    """Applied to requests whose method matches and whose path matches ``path`` (regex)."""

    method: str
    path: str
    action: str  # "status" | "truncate" | "corrupt" | "drop" | "redirect" | "stall" |
    #              "norange" (the request is forwarded without its Range header)
    arg: int = 0  # the status, or the bytes sent before cutting
    times: int = 1
    location: str = ""  # where "redirect" sends the client (307)
    release: threading.Event = field(default_factory=threading.Event)
    """"stall": ``arg`` bytes are sent, then the rest once this is set."""
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.times > 0 and method == self.method
                and re.search(self.path, path) is not None)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]


_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
        "proxy-authorization", "proxy-authenticate", "content-length", "host"}


@dataclass
class FaultProxy:
    """A recording, fault-injecting HTTP proxy to ``upstream`` (``host:port``)."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def host(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return bytes(out)
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def handle_one(self) -> None:
                method, path = self.command, self.path
                with proxy._lock:
                    proxy.requests.append(Recorded(method, path, dict(self.headers.items())))
                    fault = next((f for f in proxy.faults if f.matches(method, path)), None)
                    if fault is not None:
                        fault.times -= 1
                        fault.hits += 1
                body = self._body()
                if fault is not None and fault.action == "status":
                    msg = b'{"errors":[{"code":"UNKNOWN","message":"injected fault"}]}'
                    self.send_response(fault.arg)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    self.wfile.write(msg)
                    return
                if fault is not None and fault.action == "redirect":
                    self.send_response(307)
                    self.send_header("Location", fault.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if fault is not None and fault.action == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP
                               and not (fault is not None and fault.action == "norange"
                                        and k.lower() == "range")}
                    conn.request(method, path, body=body if body or method in (
                        "PUT", "POST", "PATCH") else None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() in _HOP:
                            continue
                        if k.lower() == "location":
                            v = v.replace(f"http://{proxy.upstream}", f"http://{proxy.host}")
                        self.send_header(k, v)
                    length = len(data) if method != "HEAD" else int(
                        resp.getheader("Content-Length") or 0)
                    self.send_header("Content-Length", str(length))
                    self.end_headers()
                    if method == "HEAD":
                        return
                    if fault is not None and fault.action == "truncate":
                        self.wfile.write(data[:fault.arg])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    if fault is not None and fault.action == "stall":
                        self.wfile.write(data[:fault.arg])
                        self.wfile.flush()
                        fault.release.wait(30)
                        data = data[fault.arg:]
                    if fault is not None and fault.action == "corrupt" and data:
                        data = bytes([data[0] ^ 0xFF]) + data[1:]
                    self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_one

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="fault-proxy")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ranges(self, path_pattern: str) -> list[str]:
        """The ``Range`` headers of the GETs whose path matches ``path_pattern``."""
        with self._lock:
            return [r.headers.get("Range", "") for r in self.requests
                    if r.method == "GET" and re.search(path_pattern, r.path)]

    def count(self, method: str, pattern: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests
                       if r.method == method and re.search(pattern, r.path))


class BlobServer:
    """Serves fixed bytes at fixed paths (blob storage a registry redirects to), recording
    the headers of every request."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs
        self.requests: list[Recorded] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append(Recorded("GET", self.path, dict(self.headers.items())))
                data = server.blobs.get(self.path.split("?")[0])
                self.send_response(200 if data is not None else 404)
                self.send_header("Content-Length", str(len(data or b"")))
                self.end_headers()
                self.wfile.write(data or b"")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


Factory = Callable[..., ThreadRegistry]
