"""Our registry (``dockyard.registry``) served in a thread on 127.0.0.1 for tests.

``serve_registry(root, **config)`` serves a ``RegistryConfig`` (filesystem storage under
``root`` unless told otherwise) on an ephemeral loopback port with the same
``serve_socket`` the CLI uses; ``.stop()`` ends it and may be called more than once. Used
by the registry's own integration tests and by the distribution client's tests (through
``tests/unit/distribution/registry_fakes.py``); ``tests/conftest.py`` puts this folder
on ``sys.path``.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.registry.config import RegistryConfig
from dockyard.registry.routes.base import AppState
from dockyard.registry.server import bind, build_state, serve_socket


@dataclass
class ThreadRegistry:
    url: str
    host: str
    state: AppState
    root: Path
    _loop: asyncio.AbstractEventLoop
    _stop: asyncio.Event
    _thread: threading.Thread

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(15)


def serve_registry(root: Path, **overrides: Any) -> ThreadRegistry:
    values: dict[str, Any] = {"listen": "127.0.0.1:0", "storage_root": str(root)}
    values.update(overrides)
    cfg = RegistryConfig(**values)
    sock = bind(cfg.listen)
    port = sock.getsockname()[1]
    state = build_state(cfg)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, asyncio.Event] = {}
    errors: list[BaseException] = []

    async def main() -> None:
        stop = asyncio.Event()
        holder["stop"] = stop
        await serve_socket(state, sock, stop, ready.set)

    def target() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main())
        except BaseException as e:  # reported below
            errors.append(e)
            ready.set()
        finally:
            sock.close()
            loop.close()

    t = threading.Thread(target=target, name="test-registry", daemon=True)
    t.start()
    if not ready.wait(15) or errors:
        raise RuntimeError(f"registry did not start: {errors}")
    host = f"127.0.0.1:{port}"
    scheme = "https" if cfg.tls else "http"
    return ThreadRegistry(f"{scheme}://{host}", host, state, root, loop, holder["stop"], t)
