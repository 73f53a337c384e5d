"""Exec, pause/unpause, top, prune and events through the Engine API of a real daemon
(raw HTTP on its socket: the hijacked exec start is read byte by byte)."""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import daemon_harness as harness
import pytest

Daemon = harness.Daemon


@pytest.fixture
def running(daemon: Daemon) -> Iterator[str]:
    """A running container (``sleep``), removed after the test."""
    r = daemon.request("POST", "/containers/create",
                       {"Image": "busybox", "Cmd": ["sleep", "1000"], "WorkingDir": "/tmp",
                        "Env": ["FROM_CONTAINER=1"], "Labels": {"suite": "exec"}})
    assert r.status == 201, r.body
    cid = r.json()["Id"]
    try:
        assert daemon.request("POST", f"/containers/{cid}/start").status == 204
        yield cid
    finally:
        daemon.request("DELETE", f"/containers/{cid}?force=1")


def exec_create(daemon: Daemon, cid: str, cmd: list[str], **kw: Any) -> str:
    body = {"AttachStdout": True, "AttachStderr": True, "Cmd": cmd, **kw}
    r = daemon.request("POST", f"/containers/{cid}/exec", body)
    assert r.status == 201, r.body
    return str(r.json()["Id"])


def hijack(daemon: Daemon, path: str, body: dict[str, Any]) -> tuple[bytes, socket.socket]:
    """POST with ``Upgrade: tcp``; (the response head, the socket after it)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(str(daemon.socket))
    data = json.dumps(body).encode()
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
              f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
              .encode() + data)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, head
        head += chunk
    return head, s


def read_to_end(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    return out


def demux(data: bytes) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while data:
        stream, size = struct.unpack(">BxxxL", data[:8])
        out[stream] = out.get(stream, b"") + data[8:8 + size]
        data = data[8 + size:]
    return out


def exec_run(daemon: Daemon, cid: str, cmd: list[str], **kw: Any) -> tuple[int, dict[int, bytes]]:
    """The docker CLI's sequence: create, hijacked start, read to the end, inspect."""
    eid = exec_create(daemon, cid, cmd, **kw)
    head, s = hijack(daemon, f"/v1.45/exec/{eid}/start", {"Detach": False, "Tty": False})
    with s:
        assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n")
        assert b"application/vnd.docker.multiplexed-stream" in head
        out = demux(read_to_end(s))
    info = daemon.request("GET", f"/exec/{eid}/json").json()
    assert info["Running"] is False
    return int(info["ExitCode"]), out


def test_exec_exit_code_is_known_when_the_stream_ends(daemon: Daemon, running: str) -> None:
    for i in range(20):
        code, out = exec_run(daemon, running, ["sh", "-c", f"echo {i}; exit {i % 5 + 1}"])
        assert (code, out) == (i % 5 + 1, {1: f"{i}\n".encode()})


def test_exec_environment_user_workdir(daemon: Daemon, running: str) -> None:
    code, out = exec_run(daemon, running, ["sh", "-c", "echo $FROM_CONTAINER $X $HOME; pwd"])
    assert (code, out) == (0, {1: b"1 /root\n/tmp\n"})
    code, out = exec_run(daemon, running, ["sh", "-c", "echo $FROM_CONTAINER $X; pwd; id -u"],
                         Env=["X=2", "FROM_CONTAINER"], WorkingDir="/etc", User="nobody")
    assert (code, out) == (0, {1: b"2\n/etc\n65534\n"})
    code, out = exec_run(daemon, running, ["sh", "-c", "echo err >&2; exit 3"],
                         AttachStdout=False)
    assert (code, out) == (3, {2: b"err\n"})


def test_exec_inspect_shape(daemon: Daemon, running: str) -> None:
    eid = exec_create(daemon, running, ["sh", "-c", "exit 2"], User="0", Privileged=True)
    info = daemon.request("GET", f"/v1.45/exec/{eid}/json").json()
    assert info == {
        "ID": eid, "Running": False, "ExitCode": None,
        "ProcessConfig": {"tty": False, "entrypoint": "sh", "arguments": ["-c", "exit 2"],
                          "privileged": True, "user": "0"},
        "OpenStdin": False, "OpenStderr": True, "OpenStdout": True, "CanRemove": False,
        "ContainerID": running, "DetachKeys": "", "Pid": 0}
    c = daemon.request("GET", f"/containers/{running}/json").json()
    assert eid in c["ExecIDs"]
    r = daemon.request("POST", f"/exec/{eid}/start", {"Detach": True})
    assert r.status == 200
    harness.wait_for(lambda: daemon.request("GET", f"/exec/{eid}/json").json()["ExitCode"]
                     == 2, 10, "the detached exec's exit")
    # An exited exec leaves the container's ExecIDs (moby), and stays inspectable.
    c = daemon.request("GET", f"/containers/{running}/json").json()
    assert eid not in (c["ExecIDs"] or []), c["ExecIDs"]
    info = daemon.request("GET", f"/exec/{eid}/json").json()
    assert info["Running"] is False and info["Pid"] > 0
    r = daemon.request("POST", f"/exec/{eid}/start", {"Detach": True})
    assert r.status == 409 and "has already run" in r.json()["message"]


