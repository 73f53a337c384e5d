"""The small Engine API client against a fake daemon on a unix socket (canned answers
written by a thread): framing of requests and answers, errors, streams, hijack."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard.client import (
    APIError,
    Client,
    DaemonUnreachable,
    ProtocolError,
    demux,
    resolve_host,
    socket_path,
)
from dockyard.client.http import encode_query, quote
from dockyard.errors import InvalidArgument
from dockyard.oci.jsoncodec import dumps, loads

Handler = Callable[[bytes, socket.socket], None]


class FakeDaemon:
    """Accepts connections; ``handler(request_bytes, conn)`` answers each one."""

    def __init__(self, path: str, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        self.requests: list[bytes] = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, rest = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                chunked = b"transfer-encoding: chunked" in head.lower()
                while (len(rest) < length) or (chunked and not rest.endswith(b"0\r\n\r\n")):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    rest += chunk
                self.requests.append(head + b"\r\n\r\n" + rest)
                self.handler(head + b"\r\n\r\n" + rest, conn)

    def close(self) -> None:
        self.server.close()


Fake = Callable[[Handler], tuple[FakeDaemon, Client]]


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[Fake]:
    made: list[FakeDaemon] = []

    def make(handler: Handler) -> tuple[FakeDaemon, Client]:
        path = str(tmp_path / f"d{len(made)}.sock")
        d = FakeDaemon(path, handler)
        made.append(d)
        return d, Client(f"unix://{path}")

    yield make
    for d in made:
        d.close()


def answer(status: str, body: bytes, headers: str = "") -> Handler:
    def handler(_req: bytes, conn: socket.socket) -> None:
        conn.sendall(f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
                     .encode() + body)
    return handler


def test_get_sends_the_versioned_path_query_and_decodes_json(fake: Fake) -> None:
    d, client = fake(answer("200 OK", b'[{"Id": "abc"}]',
                            "Content-Type: application/json\r\n"))
    resp = client.get("/containers/json", {"all": True, "limit": 3, "x": None,
                                           "filters": '{"a":1}'})
    assert resp.json() == [{"Id": "abc"}]
    assert resp.headers["content-type"] == "application/json"
    line = d.requests[0].split(b"\r\n")[0]
    assert line == (b"GET /v1.45/containers/json?all=1&limit=3&filters=%7B%22a%22%3A1%7D "
                    b"HTTP/1.1")


def test_post_json_body_and_error_message(fake: Fake) -> None:
    d, client = fake(answer("404 Not Found", b'{"message":"No such container: x"}'))
    with pytest.raises(APIError) as err:
        client.post("/containers/x/start", body={"A": [1]})
    assert err.value.status == 404 and err.value.message == "No such container: x"
    req = d.requests[0]
    assert b"Content-Type: application/json" in req and req.endswith(b'{"A":[1]}')


def test_chunked_answers_and_json_lines(fake: Fake) -> None:
    lines = [{"status": "a"}, {"status": "b"}]
    payload = b"".join(json.dumps(x).encode() + b"\n" for x in lines)

    def handler(_req: bytes, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(payload), 7):  # chunks that split the lines
            part = payload[i:i + 7]
            conn.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        conn.sendall(b"0\r\n\r\n")

    _, client = fake(handler)
    assert list(client.post("/images/create").iter_json()) == lines


def test_multiplexed_frames_split_across_chunks(fake: Fake) -> None:
    frames = (b"\x01\x00\x00\x00\x00\x00\x00\x03out" + b"\x02\x00\x00\x00\x00\x00\x00\x04err!")

    def handler(_req: bytes, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: "
                     b"application/vnd.docker.multiplexed-stream\r\n\r\n")
        for b in frames:
            conn.sendall(bytes([b]))

    _, client = fake(handler)
    assert list(client.get("/containers/c/logs").iter_frames()) == [(1, b"out"),
                                                                     (2, b"err!")]
    with pytest.raises(ProtocolError):
        list(demux([frames[:10]]))


def test_chunked_request_body(fake: Fake) -> None:
    d, client = fake(answer("200 OK", b""))
    client.put("/containers/c/archive", {"path": "/"}, data=iter([b"ab", b"", b"cde"]))
    req = d.requests[0]
    assert b"Transfer-Encoding: chunked" in req
    assert req.endswith(b"2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n")


def test_hijack_returns_the_raw_socket_and_early_bytes(fake: Fake) -> None:
    def handler(_req: bytes, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-"
                     b"stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nhello")
        data = conn.recv(100)
        conn.sendall(b" " + data)

    d, client = fake(handler)
    conn = client.hijack("POST", "/containers/c/attach", query={"stream": True})
    assert conn.leftover == b"hello" and not conn.multiplexed
    conn.sock.sendall(b"ping")
    assert conn.sock.recv(100) == b" ping"
    conn.close()
    assert b"Upgrade: tcp" in d.requests[0] and b"Connection: Upgrade" in d.requests[0]


def test_hijack_error_is_an_api_error(fake: Fake) -> None:
    _, client = fake(answer("409 Conflict", b'{"message":"container is paused"}'))
    with pytest.raises(APIError, match="container is paused"):
        client.hijack("POST", "/containers/c/attach")


def test_negotiate_lowers_the_version(fake: Fake) -> None:
    d, client = fake(answer("200 OK", b"OK", "API-Version: 1.41\r\n"))
    assert client.negotiate() == "1.41"
    assert d.requests[0].startswith(b"GET /_ping HTTP/1.1")
    assert client.url("/info") == "/v1.41/info"


def test_an_older_daemon_is_spoken_to_in_its_version(fake: Fake) -> None:
    def handler(req: bytes, conn: socket.socket) -> None:
        if req.startswith(b"GET /v1.45/"):
            body = b'{"message":"client version 1.45 is too new. Maximum supported API version is 1.43"}'
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nAPI-Version: 1.43\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nAPI-Version: 1.43\r\nContent-Length: 2\r\n\r\n[]")

    d, client = fake(handler)
    assert client.get("/containers/json").json() == []
    assert client.version == "1.43"
    assert d.requests[1].startswith(b"GET /v1.43/containers/json ")


def test_a_daemon_closing_without_answer_is_a_protocol_error(fake: Fake) -> None:
    _, client = fake(lambda _req, conn: None)
    with pytest.raises(ProtocolError, match="without an answer"):
        client.get("/info")


def test_missing_socket_says_the_daemon_is_not_running(tmp_path: Path) -> None:
    client = Client(f"unix://{tmp_path}/none.sock")
    with pytest.raises(DaemonUnreachable) as err:
        client.get("/info")
    assert str(err.value) == (f"Cannot connect to the dockyard daemon at unix://{tmp_path}"
                              "/none.sock. Is dockyardd running?")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(tmp_path / "dead.sock"))
    sock.close()  # a socket file nobody listens on: connection refused
    with pytest.raises(DaemonUnreachable):
        Client(f"unix://{tmp_path}/dead.sock").get("/info")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make an unreadable socket")
def test_socket_the_user_may_not_open(tmp_path: Path) -> None:
    path = tmp_path / "priv.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    os.chmod(path, 0o600)
    try:
        pid = os.fork()
        if pid == 0:  # an unprivileged child tries
            os.setgid(65534)
            os.setuid(65534)
            try:
                Client(f"unix://{path}").get("/info")
            except DaemonUnreachable as exc:
                os._exit(0 if "permission denied" in str(exc) else 2)
            os._exit(3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        server.close()


def test_host_selection_order() -> None:
    env = {"DOCKYARD_HOST": "unix:///a.sock", "DOCKER_HOST": "unix:///b.sock"}
    assert resolve_host("unix:///flag.sock", env) == "unix:///flag.sock"
    assert resolve_host(None, env) == "unix:///a.sock"
    assert resolve_host(None, {"DOCKER_HOST": "unix:///b.sock"}) == "unix:///b.sock"
    assert resolve_host(None, {}) == "unix:///run/dockyard.sock"
    assert socket_path("unix:///run/x.sock") == "/run/x.sock"
    with pytest.raises(InvalidArgument, match="unix socket only"):
        resolve_host("tcp://127.0.0.1:2375", {})
    with pytest.raises(InvalidArgument, match="must be absolute"):
        socket_path("unix://relative.sock")


def test_query_and_path_quoting() -> None:
    assert quote("a b/c") == "a%20b%2Fc"
    assert quote("reg:5000/x:1", "/:") == "reg:5000/x:1"
    assert encode_query({"a": ["1", "2"], "b": False}) == "?a=1&a=2&b=0"
    assert encode_query({}) == ""


def test_jsoncodec_matches_json() -> None:
    for text in ['{"a": [1, 2.5, "\\u00e9", null, true]}', " 3 ", "[]", '"x"']:
        assert loads(text) == json.loads(text)
        assert loads(text.encode()) == json.loads(text)
    for obj in [{"a": [1, 2.5, "é", None, True]}, {"k": {}}]:
        assert dumps(obj) == json.dumps(obj, separators=(",", ":"))
    for bad in ["", "{", "[1] x"]:
        with pytest.raises(ValueError):
            loads(bad)
    with pytest.raises(ValueError):
        dumps(float("nan"))
