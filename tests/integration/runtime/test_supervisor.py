"""The supervisor with real containers: exits, signals, terminals, stdin, attach, exec, logs.

Each test runs a real supervisor (``python -m dockyard.runtime.supervisor``, detached) on a
private state directory; tests marked with ``any_supervisor`` run once per runtime driver
(runc through ``OciCliDriver``, and ``InProcessDriver`` when the launcher is there).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.runtime.supervisor.client import (
    AttachStream,
    Framing,
    Stream,
    SupervisorClient,
    read_exit_record,
)
from dockyard.runtime.supervisor.protocol import Status

# pytest runs with --import-mode=importlib: make the sibling harness importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_supervisor_support import (
    Harness,
    any_supervisor_fixture,  # noqa: F401 (fixture)
    cgroup_dirs,
    pid_alive,
    read_log,
    supervisor_fixture,  # noqa: F401 (fixture)
    wait_for,
)

pytestmark = [pytest.mark.root]

COUNTER = "i=0; while true; do echo $i; i=$((i+1)); usleep 10000; done"


def read_until(stream: AttachStream, needle: bytes, timeout: float = 10.0) -> bytes:
    """Read the stream until ``needle`` appears (all streams together)."""
    stream.settimeout(timeout)
    got = b""
    deadline = time.monotonic() + timeout
    while needle not in got:
        if time.monotonic() > deadline:
            pytest.fail(f"no {needle!r} in {got[-500:]!r}")
        item = stream.read()
        if item is None:
            pytest.fail(f"stream ended without {needle!r}: {got[-500:]!r}")
        got += item[1]
    return got


def process_for(h: Harness, args: list[str], *, tty: bool = False) -> dict[str, Any]:
    """An OCI process for exec, from a bundle's defaults."""
    _cid, bundle = h.bundle(["true"])
    proc: dict[str, Any] = json.loads((bundle / "config.json").read_text())["process"]
    proc["args"] = args
    proc["terminal"] = tty
    return proc


# --------------------------------------------------------------------------- exits


def test_exit_code_output_and_log(any_supervisor: Harness) -> None:
    h = any_supervisor
    sv = h.client()
    cid = h.create(sv, ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert sv.state(cid).status is Status.CREATED
    with sv.attach(cid) as stream:
        sv.start(cid)
        got = stream.read_all()
    assert got == {Stream.STDOUT: b"out\n", Stream.STDERR: b"err\n"}
    ex = sv.wait(cid)
    assert (ex.exit_code, ex.signal) == (3, None)
    info = sv.state(cid)
    assert info.status is Status.STOPPED and info.exit == ex
    entries = read_log(h.log_path(cid))
    assert [(e["log"], e["stream"]) for e in entries] == [("out\n", "stdout"),
                                                          ("err\n", "stderr")]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", e["time"])
               for e in entries)
    rec = read_exit_record(str(h.state), cid)
    assert rec is not None and rec.status == ex and rec.pid == info.pid


def test_signal_death_is_128_plus_signal(any_supervisor: Harness) -> None:
    h = any_supervisor
    sv = h.client()
    cid = h.create(sv, ["sleep", "1000"])
    sv.start(cid)
    assert sv.state(cid).status is Status.RUNNING
    sv.kill(cid, "KILL")
    ex = sv.wait(cid, timeout=10)
    assert (ex.exit_code, ex.signal) == (137, 9)
    sv.delete(cid)
    assert sv.list() == []
    assert cgroup_dirs(cid) == []
    assert not (h.state / "containers" / cid).exists()
    # The record and the runtime's state were renamed away and removed right after the
    # delete's reply, before any later answer.
    assert not (h.runc_root / cid).exists() and not (h.inproc_root / cid).exists()
    sv.ping()
    assert os.listdir(h.state / "containers") == []


def test_wait_from_many_clients_and_after_the_fact(supervisor: Harness) -> None:
    h = supervisor
    sv = h.client()
    cid = h.create(sv, ["sh", "-c", "sleep 0.3; exit 42"])
    sv.start(cid)
    other = h.client()
    assert sv.wait(cid).exit_code == 42
    assert other.wait(cid).exit_code == 42  # already exited: answered from the record


# --------------------------------------------------------------------------- stdio


