"""``ContainerStore``: records written whole, read back equal; the documents of unchanged
fields reused between saves."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from dockyard.daemon.containers import store as store_module
from dockyard.daemon.containers.config import ContainerConfig, HostConfig
from dockyard.daemon.containers.model import Container, State, Status
from dockyard.daemon.containers.store import ContainerStore
from dockyard.daemon.layout import DataRoot
from dockyard.daemon.records import to_doc


def container() -> Container:
    return Container(id="a" * 64, name="a", created_ns=1, image_id="sha256:x",
                     config=ContainerConfig(image="busybox", env=("A=1",)),
                     host_config=HostConfig(), path="true", args=(),
                     state=State(Status.CREATED))


def test_saves_reuse_unchanged_parts_and_read_back_equal(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    converted: list[object] = []

    def counting(value: object) -> object:
        converted.append(value)
        return to_doc(value)

    monkeypatch.setattr(store_module, "to_doc", counting)
    data = DataRoot(str(tmp_path))
    store = ContainerStore(data)
    c = container()
    store.save(c)
    assert store.load(c.id) == c
    assert any(v is c.config for v in converted)
    converted.clear()
    running = replace(c, state=State(Status.RUNNING, pid=7, started_ns=5))
    store.save(running)
    assert store.load(c.id) == running
    # Only the state changed: the config and host config were not converted again.
    assert not any(v is c.config or v is c.host_config for v in converted)
    changed = replace(running, config=replace(running.config, env=("A=2",)), name="b")
    store.save(changed)
    assert store.load(c.id) == changed
    doc = json.loads(Path(data.record(c.id)).read_text())["container"]
    expected = to_doc(changed)
    expected.pop("exec_ids", None)
    assert doc == expected
    store.delete(c.id)
    assert not Path(data.container(c.id)).exists()
