"""Files through the Engine API of a real daemon: ``HEAD/GET/PUT /containers/{id}/archive``
(the path-stat header, Docker's entry names, copyUIDGID, noOverwriteDirNonDir, errors),
running and stopped containers, ``export``, ``changes`` and ``commit`` (config override,
changes, history, the container still running after), and tars that try to climb out of
the container: nothing lands on the host, nothing is left mounted."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import daemon_harness as harness
import pytest

Daemon = harness.Daemon

SETUP = ("mkdir -p /data/sub && echo hello > /data/a.txt && ln -s a.txt /data/link"
         " && ln -s /data /dlink && rm /bin/ls && chmod 4755 /data/a.txt"
         " && rm -rf /usr/sbin && mkdir /usr/sbin && touch /usr/sbin/only"
         " && ln /data/a.txt /data/hard")


def create(daemon: Daemon, cmd: list[str], **kw: Any) -> str:
    r = daemon.request("POST", "/containers/create", {"Image": "busybox", "Cmd": cmd, **kw})
    assert r.status == 201, r.body
    return str(r.json()["Id"])


def wait(daemon: Daemon, cid: str) -> None:
    r = daemon.request("POST", f"/containers/{cid}/wait", timeout=30)
    assert r.status == 200 and r.json()["StatusCode"] == 0, r.body


@pytest.fixture
def containers(daemon: Daemon) -> Iterator[Callable[..., str]]:
    made: list[str] = []

    def make(cmd: list[str], *, start: bool = True, **kw: Any) -> str:
        cid = create(daemon, cmd, **kw)
        made.append(cid)
        if start:
            assert daemon.request("POST", f"/containers/{cid}/start").status == 204
        return cid

    try:
        yield make
    finally:
        for cid in made:
            daemon.request("DELETE", f"/containers/{cid}?force=1")


@pytest.fixture
def both(daemon: Daemon, containers: Callable[..., str]) -> dict[str, str]:
    """The same files in a running container and in a stopped (exited) one."""
    running = containers(["sh", "-c", SETUP + " && exec sleep 1000"])
    stopped = containers(["sh", "-c", SETUP])
    wait(daemon, stopped)
    harness.wait_for(lambda: daemon.request(
        "HEAD", f"/containers/{running}/archive?path=/dlink").status == 200, 10, "setup")
    return {"running": running, "stopped": stopped}


def _frames(data: bytes) -> list[int]:
    """The offsets of the 8-byte stream frames in a log body."""
    out, i = [], 0
    while i < len(data):
        out.append(i)
        i += 8 + int.from_bytes(data[i + 4:i + 8], "big")
    return out


def path_stat(r: harness.Response) -> dict[str, Any]:
    raw = r.headers["X-Docker-Container-Path-Stat"]
    return dict(json.loads(base64.b64decode(raw)))


def get_tar(daemon: Daemon, cid: str, path: str) -> tuple[dict[str, Any], tarfile.TarFile]:
    r = daemon.request("GET", f"/containers/{cid}/archive?path={quote(path)}")
    assert r.status == 200, r.body
    assert r.headers["Content-Type"] == "application/x-tar"
    return path_stat(r), tarfile.open(fileobj=io.BytesIO(r.body))


def put_tar(daemon: Daemon, cid: str, path: str, data: bytes,
            query: str = "") -> harness.Response:
    return daemon.request("PUT", f"/containers/{cid}/archive?path={quote(path)}{query}",
                          raw=data, headers={"Content-Type": "application/x-tar"})


def make_tar(*members: tuple[str, bytes | str | None, dict[str, Any]]) -> bytes:
    """(name, content or link target or None for a dir, tarinfo fields)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data, fields in members:
            info = tarfile.TarInfo(name)
            for k, v in fields.items():
                setattr(info, k, v)
            if isinstance(data, bytes):
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            else:
                if data is None and "type" not in fields:
                    info.type = tarfile.DIRTYPE
                if isinstance(data, str):
                    info.linkname = data
                t.addfile(info)
    return buf.getvalue()


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_stat_and_get_archive(daemon: Daemon, both: dict[str, str], state: str) -> None:
    cid = both[state]
    st, t = get_tar(daemon, cid, "/data")
    assert st["name"] == "data" and st["mode"] == (1 << 31) | 0o755 and st["linkTarget"] == ""
    assert t.getnames() == ["data", "data/a.txt", "data/hard", "data/link", "data/sub"]
    assert t.getmember("data/hard").islnk()
    member = t.extractfile("data/a.txt")
    assert member is not None and member.read() == b"hello\n"
    assert t.getmember("data/a.txt").mode == 0o4755
    # A symlink is archived as itself, its stat names the resolved target ...
    r = daemon.request("HEAD", f"/containers/{cid}/archive?path=/dlink")
    assert r.status == 200 and r.body == b""
    st = path_stat(r)
    assert st["mode"] == (1 << 27) | 0o777 and st["linkTarget"] == "/data"
    _, t = get_tar(daemon, cid, "/dlink")
    assert [(m.name, m.linkname) for m in t.getmembers()] == [("dlink", "/data")]
    # ... and followed with a trailing slash, the entries still named as asked.
    _, t = get_tar(daemon, cid, "/dlink/")
    assert t.getnames()[:2] == ["dlink", "dlink/a.txt"]
    _, t = get_tar(daemon, cid, "/data/.")
    assert t.getnames()[:2] == [".", "./a.txt"]
    st = path_stat(daemon.request("HEAD", f"/containers/{cid}/archive?path=/data/a.txt"))
    assert st["size"] == 6 and st["mode"] == (1 << 23) | 0o755
    r = daemon.request("GET", f"/containers/{cid}/archive?path=/nonexistent")
    assert r.status == 404
    assert r.json()["message"] == f"Could not find the file /nonexistent in container {cid}"
    assert daemon.request("HEAD", f"/containers/{cid}/archive?path=/no/x").status == 404
    assert daemon.request("GET", f"/containers/{cid}/archive").status == 400
    assert daemon.request("GET", "/containers/nosuch/archive?path=/").status == 404
    if state == "stopped":
        assert not harness.mounts_under(str(daemon.exec_root / "bundles" / cid))


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_put_archive(daemon: Daemon, both: dict[str, str], state: str) -> None:
    cid = both[state]
    data = make_tar(("new", None, {"mode": 0o750}), ("new/f", b"content", {"uid": 7, "gid": 8}),
                    ("new/l", "f", {"type": tarfile.SYMTYPE}))
    assert put_tar(daemon, cid, "/dlink", data).status == 200   # the last link followed
    _, t = get_tar(daemon, cid, "/data/new")
    f = t.getmember("new/f")
    assert (f.uid, f.gid, f.size) == (7, 8, 7)
    # No user or group names, as moby since 23 (FileInfoHeaderNoLookups): no lookup in the
    # container's /etc/passwd (never read by the daemon) nor the host's.
    assert {(m.uname, m.gname) for m in t.getmembers()} == {("", "")}
    assert t.getmember("new").mode == 0o750 and t.getmember("new/l").linkname == "f"
    r = put_tar(daemon, cid, "/data/a.txt", data)
    assert r.status == 400 and "not a directory" in r.json()["message"]
    r = put_tar(daemon, cid, "/nonexistent", data)
    assert r.status == 404 and "Could not find the file /nonexistent" in r.json()["message"]
    # noOverwriteDirNonDir: a file over a directory is refused, allowed without the flag.
    over = make_tar(("sub", b"x", {}))
    r = put_tar(daemon, cid, "/data", over, "&noOverwriteDirNonDir=1")
    assert r.status == 400 and "cannot overwrite directory" in r.json()["message"]
    assert put_tar(daemon, cid, "/data", over).status == 200
    st = path_stat(daemon.request("HEAD", f"/containers/{cid}/archive?path=/data/sub"))
    assert st["mode"] == 0o644
    if state == "stopped":
        assert not harness.mounts_under(str(daemon.exec_root / "bundles" / cid))


