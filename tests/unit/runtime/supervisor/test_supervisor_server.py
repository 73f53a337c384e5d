"""The supervisor's loop, handlers and tasks with a fake driver: no root, no containers.

The fake "runtime" runs the bundle's ``process.args`` as a plain host process, forked from
the supervisor and held before ``execve`` until ``start`` (like a created container);
terminals are a real pty whose master is sent over the console socket, as runc does. The
server runs in a process forked from the test (so reaping happens there) and is reached
through the real client.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import termios
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.runtime.supervisor import tasks
from dockyard.runtime.supervisor.client import (
    RuntimeKind,
    RuntimeSpec,
    Stream,
    SupervisorClient,
    read_exit_record,
)
from dockyard.runtime.supervisor.drivers import RuntimeState, RuntimeStatus, Stdio
from dockyard.runtime.supervisor.protocol import Status
from dockyard.runtime.supervisor.records import StateDir
from dockyard.runtime.supervisor.server import Server

FAKE = RuntimeSpec(RuntimeKind.OCI_CLI, root="/nonexistent-fake-root", binary="fake")


class FakeDriver:
    """Host processes standing in for containers (see the module docstring)."""

    def __init__(self) -> None:
        self.pids: dict[str, int] = {}
        self.gates: dict[str, int] = {}

    @property
    def name(self) -> str:
        return "fake"

    def _spawn(self, args: list[str], stdio: Stdio, console_socket: str | None,
               gate: int | None) -> int:
        master = slave = -1
        if console_socket is not None:
            master, slave = os.openpty()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child execs or exits
            try:
                if slave >= 0:
                    os.setsid()
                    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
                    for n in (0, 1, 2):
                        os.dup2(slave, n)
                else:
                    os.setpgid(0, 0)  # its own group, so stragglers can be killed with it
                    os.dup2(stdio.stdin, 0)
                    os.dup2(stdio.stdout, 1)
                    os.dup2(stdio.stderr, 2)
                if gate is not None and not os.read(gate, 1):
                    os._exit(1)
                signal.signal(signal.SIGPIPE, signal.SIG_DFL)
                os.execvp(args[0], args)
            finally:
                os._exit(127)
        if master >= 0:
            os.close(slave)
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(console_socket)
                socket.send_fds(s, [b"/dev/pts/fake"], [master])
            os.close(master)
        return pid

    def create(self, container_id: str, bundle: str, stdio: Stdio, *, workdir: str,
               console_socket: str | None = None) -> int:
        if container_id in self.pids:
            raise errors.AlreadyExists(f"fake: {container_id} already exists")
        with open(os.path.join(bundle, "config.json")) as f:
            args = json.load(f)["process"]["args"]
        r, w = os.pipe()
        try:
            pid = self._spawn(args, stdio, console_socket, r)
        finally:
            os.close(r)
        self.pids[container_id] = pid
        self.gates[container_id] = w
        return pid

    def start(self, container_id: str) -> None:
        gate = self.gates.pop(container_id)
        os.write(gate, b"go")
        os.close(gate)

    def kill(self, container_id: str, signum: int, *, all_processes: bool = False) -> None:
        os.kill(self.pids[container_id], signum)

    def delete(self, container_id: str, *, force: bool = False) -> None:
        self.pids.pop(container_id, None)
        gate = self.gates.pop(container_id, None)
        if gate is not None:
            os.close(gate)

    def state(self, container_id: str) -> RuntimeState:
        pid = self.pids.get(container_id)
        if pid is None:
            raise errors.NotFound(container_id)
        return RuntimeState(container_id, pid, RuntimeStatus.RUNNING, "")

    def exec(self, container_id: str, process: Mapping[str, Any], stdio: Stdio, *,
             workdir: str, console_socket: str | None = None) -> int:
        return self._spawn(list(process["args"]), stdio, console_socket, None)

    def pause(self, container_id: str) -> None:
        os.kill(self.pids[container_id], signal.SIGSTOP)

    def resume(self, container_id: str) -> None:
        os.kill(self.pids[container_id], signal.SIGCONT)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[SupervisorClient, Path]]:
    """A supervisor with the fake driver, in a child of the test process."""
    state_dir = Path("/tmp") / f"dy-u-{os.getpid()}-{time.monotonic_ns() % 10**8}"
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the server process
        code = 1
        try:
            os.close(ready_r)
            state = StateDir(str(state_dir))
            state.prepare()
            server = Server(state)
            server.handlers._drivers[FAKE] = FakeDriver()
            server.listen()
            server.install_signals()
            os.write(ready_w, b"ok")
            os.close(ready_w)
            try:
                server.run()
            finally:
                server.close()
            code = 0
        finally:
            os._exit(code)
    os.close(ready_w)
    try:
        assert os.read(ready_r, 2) == b"ok"
    finally:
        os.close(ready_r)
    client = SupervisorClient.for_state(str(state_dir), timeout=30)
    try:
        yield client, tmp_path
    finally:
        with contextlib.suppress(errors.DockyardError, OSError):
            client.shutdown(force=True)
        client.close()
        for _ in range(500):
            if os.waitpid(pid, os.WNOHANG)[0]:
                break
            time.sleep(0.01)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        shutil.rmtree(state_dir, ignore_errors=True)


def make(client: SupervisorClient, tmp: Path, cid: str, script: str, **kw: Any) -> Path:
    bundle = tmp / cid
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(
        {"process": {"args": ["sh", "-c", script], "terminal": kw.get("tty", False)}}))
    log = tmp / "logs" / f"{cid}.log"
    client.create(cid, str(bundle), FAKE, log_path=str(log), **kw)
    return log


def logged(path: Path) -> list[str]:
    return [json.loads(x)["log"] for x in path.read_text().splitlines()]


def test_exit_is_recorded_after_the_last_line(served: tuple[SupervisorClient, Path]) -> None:
    """Output written by a straggler after the init's exit is drained before the record."""
    sv, tmp = served
    log = make(sv, tmp, "c1", "echo first; (sleep 0.3; echo late) & exit 4")
    sv.start("c1")
    ex = sv.wait("c1")
    assert ex.exit_code == 4
    assert logged(log) == ["first\n", "late\n"]


