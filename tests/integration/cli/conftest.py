"""The fixtures of the ``dockyard`` CLI tests: ``d``, one daemon for each test module
(started with the offline busybox image, checked for logged errors after the module's
tests, cleaned up), and ``dy``, the CLI run as a person does against it, every container
removed after each test. A module with other needs defines its own ``dy``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import CLI, cli_session, harness, module_daemon


@pytest.fixture(scope="module")
def d(request: pytest.FixtureRequest) -> Iterator[harness.Daemon]:
    # the temp root's prefix names the module: dyd-cli-cont-, dyd-cli-imag-...
    tag = request.module.__name__.rpartition(".")[2].removeprefix("test_cli_")[:4]
    yield from module_daemon(f"dyd-cli-{tag}-")


@pytest.fixture
def dy(d: harness.Daemon) -> Iterator[CLI]:
    yield from cli_session(d)
