"""The supervisor reads a bundle's ``config.json`` once per create: ``check_bundle``
returns what it read, and the in-process driver parses the launcher's spec from it."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dockyard import errors
from dockyard.runtime.specgen import default_spec
from dockyard.runtime.supervisor.drivers import InProcessDriver, Stdio
from dockyard.runtime.supervisor.handlers import check_bundle


class FakeLauncher:
    """Records what the driver hands the launcher's ``create``."""

    def __init__(self) -> None:
        self.kwargs: dict[str, Any] = {}

    @staticmethod
    def Stdio(a: int | None, b: int | None, c: int | None) -> tuple[Any, ...]:
        return (a, b, c)

    def create(self, root: str, container_id: str, bundle: str, **kwargs: Any) -> Any:
        self.kwargs = kwargs
        return SimpleNamespace(pid=4242)


def bundle_with(tmp_path: Path, data: bytes) -> Path:
    bundle = tmp_path / "bundle"
    (bundle / "rootfs").mkdir(parents=True, exist_ok=True)
    (bundle / "config.json").write_bytes(data)
    return bundle


def test_the_config_checked_is_the_one_the_launcher_gets(tmp_path: Path) -> None:
    doc = default_spec(["echo", "once"])
    bundle = bundle_with(tmp_path, json.dumps(doc).encode())
    config = check_bundle(str(bundle), False)
    assert config == doc
    fake = FakeLauncher()
    driver = InProcessDriver(str(tmp_path / "root"), launcher=fake)  # type: ignore[arg-type]
    pid = driver.create("c" * 64, str(bundle), Stdio(0, 1, 2), workdir=str(tmp_path),
                        config=config)
    assert pid == 4242
    spec = fake.kwargs["spec"]
    assert spec.process is not None and spec.process.args == ("echo", "once")
    # Without a config read before, the launcher reads the file itself, as it always did.
    driver.create("d" * 64, str(bundle), Stdio(0, 1, 2), workdir=str(tmp_path))
    assert "spec" not in fake.kwargs


def test_check_bundle_reads_as_load_spec_does(tmp_path: Path) -> None:
    doc = default_spec(["true"])
    # UTF-8 only, as ``load_spec``: a UTF-16 file is refused here, not accepted by one
    # reader and refused by the other.
    bundle = bundle_with(tmp_path, json.dumps(doc).encode("utf-16"))
    with pytest.raises(errors.InvalidArgument, match="malformed JSON"):
        check_bundle(str(bundle), False)
    bundle = bundle_with(tmp_path, json.dumps(doc).encode() + b" trailing")
    with pytest.raises(errors.InvalidArgument, match="malformed JSON"):
        check_bundle(str(bundle), False)
    bundle = bundle_with(tmp_path, json.dumps(doc).encode())
    with pytest.raises(errors.InvalidArgument, match=r"process\.terminal"):
        check_bundle(str(bundle), True)
