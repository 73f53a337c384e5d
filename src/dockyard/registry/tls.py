"""TLS for the registry, and the plain-HTTP answer to a TLS handshake.

``server_context`` builds the server's ``SSLContext`` from a PEM certificate chain and
key (TLS 1.2 or later).

``TLSFallbackProtocol`` is for the opposite case, a plain-HTTP registry reached by a
client that tries TLS first. ``docker manifest inspect --insecure`` (and Go clients in
general) fall back to HTTP only when the server answers the handshake with an HTTP
response: Go's TLS client then reports "server gave HTTP response to HTTPS client",
which is the error the fallback looks for. A connection whose first byte is 0x16 (a TLS
handshake record) is therefore answered ``HTTP/1.0 400 Bad Request`` ("Client sent an
HTTP request to an HTTPS server" in reverse, as Go's own servers do) and closed; any other
connection is handed to aiohttp untouched.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

_TLS_HANDSHAKE = 0x16
FALLBACK_ANSWER = (b"HTTP/1.0 400 Bad Request\r\n"
                   b"Content-Type: text/plain; charset=utf-8\r\n"
                   b"Connection: close\r\n\r\n"
                   b"This registry speaks plain HTTP; a TLS handshake was received.\n")


def server_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class TLSFallbackProtocol(asyncio.Protocol):
    """Looks at the first byte of a connection, then gets out of the way.

    It wraps the protocol aiohttp would have used: every callback is forwarded once
    the first data showed a plain HTTP request.
    """

    def __init__(self, inner: asyncio.Protocol) -> None:
        self._inner = inner
        self._transport: asyncio.Transport | None = None
        self._decided = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, asyncio.Transport):
            raise TypeError("the TLS fallback check serves stream connections only")
        self._transport = transport
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._decided:
            self._decided = True
            if data and data[0] == _TLS_HANDSHAKE and self._transport is not None:
                self._transport.write(FALLBACK_ANSWER)
                self._transport.close()
                return
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


def fallback_factory(inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
    """A protocol factory wrapping every connection of ``inner`` in the fallback check."""
    def factory() -> asyncio.Protocol:
        return TLSFallbackProtocol(inner())
    return factory
