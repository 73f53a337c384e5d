"""Fixtures of the daemon integration suite: a real dockyardd per module (``daemon``) or
per test (``new_daemon``: made, not started), cleaned up even when the test failed."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The test directories are not packages: the harness is imported from this directory.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import daemon_harness as harness

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def daemon() -> Iterator[harness.Daemon]:
    if os.geteuid() != 0:
        pytest.skip("the daemon needs root")
    d = harness.new_daemon()
    try:
        d.start()
        yield d
    finally:
        d.cleanup()


@pytest.fixture
def new_daemon() -> Iterator[Callable[[], harness.Daemon]]:
    if os.geteuid() != 0:
        pytest.skip("the daemon needs root")
    made: list[harness.Daemon] = []

    def make() -> harness.Daemon:
        d = harness.new_daemon()
        made.append(d)
        return d

    try:
        yield make
    finally:
        for d in made:
            d.cleanup()
