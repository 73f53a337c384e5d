"""Running the registry: the listening socket, TLS, worker processes, shutdown.

``build_state`` opens the storage and the authorizer from a ``RegistryConfig``;
``run_server`` serves until SIGTERM/SIGINT. With ``workers > 1`` the parent binds the
socket and forks that many single-threaded children before any thread exists (so no
lock is inherited held); each child runs its own event loop on the shared socket and
the kernel spreads connections. The in-memory driver is refused with several workers:
each child would have its own memory.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable

from aiohttp import web

from dockyard.errors import InvalidArgument
from dockyard.registry.app import make_app
from dockyard.registry.auth import make_authorizer
from dockyard.registry.auth.token import TokenIssuer
from dockyard.registry.config import RegistryConfig, parse_listen
from dockyard.registry.routes.base import AppState
from dockyard.registry.storage import DRIVERS
from dockyard.registry.store import ManifestPolicy, Registry
from dockyard.registry.tls import fallback_factory, server_context

log = logging.getLogger(__name__)
ACCESS_LOG_FORMAT = '%a - - %t "%r" %s %b "%{Referer}i" "%{User-Agent}i"'


def open_registry(cfg: RegistryConfig) -> Registry:
    factory = DRIVERS.get(cfg.storage_driver)
    if factory is None:
        raise InvalidArgument(f"unknown storage driver {cfg.storage_driver!r} "
                              f"(known: {', '.join(sorted(DRIVERS))})")
    if cfg.storage_driver == "filesystem" and not cfg.storage_root:
        raise InvalidArgument("the filesystem storage driver needs a root (--storage DIR)")
    driver = factory(cfg.storage_root)
    if cfg.workers > 1 and not driver.multiprocess:
        raise InvalidArgument(f"the {driver.name} storage driver lives in one process: "
                              "it cannot serve several workers")
    policy = ManifestPolicy(max_size=cfg.max_manifest_size, require_blobs=cfg.require_blobs)
    return Registry(driver, policy=policy, max_blob_size=cfg.max_blob_size)


def build_state(cfg: RegistryConfig, token_key: bytes | None = None) -> AppState:
    return AppState(open_registry(cfg), make_authorizer(cfg.auth, token_key), cfg)


class FallbackSockSite(web.SockSite):
    """A plain-HTTP site that answers TLS handshakes with HTTP 400 (see ``tls.py``)."""

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        if server is None:
            raise RuntimeError("runner not set up")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(fallback_factory(server), sock=self._sock,
                                                backlog=self._backlog)


def bind(listen: str) -> socket.socket:
    host, port = parse_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(False)
    return sock


def _access_logger(path: str) -> logging.Logger | None:
    if not path:
        return None
    logger = logging.getLogger("dockyard.registry.access")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if not logger.handlers:
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    return logger


async def serve_socket(state: AppState, sock: socket.socket,
                       stop: asyncio.Event, ready: Callable[[], None] | None = None) -> None:
    """Serve ``state`` on the bound ``sock`` until ``stop`` is set."""
    cfg = state.config
    access = _access_logger(cfg.access_log)
    runner = web.AppRunner(make_app(state), access_log=access,
                           access_log_format=ACCESS_LOG_FORMAT, handle_signals=False,
                           shutdown_timeout=5.0)
    await runner.setup()
    try:
        site: web.BaseSite
        if cfg.tls:
            site = web.SockSite(runner, sock, ssl_context=server_context(cfg.tls_cert,
                                                                         cfg.tls_key))
        elif cfg.tls_fallback_answer:
            site = FallbackSockSite(runner, sock)
        else:
            site = web.SockSite(runner, sock)
        await site.start()
        if ready is not None:
            ready()
        await stop.wait()
    finally:
        await runner.cleanup()


def _run_one(state: AppState, sock: socket.socket, ready: Callable[[], None] | None) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve_socket(state, sock, stop, ready)

    asyncio.run(main())


def run_server(cfg: RegistryConfig, ready: Callable[[str], None] | None = None) -> int:
    """Serve ``cfg`` until a signal; ``ready(url)`` is called once it accepts."""
    sock = bind(cfg.listen)
    host, port = sock.getsockname()[:2]
    scheme = "https" if cfg.tls else "http"
    url = f"{scheme}://{host}:{port}" if ":" not in host else f"{scheme}://[{host}]:{port}"
    key = TokenIssuer.random_key()  # shared by every worker unless the config sets one
    if cfg.workers == 1:
        state = build_state(cfg, key)
        _run_one(state, sock, (lambda: ready(url)) if ready else None)
        return 0
    open_registry(cfg)  # fail early (schema, driver) before forking
    children: list[int] = []
    for _ in range(cfg.workers):
        pid = os.fork()
        if pid == 0:  # child: serve, never return into the parent's code
            code = 0
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _run_one(build_state(cfg, key), sock, None)
            except BaseException:
                log.exception("registry worker failed")
                code = 1
            finally:
                sys.stdout.flush()
                os._exit(code)
        children.append(pid)
    sock.close()
    if ready is not None:
        ready(url)

    def forward(signum: int, frame: object) -> None:
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for child in children:
        while True:
            try:
                _, st = os.waitpid(child, 0)
                break
            except ChildProcessError:
                st = 0
                break
            except InterruptedError:
                continue
        if os.waitstatus_to_exitcode(st) != 0:
            status = 1
    return status