def test_copy_uid_gid_uses_the_container_user(daemon: Daemon,
                                              containers: Callable[..., str]) -> None:
    cid = containers(["sleep", "1000"], User="daemon")   # uid 1, gid 1 in busybox
    data = make_tar(("owned", b"x", {"uid": 1234, "gid": 5678}))
    assert put_tar(daemon, cid, "/tmp", data, "&copyUIDGID=1").status == 200
    _, t = get_tar(daemon, cid, "/tmp/owned")
    assert (t.getmember("owned").uid, t.getmember("owned").gid) == (1, 1)
    assert put_tar(daemon, cid, "/tmp", data).status == 200
    _, t = get_tar(daemon, cid, "/tmp/owned")
    assert (t.getmember("owned").uid, t.getmember("owned").gid) == (1234, 5678)


def test_readonly_rootfs_refuses_put(daemon: Daemon, containers: Callable[..., str]) -> None:
    cid = containers(["sleep", "1000"], HostConfig={"ReadonlyRootfs": True})
    r = put_tar(daemon, cid, "/tmp", make_tar(("x", b"x", {})))
    assert r.status == 400 and r.json()["message"] == "container rootfs is marked read-only"


@pytest.mark.parametrize("members", [
    [("../../../../../../tmp/dy-escape", b"x", {})],
    [("/tmp/dy-escape", b"x", {})],
    [("lnk", "/tmp", {"type": tarfile.SYMTYPE}), ("lnk/dy-escape", b"x", {})],
    [("lnk", "../../../../../../../tmp", {"type": tarfile.SYMTYPE}),
     ("lnk/dy-escape", b"x", {})],
    [("hard", "../../../../../../../etc/passwd", {"type": tarfile.LNKTYPE})],
])
def test_put_archive_cannot_escape(daemon: Daemon, containers: Callable[..., str],
                                   members: list[tuple[str, bytes | str | None,
                                                       dict[str, Any]]]) -> None:
    cid = containers(["sleep", "1000"])
    before = set(os.listdir("/tmp"))
    passwd = Path("/etc/passwd").read_bytes()
    r = put_tar(daemon, cid, "/tmp", make_tar(*members))
    assert r.status == 400, r.body
    assert not os.path.exists("/tmp/dy-escape")
    assert set(os.listdir("/tmp")) - before == set()
    assert Path("/etc/passwd").read_bytes() == passwd


