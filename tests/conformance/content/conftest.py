"""The content store conformance suite's fixtures: one parameter per implementation.

Like containerd's ``core/content/testsuite``: every test runs against every
``ContentStore`` implementation listed in ``IMPLEMENTATIONS``. An implementation is
described by how to open it on a root directory, in this process and (as source code
binding ``store`` from ``root``) in a child process, for the crash and multi-process tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from dockyard.content import ContentStore, LocalContentStore

SRC = str(Path(__file__).resolve().parents[3] / "src")


class Implementation(NamedTuple):
    name: str
    open: Callable[[Path], ContentStore]
    open_source: str  # Python statements binding `store` from the str `root`


IMPLEMENTATIONS = [
    Implementation(
        "local",
        lambda root: LocalContentStore(str(root)),
        "from dockyard.content import LocalContentStore\nstore = LocalContentStore(root)\n",
    ),
]


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda impl: impl.name)
def impl(request: pytest.FixtureRequest) -> Implementation:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "content"


@pytest.fixture
def store(impl: Implementation, root: Path) -> ContentStore:
    return impl.open(root)


@pytest.fixture
def reopen(impl: Implementation, root: Path) -> Callable[[], ContentStore]:
    """reopen() -> a new store object on the same root (as after a restart)."""
    return lambda: impl.open(root)


ChildFactory = Callable[[str], "subprocess.Popen[str]"]


@pytest.fixture
def child(impl: Implementation, root: Path) -> Iterator[ChildFactory]:
    """child(body) -> a running ``python -c`` with ``store`` open on ``root`` and the
    ``content(n)`` generator defined; it is killed at the end of the test if still alive."""
    procs: list[subprocess.Popen[str]] = []

    def start(body: str) -> subprocess.Popen[str]:
        source = (f"import os, sys, time\nroot = {str(root)!r}\n{impl.open_source}"
                  f"{CONTENT_SOURCE}\n{body}")
        env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
        p = subprocess.Popen([sys.executable, "-c", source], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=30)


# Deterministic content, the same in the test and in its children.
CONTENT_SOURCE = '''
def content(n, seed=0):
    import hashlib
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"%d-%d" % (seed, i)).digest() * 2048
        i += 1
    return bytes(out[:n])
'''


@pytest.fixture(scope="session")
def content() -> Callable[..., bytes]:
    """content(n, seed=0) -> n deterministic bytes (the children's ``content`` too)."""
    ns: dict[str, Callable[..., bytes]] = {}
    exec(CONTENT_SOURCE, ns)
    return ns["content"]
