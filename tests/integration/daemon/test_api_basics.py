"""The Engine API's frame: versions, ping, version/info figures, JSON errors with Docker's
codes, the stubs of features that are off, hostile input — and the daemon keeps serving."""

from __future__ import annotations

import os
import platform
import socket
from urllib.parse import quote

import daemon_harness as harness
import pytest

Daemon = harness.Daemon


def test_ping_headers(daemon: Daemon) -> None:
    for method in ("GET", "HEAD"):
        r = daemon.request(method, "/_ping")
        assert r.status == 200
        assert r.headers["Api-Version"] == "1.45"
        assert r.headers["Docker-Experimental"] == "false"
        assert r.headers["Ostype"] == "linux"
        assert "no-cache" in r.headers["Cache-Control"]
        assert r.body == (b"OK" if method == "GET" else b"")


def test_versioned_and_unversioned_paths(daemon: Daemon) -> None:
    for path in ("/version", "/v1.45/version", "/v1.24/version", "/v1.41/version"):
        r = daemon.request("GET", path)
        assert r.status == 200, path
        v = r.json()
        assert (v["ApiVersion"], v["MinAPIVersion"], v["Os"]) == ("1.45", "1.24", "linux")
        assert v["KernelVersion"] == platform.release()
        assert v["Components"][0]["Name"] == "Engine"
    too_new = daemon.request("GET", "/v1.50/version")
    assert too_new.status == 400
    assert too_new.json()["message"] == ("client version 1.50 is too new. Maximum supported "
                                         "API version is 1.45")
    too_old = daemon.request("GET", "/v1.12/version")
    assert too_old.status == 400 and "too old" in too_old.json()["message"]


def test_info_figures(daemon: Daemon) -> None:
    cid = daemon.docker("run", "-d", "busybox", "sleep", "300", check=True).stdout.strip()
    try:
        daemon.docker("create", "busybox", check=True)
        info = daemon.request("GET", "/info").json()
        assert (info["Containers"], info["ContainersRunning"], info["ContainersStopped"]) \
            == (2, 1, 1)
        assert info["Images"] == 1 and info["LiveRestoreEnabled"] is True
        assert info["NCPU"] == os.cpu_count() and info["MemTotal"] > 0
        assert info["CgroupVersion"] == "1" and info["CgroupDriver"] == "cgroupfs"
        assert info["DockerRootDir"] == str(daemon.data_root)
        assert info["Driver"] == "overlay" and info["OSType"] == "linux"
        assert info["KernelVersion"] == platform.release()
    finally:
        for c in daemon.request("GET", "/containers/json?all=1").json():
            daemon.request("DELETE", f"/containers/{c['Id']}?force=1")
    assert cid


@pytest.mark.parametrize(("method", "path", "status", "message"), [
    ("GET", "/nosuch", 404, "page not found"),
    ("GET", "/v1.45/containers/nosuch/json", 404, "No such container: nosuch"),
    ("POST", "/containers/nosuch/start", 404, "No such container: nosuch"),
    ("GET", "/swarm", 503, "This node is not part of a swarm"),
    ("GET", "/services", 503, "This node is not part of a swarm"),
    ("GET", "/networks/bridge", 404, "network bridge not found"),
    ("GET", "/volumes/v1", 404, "no such volume"),
    ("POST", "/containers/x/wait?condition=bogus", 400, 'invalid condition: "bogus"'),
])
def test_json_errors(daemon: Daemon, method: str, path: str, status: int,
                     message: str) -> None:
    r = daemon.request(method, path)
    assert r.status == status
    assert r.headers["Content-Type"] == "application/json"
    assert message in r.json()["message"]


def test_plugins_is_empty(daemon: Daemon) -> None:
    assert daemon.request("GET", "/plugins").json() == []


