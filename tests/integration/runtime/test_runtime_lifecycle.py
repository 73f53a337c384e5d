"""Lifecycle: create/start/run/state/kill/delete/list, exit statuses, signals, pid files.

``creating`` is too short-lived to observe from outside; every other state is.
"""

from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Box, Runtime

pytestmark = pytest.mark.root

STATE_KEYS = {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def alive(pid: int) -> bool:
    """True if pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def assert_gone(rt: Runtime, box: Box, pid: int) -> None:
    """After delete: no state, no process, no cgroup in any hierarchy, no mount."""
    r = rt.cli("state", box.id)
    assert r.returncode != 0, r
    assert not os.path.lexists(rt.root / box.id), "state dir left behind"
    rt.wait_for(lambda: not alive(pid), 5.0, f"pid {pid} to go away")
    assert rt.existing_cgroup_dirs(box.id) == []
    assert rt.mounts_under(box.bundle) == []


# ---------------------------------------------------------------------------- state


def test_state_through_the_lifecycle(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(sh("echo started; exec sleep 100"))
    r = oci_runtime.create(box)
    assert r.returncode == 0, r

    created = oci_runtime.state(box.id)
    assert created.keys() >= STATE_KEYS, created
    assert created["status"] == "created"
    assert created["id"] == box.id
    assert isinstance(created["ociVersion"], str) and created["ociVersion"]
    assert created["bundle"] == str(box.bundle)
    root = box.config()["root"]["path"]
    assert created["rootfs"] == (root if os.path.isabs(root) else str(box.bundle / root))
    assert RFC3339.match(created["created"]), created["created"]
    assert isinstance(created["owner"], str)
    pid = created["pid"]
    assert isinstance(pid, int) and pid > 0 and alive(pid)

    assert oci_runtime.start(box.id).returncode == 0
    oci_runtime.wait_output(box, "started")
    running = oci_runtime.state(box.id)
    assert (running["status"], running["pid"]) == ("running", pid)
    assert running["created"] == created["created"]

    assert oci_runtime.kill(box.id, "KILL").returncode == 0
    stopped = oci_runtime.wait_status(box.id, "stopped")
    assert stopped["pid"] == 0, "runc reports pid 0 once stopped"

    r = oci_runtime.delete(box.id)
    assert r.returncode == 0, r
    assert_gone(oci_runtime, box, pid)


def test_state_of_unknown_container_fails(oci_runtime: Runtime) -> None:
    r = oci_runtime.cli("state", "no-such-container")
    assert r.returncode != 0 and r.stdout == "", r
    assert "does not exist" in r.stderr, r.stderr


def test_create_waits_until_start(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(sh("echo ran"))
    assert oci_runtime.create(box).returncode == 0
    pid = oci_runtime.state(box.id)["pid"]
    exe = os.readlink(f"/proc/{pid}/exe")
    assert not exe.endswith("/bin/busybox"), f"the user process was exec'd before start: {exe}"
    assert box.output() == ""
    assert oci_runtime.start(box.id).returncode == 0
    assert oci_runtime.wait_output(box, "ran") == "ran\n"
    oci_runtime.wait_status(box.id, "stopped")


def test_start_of_running_container_fails(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(sh("echo up; exec sleep 100"))
    oci_runtime.started(box, ready="up")
    r = oci_runtime.start(box.id)
    assert r.returncode != 0, r
    assert r.stderr.strip(), "a refusal must say why"
    assert oci_runtime.state(box.id)["status"] == "running"


def test_pid_file_written_by_create(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["sleep", "100"])
    pid_file = box.bundle.parent / f"{box.id}.pid"
    assert oci_runtime.create(box, "--pid-file", str(pid_file)).returncode == 0
    assert int(pid_file.read_text()) == oci_runtime.state(box.id)["pid"]


# ---------------------------------------------------------------------------- run and exits


@pytest.mark.parametrize("code", [0, 3, 255])
def test_run_returns_exit_code(oci_runtime: Runtime, code: int) -> None:
    r = oci_runtime.run(oci_runtime.bundle(sh(f"echo out; echo err >&2; exit {code}")))
    assert (r.returncode, r.stdout, r.stderr) == (code, "out\n", "err\n")


def test_run_removes_container_after_exit(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["true"])
    assert oci_runtime.run(box).returncode == 0
    assert oci_runtime.cli("state", box.id).returncode != 0
    assert oci_runtime.cli("list", "-q").stdout.split() == []
    assert oci_runtime.existing_cgroup_dirs(box.id) == []


def test_run_passes_stdin_through(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["sh", "-c", "read line; echo got:$line"])
    r = oci_runtime.cli("run", "--bundle", str(box.bundle), box.id, input="hello\n")
    assert (r.returncode, r.stdout) == (0, "got:hello\n"), r


def test_kill_from_outside_reported_as_137(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(sh("echo up; exec sleep 100"))
    proc = oci_runtime.popen(box.out, box.err, "run", "--bundle", str(box.bundle), box.id)
    try:
        oci_runtime.wait_output(box, "up")
        assert oci_runtime.kill(box.id, "KILL").returncode == 0
        assert proc.wait(timeout=10) == 137
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_detached_returns_while_container_runs(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(sh("echo up; exec sleep 100"))
    pid_file = box.bundle.parent / f"{box.id}.pid"
    r = oci_runtime.run_detached(box, "--pid-file", str(pid_file))
    assert r.returncode == 0, r
    state = oci_runtime.state(box.id)
    assert state["status"] == "running"
    assert int(pid_file.read_text()) == state["pid"]
    oci_runtime.wait_output(box, "up")


# ---------------------------------------------------------------------------- kill


@pytest.mark.parametrize("signal_name", ["USR1", "SIGUSR1", "10"])
def test_kill_delivers_signal_to_trap(oci_runtime: Runtime, signal_name: str) -> None:
    script = "trap 'echo got USR1; exit 0' USR1; echo ready; while :; do sleep 0.05; done"
    box = oci_runtime.bundle(sh(script))
    oci_runtime.started(box, ready="ready")
    r = oci_runtime.kill(box.id, signal_name)
    assert r.returncode == 0, r
    oci_runtime.wait_output(box, "got USR1")
    oci_runtime.wait_status(box.id, "stopped")


def test_kill_default_signal_is_term(oci_runtime: Runtime) -> None:
    script = "trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 0.05; done"
    box = oci_runtime.bundle(sh(script))
    oci_runtime.started(box, ready="ready")
    assert oci_runtime.kill(box.id).returncode == 0
    oci_runtime.wait_output(box, "got TERM")


def test_kill_all_reaches_exec_processes(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(sh("echo up; exec sleep 100"))
    init = oci_runtime.started(box, ready="up")
    pid_file = box.bundle.parent / "exec.pid"
    r = oci_runtime.exec(box.id, "sleep", "100", flags=["-d", "--pid-file", str(pid_file)])
    assert r.returncode == 0, r
    exec_pid = int(pid_file.read_text())
    assert oci_runtime.kill(box.id, "KILL", "--all").returncode == 0
    oci_runtime.wait_for(lambda: not alive(init) and not alive(exec_pid), 10.0,
                         "init and exec'd process to die")
    oci_runtime.wait_status(box.id, "stopped")


def test_kill_stopped_container_fails(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["true"])
    oci_runtime.started(box)
    oci_runtime.wait_status(box.id, "stopped")
    r = oci_runtime.kill(box.id, "KILL")
    assert r.returncode != 0, r


# ---------------------------------------------------------------------------- list


def test_list_and_list_quiet(oci_runtime: Runtime) -> None:
    assert oci_runtime.cli("list", "-q").stdout == ""
    waiting = oci_runtime.bundle(["sleep", "100"])
    running = oci_runtime.bundle(sh("echo up; exec sleep 100"))
    assert oci_runtime.create(waiting).returncode == 0
    oci_runtime.started(running, ready="up")

    r = oci_runtime.cli("list", "-q")
    assert r.returncode == 0, r
    assert sorted(r.stdout.split()) == sorted([waiting.id, running.id])

    r = oci_runtime.cli("list", "--format", "json")
    assert r.returncode == 0, r
    listed = {c["id"]: c for c in json.loads(r.stdout)}
    assert listed[waiting.id]["status"] == "created"
    assert listed[running.id]["status"] == "running"
    assert listed[running.id]["bundle"] == str(running.bundle)
    assert listed[running.id]["pid"] == oci_runtime.state(running.id)["pid"]

    r = oci_runtime.cli("list")
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"], r
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows[waiting.id][2] == "created" and rows[running.id][2] == "running"


# ---------------------------------------------------------------------------- delete


def test_delete_of_running_container_refused_without_force(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(sh("echo up; exec sleep 100"))
    pid = oci_runtime.started(box, ready="up")
    r = oci_runtime.delete(box.id)
    assert r.returncode != 0, r
    assert "running" in r.stderr, r.stderr
    assert oci_runtime.state(box.id)["status"] == "running" and alive(pid)
    r = oci_runtime.delete(box.id, force=True)
    assert r.returncode == 0, r
    assert_gone(oci_runtime, box, pid)


def test_delete_of_stopped_container_leaves_nothing_behind(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(sh("echo up; exec sleep 100"))
    pid = oci_runtime.started(box, ready="up")
    assert oci_runtime.kill(box.id, "KILL").returncode == 0
    oci_runtime.wait_status(box.id, "stopped")
    r = oci_runtime.delete(box.id)
    assert r.returncode == 0, r
    assert_gone(oci_runtime, box, pid)


def test_delete_of_created_container_kills_it(oci_runtime: Runtime) -> None:
    """runc deletes a created (never started) container without --force."""
    box = oci_runtime.bundle(["sleep", "100"])
    assert oci_runtime.create(box).returncode == 0
    pid = oci_runtime.state(box.id)["pid"]
    r = oci_runtime.delete(box.id)
    assert r.returncode == 0, r
    assert_gone(oci_runtime, box, pid)
    assert box.output() == ""


def test_delete_force_of_unknown_container_succeeds(oci_runtime: Runtime) -> None:
    r = oci_runtime.delete("no-such-container", force=True)
    assert r.returncode == 0, r
    r = oci_runtime.delete("no-such-container")
    assert r.returncode != 0 and "does not exist" in r.stderr, r