def test_exec_with_a_terminal_and_resize(daemon: Daemon, running: str) -> None:
    eid = exec_create(daemon, running, ["sh"], Tty=True, AttachStdin=True,
                      ConsoleSize=[20, 70])
    head, s = hijack(daemon, f"/exec/{eid}/start", {"Tty": True, "ConsoleSize": [20, 70]})
    with s:
        assert b"application/vnd.docker.raw-stream" in head
        s.sendall(b"stty size; tty\n")
        seen = b""
        while b"/dev/pts/" not in seen:
            seen += s.recv(4096)
        assert b"20 70" in seen
        r = daemon.request("POST", f"/exec/{eid}/resize?h=33&w=99")
        assert r.status == 200
        s.sendall(b"stty size; exit 7\n")
        seen += read_to_end(s)
        assert b"33 99" in seen
    assert daemon.request("GET", f"/exec/{eid}/json").json()["ExitCode"] == 7
    r = daemon.request("POST", f"/exec/{eid}/resize?h=0&w=99")
    assert r.status == 400


def test_exec_that_cannot_start(daemon: Daemon, running: str) -> None:
    code, out = exec_run(daemon, running, ["nosuchcmd"])
    assert code == 127 and b"executable file not found" in out[1]
    code, out = exec_run(daemon, running, ["true"], User="nosuch")
    assert code == 126 and b"unable to find user nosuch" in out[1]


def test_exec_errors(daemon: Daemon, running: str) -> None:
    r = daemon.request("POST", "/containers/nosuch/exec", {"Cmd": ["true"]})
    assert r.status == 404
    r = daemon.request("POST", f"/containers/{running}/exec", {"Cmd": []})
    assert r.status == 400 and r.json()["message"] == "No exec command specified"
    r = daemon.request("POST", f"/containers/{running}/exec", {"Cmd": ["true"],
                                                               "WorkingDir": "rel"})
    assert r.status == 400 and "absolute path" in r.json()["message"]
    r = daemon.request("POST", f"/containers/{running}/exec", {"Cmd": ["true"],
                                                               "DetachKeys": "ctrl-"})
    assert r.status == 400 and "Invalid detach keys" in r.json()["message"]
    r = daemon.request("POST", f"/containers/{running}/exec", {"Cmd": ["true"],
                                                               "Nonsense": 1})
    assert r.status == 400 and "Nonsense" in r.json()["message"]
    assert daemon.request("GET", "/exec/nosuch/json").status == 404
    assert daemon.request("POST", "/exec/nosuch/start", {"Detach": True}).status == 404
    created = daemon.request("POST", "/containers/create", {"Image": "busybox"}).json()["Id"]
    try:
        r = daemon.request("POST", f"/containers/{created}/exec", {"Cmd": ["true"]})
        assert r.status == 409 and "is not running" in r.json()["message"]
    finally:
        daemon.request("DELETE", f"/containers/{created}")


def test_pause_unpause_and_exec_while_paused(daemon: Daemon, running: str) -> None:
    assert daemon.request("POST", f"/containers/{running}/pause").status == 204
    state = daemon.request("GET", f"/containers/{running}/json").json()["State"]
    assert (state["Status"], state["Paused"], state["Running"]) == ("paused", True, True)
    ps = daemon.request("GET", "/containers/json").json()
    assert any(c["Id"] == running and c["Status"].endswith("(Paused)") for c in ps)
    r = daemon.request("POST", f"/containers/{running}/pause")
    assert r.status == 409 and "already paused" in r.json()["message"]
    r = daemon.request("POST", f"/containers/{running}/exec", {"Cmd": ["true"]})
    assert r.status == 409 and "is paused" in r.json()["message"]
    assert daemon.request("POST", f"/containers/{running}/unpause").status == 204
    r = daemon.request("POST", f"/containers/{running}/unpause")
    assert r.status == 409 and "is not paused" in r.json()["message"]
    assert exec_run(daemon, running, ["true"])[0] == 0


