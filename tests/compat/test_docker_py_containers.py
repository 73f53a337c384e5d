"""docker-py (7.x), a client nobody here wrote, against dockyardd: ``containers.run``
(attached, detached, ``remove=True``, a failing command), ``logs(stream=True)``, ``wait``,
``attach_socket``, ``exec_run``, ``events(decode=True)``, ``containers.list/get``, and its
exceptions with the right status.

The daemon is a real one on a temp socket with temp roots
(``tests/integration/daemon/daemon_harness.py``), cleaned up even when a test fails.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import docker
import docker.errors
import pytest
from docker.utils.socket import frames_iter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "daemon"))

pytestmark = pytest.mark.root


def test_version_negotiated(client: docker.DockerClient) -> None:
    assert client.api.api_version == "1.45"
    assert client.ping() is True
    assert client.version()["ApiVersion"] == "1.45"


def test_run_attached_and_removed(client: docker.DockerClient) -> None:
    out = client.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2"],
                                remove=True)
    assert out == b"out\n"
    both = client.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2"],
                                 remove=True, stderr=True)
    assert sorted(both.splitlines()) == [b"err", b"out"]
    assert client.containers.list(all=True) == []


def test_run_failing_command_raises_container_error(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.ContainerError) as e:
        client.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 3"], remove=True)
    assert e.value.exit_status == 3 and b"bad" in e.value.stderr
    with pytest.raises(docker.errors.APIError) as api:
        client.containers.run("busybox", ["nosuchcmd"], remove=True)
    assert "executable file not found" in str(api.value)


def test_run_detached_logs_stream_wait(client: docker.DockerClient) -> None:
    c = client.containers.run("busybox", ["sh", "-c", "for i in 1 2 3; do echo line $i; "
                                          "sleep 0.2; done; exit 5"],
                              detach=True, name="streamer", labels={"test": "py"})
    assert client.containers.get("streamer").id == c.id
    assert [x.id for x in client.containers.list(filters={"label": "test=py"})] == [c.id]
    got = b"".join(c.logs(stream=True, follow=True))
    assert got == b"line 1\nline 2\nline 3\n"
    assert c.wait(timeout=30) == {"StatusCode": 5, "Error": None}
    c.reload()
    assert c.status == "exited" and c.attrs["State"]["ExitCode"] == 5
    assert c.attrs["HostConfig"]["LogConfig"]["Type"] == "json-file"
    assert c.logs(tail=1) == b"line 3\n"
    assert client.containers.list() == []
    assert [x.name for x in client.containers.list(all=True)] == ["streamer"]
    c.remove()
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("streamer")


def test_attach_socket(client: docker.DockerClient) -> None:
    c = client.containers.create("busybox", ["sh", "-c", "read line; echo got $line; "
                                             "echo done >&2"],
                                 stdin_open=True)
    sock = c.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
    raw: socket.socket = sock._sock  # the hijacked connection
    try:
        c.start()
        raw.sendall(b"hello\n")
        frames = {1: b"", 2: b""}
        deadline = time.monotonic() + 30
        for stream, data in frames_iter(sock, tty=False):
            frames[stream] += data
            if (b"got hello\n" in frames[1] and b"done\n" in frames[2]) or \
                    time.monotonic() > deadline:
                break
    finally:
        sock.close()
    assert frames == {1: b"got hello\n", 2: b"done\n"}
    assert c.wait(timeout=30)["StatusCode"] == 0


def test_errors_carry_docker_statuses(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.NotFound) as nf:
        client.containers.get("nosuch")
    assert nf.value.status_code == 404 and "No such container: nosuch" in str(nf.value)
    with pytest.raises(docker.errors.ImageNotFound) as inf:
        client.containers.create("nosuchimage:1")
    assert inf.value.status_code == 404
    # run pulls a missing image: from a registry that is not there (loopback only).
    with pytest.raises(docker.errors.APIError) as unreachable:
        client.containers.run("127.0.0.1:1/nosuchimage:2", remove=True)
    assert unreachable.value.status_code == 503
    assert "connection refused" in str(unreachable.value)
    c = client.containers.create("busybox", ["true"], name="dup")
    with pytest.raises(docker.errors.APIError) as conflict:
        client.containers.create("busybox", ["true"], name="dup")
    assert conflict.value.status_code == 409
    with pytest.raises(docker.errors.APIError) as bad:
        client.containers.create("busybox", ["true"], name="bad name!")
    assert bad.value.status_code == 400
    with pytest.raises(docker.errors.APIError) as not_running:
        c.kill()
    assert not_running.value.status_code == 409
    c.remove()


def test_exec_run(client: docker.DockerClient) -> None:
    c = client.containers.run("busybox", ["sleep", "60"], detach=True)
    try:
        result = c.exec_run(["sh", "-c", "echo in; echo err >&2; exit 4"])
        assert result.exit_code == 4 and sorted(result.output.splitlines()) == [b"err", b"in"]
        out = c.exec_run("cat /etc/hostname", environment={"A": "1"}, workdir="/tmp")
        assert out.exit_code == 0 and out.output == c.id[:12].encode() + b"\n"
        split = c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
        assert split.output == (b"o\n", b"e\n")
    finally:
        c.remove(force=True)


def test_events_decoded(client: docker.DockerClient) -> None:
    since = time.time()
    client.containers.run("busybox", ["true"], name="evented", remove=True)
    events = client.events(since=since, until=time.time() + 1, decode=True,
                           filters={"container": "evented"})
    actions = [e["Action"] for e in events]
    for action in ("create", "start", "die", "destroy"):
        assert action in actions, actions
    assert actions.index("create") < actions.index("start") < actions.index("die")


def test_attach_with_logs_replays_what_was_written_before(client: docker.DockerClient) -> None:
    c = client.containers.run("busybox", ["sh", "-c", "echo one; echo two >&2; sleep 2"],
                              detach=True)
    deadline = time.monotonic() + 10
    while b"two" not in c.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    # logs=1: the output so far (both streams), then the live stream until the exit.
    got = client.api.attach(c.id, stdout=True, stderr=True, logs=True, stream=False)
    assert got == b"one\ntwo\n"
    assert client.api.attach(c.id, stdout=True, stderr=False, logs=True) == b"one\n"
