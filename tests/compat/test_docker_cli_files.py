"""The real docker CLI (28.2) against dockyardd's file endpoints: ``docker cp`` both ways
(files, directories, symlinks with and without ``-L``, ``-a``, running and stopped
containers, tar streams on ``-``), ``docker export``, ``docker diff`` (A/C/D),
``docker commit -c -m -a`` then ``run`` and ``history`` of the image, and a hostile
container swapping a directory for a symlink to ``/`` in a loop while ``docker cp`` reads
and writes through it: no host file comes out, nothing is written on the host.

Every command runs under ``timeout``; the daemon is a real one on a temp socket with temp
roots (``tests/integration/daemon/daemon_harness.py``), cleaned up even when a test fails.
"""

from __future__ import annotations

import io
import os
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

SETUP = ("mkdir -p /data/sub && echo hello > /data/a.txt && echo deep > /data/sub/b.txt"
         " && ln -s a.txt /data/link && ln -s /data /dlink && rm /bin/ls")


def docker_bytes(d: harness.Daemon, *args: str, stdin: bytes | None = None,
                 timeout: int = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["timeout", "-k", "5", str(timeout), harness.DOCKER, *args],
                          input=stdin, capture_output=True, env=d.env(), check=False)


@pytest.fixture
def work() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="dy-cp-"))
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.fixture
def pair(d: harness.Daemon) -> Iterator[dict[str, str]]:
    """A running and a stopped container holding the same files."""
    name = "cp" + secrets.token_hex(3)
    names = {"running": name + "-run", "stopped": name + "-stop"}
    try:
        d.docker("run", "-d", "--name", names["running"], "busybox", "sh", "-c",
                 SETUP + " && exec sleep 1000", check=True)
        d.docker("run", "--name", names["stopped"], "busybox", "sh", "-c", SETUP, check=True)
        harness.wait_for(lambda: d.request("HEAD", f"/containers/{names['running']}/archive"
                                           "?path=/dlink").status == 200, 10, "setup")
        yield names
    finally:
        d.docker("rm", "-f", *names.values())


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_cp_from_container(d: harness.Daemon, pair: dict[str, str], work: Path,
                           state: str) -> None:
    c = pair[state]
    d.docker("cp", f"{c}:/data", str(work), check=True)
    assert (work / "data" / "a.txt").read_text() == "hello\n"
    assert (work / "data" / "sub" / "b.txt").read_text() == "deep\n"
    assert os.readlink(work / "data" / "link") == "a.txt"
    d.docker("cp", f"{c}:/data/a.txt", str(work / "renamed.txt"), check=True)
    assert (work / "renamed.txt").read_text() == "hello\n"
    d.docker("cp", f"{c}:/data/.", str(work / "contents"), check=True)
    assert sorted(os.listdir(work / "contents")) == ["a.txt", "link", "sub"]
    # A symlink is copied as itself, or followed with -L.
    d.docker("cp", f"{c}:/dlink", str(work / "asis"), check=True)
    assert os.readlink(work / "asis") == "/data"
    d.docker("cp", "-L", f"{c}:/dlink", str(work / "followed"), check=True)
    assert (work / "followed" / "a.txt").read_text() == "hello\n"
    # To stdout: a tar stream.
    out = docker_bytes(d, "cp", f"{c}:/data/sub", "-")
    assert out.returncode == 0, out.stderr
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as t:
        assert t.getnames() == ["sub", "sub/b.txt"]
    p = d.docker("cp", f"{c}:/nonexistent", str(work))
    assert p.returncode != 0
    assert "Could not find the file /nonexistent in container" in p.stderr


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_cp_to_container(d: harness.Daemon, pair: dict[str, str], work: Path,
                         state: str) -> None:
    c = pair[state]
    src = work / "src"
    (src / "inner").mkdir(parents=True)
    (src / "f.txt").write_text("one\n")
    (src / "inner" / "g.txt").write_text("two\n")
    (src / "lnk").symlink_to("f.txt")
    os.chown(src / "f.txt", 4321, 8765)
    d.docker("cp", str(src), f"{c}:/tmp/", check=True)
    d.docker("cp", str(src / "f.txt"), f"{c}:/tmp/renamed.txt", check=True)
    d.docker("cp", str(src / "f.txt"), f"{c}:/dlink", check=True)  # into the linked dir
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("streamed.txt")
        info.size = 6
        t.addfile(info, io.BytesIO(b"piped\n"))
    p = docker_bytes(d, "cp", "-", f"{c}:/tmp", stdin=buf.getvalue())
    assert p.returncode == 0, p.stderr
    out = docker_bytes(d, "cp", f"{c}:/tmp", "-")
    assert out.returncode == 0, out.stderr
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as t:
        names = set(t.getnames())
        assert {"tmp/src/f.txt", "tmp/src/inner/g.txt", "tmp/src/lnk", "tmp/renamed.txt",
                "tmp/streamed.txt"} <= names
        f = t.getmember("tmp/src/f.txt")
        assert (f.uid, f.gid) == (4321, 8765)   # the archive's owner, without -a
        assert t.getmember("tmp/src/lnk").linkname == "f.txt"
        member = t.extractfile("tmp/streamed.txt")
        assert member is not None and member.read() == b"piped\n"
    d.docker("cp", f"{c}:/data/f.txt", str(work / "back.txt"), check=True)
    assert (work / "back.txt").read_text() == "one\n"
    p = d.docker("cp", str(src / "f.txt"), f"{c}:/no/such/dir/")
    assert p.returncode != 0