def test_draining_is_bounded(served: tuple[SupervisorClient, Path]) -> None:
    sv, tmp = served
    make(sv, tmp, "c2", "echo a; sleep 5 & exit 0")
    sv.start("c2")
    t0 = time.monotonic()
    try:
        assert sv.wait("c2").exit_code == 0
        assert tasks.DRAIN_TIMEOUT - 0.5 < time.monotonic() - t0 < tasks.DRAIN_TIMEOUT + 2
    finally:
        os.killpg(sv.state("c2").pid, signal.SIGKILL)  # the sleep still holding the pipe


def test_signals_stdin_attach_and_terminal(served: tuple[SupervisorClient, Path]) -> None:
    sv, tmp = served
    make(sv, tmp, "k", "sleep 100")
    sv.start("k")
    sv.kill("k", "TERM")
    assert (sv.wait("k").exit_code, sv.wait("k").signal) == (143, 15)
    rec = read_exit_record(sv.ping()["state_dir"], "k")
    assert rec is not None and rec.status.exit_code == 143

    make(sv, tmp, "cat", "cat", stdin=True)
    with sv.attach("cat", stdin=True, close_stdin=True) as stream:
        sv.start("cat")
        stream.write(b"to stdin\n")
        stream.close_stdin()
        stream.settimeout(10)
        assert stream.read_all() == {Stream.STDOUT: b"to stdin\n"}
    assert sv.wait("cat").exit_code == 0

    log = make(sv, tmp, "t", "stty size; echo bye", tty=True, console_size=(12, 34))
    with sv.attach("t") as stream:
        sv.start("t")
        stream.settimeout(10)
        assert stream.read_all()[Stream.STDOUT] == b"12 34\r\nbye\r\n"
    assert logged(log) == ["12 34\r\n", "bye\r\n"]


def test_exec_and_delete_and_shutdown(served: tuple[SupervisorClient, Path]) -> None:
    sv, tmp = served
    make(sv, tmp, "c", "sleep 100")
    sv.start("c")
    _info, stream = sv.exec_attached("c", "e", {"args": ["sh", "-c", "echo x; exit 6"]})
    with stream:
        stream.settimeout(10)
        assert stream.read_all() == {Stream.STDOUT: b"x\n"}
    assert sv.wait("c", "e").exit_code == 6
    assert sv.exec_state("c", "e").status is Status.STOPPED
    with pytest.raises(errors.Conflict):
        sv.shutdown()
    sv.delete("c", force=True)
    assert sv.list() == []


def test_a_deleted_containers_record_is_gone_before_the_next_answer(
        served: tuple[SupervisorClient, Path]) -> None:
    """delete moves the record out of the way and removes it right after its reply: the id
    can be created again at once, and nothing is left once a later request is answered."""
    sv, tmp = served
    containers = Path(sv.ping()["state_dir"]) / "containers"
    for n in range(2):
        bundle = tmp / f"again-{n}"
        bundle.mkdir()
        (bundle / "config.json").write_text(json.dumps({"process": {"args": ["true"]}}))
        sv.create("again", str(bundle), FAKE)
        sv.start("again")
        assert sv.wait("again").exit_code == 0
        sv.delete("again")
        sv.ping()
        assert os.listdir(containers) == []