def test_stdin_is_forwarded_and_closed(any_supervisor: Harness) -> None:
    h = any_supervisor
    sv = h.client()
    cid = h.create(sv, ["sh", "-c", "cat; echo eof-seen"], stdin=True)
    with sv.attach(cid, stdin=True, close_stdin=True) as stream:
        sv.start(cid)
        stream.write(b"hello\nworld\n")
        assert b"world\n" in read_until(stream, b"world\n")
        stream.close_stdin()
        rest = stream.read_all()
    assert rest[Stream.STDOUT].endswith(b"eof-seen\n")
    assert sv.wait(cid).exit_code == 0
    assert [e["log"] for e in read_log(h.log_path(cid))] == ["hello\n", "world\n", "eof-seen\n"]


def test_terminal_output_and_resize(any_supervisor: Harness) -> None:
    h = any_supervisor
    sv = h.client()
    cid = h.create(sv, ["sh", "-c", "stty size; read x; stty size; echo done"], tty=True,
                   stdin=True, console_size=(24, 80))
    with sv.attach(cid, stdin=True) as stream:
        assert stream.framing is Framing.RAW
        sv.start(cid)
        assert b"24 80" in read_until(stream, b"24 80\r\n")
        sv.resize(cid, 40, 100)
        stream.write(b"\n")
        out = read_until(stream, b"done")
    assert b"40 100\r\n" in out
    assert sv.wait(cid).exit_code == 0
    logged = "".join(e["log"] for e in read_log(h.log_path(cid)))
    assert "24 80\r\n" in logged and "40 100\r\n" in logged
    assert {e["stream"] for e in read_log(h.log_path(cid))} == {"stdout"}
    with pytest.raises(errors.Conflict):
        sv.resize(cid, 10, 10)  # the terminal is gone with the container


def test_attach_receives_live_output(supervisor: Harness) -> None:
    h = supervisor
    sv = h.client()
    cid = h.create(sv, ["sh", "-c", COUNTER])
    sv.start(cid)
    wait_for(lambda: len(read_log(h.log_path(cid))) > 5, 10, "first lines")
    for _ in range(2):  # attach, detach, attach again: the container does not notice
        with sv.attach(cid, stderr=False) as stream:
            got = read_until(stream, b"\n")
            while got.count(b"\n") < 20:
                got += read_until(stream, b"\n")
        nums = [int(x) for x in got.split(b"\n")[1:-1]]  # the first may be a line's tail
        assert nums == list(range(nums[0], nums[0] + len(nums)))
        assert nums[0] >= 5
    assert sv.state(cid).status is Status.RUNNING
    sv.kill(cid, signal.SIGKILL)
    assert sv.wait(cid).exit_code == 137


def test_attach_hand_off_over_scm_rights(supervisor: Harness) -> None:
    """The daemon can give the supervisor a socket (a hijacked connection) to serve."""
    h = supervisor
    sv = h.client()
    cid = h.create(sv, ["sh", "-c", "read x; echo got-$x; echo bye >&2"], stdin=True)
    ours, theirs = socket.socketpair()
    with ours:
        sv.attach_socket(theirs, cid, stdin=True, close_stdin=True)
        theirs.close()
        sv.start(cid)
        ours.sendall(b"ping\n")
        stream = AttachStream(ours, Framing.MULTIPLEXED, b"")
        stream.settimeout(10)
        got = stream.read_all()
    assert got == {Stream.STDOUT: b"got-ping\n", Stream.STDERR: b"bye\n"}
    assert sv.wait(cid).exit_code == 0


def test_a_slow_attached_client_holds_the_process_back_and_gets_every_byte(
        supervisor: Harness) -> None:
    """More output than the supervisor queues for a client (``MAX_PENDING``, 8 MiB): the
    client reads nothing for a while, then everything arrives, in order, and the process
    was held back meanwhile (as with dockerd) instead of the client being dropped."""
    h = supervisor
    sv = h.client()
    total = 24 << 20
    cid = h.create(sv, ["sh", "-c", f"head -c {total} /dev/zero; echo done >&2"])
    ours, theirs = socket.socketpair()
    with ours:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        sv.attach_socket(theirs, cid)
        theirs.close()
        sv.start(cid)
        time.sleep(1.0)  # not reading: the process must be blocked, not finished
        assert sv.state(cid).status is Status.RUNNING
        stream = AttachStream(ours, Framing.MULTIPLEXED, b"")
        stream.settimeout(30)
        got = stream.read_all()
    assert len(got[Stream.STDOUT]) == total and set(got[Stream.STDOUT]) == {0}
    assert got[Stream.STDERR] == b"done\n"
    assert sv.wait(cid).exit_code == 0


