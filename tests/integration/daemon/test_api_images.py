"""Images through the Engine API of a real dockyardd: list (filters, shapes), inspect,
history, tag, remove (with the container conflicts), import, save/load, prune, the base
image extension and its console script, image events — and bad input answered as Docker
does while the daemon keeps serving."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import daemon_harness as harness
import pytest

Daemon = harness.Daemon
SCRIPTS = Path(sys.executable).parent


def lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(x) for x in body.splitlines() if x.strip()]


def rootfs_tar(rootfs: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(str(rootfs), arcname=".")
    return buf.getvalue()


def image_ids(d: Daemon, **filters: str) -> list[str]:
    q = quote(json.dumps({k: [v] for k, v in filters.items()}))
    r = d.request("GET", f"/images/json?filters={q}")
    assert r.status == 200, r.body
    return [row["Id"] for row in r.json()]


def busybox_id(d: Daemon) -> str:
    return str(d.request("GET", "/images/busybox/json").json()["Id"])


def run_container(d: Daemon, image: str, cmd: list[str] | None = None) -> tuple[str, int]:
    """create → start → wait through the API; (container id, exit code). Not removed."""
    body: dict[str, Any] = {"Image": image}
    if cmd is not None:
        body["Cmd"] = cmd
    r = d.request("POST", "/containers/create", body)
    assert r.status == 201, r.body
    cid = r.json()["Id"]
    assert d.request("POST", f"/containers/{cid}/start").status == 204
    w = d.request("POST", f"/containers/{cid}/wait", timeout=60)
    return cid, int(w.json()["StatusCode"])


def logs(d: Daemon, cid: str) -> bytes:
    """stdout of a non-tty container: the 8-byte frames unwrapped."""
    raw = d.request("GET", f"/containers/{cid}/logs?stdout=1").body
    out = b""
    while raw:
        size = int.from_bytes(raw[4:8], "big")
        out += raw[8:8 + size]
        raw = raw[8 + size:]
    return out


@pytest.fixture
def imported(daemon: Daemon, busybox_rootfs: Path) -> Iterator[str]:
    """An image imported under ``imported:1`` (removed afterwards if still there)."""
    r = daemon.request("POST", "/images/create?fromSrc=-&repo=imported&tag=1",
                       raw=rootfs_tar(busybox_rootfs),
                       headers={"Content-Type": "application/x-tar"})
    assert r.status == 200, r.body
    image_id = lines(r.body)[-1]["status"]
    yield image_id
    daemon.request("DELETE", f"/images/{image_id}?force=1")


def test_list_inspect_history(daemon: Daemon) -> None:
    rows = daemon.request("GET", "/images/json").json()
    assert [r["RepoTags"] for r in rows] == [["busybox:latest"]]
    row = rows[0]
    assert set(row) == {"Id", "ParentId", "RepoTags", "RepoDigests", "Created", "Size",
                        "SharedSize", "Labels", "Containers"}
    assert row["Id"].startswith("sha256:") and row["Size"] > 500_000
    assert row["SharedSize"] == -1 and row["RepoDigests"] == []
    shared = daemon.request("GET", "/images/json?shared-size=1").json()[0]
    assert shared["SharedSize"] == 0
    old = daemon.request("GET", "/v1.43/images/json").json()[0]
    assert old["VirtualSize"] == old["Size"]

    doc = daemon.request("GET", "/images/busybox/json").json()
    assert doc["Id"] == row["Id"] and doc["RepoTags"] == ["busybox:latest"]
    assert doc["Config"]["Cmd"] == ["sh"] and doc["Config"]["Env"][0].startswith("PATH=")
    assert doc["Os"] == "linux" and doc["RootFS"]["Type"] == "layers"
    assert len(doc["RootFS"]["Layers"]) == 1 and doc["Size"] == row["Size"]
    assert doc["GraphDriver"]["Name"] == "overlay"
    for ref in (row["Id"], row["Id"][7:19], "busybox:latest", "docker.io/library/busybox"):
        assert daemon.request("GET", f"/images/{ref}/json").json()["Id"] == row["Id"], ref

    hist = daemon.request("GET", "/images/busybox/history").json()
    assert hist[0]["Id"] == row["Id"] and hist[0]["Tags"] == ["busybox:latest"]
    assert hist[0]["Size"] == row["Size"] and hist[0]["Comment"] == "offline base image"


@pytest.mark.parametrize(("method", "path", "status", "message"), [
    ("GET", "/images/nosuch/json", 404, "No such image: nosuch:latest"),
    ("GET", "/images/nosuch:2/history", 404, "No such image: nosuch:2"),
    ("DELETE", "/images/nosuch", 404, "No such image: nosuch:latest"),
    ("POST", "/images/nosuch/tag?repo=x", 404, "No such image: nosuch:latest"),
    ("GET", "/images/nosuch/get", 404, "No such image: nosuch:latest"),
    ("GET", "/images/UPPER/json", 400, "invalid reference format: repository name "
     "(library/UPPER) must be lowercase"),
    ("POST", "/images/busybox/tag?repo=Bad", 400, "invalid reference format"),
    ("POST", "/images/busybox/tag?repo=x&tag=no%20spaces", 400, "invalid tag format"),
    ("GET", "/images/json?filters=%7B%22nope%22%3A%5B%22x%22%5D%7D", 400,
     "invalid filter 'nope'"),
    ("POST", "/images/prune?filters=%7B%22dangling%22%3A%5B%22maybe%22%5D%7D", 400,
     "invalid filter 'dangling=maybe'"),
    ("POST", "/images/create?fromImage=UPPER&tag=3", 400, "invalid reference format"),
    ("POST", "/images/create?fromImage=alpine&tag=bad%20tag", 400, "invalid reference format"),
    ("POST", "/dockyard/images/base?name=alpine", 400, "the base images are busybox, "
     "debian"),
])
def test_errors(daemon: Daemon, method: str, path: str, status: int, message: str) -> None:
    r = daemon.request(method, path)
    assert r.status == status, r.body
    assert r.headers["Content-Type"] == "application/json"
    assert message in r.json()["message"]


def test_tag_untag_and_conflicts_with_containers(daemon: Daemon) -> None:
    bid = busybox_id(daemon)
    assert daemon.request("POST", "/images/busybox/tag?repo=tools/bb&tag=1").status == 201
    assert daemon.request("POST", f"/images/{bid[7:19]}/tag?repo=reg.local:5000/x/y"
                          ).status == 201
    tags = daemon.request("GET", "/images/busybox/json").json()["RepoTags"]
    assert sorted(tags) == ["busybox:latest", "reg.local:5000/x/y:latest", "tools/bb:1"]
    # By ID with names in several repositories: 409 unless forced.
    r = daemon.request("DELETE", f"/images/{bid}")
    assert r.status == 409 and r.json()["message"] == (
        f"conflict: unable to delete {bid[7:19]} (must be forced) - image is referenced in "
        "multiple repositories")
    r = daemon.request("DELETE", "/images/reg.local:5000/x/y:latest")
    assert r.status == 200 and r.json() == [{"Untagged": "reg.local:5000/x/y:latest"}]
    assert daemon.request("DELETE", "/images/tools/bb:1").json() == [
        {"Untagged": "tools/bb:1"}]

    # A stopped container uses busybox: its only name needs force, its ID too.
    cid, code = run_container(daemon, "busybox", ["true"])
    assert code == 0
    try:
        r = daemon.request("DELETE", "/images/busybox")
        assert r.status == 409 and r.json()["message"] == (
            'conflict: unable to remove repository reference "busybox" (must force) - '
            f"container {cid[:12]} is using its referenced image {bid[7:19]}")
        r = daemon.request("DELETE", f"/images/{bid[7:19]}")
        assert r.status == 409 and r.json()["message"] == (
            f"conflict: unable to delete {bid[7:19]} (must be forced) - image is being "
            f"used by stopped container {cid[:12]}")
        # A running one: by ID, not even forced.
        sleeper = daemon.request("POST", "/containers/create",
                                 {"Image": "busybox", "Cmd": ["sleep", "60"]}).json()["Id"]
        try:
            assert daemon.request("POST", f"/containers/{sleeper}/start").status == 204
            r = daemon.request("DELETE", f"/images/{bid}?force=1")
            assert r.status == 409 and r.json()["message"] == (
                f"conflict: unable to delete {bid[7:19]} (cannot be forced) - image is being "
                f"used by running container {sleeper[:12]}")
        finally:
            daemon.request("DELETE", f"/containers/{sleeper}?force=1")
    finally:
        daemon.request("DELETE", f"/containers/{cid}?force=1")
    assert busybox_id(daemon) == bid


def test_import_with_changes_then_run(daemon: Daemon, busybox_rootfs: Path) -> None:
    changes = "&".join("changes=" + quote(c) for c in (
        'CMD ["sh", "-c", "echo $GREETING from $(pwd)"]', "ENV GREETING=hello",
        "WORKDIR /tmp", "LABEL team=images"))
    r = daemon.request("POST", f"/images/create?fromSrc=-&repo=imp/app&tag=v1&message="
                       f"{quote('made in a test')}&{changes}", raw=rootfs_tar(busybox_rootfs))
    assert r.status == 200 and r.headers["Content-Type"] == "application/json"
    (msg,) = lines(r.body)
    image_id = msg["status"]
    try:
        doc = daemon.request("GET", "/images/imp/app:v1/json").json()
        assert doc["Id"] == image_id and doc["Comment"] == "made in a test"
        assert doc["Config"]["WorkingDir"] == "/tmp"
        assert doc["Config"]["Labels"] == {"team": "images"}
        assert image_ids(daemon, label="team=images") == [image_id]
        cid, code = run_container(daemon, "imp/app:v1")
        assert code == 0 and logs(daemon, cid) == b"hello from /tmp\n"
        daemon.request("DELETE", f"/containers/{cid}")
        hist = daemon.request("GET", "/images/imp/app:v1/history").json()
        assert [h["Comment"] for h in hist] == ["made in a test"]
    finally:
        daemon.request("DELETE", "/images/imp/app:v1")
    # A bad change or a bad name is refused before anything is stored.
    r = daemon.request("POST", "/images/create?fromSrc=-&changes=" + quote("RUN echo"),
                       raw=rootfs_tar(busybox_rootfs))
    assert r.status == 400 and "RUN" in r.json()["message"]
    r = daemon.request("POST", "/images/create?fromSrc=-&repo=NO", raw=b"x")
    assert r.status == 400
    r = daemon.request("POST", "/images/create?fromSrc=-", raw=b"not a tarball at all" * 40)
    assert r.status == 400, r.body


def test_save_and_load_keep_the_image_id(daemon: Daemon, imported: str) -> None:
    bid = busybox_id(daemon)
    r = daemon.request("GET", "/images/busybox/get")
    assert r.status == 200 and r.headers["Content-Type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(r.body)) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert {"index.json", "oci-layout", "manifest.json"} <= names
    assert manifest[0]["RepoTags"] == ["busybox:latest"]
    both = daemon.request("GET", "/images/get?names=busybox&names=imported:1")
    with tarfile.open(fileobj=io.BytesIO(both.body)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert sorted(m["RepoTags"][0] for m in manifest) == ["busybox:latest", "imported:1"]

    daemon.request("POST", "/images/busybox/tag?repo=keep")  # keep the layers referenced
    assert daemon.request("DELETE", "/images/busybox").status == 200
    r = daemon.request("POST", "/images/load?quiet=1", raw=r.body)
    assert r.status == 200 and lines(r.body) == [{"stream": "Loaded image: busybox:latest\n"}]
    assert busybox_id(daemon) == bid
    daemon.request("DELETE", "/images/keep")
    # Two images in one archive, loaded over themselves: same IDs, names kept.
    r = daemon.request("POST", "/images/load", raw=both.body)
    assert sorted(m["stream"] for m in lines(r.body)) == [
        "Loaded image: busybox:latest\n", "Loaded image: imported:1\n"]
    assert daemon.request("GET", "/images/imported:1/json").json()["Id"] == imported
    # Not an archive: 200 and the error in the stream, as dockerd.
    r = daemon.request("POST", "/images/load", raw=b"\0" * 10240)
    assert r.status == 200
    (err,) = lines(r.body)
    assert err["error"] == err["errorDetail"]["message"] and "archive" in err["error"]


def test_prune_dangling_then_all(daemon: Daemon, busybox_rootfs: Path) -> None:
    r = daemon.request("POST", "/images/create?fromSrc=-&changes=" + quote("LABEL p=1"),
                       raw=rootfs_tar(busybox_rootfs))
    dangling = lines(r.body)[-1]["status"]
    assert image_ids(daemon, dangling="true") == [dangling]
    daemon.request("POST", f"/images/{dangling}/tag?repo=prune/me")
    daemon.request("DELETE", "/images/prune/me")  # the image goes with its only name
    r = daemon.request("POST", "/images/create?fromSrc=-&changes=" + quote("LABEL p=2"),
                       raw=rootfs_tar(busybox_rootfs))
    dangling = lines(r.body)[-1]["status"]
    report = daemon.request("POST", "/images/prune").json()
    assert report["ImagesDeleted"][0] == {"Deleted": dangling}
    assert report["SpaceReclaimed"] >= 0
    assert image_ids(daemon, dangling="true") == []
    # -a with a label filter: only the labelled unused image goes; busybox stays.
    r = daemon.request("POST", "/images/create?fromSrc=-&repo=prune/labelled&changes="
                       + quote("LABEL p=3"), raw=rootfs_tar(busybox_rootfs))
    labelled = lines(r.body)[-1]["status"]
    f = quote(json.dumps({"dangling": ["false"], "label": ["p=3"]}))
    report = daemon.request("POST", f"/images/prune?filters={f}").json()
    assert report["ImagesDeleted"][:2] == [{"Untagged": "prune/labelled:latest"},
                                           {"Deleted": labelled}]
    assert [r["RepoTags"] for r in daemon.request("GET", "/images/json").json()] == [
        ["busybox:latest"]]
    assert daemon.request("POST", "/images/prune").json() == {"ImagesDeleted": None,
                                                              "SpaceReclaimed": 0}


def test_base_image_endpoint_and_script(daemon: Daemon) -> None:
    bid = busybox_id(daemon)
    r = daemon.request("POST", "/dockyard/images/base?name=busybox&ref=base/bb:1", timeout=120)
    assert r.status == 200
    out = lines(r.body)
    assert out[0]["status"] == "Making base/bb:1 offline (busybox)"
    assert out[-1] == {"aux": {"ID": bid, "Names": ["base/bb:1"]}}  # reproducible
    script = subprocess.run([str(SCRIPTS / "dockyard-base-image"), "-H", daemon.host,
                             "busybox", "--ref", "base/bb:2", "-q"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert (script.returncode, script.stdout, script.stderr) == (0, bid + "\n", "")
    script = subprocess.run([str(SCRIPTS / "dockyard-base-image"), "busybox"],
                            capture_output=True, text=True, timeout=120, check=False,
                            env=daemon.env())  # DOCKER_HOST names the socket
    assert script.returncode == 0 and f"Made image: busybox:latest ({bid})" in script.stdout
    bad = subprocess.run([str(SCRIPTS / "dockyard-base-image"), "-H", daemon.host, "busybox",
                          "--suite", "sid"], capture_output=True, text=True, timeout=60,
                         check=False)
    assert bad.returncode == 1 and "suite: only for the debian base image" in bad.stderr
    gone = subprocess.run([str(SCRIPTS / "dockyard-base-image"), "-H",
                           f"unix://{daemon.root}/nosuch.sock", "busybox"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert gone.returncode == 2 and "cannot reach the daemon" in gone.stderr
    for ref in ("base/bb:1", "base/bb:2"):
        daemon.request("DELETE", f"/images/{ref}")


def test_image_events(daemon: Daemon, busybox_rootfs: Path) -> None:
    since = time.time()
    r = daemon.request("POST", "/images/create?fromSrc=-&repo=ev&changes=" +
                       quote("LABEL ev=1"), raw=rootfs_tar(busybox_rootfs))
    image_id = lines(r.body)[-1]["status"]
    daemon.request("POST", "/images/ev/tag?repo=ev2")
    saved = daemon.request("GET", "/images/ev/get").body
    daemon.request("DELETE", "/images/ev2")
    daemon.request("POST", "/images/load", raw=saved)
    daemon.request("DELETE", "/images/ev")
    daemon.request("POST", "/images/prune")
    until = time.time() + 1
    f = quote(json.dumps({"type": ["image"]}))
    r = daemon.request("GET", f"/events?since={since:.3f}&until={until:.3f}&filters={f}",
                       timeout=30)
    assert r.status == 200, r.body
    events = lines(r.body)
    got = [(e["Action"], e["Actor"]["Attributes"].get("name", "")) for e in events]
    assert got[:8] == [("tag", "ev:latest"), ("import", image_id), ("tag", "ev2:latest"),
                       ("save", image_id), ("untag", image_id), ("load", image_id),
                       ("untag", image_id), ("delete", image_id)]
    assert got[-1] == ("prune", "")
    assert events[-1]["Actor"]["Attributes"]["reclaimed"].isdigit()
    assert all(e["Type"] == "image" and e["scope"] == "local" for e in events)
    assert events[0]["Actor"] == {"ID": image_id, "Attributes": {"ev": "1",
                                                                 "name": "ev:latest"}}


def test_the_daemon_logged_no_errors(daemon: Daemon) -> None:
    assert daemon.request("GET", "/_ping").status == 200
    assert daemon.errors() == [], daemon.tail(80)
