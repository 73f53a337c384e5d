"""The state directory: durable records, schema checks, layout."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.runtime.supervisor.protocol import ExitStatus, RuntimeKind, RuntimeSpec
from dockyard.runtime.supervisor.records import (
    SCHEMA_VERSION,
    ContainerRecord,
    ExitRecord,
    StateDir,
    read_exit_record,
    write_json_durably,
)


def test_durable_write_replaces_whole_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "d" / "exit.json"
    write_json_durably(str(path), {"a": 1})
    write_json_durably(str(path), {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert os.listdir(path.parent) == ["exit.json"]


def test_records_round_trip(tmp_path: Path) -> None:
    st = StateDir(str(tmp_path / "s"))
    st.prepare()
    rec = ContainerRecord("c1", "/b", RuntimeSpec(RuntimeKind.OCI_CLI, "/r", "crun"), 10,
                          True, True, "/l/c1.log", {"max-file": "1"}, "2026-01-01T00:00:00Z")
    st.write_container(rec)
    assert read_exit_record(st.root, "c1") is None
    ex = ExitRecord("c1", None, 10, ExitStatus(137, 9, "2026-01-01T00:00:01Z"))
    st.write_exit(ex)
    assert read_exit_record(st.root, "c1") == ex
    exe = ExitRecord("c1", "e1", 11, ExitStatus(0, None, "2026-01-01T00:00:02Z"))
    st.write_exit(exe)
    assert st.read_exit("c1", "e1") == exe
    assert list(st.recorded_containers()) == [(rec, ex)]
    st.remove_container("c1")
    assert list(st.recorded_containers()) == []


def test_retired_records_are_out_of_the_way_then_removed(tmp_path: Path) -> None:
    """delete's two steps: the id is free at once (rename), the files go later; a crash
    in between leaves a directory that recovery skips and removes."""
    st = StateDir(str(tmp_path / "s"))
    st.prepare()
    rec = ContainerRecord("c1", "/b", RuntimeSpec(RuntimeKind.OCI_CLI, "/r", "crun"), 10,
                          False, False, None, {}, "2026-01-01T00:00:00Z")
    st.write_container(rec)
    st.write_exit(ExitRecord("c1", None, 10, ExitStatus(0, None, "2026-01-01T00:00:01Z")))
    os.makedirs(os.path.join(st.container("c1"), "execs", "e1"))
    os.symlink(str(tmp_path / "outside"), os.path.join(st.container("c1"), "link"))
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "kept").write_text("x")
    retired = st.retire_container("c1")
    assert retired is not None and not os.path.exists(st.container("c1"))
    assert st.retire_container("c1") is None
    st.write_container(rec)  # the same id again, while the old record waits
    assert [r.id for r, _ in st.recorded_containers()] == ["c1"]
    st.remove_retired(retired)
    assert sorted(os.listdir(st.containers)) == ["c1"]
    assert (tmp_path / "outside" / "kept").exists()  # a symlink is removed, not followed
    assert st.retire_container("c1") is not None     # "crash": never removed
    assert list(st.recorded_containers()) == []
    st.remove_retired()
    assert os.listdir(st.containers) == []


def test_other_schemas_are_refused(tmp_path: Path) -> None:
    st = StateDir(str(tmp_path))
    st.prepare()
    d = Path(st.container("c1"))
    d.mkdir()
    (d / "exit.json").write_text(json.dumps({"schema": SCHEMA_VERSION + 1, "id": "c1"}))
    with pytest.raises(errors.FailedPrecondition, match="schema"):
        read_exit_record(st.root, "c1")
    (tmp_path / "layout.json").write_text('{"schema": 99}')
    with pytest.raises(errors.FailedPrecondition):
        StateDir(str(tmp_path)).prepare()


def test_state_paths_must_fit_a_unix_socket(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidArgument, match="too long"):
        StateDir(str(tmp_path / ("x" * 120))).prepare()
    with pytest.raises(errors.InvalidArgument, match="absolute"):
        StateDir("relative")