def test_hostile_bodies(daemon: Daemon) -> None:
    cases = [
        (b"{not json", 400, "invalid JSON"),
        (b"[1, 2]", 400, "expected an object"),
        (b'{"Image": "busybox", "Cmd": [1]}', 400, "Cmd: expected a list of strings"),
        (b'{"Image": "busybox", "HostConfig": []}', 400, "HostConfig: expected an object"),
        (b'{"Image": "nosuchimage"}', 404, "No such image: nosuchimage:latest"),
        (b'{"Image": "no such image"}', 400, "invalid reference format"),  # as moby
        (b'{"Image": "busybox", "Labels": {"a": 1}}', 400, "Labels"),
        (b'{"Image": "busybox", "Env": ["A=\\u0000"]}', 400, "NUL"),
    ]
    for raw, status, message in cases:
        r = daemon.request("POST", "/containers/create", raw=raw,
                           headers={"Content-Type": "application/json"})
        assert r.status == status, (raw, r.body)
        assert message in r.json()["message"], (raw, r.body)
    big = b'{"Image": "busybox", "Env": ["' + b"A" * (8 << 20) + b'"]}'
    r = daemon.request("POST", "/containers/create", raw=big,
                       headers={"Content-Type": "application/json"})
    assert r.status == 413 and r.json()["message"] == "request body too large"
    bad_names = ["a", "-x", "x/y", "x y", "ü" * 3]
    for name in bad_names:
        r = daemon.request("POST", f"/containers/create?name={quote(name)}",
                           {"Image": "busybox"})
        assert r.status == 400 and "Invalid container name" in r.json()["message"], name
    assert daemon.request("GET", "/containers/json?all=1").json() == []
    assert daemon.request("GET", "/_ping").status == 200


def test_bad_signals_and_states(daemon: Daemon) -> None:
    cid = daemon.docker("run", "-d", "busybox", "sleep", "300", check=True).stdout.strip()
    try:
        r = daemon.request("POST", f"/containers/{cid}/kill?signal=NOSUCH")
        assert r.status == 400 and "invalid signal" in r.json()["message"]
        assert daemon.request("POST", f"/containers/{cid}/kill?signal=99").status == 400
        assert daemon.request("POST", f"/containers/{cid}/start").status == 304
        r = daemon.request("DELETE", f"/containers/{cid}")
        assert r.status == 409 and "container is running" in r.json()["message"]
        assert daemon.request("POST", f"/containers/{cid}/stop?t=0").status == 204
        assert daemon.request("POST", f"/containers/{cid}/stop").status == 304
        r = daemon.request("POST", f"/containers/{cid}/kill")
        assert r.status == 409 and "is not running" in r.json()["message"]
        r = daemon.request("POST", f"/containers/{cid[:3]}x/start")
        assert r.status == 404
    finally:
        daemon.request("DELETE", f"/containers/{cid}?force=1")


def test_garbage_on_the_socket_does_not_hurt(daemon: Daemon) -> None:
    for junk in (b"\x00\x01\x02" * 100, b"GET / HTTP/1.1\r\nHost: x\r\n" + b"A" * 70000,
                 b"POST /containers/create HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n{"):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(str(daemon.socket))
        try:
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            s.recv(4096)
        except OSError:
            pass
        finally:
            s.close()
    assert daemon.request("GET", "/_ping").status == 200


def test_wait_sends_headers_before_the_exit(daemon: Daemon) -> None:
    """The docker CLI sends start only once it has the wait's headers."""
    cid = daemon.request("POST", "/containers/create",
                         {"Image": "busybox", "Cmd": ["sh", "-c", "exit 4"]}).json()["Id"]
    conn = harness.UnixHTTPConnection(str(daemon.socket), timeout=10)
    try:
        conn.request("POST", f"/containers/{cid}/wait?condition=next-exit")
        resp = conn.getresponse()  # returns with the headers, before any start
        assert resp.status == 200
        assert daemon.request("POST", f"/containers/{cid}/start").status == 204
        assert resp.read() == b'{"StatusCode":4,"Error":null}\n'
    finally:
        conn.close()
        daemon.request("DELETE", f"/containers/{cid}?force=1")
