"""Execs across a daemon restart (live restore): the supervisor keeps the exec processes
running while the daemon is down; the new daemon reloads its exec records and reconciles
them with the supervisor. An exec still running is shown running (``docker top`` lists
it) and its exit is recorded when it comes; one that exited while the daemon was down
gets its code; the execs of a container that died meanwhile are marked exited; exited
records survive a further restart."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import daemon_harness as harness

Daemon = harness.Daemon

# Waits for a file the test creates from the host (through the mounted rootfs), then exits.
WAIT_FOR = "while [ ! -e /tmp/{0} ]; do usleep 20000; done; exit {1}"


def create_started(d: Daemon, cmd: list[str]) -> str:
    r = d.request("POST", "/containers/create", {"Image": "busybox", "Cmd": cmd})
    assert r.status == 201, r.body
    cid = str(r.json()["Id"])
    assert d.request("POST", f"/containers/{cid}/start").status == 204
    return cid


def exec_detached(d: Daemon, cid: str, script: str) -> str:
    r = d.request("POST", f"/containers/{cid}/exec", {"Cmd": ["sh", "-c", script]})
    assert r.status == 201, r.body
    eid = str(r.json()["Id"])
    r = d.request("POST", f"/exec/{eid}/start", {"Detach": True})
    assert r.status == 200, r.body
    return eid


def exec_info(d: Daemon, eid: str) -> dict[str, Any]:
    r = d.request("GET", f"/exec/{eid}/json")
    assert r.status == 200, r.body
    return dict(r.json())


def wait_exec(d: Daemon, eid: str, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        info = exec_info(d, eid)
        return info if pred(info) else None

    return dict(harness.wait_for(probe, 20, f"exec {eid[:12]}"))


def touch(d: Daemon, cid: str, name: str) -> None:
    (Path(d.exec_root) / "bundles" / cid / "rootfs" / "tmp" / name).touch()


def top_pids(d: Daemon, cid: str) -> list[str]:
    top = d.request("GET", f"/containers/{cid}/top").json()
    return [row[top["Titles"].index("PID")] for row in top["Processes"]]


def test_execs_survive_a_daemon_restart(new_daemon: Callable[[], Daemon]) -> None:
    d = new_daemon()
    d.start()
    cid = create_started(d, ["sleep", "1000"])
    running = exec_detached(d, cid, WAIT_FOR.format("go", 5))
    ends_while_down = exec_detached(d, cid, WAIT_FOR.format("go-down", 6))
    done = exec_detached(d, cid, "exit 3")
    wait_exec(d, done, lambda i: not i["Running"])
    pid = wait_exec(d, running, lambda i: i["Pid"] > 0)["Pid"]
    doomed_cid = create_started(d, ["sleep", "1000"])
    doomed = exec_detached(d, doomed_cid, "sleep 1000")
    doomed_pid = int(d.request("GET", f"/containers/{doomed_cid}/json").json()["State"]["Pid"])
    wait_exec(d, doomed, lambda i: i["Running"] and i["Pid"] > 0)

    assert d.stop(signal.SIGKILL) == -signal.SIGKILL
    touch(d, cid, "go-down")  # exits 6 while the daemon is down
    os.kill(doomed_pid, signal.SIGKILL)  # its container dies, and its exec with it
    harness.wait_for(lambda: not harness.pid_alive(doomed_pid), 10, "the doomed container")
    d.start()

    info = exec_info(d, running)
    assert info["Running"] is True and info["ExitCode"] is None and info["Pid"] == pid, info
    assert info["ProcessConfig"]["arguments"] == ["-c", WAIT_FOR.format("go", 5)]
    assert str(pid) in top_pids(d, cid)
    assert wait_exec(d, ends_while_down, lambda i: not i["Running"])["ExitCode"] == 6
    assert exec_info(d, done)["ExitCode"] == 3
    ids = d.request("GET", f"/containers/{cid}/json").json()["ExecIDs"]
    assert ids == [running], ids  # ExecIDs: the execs not exited (moby's list)

    gone = wait_exec(d, doomed, lambda i: not i["Running"])
    assert gone["ExitCode"] is not None and gone["ExitCode"] != 0, gone
    assert d.request("POST", f"/containers/{doomed_cid}/wait").json()["StatusCode"] == 137

    touch(d, cid, "go")  # the restored exec ends now: the new daemon records its exit
    assert wait_exec(d, running, lambda i: not i["Running"])["ExitCode"] == 5
    assert str(pid) not in top_pids(d, cid)

    # The exits are on disk: a further restart still knows them.
    assert d.stop() is not None
    d.start()
    assert exec_info(d, running)["ExitCode"] == 5
    assert exec_info(d, ends_while_down)["ExitCode"] == 6

    # A new start of the container forgets its execs, on disk too; rm removes all.
    assert d.request("POST", f"/containers/{cid}/stop?t=0").status == 204
    assert d.request("POST", f"/containers/{cid}/start").status == 204
    assert d.request("GET", f"/exec/{running}/json").status == 404
    assert not (Path(d.data_root) / "containers" / cid / "execs").exists()
    for c in (cid, doomed_cid):
        assert d.request("DELETE", f"/containers/{c}?force=1").status == 204
    assert d.errors() == [], d.tail(60)
