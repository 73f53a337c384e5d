"""config.json validation: every bad field is named in the error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import load_spec, parse_spec
from dockyard.runtime.specgen import default_spec


def test_default_spec_parses() -> None:
    spec = parse_spec(default_spec(["echo", "hi"]))
    assert spec.process is not None
    assert spec.process.args == ("echo", "hi")
    assert spec.linux.namespace("pid") is not None
    assert spec.linux.resources is not None
    assert spec.linux.resources.devices[0].allow is False
    assert "CAP_MKNOD" in (spec.process.capabilities.bounding if spec.process.capabilities else ())


def _with(edit: Any) -> dict[str, Any]:
    doc = default_spec(["true"])
    edit(doc)
    return doc


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("ociVersion"), "ociVersion: required"),
        (lambda d: d.pop("root"), "root: required"),
        (lambda d: d["linux"]["namespaces"].append({"type": "bogus"}), "unknown namespace type"),
        (lambda d: d["linux"]["namespaces"].append({"type": "pid"}), "listed twice"),
        (lambda d: d["process"].update(args=[]), "process.args"),
        (lambda d: d["process"].update(cwd="relative"), "process.cwd"),
        (lambda d: d["process"]["capabilities"]["bounding"].append("CAP_NOPE"), "unknown capability"),
        (lambda d: d["mounts"].append({"destination": "rel", "type": "tmpfs"}), "must be absolute"),
        (lambda d: d["process"]["user"].update(uid="0"), "expected an integer"),
        (lambda d: d["linux"]["resources"]["devices"].append({"allow": True, "access": "x"}), "access"),
        (lambda d: d["process"].update(rlimits=[{"type": "NOFILE", "soft": 1, "hard": 1}]), "unknown rlimit"),
        (lambda d: d["linux"].update(rootfsPropagation="sideways"), "rootfsPropagation"),
    ],
)
def test_bad_fields_are_named(edit: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_spec(_with(edit))


def test_load_spec_missing_and_malformed(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="no such file"):
        load_spec(str(tmp_path / "config.json"))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(InvalidArgument, match="not valid JSON"):
        load_spec(str(tmp_path / "config.json"))
    (tmp_path / "config.json").write_text(json.dumps([1, 2]))
    with pytest.raises(InvalidArgument, match="expected an object"):
        load_spec(str(tmp_path / "config.json"))