def test_export(daemon: Daemon, both: dict[str, str]) -> None:
    for cid in both.values():
        r = daemon.request("GET", f"/containers/{cid}/export", timeout=60)
        assert r.status == 200 and r.headers["Content-Type"] == "application/x-tar"
        with tarfile.open(fileobj=io.BytesIO(r.body)) as t:
            names = t.getnames()
        assert {"bin", "bin/sh", "data/a.txt", "dlink", "etc/passwd"} <= set(names)
        assert "bin/ls" not in names
        assert not any(n.startswith(("/", "..")) for n in names)
    assert not harness.mounts_under(str(daemon.exec_root / "bundles" / both["stopped"]))
    assert daemon.request("GET", "/containers/nosuch/export").status == 404


def test_changes(daemon: Daemon, both: dict[str, str], containers: Callable[..., str]) -> None:
    for cid in both.values():
        r = daemon.request("GET", f"/containers/{cid}/changes")
        assert r.status == 200
        found = {(c["Path"], c["Kind"]) for c in r.json()}
        assert {("/data", 1), ("/data/a.txt", 1), ("/dlink", 1), ("/bin", 0),
                ("/bin/ls", 2)} <= found
        # The runtime's mount points are not the container's changes (Docker's init layer).
        assert not {p for p, _ in found} & {"/etc/hosts", "/etc/resolv.conf", "/etc"}
    fresh = containers(["sleep", "1000"])
    r = daemon.request("GET", f"/containers/{fresh}/changes")
    assert r.status == 200 and r.json() is None


