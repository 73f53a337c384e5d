"""The ``RuntimeDriver`` conformance suite: one set of tests, every driver.

Drivers under test: ``OciCliDriver`` with runc (the reference) and
``dockyard-runtime``, and ``InProcessDriver`` (the launcher, called in this process).
crun is left out: it refuses this machine's hybrid cgroup layout (cgroup v1 with a v2
mount beside it), so it could only ever be skipped here.
The driver is used directly, without a supervisor, so this process holds the stdio ends
and the container's exits are watched through ``state``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.runtime.supervisor.console import ConsoleListener
from dockyard.runtime.supervisor.drivers import (
    InProcessDriver,
    OciCliDriver,
    RuntimeDriver,
    RuntimeStatus,
    Stdio,
)

# pytest runs with --import-mode=importlib: make the sibling harness importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_supervisor_support import (
    CGROUP_PARENT,
    clamp_rlimits,
    clean_cgroups,
    wait_for,
)

pytestmark = [pytest.mark.root]


def _which(name: str) -> str | None:
    return shutil.which(name)


DRIVER_KINDS = [
    pytest.param("runc", id="runc"),
    pytest.param("dockyard-runtime", id="dockyard-runtime"),
    pytest.param("in-process", id="in-process"),
    pytest.param("in-process-pool", id="in-process-pool"),
]


class PooledDriver(InProcessDriver):
    """The in-process driver with spares, refilled after each create as the supervisor's
    idle loop would: every create of the suite goes through a spare."""

    def create(self, container_id: str, bundle: str, stdio: Stdio, *, workdir: str,
               console_socket: str | None = None) -> int:
        try:
            return super().create(container_id, bundle, stdio, workdir=workdir,
                                  console_socket=console_socket)
        finally:
            self.refill()

    def refill(self) -> None:
        assert self.pool is not None
        self.pool.want(f"/{CGROUP_PARENT}")
        while self.pool.fill_one():
            pass
        wait_for(lambda: self.pool is not None
                 and self.pool.ready_count(f"/{CGROUP_PARENT}") == self.pool.size,
                 10, "the spares")


@dataclass
class Subject:
    """A driver under test and the containers the test made with it."""

    driver: RuntimeDriver
    root: Path
    work: Path
    make_bundle: Callable[..., Path]
    ids: list[str] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)

    def bundle(self, args: list[str], *, tty: bool = False) -> tuple[str, str]:
        cid = f"drv-{secrets.token_hex(4)}"
        self.ids.append(cid)

        def edit(spec: dict[str, Any]) -> None:
            spec["linux"]["cgroupsPath"] = f"/{CGROUP_PARENT}/{cid}"
            spec["process"]["terminal"] = tty
            clamp_rlimits(spec)

        return cid, str(self.make_bundle(args, edit=edit, name=f"b-{cid}"))

    def workdir(self, cid: str) -> str:
        d = self.work / cid
        d.mkdir(exist_ok=True)
        return str(d)

    def pipes(self) -> tuple[Stdio, int, int]:
        """Stdio for a container (stdin /dev/null) and our read ends of stdout, stderr."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        null = os.open(os.devnull, os.O_RDONLY)
        self.fds += [out_r, out_w, err_r, err_w, null]
        return Stdio(null, out_w, err_w), out_r, err_r

    def close_theirs(self, stdio: Stdio) -> None:
        for fd in (stdio.stdin, stdio.stdout, stdio.stderr):
            self.fds.remove(fd)
            os.close(fd)

    def create(self, args: list[str]) -> tuple[str, int, int, int]:
        """create with pipes; returns (id, pid, stdout read end, stderr read end)."""
        cid, bundle = self.bundle(args)
        stdio, out_r, err_r = self.pipes()
        try:
            pid = self.driver.create(cid, bundle, stdio, workdir=self.workdir(cid))
        finally:
            self.close_theirs(stdio)
        return cid, pid, out_r, err_r

    def status(self, cid: str) -> RuntimeStatus:
        return self.driver.state(cid).status

    def wait_status(self, cid: str, status: RuntimeStatus) -> None:
        wait_for(lambda: self.status(cid) is status, 10, f"{cid} to be {status.value}")


def read_all(fd: int, timeout: float = 10.0) -> bytes:
    """Read a pipe to its end."""
    os.set_blocking(fd, False)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            time.sleep(0.01)
            continue
        if not chunk:
            return out
        out += chunk
    pytest.fail(f"pipe not closed after {timeout}s; got {out!r}")


@pytest.fixture(params=DRIVER_KINDS)
def subject(request: pytest.FixtureRequest, make_bundle: Callable[..., Path],
            tmp_path: Path) -> Iterator[Subject]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    kind = str(request.param)
    root = tmp_path / "root"
    root.mkdir()
    driver: RuntimeDriver
    if kind == "in-process":
        driver = InProcessDriver(str(root))
    elif kind == "in-process-pool":
        from dockyard.runtime.launcher import make_pool

        pooled = PooledDriver(str(root), pool=make_pool(2))
        pooled.refill()
        driver = pooled
    else:
        binary = _which(kind)
        assert binary is not None
        driver = OciCliDriver(binary, str(root))
    s = Subject(driver, root, tmp_path / "work", make_bundle)
    s.work.mkdir()
    try:
        yield s
    finally:
        for fd in s.fds:
            os.close(fd)
        if isinstance(driver, PooledDriver) and driver.pool is not None:
            driver.pool.close()
            assert driver.pool.served > 0 and driver.pool.fallbacks == 0
        for cid in s.ids:
            with contextlib.suppress(errors.DockyardError):
                driver.delete(cid, force=True)
            clean_cgroups(cid)


