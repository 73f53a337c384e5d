"""exec (same namespaces, same cgroups, exit codes, env/cwd/user, --process), pause/resume
(the freezer), and ps."""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Box, Runtime

pytestmark = pytest.mark.root

NAMESPACES = ("pid", "net", "ipc", "uts", "mnt")


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def running(rt: Runtime, script: str = "echo up; exec sleep 100") -> tuple[Box, int]:
    """A started container (its init has printed "up"), and the init's host pid."""
    box = rt.bundle(sh(script))
    pid = rt.started(box, ready="up")
    return box, pid


# ---------------------------------------------------------------------------- exec


def test_exec_enters_the_same_namespaces(oci_runtime: Runtime) -> None:
    box, pid = running(oci_runtime)
    script = "; ".join(f"readlink /proc/self/ns/{n}" for n in NAMESPACES)
    r = oci_runtime.exec(box.id, "sh", "-c", script)
    assert r.returncode == 0, r
    init_ns = [os.readlink(f"/proc/{pid}/ns/{n}") for n in NAMESPACES]
    assert r.stdout.split() == init_ns
    assert init_ns != [os.readlink(f"/proc/self/ns/{n}") for n in NAMESPACES]


def test_exec_sees_hostname_and_init_processes(oci_runtime: Runtime) -> None:
    box, _pid = running(oci_runtime)
    r = oci_runtime.exec(box.id, "sh", "-c", "hostname; ps -o pid,comm")
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0] == "dockyard"
    procs = {tuple(line.split()) for line in lines[2:]}
    assert ("1", "sleep") in procs, procs


def test_exec_joins_the_container_cgroups(oci_runtime: Runtime) -> None:
    box, pid = running(oci_runtime)
    r = oci_runtime.exec(box.id, "cat", "/proc/self/cgroup")
    assert r.returncode == 0, r
    with open(f"/proc/{pid}/cgroup") as f:
        assert sorted(r.stdout.splitlines()) == sorted(f.read().splitlines())


def test_exec_gets_the_init_capabilities_and_environment(oci_runtime: Runtime) -> None:
    box, _pid = running(oci_runtime)
    r = oci_runtime.exec(box.id, "sh", "-c", "grep -E '^Cap(Eff|Bnd)' /proc/self/status; env")
    assert r.returncode == 0, r
    assert "CapEff:\t00000000a80425fb" in r.stdout and "CapBnd:\t00000000a80425fb" in r.stdout
    assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in r.stdout
    assert "HOME=/root" in r.stdout


@pytest.mark.parametrize("code", [0, 7])
def test_exec_exit_code(oci_runtime: Runtime, code: int) -> None:
    box, _pid = running(oci_runtime)
    r = oci_runtime.exec(box.id, "sh", "-c", f"echo out; echo err >&2; exit {code}")
    assert (r.returncode, r.stdout, r.stderr) == (code, "out\n", "err\n")


def test_exec_with_env_cwd_and_user(oci_runtime: Runtime) -> None:
    box, _pid = running(oci_runtime)
    r = oci_runtime.exec(box.id, "sh", "-c", 'echo "$FOO|$BAR"; pwd; id -u; id -g',
                         flags=["-e", "FOO=one", "-e", "BAR=two words", "--cwd", "/etc",
                                "-u", "1000:1001"])
    assert r.returncode == 0, r
    assert r.stdout.splitlines() == ["one|two words", "/etc", "1000", "1001"]


def test_exec_with_process_json(oci_runtime: Runtime) -> None:
    box, _pid = running(oci_runtime)
    process = dict(box.config()["process"])
    process.update(args=["sh", "-c", 'echo "$MSG"; pwd; exit 4'], cwd="/proc",
                   env=["MSG=from process.json", "PATH=/bin"])
    path = box.bundle.parent / f"{box.id}.process.json"
    path.write_text(json.dumps(process))
    r = oci_runtime.exec(box.id, flags=["--process", str(path)])
    assert (r.returncode, r.stdout) == (4, "from process.json\n/proc\n"), r


def test_exec_detached_with_pid_file(oci_runtime: Runtime) -> None:
    box, pid = running(oci_runtime)
    pid_file = box.bundle.parent / "exec.pid"
    r = oci_runtime.exec(box.id, "sleep", "100", flags=["-d", "--pid-file", str(pid_file)])
    assert r.returncode == 0, r
    exec_pid = int(pid_file.read_text())
    assert exec_pid != pid
    assert os.readlink(f"/proc/{exec_pid}/ns/pid") == os.readlink(f"/proc/{pid}/ns/pid")
    procs = (oci_runtime.cgroup_dir("pids", box.id) / "cgroup.procs").read_text().split()
    assert str(exec_pid) in procs


