"""``--runtime runc``: the same bundle run by runc through the supervisor's OCI-CLI driver."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import daemon_harness as harness
import pytest

pytestmark = pytest.mark.runc


@pytest.fixture(scope="module")
def runc_daemon() -> Iterator[harness.Daemon]:
    if os.geteuid() != 0:
        pytest.skip("the daemon needs root")
    if shutil.which("runc") is None:
        pytest.skip("runc is not installed")
    d = harness.new_daemon()
    d.extra_args = ["--runtime", "runc"]
    try:
        d.start()
        yield d
        assert d.errors() == [], d.tail(60)
    finally:
        d.cleanup()


def test_run_sequence_with_runc(runc_daemon: harness.Daemon) -> None:
    d = runc_daemon
    assert d.docker("run", "--rm", "busybox", "echo", "hi", check=True).stdout == "hi\n"
    assert d.docker("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3
    missing = d.docker("run", "--rm", "busybox", "nosuchcmd")
    assert missing.returncode == 127 and "executable file not found" in missing.stderr
    out = d.docker("run", "--rm", "--init", "--memory", "64m", "busybox", "sh", "-c",
                   "cat /proc/1/cmdline | tr '\\0' ' '; cat /sys/class/net/lo/operstate",
                   check=True).stdout
    assert out.startswith("/sbin/docker-init -- sh -c")
    assert d.request("GET", "/info").json()["DefaultRuntime"] == "runc"
    cid = d.docker("run", "-d", "busybox", "sleep", "300", check=True).stdout.strip()
    assert d.docker("stop", "-t", "1", cid, check=True).returncode == 0
    assert d.docker("wait", cid, check=True).stdout == "137\n"
    d.docker("rm", cid, check=True)
    assert d.leftovers() == []


def test_exec_pause_top_with_runc(runc_daemon: harness.Daemon) -> None:
    d = runc_daemon
    d.docker("run", "-d", "--name", "rbox", "busybox", "sleep", "300", check=True)
    try:
        for _ in range(5):
            assert d.docker("exec", "rbox", "sh", "-c", "exit 4").returncode == 4
        p = d.docker("exec", "-u", "nobody", "-w", "/tmp", "-e", "X=1", "rbox", "sh", "-c",
                     "echo $X; pwd; id -un", check=True)
        assert p.stdout == "1\n/tmp\nnobody\n"
        missing = d.docker("exec", "rbox", "nosuchcmd")
        assert missing.returncode == 127, missing
        assert d.docker("pause", "rbox", check=True).stdout == "rbox\n"
        assert d.docker("inspect", "-f", "{{.State.Status}}", "rbox",
                        check=True).stdout == "paused\n"
        assert d.docker("unpause", "rbox", check=True).stdout == "rbox\n"
        top = d.docker("top", "rbox", check=True).stdout.splitlines()
        assert top[0].split()[1] == "PID" and top[1].endswith("sleep 300")
        d.docker("pause", "rbox", check=True)
        assert d.docker("kill", "rbox", check=True).stdout == "rbox\n"
        assert d.docker("wait", "rbox", check=True).stdout == "137\n"
    finally:
        d.docker("rm", "-f", "rbox")
    assert d.leftovers() == []