def test_long_lines_are_split_as_docker_does(supervisor: Harness) -> None:
    h = supervisor
    sv = h.client()
    # 40000 x's then a newline, then a last line without one.
    cid = h.create(sv, ["sh", "-c", "head -c 40000 /dev/zero | tr '\\0' x; echo; printf tail"])
    sv.start(cid)
    assert sv.wait(cid).exit_code == 0
    logs = [e["log"] for e in read_log(h.log_path(cid))]
    assert [len(x) for x in logs] == [16384, 16384, 40000 - 32768 + 1, 4]
    assert logs[2].endswith("x\n") and logs[3] == "tail"


# --------------------------------------------------------------------------- exec


def test_exec_exit_codes_and_output(any_supervisor: Harness) -> None:
    h = any_supervisor
    sv = h.client()
    cid = h.create(sv, ["sleep", "1000"])
    sv.start(cid)
    info, stream = sv.exec_attached(
        cid, "e1", process_for(h, ["sh", "-c", "echo in-exec; echo oops >&2; exit 5"]))
    with stream:
        stream.settimeout(10)
        assert stream.read_all() == {Stream.STDOUT: b"in-exec\n", Stream.STDERR: b"oops\n"}
    assert info.pid > 0
    assert sv.wait(cid, "e1").exit_code == 5
    assert sv.exec_state(cid, "e1").status is Status.STOPPED
    rec = read_exit_record(str(h.state), cid, "e1")
    assert rec is not None and rec.status.exit_code == 5

    sv.exec(cid, "e2", process_for(h, ["sh", "-c", "exit 4"]))
    assert sv.wait(cid, "e2").exit_code == 4
    sv.exec(cid, "e3", process_for(h, ["sleep", "1000"]))
    sv.kill(cid, signal.SIGTERM, exec_id="e3")
    ex = sv.wait(cid, "e3", timeout=10)
    assert (ex.exit_code, ex.signal) == (143, 15)

    with pytest.raises(errors.AlreadyExists):
        sv.exec(cid, "e1", process_for(h, ["true"]))
    assert read_log(h.log_path(cid)) == []  # exec output is not the container's log
    assert sv.state(cid).status is Status.RUNNING
    assert {e.exec_id for e in sv.state(cid).execs} == {"e1", "e2", "e3"}


def test_exec_with_a_terminal(supervisor: Harness) -> None:
    h = supervisor
    sv = h.client()
    cid = h.create(sv, ["sleep", "1000"])
    sv.start(cid)
    info, stream = sv.exec_attached(cid, "t1", process_for(h, ["sh", "-c", "tty; stty size"],
                                                           tty=True), console_size=(33, 77))
    with stream:
        assert info.tty and stream.framing is Framing.RAW
        stream.settimeout(10)
        out = stream.read_all()[Stream.STDOUT]
    assert re.search(rb"/dev/pts/\d+\r\n33 77\r\n", out), out
    assert sv.wait(cid, "t1").exit_code == 0


# --------------------------------------------------------------------------- logs


def test_log_rotation(supervisor: Harness) -> None:
    h = supervisor
    sv = h.client()
    n = 3000
    cid = h.create(sv, ["sh", "-c", f"i=0; while [ $i -lt {n} ]; do echo line-$i; "
                                    "i=$((i+1)); done"],
                   log_options={"max-size": "10k", "max-file": "3"})
    sv.start(cid)
    assert sv.wait(cid).exit_code == 0
    base = h.log_path(cid)
    files = [Path(f"{base}.2"), Path(f"{base}.1"), base]
    assert all(f.exists() for f in files)
    assert not Path(f"{base}.3").exists()
    for f in files[:2]:
        size = f.stat().st_size
        assert 10240 <= size < 10240 + 100, (f, size)
    lines = [e["log"] for f in files for e in read_log(f)]
    first = int(lines[0].removeprefix("line-"))
    assert lines == [f"line-{i}\n" for i in range(first, n)]
    assert first > 0  # older lines were rotated away


# --------------------------------------------------------------------------- lifecycle