def exited_state(daemon: Daemon, cid: str) -> dict[str, Any] | None:
    state: dict[str, Any] = daemon.request("GET", f"/containers/{cid}/json").json()["State"]
    return state if state["Status"] == "exited" else None


def test_kill_and_stop_of_a_paused_container(daemon: Daemon) -> None:
    for how in ("kill", "stop?t=1"):
        cid = daemon.request("POST", "/containers/create",
                             {"Image": "busybox", "Cmd": ["sleep", "1000"]}).json()["Id"]
        try:
            daemon.request("POST", f"/containers/{cid}/start")
            assert daemon.request("POST", f"/containers/{cid}/pause").status == 204
            assert daemon.request("POST", f"/containers/{cid}/{how}").status == 204
            state = harness.wait_for(lambda c=cid: exited_state(daemon, c), 15,
                                     "the paused container's end")
            assert (state["ExitCode"], state["Paused"]) == (137, False)
        finally:
            daemon.request("DELETE", f"/containers/{cid}?force=1")


def test_top(daemon: Daemon, running: str) -> None:
    r = daemon.request("GET", f"/containers/{running}/top")
    assert r.status == 200
    top = r.json()
    assert top["Titles"][:2] == ["UID", "PID"] and top["Titles"][-1] == "CMD"
    assert [p[-1] for p in top["Processes"]] == ["sleep 1000"]
    top = daemon.request("GET", f"/containers/{running}/top?ps_args=-o%20pid,comm").json()
    assert top["Titles"] == ["PID", "COMMAND"] and top["Processes"][0][1] == "sleep"
    r = daemon.request("GET", f"/containers/{running}/top?ps_args=-o%20user=PID")
    assert r.status == 400
    created = daemon.request("POST", "/containers/create", {"Image": "busybox"}).json()["Id"]
    try:
        assert daemon.request("GET", f"/containers/{created}/top").status == 409
    finally:
        daemon.request("DELETE", f"/containers/{created}")


def test_prune(daemon: Daemon, running: str) -> None:
    made = []
    for labels in ({"keep": "yes"}, {}, {}):
        r = daemon.request("POST", "/containers/create", {"Image": "busybox", "Labels": labels,
                                                          "Cmd": ["sh", "-c", "echo x > /f"]})
        made.append(r.json()["Id"])
        daemon.request("POST", f"/containers/{made[-1]}/start")
    for cid in made:
        daemon.request("POST", f"/containers/{cid}/wait")
    try:
        r = daemon.request("POST", "/containers/prune?filters="
                           + quote(json.dumps({"label!": ["keep"]})))
        assert r.status == 200
        report = r.json()
        assert sorted(report["ContainersDeleted"]) == sorted(made[1:])
        assert report["SpaceReclaimed"] > 0
        names = {c["Id"] for c in daemon.request("GET", "/containers/json?all=1").json()}
        assert made[0] in names and running in names  # kept: labelled, and running
        r = daemon.request("POST", "/containers/prune?filters=" + quote(json.dumps({"until": ["1h"]})))
        assert r.json() == {"ContainersDeleted": None, "SpaceReclaimed": 0}
        r = daemon.request("POST", "/containers/prune?filters=" + quote(json.dumps({"x": ["1"]})))
        assert r.status == 400
    finally:
        for cid in made:
            daemon.request("DELETE", f"/containers/{cid}?force=1")


def events(daemon: Daemon, since: float, until: float, **filters: list[str]) -> list[Any]:
    q = f"/events?since={since:.9f}&until={until:.9f}"
    if filters:
        q += "&filters=" + quote(json.dumps(filters))
    r = daemon.request("GET", q)
    assert r.status == 200 and r.headers["Content-Type"] == "application/json"
    return [json.loads(ln) for ln in r.body.splitlines()]


