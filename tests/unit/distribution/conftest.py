"""Fixtures of the registry client tests: our registry in a thread (plain, htpasswd or
token auth) and a recording, fault-injecting proxy in front of it (``registry_fakes``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from registry_fakes import FaultProxy, ThreadRegistry, serve_registry

from dockyard.registry.auth.htpasswd import hash_password
from dockyard.registry.config import AuthConfig, AuthType


@pytest.fixture
def start_registry(tmp_path: Path) -> Iterator[Callable[..., ThreadRegistry]]:
    started: list[ThreadRegistry] = []

    def start(**overrides: Any) -> ThreadRegistry:
        r = serve_registry(tmp_path / f"registry{len(started)}", **overrides)
        started.append(r)
        return r

    try:
        yield start
    finally:
        for r in started:
            r.stop()


@pytest.fixture
def registry(start_registry: Callable[..., ThreadRegistry]) -> ThreadRegistry:
    return start_registry()


@pytest.fixture
def auth_registry(start_registry: Callable[..., ThreadRegistry], tmp_path: Path
                  ) -> Callable[[str], ThreadRegistry]:
    """auth_registry("token" | "htpasswd"): user alice / password wonderland."""
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"alice:{hash_password('wonderland', 4)}\n")

    def start(kind: str) -> ThreadRegistry:
        return start_registry(auth=AuthConfig(type=AuthType(kind), htpasswd=str(htpasswd)))

    return start


@pytest.fixture
def proxy(registry: ThreadRegistry) -> Iterator[FaultProxy]:
    p = FaultProxy(registry.host).start()
    try:
        yield p
    finally:
        p.stop()
