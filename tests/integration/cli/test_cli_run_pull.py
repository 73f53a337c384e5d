"""``dockyard run`` of an image the daemon does not have: "Unable to find image ...
locally", the pull's progress on stderr (dockyard pull's code), then the container
runs; ``--pull never`` refuses. Against our own registry (``dockyard registry serve``,
no auth, loopback HTTP)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import CLI, cli_session, harness
from registry_procs import our_registry

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with our_registry(tmp_path_factory.mktemp("cli-registry")) as host:
        yield host


@pytest.fixture(scope="module")
def dy(d: harness.Daemon) -> Iterator[CLI]:
    yield from cli_session(d, env={"DOCKER_CONFIG": str(d.root / "docker-config")})


def test_run_pulls_a_missing_image(dy: CLI, registry: str) -> None:
    ref = f"{registry}/cli/busybox:1"
    dy("tag", "busybox", ref)
    dy("push", ref, timeout=120)
    dy("rmi", ref)
    r = dy("run", "--rm", "--pull", "never", ref, "true", check=False)
    assert r.returncode == 125 and "No such image" in r.stderr
    r = dy("run", "--rm", ref, "echo", "pulled and ran", timeout=120)
    assert r.stdout == "pulled and ran\n"
    assert r.stderr.startswith(f"Unable to find image '{ref}' locally\n")
    assert "Pulling from cli/busybox" in r.stderr
    assert "Using default tag" not in r.stderr
    assert dy("images", "-q", ref).stdout.strip() != ""
    dy("rmi", ref)
    r = dy("run", "--rm", "-q", ref, "true", timeout=120)  # -q: no progress at all
    assert r.stderr == f"Unable to find image '{ref}' locally\n"
    dy("rmi", ref)