def test_cp_archive_mode_owner(d: harness.Daemon, work: Path) -> None:
    name = "cpa" + secrets.token_hex(3)
    (work / "f").write_text("x")
    os.chown(work / "f", 4321, 8765)
    try:
        d.docker("run", "-d", "--name", name, "-u", "daemon", "busybox", "sleep", "1000",
                 check=True)
        d.docker("cp", "-a", str(work / "f"), f"{name}:/tmp/f", check=True)
        p = d.docker("exec", name, "stat", "-c", "%u:%g", "/tmp/f", check=True)
        assert p.stdout.strip() == "1:1"    # busybox's daemon user
        d.docker("cp", str(work / "f"), f"{name}:/tmp/g", check=True)
        p = d.docker("exec", name, "stat", "-c", "%u:%g", "/tmp/g", check=True)
        assert p.stdout.strip() == "4321:8765"
    finally:
        d.docker("rm", "-f", name)


def test_export_and_diff(d: harness.Daemon, pair: dict[str, str], work: Path) -> None:
    for c in pair.values():
        d.docker("export", "-o", str(work / "fs.tar"), c, check=True)
        with tarfile.open(work / "fs.tar") as t:
            names = set(t.getnames())
        assert {"bin/sh", "data/a.txt", "data/sub/b.txt", "dlink", "etc/passwd"} <= names
        assert "bin/ls" not in names
        p = d.docker("diff", c, check=True)
        lines = p.stdout.splitlines()
        assert {"A /data", "A /data/a.txt", "A /dlink", "C /bin", "D /bin/ls"} <= set(lines)
        assert not any(line.endswith(("/etc/hosts", "/etc/resolv.conf")) for line in lines)
    out = docker_bytes(d, "export", pair["running"])
    assert out.returncode == 0 and len(out.stdout) > 1 << 20


def test_commit_run_history(d: harness.Daemon, pair: dict[str, str]) -> None:
    image = "committed-" + secrets.token_hex(3)
    try:
        p = d.docker("commit", "-c", 'CMD ["cat", "/data/sub/b.txt"]', "-c", "ENV NEW=1",
                     "-m", "a message", "-a", "Someone <s@example.com>",
                     pair["running"], image, check=True)
        image_id = p.stdout.strip()
        assert image_id.startswith("sha256:")
        assert d.docker("inspect", "-f", "{{.State.Status}}", pair["running"],
                        check=True).stdout.strip() == "running"
        assert d.docker("run", "--rm", image, check=True).stdout == "deep\n"
        assert d.docker("run", "--rm", image, "sh", "-c", "echo $NEW; ls /bin/ls",
                        ).stdout == "1\n"
        rows = d.docker("history", "--format", "{{.CreatedBy}}|{{.Comment}}", image,
                        check=True).stdout.splitlines()
        assert rows[0].split("|")[1] == "a message" and rows[0].startswith("sh -c mkdir")
        assert len(rows) == 2
        # the rows below the commit's are its parent image's, named by its ID while it is
        # here (moby's history walks Parent), not <missing>
        ids = d.docker("history", "-q", "--no-trunc", image, check=True).stdout.split()
        busybox = d.docker("image", "inspect", "-f", "{{.Id}}", "busybox",
                           check=True).stdout.strip()
        assert ids == [image_id, busybox]
        fmt = "{{.Author}}|{{.Comment}}|{{json .Config.Cmd}}"
        assert d.docker("inspect", "-f", fmt, image, check=True).stdout.strip() == \
            'Someone <s@example.com>|a message|["cat","/data/sub/b.txt"]'
        p = d.docker("commit", pair["stopped"], check=True)   # a stopped one, no name
        assert p.stdout.strip().startswith("sha256:")
        d.docker("rmi", p.stdout.strip(), check=True)
    finally:
        d.docker("rmi", "-f", image)


