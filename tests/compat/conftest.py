"""The fixtures every compat test against dockyardd shares: one real daemon per module
(temp socket, data and exec roots; ``tests/integration/daemon/daemon_harness.py``),
cleaned up even when a test fails, and a docker-py client that removes what it made."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "daemon"))
import daemon_harness as harness


@pytest.fixture(scope="module")
def d() -> Iterator[harness.Daemon]:
    if os.geteuid() != 0:
        pytest.skip("the daemon needs root")
    daemon = harness.new_daemon()
    try:
        daemon.start()
        yield daemon
        assert daemon.errors() == [], daemon.tail(80)
    finally:
        daemon.cleanup()


@pytest.fixture
def client(d: harness.Daemon) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=d.host, timeout=60)
    try:
        yield c
    finally:
        for container in c.containers.list(all=True):
            container.remove(force=True)
        c.close()
