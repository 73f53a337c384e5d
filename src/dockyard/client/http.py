"""A small synchronous Engine API client over the daemon's unix socket.

Why not ``http.client``, ``requests`` or ``httpx``: the CLI's start-up time is a goal
(``dockyard ps`` under 80 ms), and ``import http.client`` alone costs tens of
milliseconds here (it pulls in ``email``, ``ssl`` and friends), the others far more.
And ``attach``/``exec`` need the connection *hijacked* (``Upgrade: tcp`` → ``101``, then
raw bytes both ways on the same socket), which none of them offers. So this module
speaks the little HTTP/1.1 the Engine API needs, directly on a socket: one connection
per request (a unix ``connect`` costs microseconds; no pool to get wrong), bodies sent
with ``Content-Length`` or chunked (a tar stream), answers read with ``Content-Length``,
chunked transfer coding or until the close. It imports only ``_socket`` (the C module:
``socket`` would bring ``enum`` and ``selectors``), :mod:`dockyard.oci.jsoncodec`
(``json`` without its regular expressions) and ``dockyard.errors``: a few milliseconds
less on every command.

Lifecycle: ``Client(host)`` holds no connection. ``get``/``post``/``delete``/``head`` send
one request and return a :class:`Response` whose body is read on demand (``json()``,
``read()``, or streamed with ``iter_raw``/``iter_lines``/``iter_json``/``iter_frames``);
a status of 400 or more raises :class:`APIError` (the body's ``message``) unless
``check=False``. ``hijack`` returns a :class:`Hijacked` socket after the ``101``.

Versions: requests go to ``/v1.45/...`` at once, without docker's ``/_ping`` first (one
round trip less per command); a daemon that refuses the version with a 400 and an older
``API-Version`` header gets the request again in its version, kept for the next ones
(``negotiate`` does the ping explicitly).
"""

from __future__ import annotations

import _socket

from dockyard.client.errors import APIError, DaemonUnreachable, ProtocolError
from dockyard.client.hosts import socket_path
from dockyard.oci import jsoncodec

TYPE_CHECKING = False  # not `typing`'s: importing typing costs milliseconds of start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
    from typing import Any, TypeAlias

    QueryValue: TypeAlias = str | int | bool | Sequence[str] | None
    Query: TypeAlias = Mapping[str, QueryValue]
    Body: TypeAlias = bytes | Iterable[bytes]

API_VERSION = "1.45"
"""The Engine API version this client speaks (the daemon's, issue 5)."""

USER_AGENT = "dockyard-cli/0.1"
MAX_HEAD = 64 * 1024
RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def quote(text: str, safe: str = "") -> str:
    """Percent-encode ``text`` (UTF-8) for a URL path segment or a query value;
    ``urllib.parse`` would cost its import for this one function."""
    keep = _SAFE | frozenset(safe.encode())
    return "".join(chr(b) if b in keep else f"%{b:02X}" for b in text.encode())


def encode_query(query: Query | None) -> str:
    """``?a=1&b=x`` from a mapping: booleans as ``1``/``0``, ``None`` left out, sequences
    as repeated keys."""
    if not query:
        return ""
    parts: list[str] = []
    for key, value in query.items():
        if value is None:
            continue
        if isinstance(value, bool):
            parts.append(f"{quote(key)}={'1' if value else '0'}")
        elif isinstance(value, int | str):
            parts.append(f"{quote(key)}={quote(str(value))}")
        else:
            parts.extend(f"{quote(key)}={quote(v)}" for v in value)
    return "?" + "&".join(parts) if parts else ""