def test_exec_of_missing_binary_fails(oci_runtime: Runtime) -> None:
    box, _pid = running(oci_runtime)
    r = oci_runtime.exec(box.id, "/no/such/binary")
    assert r.returncode != 0, r
    assert "no such file" in r.stderr.lower(), r.stderr


def test_exec_in_stopped_container_fails(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["true"])
    oci_runtime.started(box)
    oci_runtime.wait_status(box.id, "stopped")
    r = oci_runtime.exec(box.id, "true")
    assert r.returncode != 0, r
    assert r.stderr.strip(), "a refusal must say why"


def test_exec_in_unknown_container_fails(oci_runtime: Runtime) -> None:
    r = oci_runtime.exec("no-such-container", "true")
    assert r.returncode != 0 and "does not exist" in r.stderr, r


# ---------------------------------------------------------------------------- pause / resume


def _counter(rt: Runtime) -> tuple[Box, int]:
    return running(rt, "echo up; i=0; while :; do i=$((i+1)); echo $i; sleep 0.01; done")


def _last(box: Box) -> int:
    lines = box.output().split()
    return int(lines[-1]) if lines and lines[-1].isdigit() else 0


def test_pause_freezes_and_resume_thaws(oci_runtime: Runtime) -> None:
    box, _pid = _counter(oci_runtime)
    oci_runtime.wait_for(lambda: _last(box) >= 3, 10.0, "the counter to advance")
    freezer = oci_runtime.cgroup_dir("freezer", box.id) / "freezer.state"

    r = oci_runtime.cli("pause", box.id)
    assert r.returncode == 0, r
    assert oci_runtime.state(box.id)["status"] == "paused"
    assert freezer.read_text().strip() == "FROZEN", "pause returns once FROZEN"
    frozen_at = box.output()
    time.sleep(0.3)  # a frozen counter cannot move, however long we look
    assert box.output() == frozen_at

    r = oci_runtime.cli("resume", box.id)
    assert r.returncode == 0, r
    assert oci_runtime.state(box.id)["status"] == "running"
    assert freezer.read_text().strip() == "THAWED"
    before = _last(box)
    oci_runtime.wait_for(lambda: _last(box) > before, 10.0, "the counter to advance again")


def test_exec_refused_while_paused(oci_runtime: Runtime) -> None:
    box, _pid = running(oci_runtime)
    assert oci_runtime.cli("pause", box.id).returncode == 0
    r = oci_runtime.exec(box.id, "true", timeout=10)
    assert r.returncode != 0, r
    assert "paused" in r.stderr, r.stderr


def test_delete_force_of_paused_container(oci_runtime: Runtime) -> None:
    box, pid = running(oci_runtime)
    assert oci_runtime.cli("pause", box.id).returncode == 0
    r = oci_runtime.delete(box.id)
    assert r.returncode != 0, "a paused container is not stopped"
    r = oci_runtime.delete(box.id, force=True)
    assert r.returncode == 0, r
    oci_runtime.wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10.0, "init to go")
    assert oci_runtime.existing_cgroup_dirs(box.id) == []


def test_pause_of_stopped_container_fails(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["true"])
    oci_runtime.started(box)
    oci_runtime.wait_status(box.id, "stopped")
    r = oci_runtime.cli("pause", box.id)
    assert r.returncode != 0, r


def test_resume_of_running_container_fails(oci_runtime: Runtime) -> None:
    box, _pid = running(oci_runtime)
    r = oci_runtime.cli("resume", box.id)
    assert r.returncode != 0, r


# ---------------------------------------------------------------------------- ps


def test_ps_lists_container_pids(oci_runtime: Runtime) -> None:
    box, pid = running(oci_runtime)
    pid_file = box.bundle.parent / "exec.pid"
    assert oci_runtime.exec(box.id, "sleep", "100",
                            flags=["-d", "--pid-file", str(pid_file)]).returncode == 0
    exec_pid = int(pid_file.read_text())

    r = oci_runtime.cli("ps", "--format", "json", box.id)
    assert r.returncode == 0, r
    assert sorted(json.loads(r.stdout)) == sorted([pid, exec_pid])

    r = oci_runtime.cli("ps", box.id)
    assert r.returncode == 0, r
    header, *rows = r.stdout.splitlines()
    assert header.split()[:2] == ["UID", "PID"], header
    assert sorted(int(row.split()[1]) for row in rows) == sorted([pid, exec_pid])
