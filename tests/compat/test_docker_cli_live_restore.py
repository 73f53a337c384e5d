"""Live restore, judged by the real docker CLI: the daemon is killed with SIGKILL while one
container prints a numbered line every 10 ms and another is about to exit 7; after the
restart the first still runs with a log that has no gap, ``docker wait`` on the second
returns 7, both stop and are removed, and nothing is left (mounts, cgroups, processes,
supervisor records, bundles, container directories)."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "daemon"))
import daemon_harness as harness

pytestmark = pytest.mark.root

PRINTER = "i=0; while true; do echo $i; i=$((i+1)); usleep 10000; done"


@pytest.fixture
def d() -> Iterator[harness.Daemon]:
    if os.geteuid() != 0:
        pytest.skip("the daemon needs root")
    daemon = harness.new_daemon()
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.cleanup()


def numbers(text: str) -> list[int]:
    return [int(line) for line in text.splitlines()]


def test_kill_9_of_the_daemon_loses_nothing(d: harness.Daemon) -> None:
    d.docker("run", "-d", "--name", "printer", "busybox", "sh", "-c", PRINTER, check=True)
    d.docker("run", "-d", "--name", "exiter", "busybox", "sh", "-c", "sleep 1; exit 7",
             check=True)
    printer_pid = int(d.docker("inspect", "-f", "{{.State.Pid}}", "printer",
                               check=True).stdout)
    supervisor = d.supervisor_pid()
    time.sleep(0.3)
    assert d.stop(signal.SIGKILL) == -signal.SIGKILL
    # While the daemon is down the exiter exits and the printer keeps printing.
    time.sleep(2.0)
    assert harness.pid_alive(printer_pid)
    d.start()
    assert d.supervisor_pid() == supervisor

    running = d.docker("ps", "--format", "{{.Names}} {{.Status}}", check=True).stdout
    assert running.startswith("printer Up ") and "exiter" not in running, running
    assert d.docker("inspect", "-f", "{{.State.Pid}}", "printer",
                    check=True).stdout.strip() == str(printer_pid)
    assert d.docker("wait", "exiter", check=True).stdout == "7\n"
    status = d.docker("ps", "-a", "--filter", "name=exiter", "--format", "{{.Status}}",
                      check=True).stdout
    assert status.startswith("Exited (7) ")

    before = numbers(d.docker("logs", "printer", check=True).stdout)
    time.sleep(0.3)
    assert d.docker("stop", "-t", "1", "printer", check=True).stdout == "printer\n"
    logs = numbers(d.docker("logs", "printer", check=True).stdout)
    assert logs == list(range(len(logs))), "the log has a gap or a repeat"
    assert len(logs) > len(before) > 150  # > 2.3 s at 10 ms a line, across the restart
    assert d.docker("rm", "printer", "exiter", check=True).stdout == "printer\nexiter\n"
    assert d.docker("ps", "-aq", check=True).stdout == ""
    assert not harness.pid_alive(printer_pid)
    assert d.leftovers() == []
    assert d.errors() == [], d.tail(60)