class Response:
    """A status, lower-cased headers and a body read on demand from the connection.

    The body is consumed once: by ``read``/``json``/``text`` or by one of the iterators.
    ``close`` (also on ``with``) drops the connection."""

    def __init__(self, sock: _socket.socket, status: int, reason: str,
                 headers: dict[str, str], buffered: bytes, *, no_body: bool) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self._sock: _socket.socket | None = sock
        self._buf = buffered
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        self._remaining: int | None = None
        if no_body:
            self._remaining = 0
        elif not self._chunked and length is not None and length.strip().isdigit():
            self._remaining = int(length)
        self._chunk_left = 0
        self._done = self._remaining == 0

    # ------------------------------------------------------------------ plumbing

    def _recv(self) -> bytes:
        if self._sock is None:
            return b""
        try:
            return self._sock.recv(65536)
        except ConnectionResetError:
            return b""

    def _fill(self) -> bool:
        data = self._recv()
        self._buf += data
        return bool(data)

    def _line(self) -> bytes:
        while b"\r\n" not in self._buf:
            if len(self._buf) > MAX_HEAD or not self._fill():
                raise ProtocolError("the daemon closed the connection in a chunk header")
        line, _, self._buf = self._buf.partition(b"\r\n")
        return line

    def _take(self, limit: int) -> bytes:
        """Up to ``limit`` bytes (at least one unless the peer closed)."""
        if not self._buf and not self._fill():
            return b""
        data, self._buf = self._buf[:limit], self._buf[limit:]
        return data

    # ------------------------------------------------------------------ the body

    def iter_raw(self) -> Iterator[bytes]:
        """The body's bytes as they arrive (transfer coding removed)."""
        while not self._done:
            if self._chunked:
                if self._chunk_left == 0:
                    size_line = self._line().split(b";", 1)[0].strip()
                    try:
                        size = int(size_line, 16)
                    except ValueError:
                        raise ProtocolError(f"bad chunk size {size_line!r}") from None
                    if size == 0:
                        while self._line():  # trailers, then the empty line
                            pass
                        self._done = True
                        break
                    self._chunk_left = size
                data = self._take(self._chunk_left)
                if not data:
                    raise ProtocolError("the daemon closed the connection inside a chunk")
                self._chunk_left -= len(data)
                if self._chunk_left == 0:
                    self._line()  # the CRLF after the chunk's data
                yield data
            elif self._remaining is not None:
                data = self._take(self._remaining)
                if not data:
                    raise ProtocolError("the daemon closed the connection before the end "
                                        "of the body")
                self._remaining -= len(data)
                self._done = self._remaining == 0
                yield data
            else:
                data = self._take(65536)
                if not data:
                    self._done = True
                    break
                yield data
        self.close()

    def read(self) -> bytes:
        return b"".join(self.iter_raw())

    def text(self) -> str:
        return self.read().decode("utf-8", "replace")

    def json(self) -> Any:
        data = self.read()
        return jsoncodec.loads(data) if data.strip() else None

    def iter_lines(self) -> Iterator[bytes]:
        """The body split at newlines (without them); a last unterminated line too."""
        pending = b""
        for data in self.iter_raw():
            pending += data
            *lines, pending = pending.split(b"\n")
            yield from lines
        if pending:
            yield pending

    def iter_json(self) -> Iterator[Any]:
        """One decoded JSON value per non-empty line (events, pull/push progress, stats)."""
        for line in self.iter_lines():
            if line.strip():
                yield jsoncodec.loads(line)

    def iter_frames(self) -> Iterator[tuple[int, bytes]]:
        """``(stream, payload)`` pairs of the 8-byte stdout/stderr framing (stream 1 is
        stdout, 2 stderr, 0 stdin) when the body is multiplexed; otherwise ``(1, bytes)``
        pairs of the raw stream (a TTY container)."""
        if not self.multiplexed:
            for data in self.iter_raw():
                yield 1, data
            return
        yield from demux(self.iter_raw())

    @property
    def multiplexed(self) -> bool:
        return self.headers.get("content-type", "").startswith(MULTIPLEXED_STREAM)

    def error_message(self) -> str:
        """The ``message`` of an error body (or the body as text)."""
        data = self.read()
        try:
            decoded = jsoncodec.loads(data)
        except ValueError:
            return data.decode("utf-8", "replace").strip() or f"{self.status} {self.reason}"
        if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):
            return str(decoded["message"])
        return data.decode("utf-8", "replace").strip()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def demux(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Split a multiplexed stream into ``(stream, payload)`` frames: each frame is a
    header ``[stream, 0, 0, 0, size (4 bytes big-endian)]`` then ``size`` bytes. Frames
    may span chunks and chunks may hold several frames."""
    buf = b""
    for data in chunks:
        buf += data
        while len(buf) >= 8:
            size = int.from_bytes(buf[4:8], "big")
            if len(buf) < 8 + size:
                break
            yield buf[0], buf[8:8 + size]
            buf = buf[8 + size:]
    if buf:
        raise ProtocolError(f"the stream ended inside a frame ({len(buf)} bytes left)")


class Hijacked:
    """A connection after ``101 UPGRADED``: ``sock`` carries raw bytes both ways;
    ``leftover`` are stream bytes that arrived with the response head."""

    def __init__(self, sock: _socket.socket, leftover: bytes, content_type: str) -> None:
        self.sock = sock
        self.leftover = leftover
        self.content_type = content_type

    @property
    def multiplexed(self) -> bool:
        return self.content_type.startswith(MULTIPLEXED_STREAM)

    def close(self) -> None:
        self.sock.close()


class Client:
    """The Engine API at ``host`` (a ``unix://`` URL), version ``version``.

    No connection is opened until a request; ``negotiate`` lowers the version to the
    daemon's (``/_ping``'s ``API-Version``) when it is older than ours."""

    def __init__(self, host: str, *, version: str = API_VERSION,
                 timeout: float | None = None,
                 trace: Callable[[str], None] | None = None) -> None:
        self.host = host
        self.path = socket_path(host)
        self.version = version
        self.timeout = timeout
        self.trace = trace  # called with each request line (the CLI's -D)

    # ------------------------------------------------------------------ requests

    def get(self, path: str, query: Query | None = None, *,
            headers: Mapping[str, str] | None = None, check: bool = True) -> Response:
        return self.request("GET", path, query=query, headers=headers, check=check)

    def head(self, path: str, query: Query | None = None, *, check: bool = True) -> Response:
        return self.request("HEAD", path, query=query, check=check)

    def post(self, path: str, query: Query | None = None, *, body: Any = None,
             data: Body | None = None, headers: Mapping[str, str] | None = None,
             check: bool = True) -> Response:
        return self.request("POST", path, query=query, body=body, data=data,
                            headers=headers, check=check)

    def put(self, path: str, query: Query | None = None, *, data: Body | None = None,
            headers: Mapping[str, str] | None = None, check: bool = True) -> Response:
        return self.request("PUT", path, query=query, data=data, headers=headers,
                            check=check)

    def delete(self, path: str, query: Query | None = None, *,
               check: bool = True) -> Response:
        return self.request("DELETE", path, query=query, check=check)

    def request(self, method: str, path: str, *, query: Query | None = None,
                body: Any = None, data: Body | None = None,
                headers: Mapping[str, str] | None = None, check: bool = True) -> Response:
        """Send one request; the response with its body unread. ``body`` is sent as JSON,
        ``data`` as is (bytes with a length, an iterable of bytes chunked)."""
        sock = self._send(method, path, query, body, data, headers)
        try:
            buffered, status, reason, hdrs = self._read_head(sock)
        except BaseException:
            sock.close()
            raise
        resp = Response(sock, status, reason, hdrs, buffered,
                        no_body=method == "HEAD" or status in (204, 304) or status < 200)
        if status == 400 and (data is None or isinstance(data, bytes)):
            theirs = hdrs.get("api-version", "")
            if theirs and _vkey(theirs) < _vkey(self.version):
                # An older daemon refuses our version: speak its own (docker's
                # negotiation, done only when needed to save every command a /_ping).
                resp.close()
                self.version = theirs
                return self.request(method, path, query=query, body=body, data=data,
                                    headers=headers, check=check)
        if check and status >= 400:
            message = resp.error_message()
            raise APIError(status, message)
        return resp

    def hijack(self, method: str, path: str, *, query: Query | None = None,
               body: Any = None, headers: Mapping[str, str] | None = None) -> Hijacked:
        """Send a request asking to upgrade (``Connection: Upgrade``, ``Upgrade: tcp``);
        after the ``101`` (or a ``200`` from an older daemon) the socket is raw."""
        hdrs = {"Connection": "Upgrade", "Upgrade": "tcp", **(headers or {})}
        sock = self._send(method, path, query, body, None, hdrs)
        try:
            buffered, status, reason, resp_headers = self._read_head(sock)
            if status >= 400:
                resp = Response(sock, status, reason, resp_headers, buffered, no_body=False)
                raise APIError(status, resp.error_message())
            if status not in (101, 200):
                raise ProtocolError(f"unexpected answer to an upgrade: {status} {reason}")
        except BaseException:
            sock.close()
            raise
        return Hijacked(sock, buffered, resp_headers.get("content-type", RAW_STREAM))

    def negotiate(self) -> str:
        """Ping the daemon and use ``min(ours, its API-Version)``; the version chosen."""
        resp = self.request("GET", "/_ping", check=False)
        resp.close()
        theirs = resp.headers.get("api-version")
        if theirs and _vkey(theirs) < _vkey(self.version):
            self.version = theirs
        return self.version

    # ------------------------------------------------------------------ the wire

    def url(self, path: str, query: Query | None = None, *, versioned: bool = True) -> str:
        prefix = f"/v{self.version}" if versioned and not path.startswith("/_ping") else ""
        return prefix + path + encode_query(query)

    def connect(self) -> _socket.socket:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.path)
        except FileNotFoundError:
            sock.close()
            raise DaemonUnreachable(self.host) from None
        except ConnectionRefusedError:
            sock.close()
            raise DaemonUnreachable(self.host) from None
        except PermissionError:
            sock.close()
            raise DaemonUnreachable(self.host, f"permission denied on {self.path}") from None
        except OSError as exc:
            sock.close()
            raise DaemonUnreachable(self.host, exc.strerror or str(exc)) from None
        return sock

    def _send(self, method: str, path: str, query: Query | None, body: Any,
              data: Body | None, headers: Mapping[str, str] | None) -> _socket.socket:
        hdrs = {"Host": "docker", "User-Agent": USER_AGENT}
        payload: bytes | None = None
        chunks: Iterable[bytes] | None = None
        if body is not None:
            payload = jsoncodec.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        elif isinstance(data, bytes):
            payload = data
        elif data is not None:
            chunks = data
            hdrs["Transfer-Encoding"] = "chunked"
        if payload is not None:
            hdrs["Content-Length"] = str(len(payload))
        elif chunks is None and method in ("POST", "PUT"):
            hdrs["Content-Length"] = "0"
        hdrs.update(headers or {})
        if self.trace is not None:
            self.trace(f"{method} {self.url(path, query)}")
        head = f"{method} {self.url(path, query)} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        sock = self.connect()
        try:
            if payload is not None and len(payload) < 65536:
                sock.sendall(head.encode("latin-1") + payload)
            else:
                sock.sendall(head.encode("latin-1"))
                if payload is not None:
                    sock.sendall(payload)
                elif chunks is not None:
                    for chunk in chunks:
                        if chunk:
                            sock.sendall(b"%X\r\n%s\r\n" % (len(chunk), chunk))
                    sock.sendall(b"0\r\n\r\n")
        except BrokenPipeError:
            # The daemon answered early (an error) and closed: its answer is still
            # readable, so fall through to reading the head.
            pass
        except BaseException:
            sock.close()
            raise
        return sock

    def _read_head(self, sock: _socket.socket) -> tuple[bytes, int, str, dict[str, str]]:
        buf = b""
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(buf) > MAX_HEAD:
                raise ProtocolError("the daemon's response head is too large")
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                raise ProtocolError(f"the daemon at {self.host} closed the connection "
                                    "without an answer")
            buf += data
        head, rest = buf[:end].decode("latin-1"), buf[end + 4:]
        status_line, *lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ProtocolError(f"not an HTTP answer: {status_line[:80]!r}")
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return rest, int(parts[1]), parts[2] if len(parts) > 2 else "", headers


def _vkey(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (0,)