def test_second_supervisor_is_refused(supervisor: Harness) -> None:
    from dockyard.runtime.supervisor.client import spawn_supervisor

    with pytest.raises(errors.AlreadyExists, match=f"pid {supervisor.pid}"):
        spawn_supervisor(str(supervisor.state))
    assert supervisor.client().ping()["pid"] == supervisor.pid
    assert oct(os.stat(supervisor.state / "supervisor.sock").st_mode & 0o777) == "0o600"


def test_shutdown_refused_while_containers_run(supervisor: Harness) -> None:
    h = supervisor
    sv = h.client()
    cid = h.create(sv, ["sleep", "1000"])
    sv.start(cid)
    with pytest.raises(errors.Conflict, match=cid):
        sv.shutdown()
    assert pid_alive(h.pid)
    sv.shutdown(force=True)
    wait_for(lambda: not pid_alive(h.pid), 10, "the supervisor to exit")
    rec = read_exit_record(str(h.state), cid)
    assert rec is not None and rec.status.exit_code == 137
    assert not (h.state / "supervisor.sock").exists()


def test_delete_force_kills_a_running_container(supervisor: Harness) -> None:
    h = supervisor
    sv = h.client()
    cid = h.create(sv, ["sleep", "1000"])
    sv.start(cid)
    pid = sv.state(cid).pid
    with pytest.raises(errors.Conflict):
        sv.delete(cid)
    sv.delete(cid, force=True)
    assert not pid_alive(pid)
    with pytest.raises(errors.NotFound):
        sv.state(cid)
    assert cgroup_dirs(cid) == []
    assert os.listdir(h.runc_root) == []


def test_a_new_supervisor_finds_what_the_old_one_recorded(supervisor: Harness) -> None:
    from dockyard.runtime.supervisor.client import spawn_supervisor

    h = supervisor
    sv = h.client()
    done = h.create(sv, ["sh", "-c", "exit 9"])
    sv.start(done)
    assert sv.wait(done).exit_code == 9
    running = h.create(sv, ["sleep", "1000"])
    sv.start(running)
    sv.close()
    os.kill(h.pid, signal.SIGKILL)  # the supervisor itself dies: stdio is lost, not exits
    wait_for(lambda: not pid_alive(h.pid), 10, "the supervisor to die")
    h.pid = spawn_supervisor(str(h.state))
    sv = h.client()
    assert sv.wait(done).exit_code == 9
    assert sv.state(running).status is Status.UNKNOWN
    with pytest.raises(errors.Conflict):
        sv.delete(running)
    sv.kill(running, signal.SIGKILL)
    ex = sv.wait(running, timeout=10)
    assert ex.lost and ex.exit_code == 255
    sv.delete(running)
    sv.delete(done)
    assert sv.list() == []


# --------------------------------------------------------------------------- bad requests


def raw_call(h: Harness, line: bytes) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(h.state / "supervisor.sock"))
        s.sendall(line)
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(4096)
            assert chunk, "connection closed without a reply"
            buf += chunk
    reply: dict[str, Any] = json.loads(buf)
    return reply


def test_malformed_requests_get_clear_errors(supervisor: Harness) -> None:
    h = supervisor
    cases = {
        b"this is not json\n": "not JSON",
        b"[1, 2]\n": "not a JSON object",
        b'{"seq": 1, "op": "frobnicate"}\n': "unknown operation",
        b'{"seq": 2, "op": "create", "args": {}}\n': "id: required",
        b'{"seq": 3, "op": "start", "args": {"id": "../etc"}}\n': "invalid id",
        b'{"seq": 4, "op": "kill", "args": {"id": "x", "signal": "SIGNOPE"}}\n': "unknown signal",
        b'{"seq": 5, "op": "create", "args": "nope"}\n': "args: expected an object",
        b'{"seq": 6, "op": "ping", "fds": 2}\n': "announces 2 fds",
    }
    for line, text in cases.items():
        reply = raw_call(h, line)
        assert reply["ok"] is False, line
        assert reply["error"]["kind"] == "InvalidArgument", (line, reply)
        assert text in reply["error"]["message"], (line, reply)
    assert raw_call(h, b'{"seq": 7, "op": "ping"}\n')["result"]["pid"] == h.pid