def test_exec_on_a_passed_socket_then_forgotten(served: tuple[SupervisorClient, Path]) -> None:
    """The daemon's exec start: the hijacked socket is passed along; the exit is known
    before that stream ends; the daemon then has the supervisor forget the exec."""
    sv, tmp = served
    make(sv, tmp, "c", "sleep 100")
    sv.start("c")
    ours, theirs = socket.socketpair()
    with ours, theirs:
        info = sv.exec_socket(theirs, "c", "e1",
                              {"args": ["sh", "-c", "echo out; echo err >&2; exit 4"]},
                              stderr=False)
        theirs.close()
        assert info.pid > 0
        ours.settimeout(10)
        data = b""
        while chunk := ours.recv(4096):
            data += chunk
        # only stdout was asked for, framed (no terminal)
        assert data == b"\x01\x00\x00\x00\x00\x00\x00\x04out\n"
        # the stream has ended: the exit is known, without waiting
        ex = sv.exec_state("c", "e1").exit
        assert ex is not None and ex.exit_code == 4
    with pytest.raises(errors.Conflict):  # a running exec is not forgotten
        _i, stream = sv.exec_attached("c", "e2", {"args": ["sleep", "100"]})
        with stream:
            sv.delete("c", exec_id="e2")
    sv.delete("c", exec_id="e1")
    with pytest.raises(errors.NotFound):
        sv.exec_state("c", "e1")
    assert [e.exec_id for e in sv.state("c").execs] == ["e2"]
    state_dir = Path(sv.ping()["state_dir"])
    assert not (state_dir / "containers" / "c" / "execs" / "e1").exists()
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        with pytest.raises(errors.InvalidArgument):  # one descriptor, and only with attach
            sv.call("exec", {"id": "c", "exec_id": "e3", "process": {"args": ["true"]}},
                    fds=[null])
    finally:
        os.close(null)


def test_a_deleted_container_answers_the_waiters_of_its_execs(
        served: tuple[SupervisorClient, Path]) -> None:
    sv, tmp = served
    make(sv, tmp, "c", "sleep 100")
    sv.start("c")
    _i, stream = sv.exec_attached("c", "e", {"args": ["sleep", "100"]})
    with stream, socket.socket(socket.AF_UNIX) as s:
        s.connect(sv.socket_path)
        s.sendall(b'{"seq": 1, "op": "wait", "args": {"id": "c", "exec_id": "e"}}\n')
        time.sleep(0.1)
        pid = sv.exec_state("c", "e").pid
        sv.delete("c", force=True)
        s.settimeout(10)
        reply = json.loads(s.recv(4096))
        assert reply["ok"] and reply["result"]["exit"]["exit_code"] == 255
        os.kill(pid, signal.SIGKILL)  # the fake's exec is a host process of its own


def test_pause_and_resume(served: tuple[SupervisorClient, Path]) -> None:
    sv, tmp = served
    make(sv, tmp, "p", "sleep 100")
    with pytest.raises(errors.Conflict):
        sv.pause("p")  # created, not running
    sv.start("p")
    pid = sv.state("p").pid

    def stopped() -> bool:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"

    def eventually(want: bool) -> bool:
        for _ in range(200):
            if stopped() == want:
                return True
            time.sleep(0.01)
        return False

    sv.pause("p")
    assert eventually(True)
    sv.resume("p")
    assert eventually(False)
    sv.kill("p", 9)
    assert sv.wait("p").exit_code == 137
    with pytest.raises(errors.Conflict):
        sv.pause("p")


def test_a_client_that_vanishes_mid_wait_harms_nothing(
        served: tuple[SupervisorClient, Path]) -> None:
    sv, tmp = served
    make(sv, tmp, "w", "sleep 0.2; exit 2")
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sv.socket_path)
        s.sendall(b'{"seq": 1, "op": "wait", "args": {"id": "w"}}\n')
    sv.start("w")
    assert sv.wait("w").exit_code == 2
    assert sv.ping()["containers"] == 1


def test_large_stdin_is_paced_not_dropped(served: tuple[SupervisorClient, Path]) -> None:
    """More input than the stdin queue holds: reading from the client pauses, nothing is
    lost, and the process sees every byte."""
    sv, tmp = served
    size = 3 * tasks.STDIN_HIGH_WATER
    make(sv, tmp, "big", "sleep 0.5; wc -c", stdin=True)
    with sv.attach("big", stdin=True, close_stdin=True) as stream:
        sv.start("big")
        stream.settimeout(30)
        stream.write(b"y" * size)
        stream.close_stdin()
        out = stream.read_all()[Stream.STDOUT]
    assert int(out) == size
    assert sv.wait("big").exit_code == 0
