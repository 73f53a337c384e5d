"""dockyard-runtime's created init waits for start as the tiny program of
``dockyard.runtime.execwait`` (a sealed memfd), not as Python: its address space is torn
down before start, and the start only execs the container's program."""

from __future__ import annotations

import fcntl
import os
import signal
from typing import TYPE_CHECKING

import pytest

from dockyard.runtime import execwait

if TYPE_CHECKING:
    from conftest import RuntimeGuard

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(not execwait.supported(), reason="x86-64 only")]


def _cmdline(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().decode().split("\0")[:-1]


def test_a_created_container_waits_as_the_sealed_program(runtime_guard: RuntimeGuard) -> None:
    rt = runtime_guard.add("dockyard")
    box = rt.bundle(["sh", "-c", "echo args=$0,$1 env=$FOO; ls /proc/self/fd | wc -l",
                     "first"], lambda s: s["process"]["env"].append("FOO=bar baz"))
    assert rt.create(box).returncode == 0
    pid = rt.state(box.id)["pid"]

    def waiting() -> bool | None:
        return os.readlink(f"/proc/{pid}/exe") == "/memfd:dockyard-init (deleted)" or None

    rt.wait_for(waiting, 10, "the init to exec the waiting program")
    # Started as [path, *args]; what it waits on is descriptor 3, the fifo.
    assert _cmdline(pid) == ["/bin/sh", "sh", "-c", _cmdline(pid)[3], "first"]
    assert os.readlink(f"/proc/{pid}/fd/3").endswith("/exec.fifo")
    # Sealed: the program cannot be written through /proc/<pid>/exe, even once it no
    # longer runs (while it runs, the kernel refuses writes anyway: ETXTBSY).
    fd = os.open(f"/proc/{pid}/exe", os.O_RDONLY | os.O_CLOEXEC)
    try:
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
    finally:
        os.close(fd)
    assert seals & fcntl.F_SEAL_WRITE and seals & fcntl.F_SEAL_SEAL
    assert rt.state(box.id)["status"] == "created"
    r = rt.start(box.id)
    assert r.returncode == 0, r
    rt.wait_status(box.id, "stopped")
    # The program got its own argv and environment, and no descriptor of ours: 0, 1, 2
    # and ls's own directory.
    assert box.output().split() == ["args=first,", "env=bar", "baz", "4"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_created_container_dies_of_the_usual_signals(runtime_guard: RuntimeGuard,
                                                       signum: int) -> None:
    # PID 1 of its namespace ignores default-action signals from outside: the waiting
    # program handles these (as the Python init did) and exits with 128 + the signal.
    rt = runtime_guard.add("dockyard")
    box = rt.bundle(["sleep", "100"])
    assert rt.create(box).returncode == 0
    pid = rt.state(box.id)["pid"]
    rt.wait_for(lambda: os.readlink(f"/proc/{pid}/exe").startswith("/memfd:") or None, 10,
                "the init to exec the waiting program")
    r = rt.kill(box.id, str(int(signum)))
    assert r.returncode == 0, r
    rt.wait_status(box.id, "stopped")
    assert rt.delete(box.id).returncode == 0
