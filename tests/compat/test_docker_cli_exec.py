"""The real docker CLI (28.2) against dockyardd: ``exec`` (exit codes 50 times, ``-it``
through a pty, ``-d``, ``-i``, ``-e``, ``-w``, ``-u``, ``--privileged``, a command that
does not exist), ``pause``/``unpause``, ``top`` and ``container prune``.

Every command runs under ``timeout``; the daemon is a real one on temp roots
(``tests/integration/daemon/daemon_harness.py``), cleaned up even when a test fails.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "daemon"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import daemon_harness as harness
from test_docker_cli_tty import Terminal

pytestmark = pytest.mark.root
LOOPS = int(os.environ.get("DOCKYARD_CLI_LOOPS", "50"))


@pytest.fixture
def c(d: harness.Daemon) -> Iterator[str]:
    """A running container named ``box``, removed after the test."""
    d.docker("run", "-d", "--name", "box", "-e", "IN_BOX=1", "-w", "/tmp", "busybox",
             "sleep", "1000", check=True)
    try:
        yield "box"
    finally:
        d.docker("rm", "-f", "box")


def test_exec_exit_code(d: harness.Daemon, c: str) -> None:
    for i in range(LOOPS):
        p = d.docker("exec", c, "sh", "-c", "exit 4", timeout=30)
        assert (p.returncode, p.stdout, p.stderr) == (4, "", ""), (i, p.stderr, d.tail())


def test_exec_output_env_workdir_user(d: harness.Daemon, c: str) -> None:
    p = d.docker("exec", c, "sh", "-c", "echo out; echo err >&2; echo $IN_BOX; pwd; id -un",
                 check=True)
    assert (p.stdout, p.stderr) == ("out\n1\n/tmp\nroot\n", "err\n")
    p = d.docker("exec", "-e", "IN_BOX=2", "-e", "MORE=3", "-w", "/etc", "-u", "nobody", c,
                 "sh", "-c", "echo $IN_BOX $MORE; pwd; id -un", check=True)
    assert p.stdout == "2 3\n/etc\nnobody\n"
    p = d.docker("exec", "-w", "/no/such/dir", c, "pwd")  # runc's words; 127 as a start's
    assert p.returncode == 127  # the reason in the stream, as dockerd writes it there
    assert p.stdout.strip() == ('chdir to cwd ("/no/such/dir") set in config.json failed: '
                                "no such file or directory")
    p = d.docker("exec", "-u", "0:0", c, "id", check=True)
    assert p.stdout == "uid=0(root) gid=0(root) groups=0(root)\n"
    p = d.docker("exec", "-u", "1:5", c, "id", check=True)  # the primary group included
    assert p.stdout == "uid=1(daemon) gid=5(tty) groups=5(tty)\n"


def test_exec_stdin_detached_privileged(d: harness.Daemon, c: str) -> None:
    p = d.docker("exec", "-i", c, "sh", "-c", "cat; echo done", input=b"one\ntwo\n",
                 check=True)
    assert p.stdout == "one\ntwo\ndone\n"
    p = d.docker("exec", "-d", c, "sh", "-c", "sleep 0.2; echo later > /tmp/mark", check=True)
    assert p.stdout == ""
    harness.wait_for(lambda: d.docker("exec", c, "cat", "/tmp/mark").stdout == "later\n", 10,
                     "the detached exec's file")
    plain = d.docker("exec", c, "grep", "CapEff", "/proc/self/status", check=True).stdout
    privileged = d.docker("exec", "--privileged", c, "grep", "CapEff", "/proc/self/status",
                          check=True).stdout
    assert int(privileged.split()[1], 16) > int(plain.split()[1], 16)


def test_exec_failures(d: harness.Daemon, c: str) -> None:
    p = d.docker("exec", c, "nosuchcmd")
    assert p.returncode == 127 and "executable file not found" in p.stdout + p.stderr
    p = d.docker("exec", "-u", "nosuch", c, "true")
    assert p.returncode == 126 and "unable to find user nosuch" in p.stdout + p.stderr
    p = d.docker("exec", "nosuchbox", "true")
    assert p.returncode == 1 and "No such container: nosuchbox" in p.stderr
    d.docker("create", "--name", "idle", "busybox", check=True)
    try:
        p = d.docker("exec", "idle", "true")
        assert p.returncode == 1 and "is not running" in p.stderr
    finally:
        d.docker("rm", "idle", check=True)


def test_exec_it_typing_into_sh(d: harness.Daemon, c: str) -> None:
    term = Terminal(["timeout", "60", harness.DOCKER, "exec", "-it", c, "sh"], d.env(),
                    rows=25, cols=90)
    term.expect(b"# ")
    term.send(b"echo typed-$((6*7)) $TERM\n")
    term.expect(b"typed-42 xterm")
    term.send(b"stty size; tty\n")
    term.expect(b"/dev/pts/")
    assert b"25 90" in term.seen
    term.send(b"exit 6\n")
    assert term.wait() == 6


def test_pause_unpause(d: harness.Daemon) -> None:
    d.docker("run", "-d", "--name", "ticker", "busybox", "sh", "-c",
             "while true; do date +%s%N >> /tmp/ticks; sleep 0.05; done", check=True)
    try:
        assert d.docker("pause", "ticker", check=True).stdout == "ticker\n"
        ps = d.docker("ps", "--filter", "name=ticker", "--format", "{{.Status}}",
                      check=True).stdout
        assert ps.startswith("Up ") and ps.endswith(" (Paused)\n"), ps
        assert d.docker("ps", "-q", "--filter", "status=paused", check=True).stdout.strip()
        inspect = d.docker("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "ticker",
                           check=True).stdout
        assert inspect == "paused true\n"
        p = d.docker("exec", "ticker", "true")
        assert p.returncode == 1 and "is paused" in p.stderr
        p = d.docker("pause", "ticker")
        assert p.returncode == 1 and "already paused" in p.stderr
        assert d.docker("unpause", "ticker", check=True).stdout == "ticker\n"
        before = len(d.docker("exec", "ticker", "cat", "/tmp/ticks", check=True).stdout.split())
        time.sleep(0.5)
        after = len(d.docker("exec", "ticker", "cat", "/tmp/ticks", check=True).stdout.split())
        assert after > before
        # a paused container is stopped (SIGTERM waits on the freezer: killed after -t)
        d.docker("pause", "ticker", check=True)
        assert d.docker("stop", "-t", "1", "ticker", check=True).stdout == "ticker\n"
        state = d.docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "ticker",
                         check=True).stdout
        assert state == "exited 137\n"
        d.docker("start", "ticker", check=True)
        d.docker("pause", "ticker", check=True)
        assert d.docker("kill", "ticker", check=True).stdout == "ticker\n"
        assert d.docker("wait", "ticker", check=True).stdout == "137\n"
    finally:
        d.docker("rm", "-f", "ticker")
    assert d.leftovers() == []


def test_top(d: harness.Daemon, c: str) -> None:
    d.docker("exec", "-d", c, "sleep", "777", check=True)
    harness.wait_for(lambda: "sleep 777" in d.docker("top", c).stdout, 10, "the exec in top")
    lines = d.docker("top", c, check=True).stdout.splitlines()
    assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    commands = sorted(" ".join(ln.split()[7:]) for ln in lines[1:])
    assert commands == ["sleep 1000", "sleep 777"]
    aux = d.docker("top", c, "aux", check=True).stdout.splitlines()
    assert aux[0].split()[:2] == ["USER", "PID"] and len(aux) == 3
    p = d.docker("top", c, "-o", "user=PID")
    assert p.returncode == 1 and 'specifying "user=PID" is not allowed' in p.stderr


def test_container_prune(d: harness.Daemon, c: str) -> None:
    d.docker("run", "--name", "kept", "--label", "keep=1", "busybox", "true", check=True)
    gone = [d.docker("run", "-d", "busybox", "sh", "-c", "echo x > /x", check=True)
            .stdout.strip() for _ in range(2)]
    for cid in gone:
        d.docker("wait", cid, check=True)
    try:
        p = d.docker("container", "prune", "-f", "--filter", "label!=keep", check=True)
        deleted = p.stdout.split("Deleted Containers:\n")[1].split("\n\n")[0].split()
        assert sorted(deleted) == sorted(gone)
        assert "Total reclaimed space: " in p.stdout
        names = d.docker("ps", "-a", "--format", "{{.Names}}", check=True).stdout.split()
        assert sorted(names) == ["box", "kept"]
        p = d.docker("container", "prune", "-f", "--filter", "until=1h", check=True)
        assert "kept" not in p.stdout and "Total reclaimed space: 0B" in p.stdout
    finally:
        d.docker("rm", "-f", "kept", *gone)