def test_events_of_a_container_life(daemon: Daemon) -> None:
    t0 = time.time()
    cid = daemon.request("POST", "/containers/create?name=ev-life",
                         {"Image": "busybox", "Cmd": ["sleep", "100"],
                          "Labels": {"team": "x"}}).json()["Id"]
    daemon.request("POST", f"/containers/{cid}/start")
    eid = exec_create(daemon, cid, ["sh", "-c", "exit 3"])
    daemon.request("POST", f"/exec/{eid}/start", {"Detach": True})
    harness.wait_for(lambda: daemon.request("GET", f"/exec/{eid}/json").json()["ExitCode"]
                     is not None, 10, "the exec")
    daemon.request("POST", f"/containers/{cid}/pause")
    daemon.request("POST", f"/containers/{cid}/unpause")
    daemon.request("POST", f"/containers/{cid}/rename?name=ev-life2")
    daemon.request("POST", f"/containers/{cid}/kill?signal=KILL")
    daemon.request("POST", f"/containers/{cid}/wait")
    daemon.request("DELETE", f"/containers/{cid}")
    harness.wait_for(lambda: any(e["Action"] == "destroy" for e in events(
        daemon, t0, time.time(), container=[cid])), 10, "the destroy event")
    got = events(daemon, t0, time.time(), container=[cid])
    actions = [e["Action"] for e in got]
    assert actions[:2] == ["create", "start"]
    assert actions[2:5] == ["exec_create: sh -c exit 3", "exec_start: sh -c exit 3",
                            "exec_die"]
    assert actions[5:] == ["pause", "unpause", "rename", "kill", "die", "destroy"]
    by = {e["Action"]: e for e in got}
    assert by["exec_die"]["Actor"]["Attributes"]["exitCode"] == "3"
    assert by["exec_die"]["Actor"]["Attributes"]["execID"] == eid
    assert by["kill"]["Actor"]["Attributes"]["signal"] == "9"
    assert by["die"]["Actor"]["Attributes"]["exitCode"] == "137"
    assert by["rename"]["Actor"]["Attributes"]["oldName"] == "/ev-life"
    assert by["destroy"]["Actor"]["Attributes"] == {"image": "busybox", "name": "ev-life2",
                                                    "team": "x"}
    assert all(e["Type"] == "container" and e["scope"] == "local" and e["id"] == cid
               and e["from"] == "busybox" for e in got)
    assert [e["Action"] for e in events(daemon, t0, time.time(), container=[cid],
                                        event=["exec_start", "die"])] \
        == ["exec_start: sh -c exit 3", "die"]
    assert events(daemon, t0, time.time(), container=[cid], type=["image"]) == []
    assert len(events(daemon, t0, time.time(), label=["team=x"])) == len(got)


def test_events_stream_live(daemon: Daemon) -> None:
    conn = harness.UnixHTTPConnection(str(daemon.socket), timeout=20)
    cid = ""
    try:
        conn.request("GET", "/events?filters=" + quote(json.dumps({"event": ["start", "die"]})))
        resp = conn.getresponse()  # the headers come at once, before any event
        assert resp.status == 200
        r = daemon.request("POST", "/containers/create",
                           {"Image": "busybox", "Cmd": ["sh", "-c", "exit 5"]})
        cid = r.json()["Id"]
        daemon.request("POST", f"/containers/{cid}/start")
        first = json.loads(resp.readline())
        second = json.loads(resp.readline())
        assert (first["Action"], second["Action"]) == ("start", "die")
        assert second["Actor"]["Attributes"]["exitCode"] == "5"
        assert first["Actor"]["ID"] == cid
    finally:
        conn.close()
        if cid:
            daemon.request("DELETE", f"/containers/{cid}?force=1")


def test_events_bad_times(daemon: Daemon) -> None:
    r = daemon.request("GET", "/events?since=20&until=10")
    assert r.status == 400
    r = daemon.request("GET", "/events?since=tomorrow")
    assert r.status == 400


def test_the_daemon_logged_no_error(daemon: Daemon) -> None:
    assert daemon.errors() == [], daemon.tail(80)


def test_execs_across_a_daemon_restart(new_daemon: Any) -> None:
    """An exec that ended while the daemon was down is known after the restart, with its
    exit code (dockyard records execs; moby forgets them), and the supervisor forgets
    it; exec works again after the restart. (More: test_exec_restore.py.)"""
    from dockyard.runtime.supervisor.client import SupervisorClient

    d: Daemon = new_daemon()
    d.start()
    cid = d.request("POST", "/containers/create",
                    {"Image": "busybox", "Cmd": ["sleep", "1000"]}).json()["Id"]
    assert d.request("POST", f"/containers/{cid}/start").status == 204
    late = exec_create(d, cid, ["sleep", "1"])
    assert d.request("POST", f"/exec/{late}/start", {"Detach": True}).status == 200
    assert d.stop() == 0
    time.sleep(1.5)  # the exec ends while no daemon runs
    with SupervisorClient.for_state(str(d.exec_root / "supervisor"), timeout=10) as sv:
        assert [e.exec_id for e in sv.state(cid).execs] == [late]
        d.start()
        assert sv.state(cid).execs == ()
    info = d.request("GET", f"/exec/{late}/json").json()
    assert (info["Running"], info["ExitCode"]) == (False, 0), info
    assert exec_run(d, cid, ["sh", "-c", "exit 5"])[0] == 5
    assert d.request("DELETE", f"/containers/{cid}?force=1").status == 204
    assert d.leftovers() == []
    assert d.errors() == [], d.tail(60)
