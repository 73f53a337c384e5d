"""Issue 2's test: the daemon dies (SIGKILL), the containers and their records do not.

A stand-in for the daemon, a separate Python process, starts the supervisor and through the
client creates and starts two busybox containers: one printing a numbered line every
10 ms, one that sleeps briefly then exits 7. Like a daemon it keeps an attach open on the
first and a ``wait`` pending on the second. Then it is killed with SIGKILL. Afterwards the
first container keeps running and its json-file log has every number in sequence, with no
gap, and keeps growing; the second's exit 7 is recorded in ``exit.json`` and reported by
a new client's ``wait`` and ``state``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.runtime.supervisor.client import SupervisorClient, read_exit_record
from dockyard.runtime.supervisor.protocol import Status

# pytest runs with --import-mode=importlib: make the sibling harness importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_supervisor_support import (
    RUNTIME_KINDS,
    harness,
    pid_alive,
    read_log,
    wait_for,
)

pytestmark = [pytest.mark.root]

COUNTER = "i=0; while true; do echo $i; i=$((i+1)); usleep 10000; done"

STAND_IN = r"""
import json, socket, sys
from dockyard.runtime.supervisor.client import (
    RuntimeSpec, SupervisorClient, spawn_supervisor)

cfg = json.loads(sys.argv[1])
pid = spawn_supervisor(cfg["state"])
sv = SupervisorClient.for_state(cfg["state"])
runtime = RuntimeSpec.from_wire(cfg["runtime"])
for c in cfg["containers"]:
    sv.create(c["id"], c["bundle"], runtime, log_path=c["log"])
stream = sv.attach(cfg["containers"][0]["id"])
for c in cfg["containers"]:
    sv.start(c["id"])
# A wait left pending, as the daemon's container monitor would.
w = socket.socket(socket.AF_UNIX)
w.connect(cfg["state"] + "/supervisor.sock")
w.sendall(json.dumps({"seq": 1, "op": "wait",
                      "args": {"id": cfg["containers"][1]["id"]}}).encode() + b"\n")
print(json.dumps({"supervisor": pid}), flush=True)
for _ in stream:  # busy relaying output, until killed
    pass
"""


def numbers(log: Path) -> list[int]:
    entries = read_log(log)
    assert all(e["stream"] == "stdout" and e["log"].endswith("\n") for e in entries)
    return [int(e["log"]) for e in entries]


@pytest.mark.parametrize("kind", RUNTIME_KINDS)
def test_daemon_killed_containers_live_on_and_exits_are_recorded(
        kind: str, make_bundle: Callable[..., Path], tmp_path: Path) -> None:
    with harness(make_bundle, start=False, kind=kind) as h:
        counter, counter_bundle = h.bundle(["sh", "-c", COUNTER], label="count")
        exiter, exiter_bundle = h.bundle(["sh", "-c", "sleep 2; exit 7"], label="exit7")
        cfg = {
            "state": str(h.state),
            "runtime": h.runtime().to_wire(),
            "containers": [
                {"id": counter, "bundle": str(counter_bundle), "log": str(h.log_path(counter))},
                {"id": exiter, "bundle": str(exiter_bundle), "log": str(h.log_path(exiter))},
            ],
        }
        script = tmp_path / "stand_in.py"
        script.write_text(STAND_IN)
        daemon = subprocess.Popen([sys.executable, str(script), json.dumps(cfg)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert daemon.stdout is not None
            line = daemon.stdout.readline()
            if not line:
                pytest.fail(f"the stand-in failed: {daemon.stderr.read().decode()}"
                            if daemon.stderr else "the stand-in failed")
            h.pid = json.loads(line)["supervisor"]
            wait_for(lambda: len(read_log(h.log_path(counter))) >= 10, 10, "counting")
        finally:
            daemon.kill()
            daemon.wait()
        killed_at = time.time()
        assert daemon.returncode == -signal.SIGKILL

        # The supervisor is not the daemon's child, nor in its session: it lives on.
        assert pid_alive(h.pid)
        # (Double fork: its session is the vanished intermediate's, not ours/the stand-in's.)
        assert os.getsid(h.pid) != os.getsid(0)
        ppid = int(Path(f"/proc/{h.pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        assert ppid != daemon.pid
        assert read_exit_record(str(h.state), exiter) is None, "exited before the kill"

        # The exit 7 happens while no daemon exists, and is recorded durably.
        rec = wait_for(lambda: read_exit_record(str(h.state), exiter), 10, "exit.json")
        assert (rec.status.exit_code, rec.status.signal) == (7, None)
        exited = time.mktime(time.strptime(rec.status.exited_at[:19], "%Y-%m-%dT%H:%M:%S"))
        assert exited - time.timezone >= int(killed_at) - 1

        # The counter never stopped: every number, in order, and still growing.
        before = numbers(h.log_path(counter))
        time.sleep(1.0)
        after = numbers(h.log_path(counter))
        assert after == list(range(len(after))), "a gap or a repeat in the log"
        assert len(after) >= len(before) + 50, (len(before), len(after))

        # A restarted daemon (a new client) finds both, as they are.
        sv = h.client()
        assert sv.wait(exiter).exit_code == 7
        state = sv.state(exiter)
        assert state.status is Status.STOPPED and state.exit == rec.status
        assert sv.state(counter).status is Status.RUNNING
        with SupervisorClient.for_state(str(h.state)) as other:
            assert {c.id for c in other.list()} == {counter, exiter}
        later = wait_for(lambda: (n := numbers(h.log_path(counter)))[len(after):] and n, 10,
                         "the log to grow further")
        assert later == list(range(len(later)))