def test_commit(daemon: Daemon, both: dict[str, str]) -> None:
    cid = both["running"]
    r = daemon.request(
        "POST", f"/commit?container={cid}&repo=committed&tag=v1&comment=the+msg&author=me"
        "&changes=" + quote('CMD ["cat", "/data/a.txt"]') + "&changes=" + quote("ENV A=1\nLABEL l=v"),
        {"WorkingDir": "/data", "Env": ["B=2"]})
    assert r.status == 201, r.body
    image_id = r.json()["Id"]
    assert image_id.startswith("sha256:")
    info = daemon.request("GET", "/images/committed:v1/json").json()
    assert info["Id"] == image_id
    assert info["Comment"] == "the msg" and info["Author"] == "me"
    running = daemon.request("GET", f"/containers/{cid}/json").json()
    assert info["Parent"] == running["Image"]  # the image the container ran, as moby's
    cfg = info["Config"]
    assert cfg["Cmd"] == ["cat", "/data/a.txt"] and cfg["WorkingDir"] == "/data"
    assert cfg["Labels"] == {"l": "v"}
    assert {"A=1", "B=2"} <= set(cfg["Env"]) and any(e.startswith("PATH=") for e in cfg["Env"])
    history = daemon.request("GET", "/images/committed:v1/history").json()
    assert history[0]["Comment"] == "the msg" and history[0]["CreatedBy"].startswith("sh -c")
    assert history[0]["Size"] > 0
    # Paused while committed, running again after.
    state = daemon.request("GET", f"/containers/{cid}/json").json()["State"]
    assert state["Running"] and not state["Paused"]
    out = create(daemon, [], Image="committed:v1")
    check = create(daemon, ["sh", "-c", "ls /usr/sbin; test -e /bin/ls || echo no-ls; "
                            "stat -c %h:%a /data/hard"], Image="committed:v1")
    try:
        for c in (out, check):
            assert daemon.request("POST", f"/containers/{c}/start").status == 204
            wait(daemon, c)
        logs = daemon.request("GET", f"/containers/{out}/logs?stdout=1").body
        assert logs[8:] == b"hello\n"
        # The opaque directory, the whiteout and the hardlink made it into the layer.
        logs = daemon.request("GET", f"/containers/{check}/logs?stdout=1").body
        assert b"".join(logs[i + 8:i + 8 + int.from_bytes(logs[i + 4:i + 8], "big")]
                        for i in _frames(logs)) == b"only\nno-ls\n2:4755\n"
    finally:
        for c in (out, check):
            daemon.request("DELETE", f"/containers/{c}?force=1")
    # A container with no changes commits to an image with no new layer.
    stopped = daemon.request("GET", f"/containers/{both['stopped']}/json").json()
    r = daemon.request("POST", f"/commit?container={stopped['Id']}&changes=" + quote(
        "USER nobody"))
    assert r.status == 201
    empty = daemon.request("GET", f"/images/{r.json()['Id']}/json").json()
    parent = daemon.request("GET", f"/images/{stopped['Image']}/json").json()
    assert len(empty["RootFS"]["Layers"]) == len(parent["RootFS"]["Layers"]) + 1  # /data...
    assert empty["Config"]["User"] == "nobody"
    assert empty["Config"]["Labels"] == {}  # moby's merge: a map, never null
    assert empty["Parent"] == stopped["Image"] and empty["RepoTags"] == []
    # Tagged later, the dangling image keeps its parent.
    assert daemon.request("POST", f"/images/{r.json()['Id']}/tag?repo=committed&tag=later"
                          ).status == 201
    assert daemon.request("GET", "/images/committed:later/json").json()["Parent"] == \
        stopped["Image"]
    assert daemon.request("GET", f"/images/{stopped['Image']}/json").json()["Parent"] == ""
    assert daemon.request("POST", "/commit?container=nosuch").status == 404
    r = daemon.request("POST", f"/commit?container={cid}&changes=" + quote("FROM x"))
    assert r.status == 400
    r = daemon.request("POST", f"/commit?container={cid}&repo=Bad:Ref:x")
    assert r.status == 400
    # Nothing changed since the stopped container's commit: no new layer this time.
    again = daemon.request("POST", f"/commit?container={stopped['Id']}").json()["Id"]
    nothing = create(daemon, ["true"], Image=again)
    try:
        r = daemon.request("POST", f"/commit?container={nothing}")
        assert r.status == 201
        info = daemon.request("GET", f"/images/{r.json()['Id']}/json").json()
        assert info["RootFS"]["Layers"] == daemon.request(
            "GET", f"/images/{again}/json").json()["RootFS"]["Layers"]
        rows = daemon.request("GET", f"/images/{r.json()['Id']}/history").json()
        assert rows[0]["Size"] == 0
    finally:
        daemon.request("DELETE", f"/containers/{nothing}?force=1")
    daemon.request("DELETE", "/images/committed:v1?force=1")


