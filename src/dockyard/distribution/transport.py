"""Requests to one registry: the endpoint chosen by a ping, authentication, retries.

Lifecycle: ``Transport(host, auth, config)`` → ``ping()`` (``GET /v2/`` on each endpoint in
turn: HTTPS then HTTP for an insecure registry; the first that answers at all is kept,
and its ``WWW-Authenticate`` challenge learned) → ``request(...)`` any number of times,
from any thread → ``close()``.

``request`` adds the ``Authorization`` the challenge asks for (``tokens.Authenticator``),
answers a 401 once by fetching a token for the scope the registry names, and retries
connection errors and 5xx answers with exponential backoff (``config.retries``,
``config.backoff``); bodies given as a callable are produced afresh for each attempt.
Redirects (to blob storage) are followed by urllib3, which drops ``Authorization`` when
the host changes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error

from dockyard.errors import Unavailable

from .auth import RegistryAuth
from .config import RegistryConfig
from .endpoints import Endpoint, endpoints, pool_manager
from .tokens import Authenticator

log = logging.getLogger(__name__)

Body = bytes | Callable[[], Iterable[bytes]] | None
USER_AGENT = "dockyard/0.1 (docker-compatible) urllib3"


def reason(e: BaseException) -> str:
    """A short reason for a transport failure (the innermost cause urllib3 wrapped)."""
    inner: BaseException = e
    dial = ""
    while True:
        conn = getattr(inner, "conn", None)  # urllib3's NewConnectionError: Go's "dial tcp"
        host, port = getattr(conn, "host", None), getattr(conn, "port", None)
        if isinstance(host, str) and isinstance(port, int):
            dial = f"dial tcp {f'[{host}]' if ':' in host else host}:{port}: "
        nxt = getattr(inner, "reason", None)
        if isinstance(nxt, BaseException) and nxt is not inner:
            inner = nxt
            continue
        break
    text = str(inner)
    if "Connection refused" in text:
        return f"{dial}connect: connection refused"
    return text or type(inner).__name__


class Transport:
    """HTTP to one registry host (see the module docstring)."""

    def __init__(self, host: str, auth: RegistryAuth | None, config: RegistryConfig, *,
                 for_push: bool = False, endpoint: Endpoint | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.host = host
        self.config = config
        self._candidates = [endpoint] if endpoint else endpoints(host, config,
                                                                  for_push=for_push)
        self._pools: dict[tuple[str, bool], urllib3.PoolManager] = {}
        self._lock = threading.Lock()
        self._endpoint: Endpoint | None = None
        self._sleep = sleep
        self.auth = Authenticator(auth or RegistryAuth(), self._raw)

    # ----------------------------------------------------------------- endpoint

    @property
    def base_url(self) -> str:
        return self.endpoint.url

    @property
    def endpoint(self) -> Endpoint:
        """The endpoint in use (a ping chooses it first)."""
        ep = self._endpoint
        if ep is None:
            ep, _ = self._ping()
        return ep

    def _pool(self, ep: Endpoint) -> urllib3.PoolManager:
        """The pools of ``ep``, with the TLS trust of its host (``certs.d/<host:port>``:
        a mirror's own, not docker.io's)."""
        host = urllib3.util.parse_url(ep.url).netloc or self.host
        with self._lock:
            pm = self._pools.get((host, ep.insecure))
            if pm is None:
                pm = self._pools[host, ep.insecure] = pool_manager(host, self.config,
                                                                   ep.insecure)
            return pm

    def ping(self) -> urllib3.BaseHTTPResponse:
        """``GET /v2/`` on each candidate endpoint; the first that answers is kept."""
        return self._ping()[1]

    def _ping(self) -> tuple[Endpoint, urllib3.BaseHTTPResponse]:
        errors: list[str] = []
        for ep in self._candidates:
            url = f"{ep.url}/v2/"
            pm = self._pool(ep)

            def get(pm: urllib3.PoolManager = pm, url: str = url
                    ) -> urllib3.BaseHTTPResponse:
                return pm.request("GET", url, headers={"User-Agent": USER_AGENT})

            # HTTPS to an insecure (maybe plain HTTP) registry fails fast: no retries
            retry = not (ep.insecure and ep.url.startswith("https://"))
            try:
                r = self._retrying(get, "GET", url, retry_errors=retry, retry_refused=False)
            except Unavailable as e:
                errors.append(str(e))
                log.debug("registry %s: endpoint %s failed: %s", self.host, ep.url, e)
                continue
            self._endpoint = ep
            self.auth.learn(r, url)
            return ep, r
        raise Unavailable(errors[-1] if errors else f"registry {self.host}: no endpoint")

    # ----------------------------------------------------------------- requests

    def _raw(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
             ) -> urllib3.BaseHTTPResponse:
        """One request, no auth, with retries (the token server is reached by this)."""
        ep = self.endpoint
        return self._retrying(lambda: self._pool(ep).request(
            method, url, headers={"User-Agent": USER_AGENT, **headers}, body=body,
            preload_content=True), method, url)

    def url(self, path: str) -> str:
        """An absolute URL: ``path`` as given if absolute (a ``Location``), else under the
        endpoint's base URL."""
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + path

    def request(self, method: str, path: str, *, scopes: tuple[str, ...],
                headers: Mapping[str, str] | None = None, body: Body = None,
                stream: bool = False, retry: bool = True) -> urllib3.BaseHTTPResponse:
        """Send ``method path`` with credentials for ``scopes``; any status is returned
        (the caller checks it). ``stream``: the body is not read (``release_conn()``
        after reading it). Connection errors and 5xx are retried unless ``retry`` is
        false; still failing: ``Unavailable`` (a 5xx answer is returned as it is)."""
        url = self.url(path)
        ep = self.endpoint
        hdrs = {"User-Agent": USER_AGENT, **(headers or {})}
        for attempt in range(2):
            auth = self.auth.header(scopes, url, method)
            h = dict(hdrs)
            if auth:
                h["Authorization"] = auth

            def send(h: dict[str, str] = h) -> urllib3.BaseHTTPResponse:
                data: Any = body() if callable(body) else body
                return self._pool(ep).request(
                    method, url, headers=h, body=data, preload_content=not stream,
                    decode_content=False, chunked=callable(body))

            resp = self._retrying(send, method, url, retry_errors=retry)
            if resp.status != 401 or attempt:
                return resp
            if not self.auth.learn(resp, url, scopes):
                return resp
            resp.drain_conn()
            resp.release_conn()
        raise AssertionError("unreachable")  # pragma: no cover

    def _retrying(self, send: Callable[[], urllib3.BaseHTTPResponse], method: str, url: str,
                  *, retry_errors: bool = True, retry_refused: bool = True
                  ) -> urllib3.BaseHTTPResponse:
        """``send()`` again on connection errors and 5xx, with backoff. ``retry_refused``
        false: a refused connection fails at once (the ping: nothing listens there, as
        Docker concludes; a registry that goes away in the middle is retried)."""
        delay = self.config.backoff
        attempts = 1 + (self.config.retries if retry_errors else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                resp = send()
            except Urllib3Error as e:
                if last or (not retry_refused and "connection refused" in reason(e)):
                    raise Unavailable(f'{method.capitalize()} "{url}": {reason(e)}') from e
                log.info("%s %s: %s; retrying in %.1fs", method, url, reason(e), delay)
            else:
                if resp.status < 500 or resp.status == 501 or last:
                    return resp
                log.info("%s %s: %d; retrying in %.1fs", method, url, resp.status, delay)
                resp.drain_conn()
                resp.release_conn()
            self._sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pm in pools:
            pm.clear()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