def test_hostile_container_swapping_a_symlink_to_root(d: harness.Daemon, work: Path) -> None:
    """moby's CVE-2018-15664 race: ``/d`` is swapped for a symlink to ``/`` in a loop while
    docker cp goes through ``/d`` (and docker diff walks the layer holding it). Reads and writes resolve inside the container (through
    the real ``/d``, or through the link to the container's own root), never the host's."""
    tag = "dy-hostile-" + secrets.token_hex(4)
    host_dir = Path("/tmp") / tag
    host_dir.mkdir()
    (host_dir / "secret").write_text("HOST-SECRET\n")
    name = tag
    loop = (f"mkdir -p /d/tmp/{tag} /tmp/{tag} && echo in-d > /d/tmp/{tag}/secret && "
            f"echo in-root > /tmp/{tag}/secret && "
            "while :; do mv /d /d.x; ln -s / /d; rm /d; mv /d.x /d; done")
    (work / "payload").write_text("PAYLOAD\n")
    try:
        d.docker("run", "-d", "--name", name, "busybox", "sh", "-c", loop, check=True)
        harness.wait_for(lambda: d.docker("exec", name, "test", "-e", "/d.x").returncode == 0
                         or d.docker("exec", name, "test", "-L", "/d").returncode == 0,
                         10, "the swapping loop")
        seen: set[bytes] = set()
        for _ in range(15):
            out = docker_bytes(d, "cp", f"{name}:/d/tmp/{tag}/secret", "-")
            if out.returncode == 0:
                with tarfile.open(fileobj=io.BytesIO(out.stdout)) as t:
                    member = t.extractfile("secret")
                    assert member is not None
                    seen.add(member.read())
            out = docker_bytes(d, "cp", f"{name}:/d/tmp/{tag}", "-")
            assert b"HOST-SECRET" not in out.stdout
            docker_bytes(d, "cp", str(work / "payload"), f"{name}:/d/tmp/{tag}/")
            docker_bytes(d, "cp", str(work / "payload"), f"{name}:/d/tmp/{tag}/dropped")
            # docker diff walks the container's layer while /d flips: never the host's /.
            diff = d.docker("diff", name).stdout
            assert "/d/work" not in diff and "/d/proc" not in diff, diff
        assert seen <= {b"in-d\n", b"in-root\n"} and seen, seen
        assert sorted(os.listdir(host_dir)) == ["secret"]
        assert (host_dir / "secret").read_text() == "HOST-SECRET\n"
    finally:
        d.docker("rm", "-f", name)
        shutil.rmtree(host_dir)


def test_cp_through_a_bind_mount(d: harness.Daemon, work: Path) -> None:
    name = "cpb" + secrets.token_hex(3)
    host = work / "vol"
    host.mkdir()
    (host / "from-host").write_text("h\n")
    (work / "to-bind").write_text("c\n")
    try:
        d.docker("run", "-d", "--name", name, "-v", f"{host}:/vol", "busybox", "sleep",
                 "1000", check=True)
        d.docker("cp", str(work / "to-bind"), f"{name}:/vol/", check=True)
        assert (host / "to-bind").read_text() == "c\n"
        assert d.docker("exec", name, "cat", "/vol/to-bind", check=True).stdout == "c\n"
        d.docker("cp", f"{name}:/vol/from-host", str(work / "back"), check=True)
        assert (work / "back").read_text() == "h\n"
    finally:
        d.docker("rm", "-f", name)
