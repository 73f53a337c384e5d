"""Shared fixtures: a busybox rootfs made once per session, and OCI bundle factories."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.image.busybox import make_busybox_rootfs
from dockyard.runtime.specgen import default_spec

# Test support modules shared across test folders (e.g. registry_thread).
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))


@pytest.fixture(scope="session")
def busybox_rootfs() -> Iterator[Path]:
    """A read-only-by-convention busybox rootfs shared by the session (copy it to write)."""
    d = Path(tempfile.mkdtemp(prefix="dockyard-bb-"))
    try:
        make_busybox_rootfs(str(d / "rootfs"))
        yield d / "rootfs"
    finally:
        shutil.rmtree(d, ignore_errors=True)


BundleFactory = Callable[..., Path]


@pytest.fixture
def make_bundle(busybox_rootfs: Path, tmp_path: Path) -> BundleFactory:
    """make_bundle(args, edit=None, name=None, copy_rootfs=False) -> bundle dir.

    The bundle's config.json is ``default_spec(args)`` (Docker's defaults), passed through
    ``edit(spec_dict)`` if given. The rootfs is a bind-free symlink-free copy only when asked
    (``copy_rootfs=True``); otherwise config.json points root.path at the shared rootfs and
    the spec is marked read-only-root so no test writes into it.
    """
    counter = [0]

    def factory(args: list[str], edit: Callable[[dict[str, Any]], None] | None = None,
                name: str | None = None, copy_rootfs: bool = False) -> Path:
        counter[0] += 1
        bundle = tmp_path / (name or f"bundle{counter[0]}")
        bundle.mkdir()
        spec = default_spec(args)
        if copy_rootfs:
            shutil.copytree(busybox_rootfs, bundle / "rootfs", symlinks=True)
            spec["root"] = {"path": "rootfs", "readonly": False}
        else:
            spec["root"] = {"path": str(busybox_rootfs), "readonly": True}
        if edit is not None:
            edit(spec)
        (bundle / "config.json").write_text(json.dumps(spec, indent=2))
        return bundle

    return factory


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """With DOCKYARD_NO_SKIP=1 (the test script sets it when run as root, as in CI), a
    skipped test is a failure: a skip there means something is missing or broken."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and os.environ.get("DOCKYARD_NO_SKIP") == "1" and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped where nothing may be skipped: {reason}"
