"""Differences from Debian's dockerd found side by side with the real docker CLI (28.2),
each fixed and held here:

* ``docker cp c:/ DEST`` and ``docker cp c:/ -``: the root's entries are named ``/``,
  ``/bin``, ... as dockerd names them (not ``./bin``: the CLI then made ``DEST.``);
* ``docker commit``: the image config keeps the container's ``Hostname`` and the
  ``Image`` it was made from, and ``-c`` lines continue with a trailing ``\\``;
* a ``PUT`` archive that fails part way leaves its directories with their modes and no
  partial file.
"""

from __future__ import annotations

import io
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "daemon"))
import daemon_harness as harness

pytestmark = pytest.mark.root


@pytest.fixture
def ctr(d: harness.Daemon) -> Iterator[str]:
    name = "acc" + secrets.token_hex(3)
    d.docker("run", "-d", "--name", name, "-h", "acchost", "busybox", "sh", "-c",
             "mkdir /tgt && echo hi > /marker && exec sleep 1000", check=True)
    try:
        harness.wait_for(lambda: d.request("HEAD", f"/containers/{name}/archive"
                                           "?path=/marker").status == 200, 10, "setup")
        yield name
    finally:
        d.docker("rm", "-f", name)


def test_cp_of_the_root_names_entries_as_docker(d: harness.Daemon, ctr: str) -> None:
    out = subprocess.run(["timeout", "-k", "5", "60", harness.DOCKER, "cp", f"{ctr}:/", "-"],
                         capture_output=True, env=d.env(), check=False)
    assert out.returncode == 0, out.stderr
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as t:
        names = t.getnames()
    # tarfile drops a directory's trailing "/": the root's own entry "/" reads as "".
    assert names[0] == "" and "/marker" in names and "/bin/busybox" in names
    assert all(n.startswith("/") for n in names[1:])
    work = Path(tempfile.mkdtemp(prefix="dy-acc-"))
    try:
        d.docker("cp", f"{ctr}:/", str(work / "rootcopy"), check=True)
        assert sorted(p.name for p in work.iterdir()) == ["rootcopy"]
        assert (work / "rootcopy" / "marker").read_text() == "hi\n"
        (work / "into").mkdir()
        d.docker("cp", f"{ctr}:/", str(work / "into"), check=True)
        assert (work / "into" / "marker").read_text() == "hi\n"
    finally:
        shutil.rmtree(work)


def test_commit_config_keeps_hostname_and_image_and_continued_changes(
        d: harness.Daemon, ctr: str) -> None:
    image = "acc-commit-" + secrets.token_hex(3)
    try:
        d.docker("commit", "-c", "LABEL a=b \\\n  c=d", ctr, image, check=True)
        config = d.request("GET", f"/images/{image}/json").json()["Config"]
        assert config["Hostname"] == "acchost"
        assert config["Image"] == "busybox"
        assert config["Labels"] == {"a": "b", "c": "d"}
    finally:
        d.docker("rmi", "-f", image)


def test_a_failed_upload_leaves_nothing_half_made(d: harness.Daemon, ctr: str) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        ti = tarfile.TarInfo("newdir")
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
        t.addfile(ti)
        ti = tarfile.TarInfo("newdir/bad")
        ti.size, ti.pax_headers = 1, {"SCHILY.xattr.security.capability": "\x01\x00"}
        t.addfile(ti, io.BytesIO(b"x"))
    r = d.request("PUT", f"/containers/{ctr}/archive?path=/tgt", raw=buf.getvalue(),
                  headers={"Content-Type": "application/x-tar"})
    assert r.status == 400 and b"newdir/bad" in r.body
    out = d.docker("exec", ctr, "stat", "-c", "%a", "/tgt/newdir", check=True).stdout
    assert out.strip() == "755"
    assert d.docker("exec", ctr, "ls", "/tgt/newdir", check=True).stdout == ""


def test_cp_of_a_directory_holding_mounts_archives_what_is_mounted(
        d: harness.Daemon) -> None:
    work = Path(tempfile.mkdtemp(prefix="dy-acc-"))
    name = "accm" + secrets.token_hex(3)
    try:
        (work / "src" / "inner").mkdir(parents=True)
        (work / "src" / "inner" / "b.txt").write_text("bound\n")
        (work / "file").write_text("a bound file\n")
        d.docker("run", "-d", "--name", name, "-v", f"{work / 'src'}:/data/vol",
                 "-v", f"{work / 'file'}:/data/f.txt", "busybox", "sh", "-c",
                 "echo own > /data/own && exec sleep 1000", check=True)
        harness.wait_for(lambda: d.request("HEAD", f"/containers/{name}/archive"
                                           "?path=/data/own").status == 200, 10, "setup")
        d.docker("cp", f"{name}:/data", str(work / "out"), check=True)
        assert (work / "out" / "own").read_text() == "own\n"
        assert (work / "out" / "vol" / "inner" / "b.txt").read_text() == "bound\n"
        assert (work / "out" / "f.txt").read_text() == "a bound file\n"
        # /etc as the container sees it: the daemon's hostname file, not the image's.
        out = subprocess.run(["timeout", "-k", "5", "60", harness.DOCKER, "cp",
                              f"{name}:/etc", "-"], capture_output=True, env=d.env(),
                             check=False)
        assert out.returncode == 0, out.stderr
        with tarfile.open(fileobj=io.BytesIO(out.stdout)) as t:
            member = t.extractfile("etc/hostname")
            assert member is not None
            hostname = member.read().decode().strip()
        want = d.docker("inspect", "-f", "{{.Config.Hostname}}", name, check=True)
        assert hostname == want.stdout.strip()
    finally:
        d.docker("rm", "-f", name)
        shutil.rmtree(work)


def test_stats_no_stream_shows_the_cpu_of_now_not_since_start(d: harness.Daemon) -> None:
    """An idle container that was busy before shows about 0 % in ``docker stats
    --no-stream`` (dockerd's figure is over its last second; an average since the start
    showed tens of %)."""
    name = "accs" + secrets.token_hex(3)
    try:
        d.docker("run", "-d", "--name", name, "busybox", "sh", "-c",
                 "i=0; while [ $i -lt 150000 ]; do i=$((i+1)); done; touch /done; "
                 "exec sleep 1000", check=True)
        harness.wait_for(lambda: d.request("HEAD", f"/containers/{name}/archive"
                                           "?path=/done").status == 200, 60, "busy loop")
        s = d.request("GET", f"/containers/{name}/stats?stream=false").json()
        busy = s["cpu_stats"]["cpu_usage"]["total_usage"]
        assert busy > 50_000_000, s["cpu_stats"]  # the loop took CPU time
        assert s["precpu_stats"]["cpu_usage"]["total_usage"] > 0.9 * busy
        out = d.docker("stats", "--no-stream", "--format", "{{.CPUPerc}}", name, check=True)
        assert float(out.stdout.strip().rstrip("%")) < 5.0, out.stdout
    finally:
        d.docker("rm", "-f", name)


def test_update_conflict_is_worded_as_dockerd(d: harness.Daemon, ctr: str) -> None:
    d.docker("update", "-m", "50m", "--memory-swap", "100m", ctr, check=True)
    p = d.docker("update", "-m", "200m", ctr)
    cid = d.docker("inspect", "-f", "{{.Id}}", ctr, check=True).stdout.strip()
    assert p.returncode == 1
    assert (f"Cannot update container {cid}: Memory limit should be smaller than already "
            "set memoryswap limit, update the memoryswap at the same time") in p.stderr