def test_an_init_that_fails_leaves_no_record(any_supervisor: Harness) -> None:
    """The in-process driver has the record written while the init builds its rootfs: an
    init that fails after that (its executable is missing) takes it away again."""
    h = any_supervisor
    sv = h.client()
    cid, bundle = h.bundle(["/nonexistent-executable"])
    with pytest.raises(errors.FailedPrecondition, match="nonexistent-executable"):
        sv.create(cid, str(bundle), h.runtime(), log_path=str(h.log_path(cid)))
    assert sv.list() == []
    assert os.listdir(h.state / "containers") == []
    assert not h.log_path(cid).exists()
    assert os.listdir(h.runc_root) == [] and os.listdir(h.inproc_root) == []
    assert cgroup_dirs(cid) == []


def test_bad_creates_leave_nothing_behind(supervisor: Harness, tmp_path: Path) -> None:
    h = supervisor
    sv = h.client()
    rt = h.runtime()

    def nothing_left(cid: str) -> None:
        assert sv.list() == []
        assert not (h.state / "containers" / cid).exists()
        assert not h.log_path(cid).exists()
        assert os.listdir(h.runc_root) == []
        assert cgroup_dirs(cid) == []
        assert [p for p in os.listdir(h.state) if p.startswith("console-")] == []

    cid = h.new_id()
    with pytest.raises(errors.InvalidArgument, match="not a directory"):
        sv.create(cid, str(tmp_path / "missing"), rt, log_path=str(h.log_path(cid)))
    nothing_left(cid)

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(errors.InvalidArgument, match=r"no config\.json"):
        sv.create(cid, str(empty), rt, log_path=str(h.log_path(cid)))
    nothing_left(cid)

    (empty / "config.json").write_text("{not json")
    with pytest.raises(errors.InvalidArgument, match="malformed JSON"):
        sv.create(cid, str(empty), rt, log_path=str(h.log_path(cid)))
    nothing_left(cid)

    cid, bundle = h.bundle(["true"])
    with pytest.raises(errors.InvalidArgument, match=r"process\.terminal"):
        sv.create(cid, str(bundle), rt, log_path=str(h.log_path(cid)), tty=True)
    nothing_left(cid)

    cid, bundle = h.bundle(["true"], edit=lambda s: s["root"].update(path="/nonexistent-root"))
    with pytest.raises(errors.FailedPrecondition, match="runc create"):
        sv.create(cid, str(bundle), rt, log_path=str(h.log_path(cid)))
    nothing_left(cid)

    cid, bundle = h.bundle(["true"], tty=True,
                           edit=lambda s: s["root"].update(path="/nonexistent-root"))
    with pytest.raises(errors.FailedPrecondition):
        sv.create(cid, str(bundle), rt, log_path=str(h.log_path(cid)), tty=True)
    nothing_left(cid)

    with pytest.raises(errors.InvalidArgument, match="unknown log option"):
        h.create(sv, ["true"], log_options={"max-bogus": "1"})
    with pytest.raises(errors.InvalidArgument, match="absolute"):
        sv.create("rel", "bundle", rt)
    assert sv.list() == []


def test_wrong_state_requests(supervisor: Harness) -> None:
    h = supervisor
    sv = h.client()
    with pytest.raises(errors.NotFound):
        sv.start("nope")
    with pytest.raises(errors.NotFound):
        sv.wait("nope")
    cid = h.create(sv, ["sleep", "1000"])
    with pytest.raises(errors.AlreadyExists):
        sv.create(cid, str(h.make_bundle(["true"], name="dup")), h.runtime())
    with pytest.raises(errors.Conflict, match="not running"):
        sv.exec(cid, "e", process_for(h, ["true"]))
    with pytest.raises(errors.Conflict, match="no terminal"):
        sv.resize(cid, 10, 10)
    with pytest.raises(errors.Conflict, match="open stdin"):
        sv.attach(cid, stdin=True)
    sv.start(cid)
    with pytest.raises(errors.Conflict):
        sv.start(cid)
    with pytest.raises(errors.NotFound):
        sv.wait(cid, "no-such-exec")
    sv.kill(cid, signal.SIGKILL)
    sv.wait(cid)
    with pytest.raises(errors.Conflict, match="not running"):
        sv.kill(cid, signal.SIGTERM)
    with pytest.raises(errors.Conflict, match="exited"):
        sv.attach(cid)
    sv.delete(cid)
    with pytest.raises(errors.NotFound):
        sv.delete(cid)
    assert SupervisorClient.for_state(str(h.state)).ping()["containers"] == 0
