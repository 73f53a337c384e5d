"""docker-py (7.x) against dockyardd: ``exec_run`` (exit code and output, demuxed, with a
terminal, streamed, detached, environment/user/workdir), the low-level exec API, and
``events(decode=True)`` (past with since/until, filtered, live)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "daemon"))
import daemon_harness as harness

pytestmark = pytest.mark.root


def test_exec_run(client: docker.DockerClient) -> None:
    box = client.containers.run("busybox", ["sleep", "1000"], detach=True,
                                environment={"IN_BOX": "1"}, working_dir="/tmp")
    r = box.exec_run(["sh", "-c", "echo out; echo err >&2; exit 4"])
    assert (r.exit_code, r.output) == (4, b"out\nerr\n")
    r = box.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
    assert (r.exit_code, r.output) == (0, (b"out\n", b"err\n"))
    r = box.exec_run(["sh", "-c", "echo $IN_BOX $X; pwd; id -un"], environment={"X": "2"},
                     workdir="/etc", user="nobody")
    assert (r.exit_code, r.output) == (0, b"1 2\n/etc\nnobody\n")
    r = box.exec_run("tty", tty=True)
    assert r.exit_code == 0 and r.output.startswith(b"/dev/pts/")
    r = box.exec_run(["sh", "-c", "for i in 1 2 3; do echo $i; done"], stream=True)
    assert r.exit_code is None and b"".join(r.output) == b"1\n2\n3\n"
    r = box.exec_run(["sh", "-c", "echo bg > /tmp/bg"], detach=True)
    assert r.exit_code in (None, 0) and not r.output  # inspected at once: may be done
    harness.wait_for(lambda: box.exec_run("cat /tmp/bg").output == b"bg\n", 10, "the file")
    r = box.exec_run("nosuchcmd")
    assert r.exit_code == 127


def test_low_level_exec(client: docker.DockerClient) -> None:
    api = client.api
    box = client.containers.run("busybox", ["sleep", "1000"], detach=True)
    exec_id = api.exec_create(box.id, ["sh", "-c", "exit 9"])["Id"]
    info = api.exec_inspect(exec_id)
    assert (info["Running"], info["ExitCode"], info["ContainerID"]) == (False, None, box.id)
    assert api.exec_start(exec_id) == b""
    info = api.exec_inspect(exec_id)
    assert (info["Running"], info["ExitCode"]) == (False, 9)
    with pytest.raises(docker.errors.NotFound):
        api.exec_inspect("nosuch")
    with pytest.raises(docker.errors.APIError) as exc:
        api.exec_create(box.id, [])
    assert exc.value.status_code == 400
    box.pause()
    assert client.containers.get(box.id).status == "paused"
    with pytest.raises(docker.errors.APIError) as exc:
        api.exec_create(box.id, ["true"])
    assert exc.value.status_code == 409
    box.unpause()
    top = box.top()
    assert top["Titles"][1] == "PID" and top["Processes"][0][-1] == "sleep 1000"
    box.kill()
    box.wait()
    assert client.containers.prune()["ContainersDeleted"] == [box.id]


def test_events_decoded(client: docker.DockerClient) -> None:
    t0 = time.time()
    try:
        client.containers.run("busybox", ["sh", "-c", "exit 2"], name="ev-py", remove=True,
                              labels={"via": "docker-py"})
    except docker.errors.ContainerError as exc:
        assert exc.exit_status == 2
    t1 = time.time() + 0.001
    past = list(client.events(since=t0, until=t1, decode=True,
                              filters={"container": "ev-py"}))
    # docker-py runs without attaching: create, start, wait, logs, remove
    assert [e["Action"] for e in past] == ["create", "start", "die", "destroy"]
    assert past[2]["Actor"]["Attributes"]["exitCode"] == "2"
    assert past[0]["Actor"]["Attributes"]["via"] == "docker-py"
    assert all(e["Type"] == "container" and e["id"] == past[0]["id"] for e in past)

    live: list[dict[str, Any]] = []
    stream = client.events(decode=True, filters={"event": "die"})

    def read() -> None:
        for e in stream:
            live.append(e)
            return

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.5)
    client.containers.run("busybox", "true", remove=True)
    reader.join(20)
    stream.close()
    assert [e["Action"] for e in live] == ["die"]
    assert live[0]["Actor"]["Attributes"]["exitCode"] == "0"