def test_compressed_put_and_http10_get(daemon: Daemon, containers: Callable[..., str]) -> None:
    """A gzip body is accepted (Docker decompresses too); an HTTP/1.0 client, which cannot
    take chunks, gets the archive through the generic path, whole."""
    import gzip
    import socket

    cid = containers(["sleep", "1000"])
    big = bytes(range(256)) * 4096
    data = gzip.compress(make_tar(("z/big", big, {}), ("z/small", b"s", {})))
    assert put_tar(daemon, cid, "/tmp", data).status == 200
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(20)
        s.connect(str(daemon.socket))
        s.sendall(f"GET /containers/{cid}/archive?path=/tmp/z HTTP/1.0\r\n\r\n".encode())
        raw = b""
        while chunk := s.recv(1 << 16):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") and b"chunked" not in head.lower()
    with tarfile.open(fileobj=io.BytesIO(body)) as t:
        member = t.extractfile("z/big")
        assert member is not None and member.read() == big


def test_etc_files_and_mounts(daemon: Daemon, containers: Callable[..., str],
                              tmp_path: Path) -> None:
    """``/etc/hosts`` and friends come from the daemon's files, as the container sees them;
    a path in a bind mount is resolved in its source, with the source as the lookup's root
    (a link in it to ``/`` stays in it); a read-only bind refuses writes; a path in a tmpfs
    mount is refused (501), never answered from the directory the mount hides."""
    bind, ro = tmp_path / "rw", tmp_path / "ro"
    bind.mkdir()
    ro.mkdir()
    (bind / "inbind").write_text("bound")
    (bind / "esc").symlink_to("/")
    cid = containers(["sh", "-c", "ln -s /mnt/b /blink && exec sleep 1000"],
                     Hostname="filesbox",
                     HostConfig={"Binds": [f"{bind}:/mnt/b", f"{ro}:/mnt/ro:ro"],
                                 "Tmpfs": {"/run2": ""}})
    harness.wait_for(lambda: daemon.request(
        "HEAD", f"/containers/{cid}/archive?path=/blink").status == 200, 10, "the link")
    _, t = get_tar(daemon, cid, "/etc/hostname")
    member = t.extractfile("hostname")
    assert member is not None and member.read() == b"filesbox\n"
    _, t = get_tar(daemon, cid, "/etc/hosts")
    member = t.extractfile("hosts")
    assert member is not None and b"127.0.0.1\tlocalhost" in member.read()
    _, t = get_tar(daemon, cid, "/mnt/b/inbind")
    member = t.extractfile("inbind")
    assert member is not None and member.read() == b"bound"
    _, t = get_tar(daemon, cid, "/blink/")            # a link into the bind mount
    assert set(t.getnames()) == {"blink", "blink/inbind", "blink/esc"}
    st = path_stat(daemon.request("HEAD", f"/containers/{cid}/archive?path=/mnt/b/esc"))
    assert st["linkTarget"] == "/mnt/b"
    r = daemon.request("GET", f"/containers/{cid}/archive?path=/mnt/b/esc/etc/passwd")
    assert r.status == 404                            # not the host's /etc/passwd
    assert put_tar(daemon, cid, "/mnt/b", make_tar(("put", b"x", {}))).status == 200
    assert (bind / "put").read_bytes() == b"x"
    r = put_tar(daemon, cid, "/mnt/b/esc", make_tar(("escaped", b"x", {})))
    assert r.status == 200 and (bind / "escaped").exists()   # "/" of the bind: its source
    assert not Path("/escaped").exists()
    r = put_tar(daemon, cid, "/mnt/ro", make_tar(("x", b"x", {})))
    assert r.status == 400 and r.json()["message"] == "mounted volume is marked read-only"
    assert os.listdir(ro) == []
    for path in ("/run2", "/run2/x"):
        assert daemon.request("GET", f"/containers/{cid}/archive?path={path}").status == 501
    assert put_tar(daemon, cid, "/run2", make_tar(("x", b"x", {}))).status == 501