def test_lifecycle_created_running_stopped_deleted(subject: Subject) -> None:
    cid, pid, out_r, _err_r = subject.create(["sh", "-c", "echo started; sleep 1000"])
    st = subject.driver.state(cid)
    assert (st.status, st.pid, st.id) == (RuntimeStatus.CREATED, pid, cid)
    subject.driver.start(cid)
    assert subject.status(cid) is RuntimeStatus.RUNNING
    os.set_blocking(out_r, True)
    assert os.read(out_r, 100) == b"started\n"
    subject.driver.kill(cid, signal.SIGKILL)
    subject.wait_status(cid, RuntimeStatus.STOPPED)
    subject.driver.delete(cid)
    with pytest.raises(errors.NotFound):
        subject.driver.state(cid)


def test_output_goes_to_the_given_stdio(subject: Subject) -> None:
    cid, _pid, out_r, err_r = subject.create(["sh", "-c", "echo out; echo err >&2"])
    subject.driver.start(cid)
    assert read_all(out_r) == b"out\n"
    assert read_all(err_r) == b"err\n"
    subject.wait_status(cid, RuntimeStatus.STOPPED)
    subject.driver.delete(cid)


def test_errors_are_classified(subject: Subject) -> None:
    with pytest.raises(errors.NotFound):
        subject.driver.state("drv-nope")
    with pytest.raises(errors.NotFound):
        subject.driver.start("drv-nope")
    with pytest.raises(errors.NotFound):
        subject.driver.kill("drv-nope", signal.SIGTERM)
    cid, _pid, _o, _e = subject.create(["sleep", "1000"])
    _, bundle = subject.bundle(["true"])
    stdio, _o2, _e2 = subject.pipes()
    try:
        with pytest.raises(errors.AlreadyExists):
            subject.driver.create(cid, bundle, stdio, workdir=subject.workdir(cid))
    finally:
        subject.close_theirs(stdio)
    subject.driver.start(cid)
    with pytest.raises(errors.Conflict):
        subject.driver.start(cid)
    with pytest.raises(errors.Conflict):
        subject.driver.delete(cid)  # running, not forced
    subject.driver.delete(cid, force=True)
    with pytest.raises(errors.NotFound):
        subject.driver.state(cid)


def test_exec_runs_in_the_container(subject: Subject) -> None:
    cid, _pid, _o, _e = subject.create(["sleep", "1000"])
    subject.driver.start(cid)
    proc = {"terminal": False, "user": {"uid": 0, "gid": 0}, "cwd": "/",
            "args": ["sh", "-c", "hostname; echo $$"],
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}
    stdio, out_r, _err_r = subject.pipes()
    try:
        pid = subject.driver.exec(cid, proc, stdio, workdir=subject.workdir(cid + "-x"))
    finally:
        subject.close_theirs(stdio)
    assert pid > 0
    hostname, inner_pid = read_all(out_r).decode().split()
    assert hostname == "dockyard"
    assert int(inner_pid) != pid  # its own pid namespace's number, not the host's
    subject.driver.kill(cid, signal.SIGKILL, all_processes=True)
    # The in-process driver's exec'd process is its caller's child (the supervisor reaps
    # it); a pid namespace ends only once its processes are reaped.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    subject.wait_status(cid, RuntimeStatus.STOPPED)


def test_terminal_master_comes_over_the_console_socket(subject: Subject) -> None:
    cid, bundle = subject.bundle(["sh", "-c", "tty; echo tty-ok"], tty=True)
    null = os.open(os.devnull, os.O_RDWR)
    try:
        with ConsoleListener(str(subject.work / "c.sock")) as listener:
            subject.driver.create(cid, bundle, Stdio(null, null, null),
                                  workdir=subject.workdir(cid),
                                  console_socket=listener.path)
            master = listener.receive_master()
    finally:
        os.close(null)
    subject.fds.append(master)
    subject.driver.start(cid)
    out = b""
    deadline = time.monotonic() + 10
    while b"tty-ok" not in out and time.monotonic() < deadline:
        try:
            out += os.read(master, 4096)
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            break  # EIO: the terminal's other side closed
    assert b"/dev/pts/" in out and b"tty-ok" in out, out
    subject.wait_status(cid, RuntimeStatus.STOPPED)


def test_pause_resume_and_kill_while_paused(subject: Subject) -> None:
    cid, _pid, out_r, _e = subject.create(
        ["sh", "-c", "i=0; while true; do echo $i; i=$((i+1)); sleep 0.01; done"])
    with pytest.raises(errors.Conflict):
        subject.driver.resume(cid)  # created: not paused
    subject.driver.start(cid)
    os.set_blocking(out_r, False)
    wait_for(lambda: _readable(out_r), 10, "output")
    subject.driver.pause(cid)
    assert subject.status(cid) is RuntimeStatus.PAUSED
    _drain(out_r)
    time.sleep(0.2)
    assert _drain(out_r) == b""  # frozen: nothing more is printed
    with pytest.raises(errors.Conflict):
        subject.driver.pause(cid)  # already paused
    subject.driver.resume(cid)
    assert subject.status(cid) is RuntimeStatus.RUNNING
    wait_for(lambda: _readable(out_r), 10, "output after resume")
    subject.driver.pause(cid)
    subject.driver.kill(cid, signal.SIGKILL, all_processes=True)  # ends a paused container
    subject.wait_status(cid, RuntimeStatus.STOPPED)
    subject.driver.delete(cid)


def _readable(fd: int) -> bool:
    try:
        return bool(os.read(fd, 65536))
    except BlockingIOError:
        return False


def _drain(fd: int) -> bytes:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return out
        if not chunk:
            return out
        out += chunk
