"""dockyard-runtime's start-up path stays light (its speed is issue 2's cold-path goal),
and what that asks of the code (the launcher, ids checked without re, the state written
in two steps) keeps its behaviour."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.cli.launcher import install
from dockyard.errors import InvalidArgument
from dockyard.runtime import cli, state

SRC = str(Path(cli.__file__).resolve().parents[2])

# Each costs milliseconds of every container start (typing and json bring re, enum,
# functools and collections; signal's enums bring enum; shutil brings zlib, bz2, lzma).
HEAVY = ("typing", "re", "enum", "functools", "collections", "json", "signal", "shutil",
         "logging", "dataclasses", "contextlib", "subprocess", "socket", "math",
         "dockyard.runtime.cgroups.stats", "dockyard.runtime.cgroups.v2",
         "dockyard.runtime.execchain", "dockyard.runtime.console", "ctypes")


def test_the_run_path_imports_no_heavy_module() -> None:
    code = (f"import sys; sys.path.insert(0, {SRC!r})\n"
            "from dockyard.runtime import cli\n"
            "print(' '.join(sorted(sys.modules)))")
    r = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                       text=True, timeout=30, check=True)
    loaded = set(r.stdout.split())
    assert "dockyard.runtime.launcher" in loaded and "dockyard.runtime.init" in loaded
    assert not [m for m in HEAVY if m in loaded]


def test_the_launcher_runs_the_runtime_without_site(tmp_path: Path) -> None:
    path = tmp_path / "dockyard-runtime"
    install(str(path), module="dockyard.runtime.cli")
    text = path.read_text()
    assert text.startswith(f"#!{sys.executable} -IS\n")
    assert "from dockyard.runtime.cli import run\n" in text
    r = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("dockyard-runtime version ")
    r = subprocess.run([str(path), "--root", str(tmp_path / "state"), "state", "nope"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "does not exist" in r.stderr
    r = subprocess.run([str(path), "bogus"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "unknown command" in r.stderr
    with pytest.raises(ValueError, match="no launcher"):
        install(str(tmp_path / "x"), module="dockyard.nothing")


def test_run_exits_120_when_stdout_cannot_be_flushed(tmp_path: Path) -> None:
    path = tmp_path / "dockyard-runtime"
    install(str(path), module="dockyard.runtime.cli")
    with open("/dev/full", "w") as full:
        r = subprocess.run([str(path), "--version"], stdout=full, stderr=subprocess.PIPE,
                           timeout=30)
    assert r.returncode == 120


@pytest.mark.parametrize("cid", ["a", "web-1.2_x+y", "ünïcode", "数字", "٣"])
def test_valid_ids(cid: str) -> None:
    state.validate_id(cid)


@pytest.mark.parametrize("cid", ["", ".", "..", "a/b", "a b", "a\n", "a\x00", "a:b", "x" * 1025])
def test_invalid_ids(cid: str) -> None:
    with pytest.raises(InvalidArgument):
        state.validate_id(cid)


def test_id_characters_are_runcs() -> None:
    """Without re, the same characters as runc's ``^[\\w+\\-.]+$`` (the BMP, and a sample
    of the planes above it)."""
    runc, ours = re.compile(r"[\w+\-.]").fullmatch, state._id_chars_ok
    points = [*range(0x10000), *range(0x10000, 0x110000, 61)]
    assert [hex(cp) for cp in points if ours(chr(cp)) != bool(runc(chr(cp)))] == []


def test_a_staged_state_is_not_there_until_committed(tmp_path: Path) -> None:
    root = str(tmp_path)
    state.reserve(root, "c1")
    st = state.ContainerState(id="c1", pid=1, pid_start=2, bundle="/b", rootfs="/b/r",
                              created="now", cgroups_path="/x", oci_version="1.0.2",
                              annotations={"a": "b"}, new_pid_ns=True)
    staged = state.stage(root, st)
    assert state.list_ids(root) == []
    with pytest.raises(Exception, match="does not exist"):
        state.load(root, "c1")
    state.commit(root, "c1", staged)
    assert state.list_ids(root) == ["c1"] and state.load(root, "c1") == st
