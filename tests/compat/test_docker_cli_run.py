"""The real docker CLI (28.2) against dockyardd: the run sequence and the everyday verbs.

Every command runs under ``timeout``; the daemon is a real one on a temp socket with temp
data and exec roots (``tests/integration/daemon/daemon_harness.py``), cleaned up even when
a test fails. The busybox image is the image service's offline one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "daemon"))
import daemon_harness as harness

pytestmark = pytest.mark.root
LOOPS = int(os.environ.get("DOCKYARD_CLI_LOOPS", "50"))


def no_containers(d: harness.Daemon) -> None:
    ps = d.docker("ps", "-aq", check=True)
    assert ps.stdout == "", ps.stdout


def test_run_rm_echo_hi(d: harness.Daemon) -> None:
    for i in range(LOOPS):
        p = d.docker("run", "--rm", "busybox", "echo", "hi", timeout=30)
        assert (p.returncode, p.stdout, p.stderr) == (0, "hi\n", ""), (i, d.tail())
    no_containers(d)
    assert d.leftovers() == []


def test_run_rm_exit_code(d: harness.Daemon) -> None:
    for i in range(LOOPS):
        p = d.docker("run", "--rm", "busybox", "sh", "-c", "exit 3", timeout=30)
        assert (p.returncode, p.stdout, p.stderr) == (3, "", ""), (i, p.stderr)
    no_containers(d)


def test_run_rm_missing_executable(d: harness.Daemon) -> None:
    for i in range(LOOPS):
        p = d.docker("run", "--rm", "busybox", "nosuchcmd", timeout=30)
        assert p.returncode == 127, (i, p.stderr)
        assert "executable file not found" in p.stderr
    no_containers(d)
    assert d.leftovers() == []


def test_run_stdout_and_stderr(d: harness.Daemon) -> None:
    p = d.docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2", check=True)
    assert p.stdout == "out\n" and p.stderr == "err\n"


def test_run_with_stdin(d: harness.Daemon) -> None:
    p = d.docker("run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done",
                 input=b"one\ntwo\n", check=True)
    assert p.stdout == "one\ntwo\ndone\n"


def test_run_without_rm_keeps_the_container(d: harness.Daemon) -> None:
    p = d.docker("run", "--name", "kept", "busybox", "sh", "-c", "echo kept; exit 2")
    assert (p.returncode, p.stdout) == (2, "kept\n")
    status = d.docker("ps", "-a", "--filter", "name=kept", "--format",
                      "{{.Names}}|{{.Status}}|{{.Image}}|{{.Command}}", check=True).stdout
    # The CLI truncates the command to 20 characters; moby quotes arguments with spaces.
    assert status.startswith("kept|Exited (2) ")
    assert status.endswith(" ago|busybox|\"sh -c 'echo kept; e…\"\n")
    assert d.docker("logs", "kept", check=True).stdout == "kept\n"
    d.docker("rm", "kept", check=True)


def test_detached_logs_follow_stop_rm(d: harness.Daemon) -> None:
    cid = d.docker("run", "-d", "--name", "counter", "busybox", "sh", "-c",
                   "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.05; done",
                   check=True).stdout.strip()
    assert len(cid) == 64
    follow = subprocess.Popen(["timeout", "60", harness.DOCKER, "logs", "-f", "counter"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=d.env())
    try:
        time.sleep(1.0)
        ps = d.docker("ps", "--format", "{{.Names}} {{.Status}}", check=True).stdout
        assert ps.startswith("counter Up "), ps
        t0 = time.monotonic()
        assert d.docker("stop", "-t", "1", "counter", check=True).stdout == "counter\n"
        assert time.monotonic() - t0 < 10
        out, _ = follow.communicate(timeout=30)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    assert follow.returncode == 0
    lines = out.splitlines()
    assert len(lines) > 5
    assert lines == [f"line {i}" for i in range(len(lines))]
    exit_code = d.docker("inspect", "-f", "{{.State.ExitCode}}", "counter", check=True)
    assert exit_code.stdout == "137\n"  # sh as PID 1 ignores SIGTERM: killed after 1 s
    logs = d.docker("logs", "counter", check=True).stdout.splitlines()
    assert logs == [f"line {i}" for i in range(len(logs))] and len(logs) >= len(lines)
    tail = d.docker("logs", "--tail", "2", "counter", check=True).stdout.splitlines()
    assert tail == logs[-2:]
    assert d.docker("rm", "counter", check=True).stdout == "counter\n"
    assert d.docker("inspect", "counter").returncode == 1
    assert d.leftovers() == []


def test_ps_format_and_filters(d: harness.Daemon) -> None:
    d.docker("create", "--name", "made", "--label", "k=v", "busybox", "true", check=True)
    d.docker("run", "--name", "ran", "busybox", "true", check=True)
    try:
        fmt = "{{.Names}}|{{.Status}}|{{.Labels}}"
        rows = d.docker("ps", "-a", "--format", fmt, check=True).stdout.splitlines()
        assert rows[0].startswith("ran|Exited (0) ") and rows[1] == "made|Created|k=v"
        only = d.docker("ps", "-a", "--filter", "status=created", "--format", "{{.Names}}",
                        check=True).stdout
        assert only == "made\n"
        by_label = d.docker("ps", "-a", "--filter", "label=k=v", "-q", check=True).stdout
        assert len(by_label.split()) == 1
        assert d.docker("ps", "-q", check=True).stdout == ""
        exited = d.docker("ps", "-a", "--filter", "exited=0", "--format", "{{.Names}}",
                          check=True).stdout
        assert exited == "ran\n"
    finally:
        d.docker("rm", "made", "ran", check=True)


def test_inspect_format(d: harness.Daemon) -> None:
    cid = d.docker("create", "--name", "insp", "busybox", "sh", "-c", "exit 0",
                   check=True).stdout.strip()
    try:
        fmt = ("{{.Name}}|{{.Path}}|{{json .Args}}|{{.State.Status}}|{{.State.Running}}|"
               "{{.HostConfig.LogConfig.Type}}|{{.Config.Hostname}}|{{.Config.Image}}|"
               "{{.HostConfig.NetworkMode}}|{{.HostConfig.ShmSize}}")
        out = d.docker("inspect", "-f", fmt, "insp", check=True).stdout.strip()
        assert out == (f"/insp|sh|[\"-c\",\"exit 0\"]|created|false|json-file|{cid[:12]}|"
                       f"busybox|bridge|67108864")
        by_prefix = d.docker("inspect", "-f", "{{.Id}}", cid[:5], check=True).stdout
        assert by_prefix.strip() == cid
        missing = d.docker("inspect", "nosuchthing")
        assert missing.returncode == 1 and "No such object: nosuchthing" in missing.stderr
    finally:
        d.docker("rm", "insp", check=True)


def test_wait_and_kill(d: harness.Daemon) -> None:
    d.docker("run", "-d", "--name", "w5", "busybox", "sh", "-c", "sleep 0.5; exit 5",
             check=True)
    assert d.docker("wait", "w5", check=True).stdout == "5\n"
    assert d.docker("wait", "w5", check=True).stdout == "5\n"  # not running: at once
    d.docker("run", "-d", "--name", "kk", "busybox", "sleep", "300", check=True)
    assert d.docker("kill", "kk", check=True).stdout == "kk\n"
    assert d.docker("wait", "kk", check=True).stdout == "137\n"
    again = d.docker("kill", "kk")
    assert again.returncode == 1 and "is not running" in again.stderr
    d.docker("rm", "w5", "kk", check=True)


def test_name_conflict_and_rm_running(d: harness.Daemon) -> None:
    d.docker("run", "-d", "--name", "dup", "busybox", "sleep", "300", check=True)
    try:
        second = d.docker("run", "-d", "--name", "dup", "busybox", "true")
        assert second.returncode == 125 and "is already in use" in second.stderr
        running = d.docker("rm", "dup")
        assert running.returncode == 1 and "container is running" in running.stderr
    finally:
        assert d.docker("rm", "-f", "dup", check=True).stdout == "dup\n"
    no_containers(d)
    assert d.leftovers() == []


def test_start_attach_and_restart(d: harness.Daemon) -> None:
    d.docker("create", "--name", "again", "busybox", "echo", "hello", check=True)
    try:
        assert d.docker("start", "-a", "again", check=True).stdout == "hello\n"
        assert d.docker("start", "-a", "again", check=True).stdout == "hello\n"
        assert d.docker("logs", "again", check=True).stdout == "hello\nhello\n"
        d.docker("restart", "-t", "1", "again", check=True)
        assert d.docker("wait", "again", check=True).stdout == "0\n"
    finally:
        d.docker("rm", "again", check=True)


def test_rename(d: harness.Daemon) -> None:
    d.docker("create", "--name", "before", "busybox", "true", check=True)
    d.docker("create", "--name", "taken", "busybox", "true", check=True)
    try:
        d.docker("rename", "before", "after", check=True)
        assert d.docker("inspect", "-f", "{{.Name}}", "after", check=True).stdout == "/after\n"
        assert d.docker("inspect", "before").returncode == 1
        clash = d.docker("rename", "after", "taken")
        assert clash.returncode == 1 and "is already in use" in clash.stderr
        bad = d.docker("rename", "after", "x y")
        assert bad.returncode == 1 and "Invalid container name" in bad.stderr
        d.docker("create", "--name", "before", "busybox", "true", check=True)  # name freed
    finally:
        d.docker("rm", "after", "taken", "before", check=True)
