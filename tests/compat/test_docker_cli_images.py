"""The real docker CLI (28.2) against dockyardd's images: ``images`` (formats, ``-q``,
filters), ``tag``, ``rmi`` and its conflicts, ``save | load``, ``import --change`` then
``run``, ``history``, ``image inspect``, ``image prune``, and ``run`` of an image that is
not there.

Every command runs under ``timeout``; the daemon is a real one on a temp socket with temp
roots (``tests/integration/daemon/daemon_harness.py``), cleaned up even when a test fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "daemon"))
import daemon_harness as harness

pytestmark = pytest.mark.root


def shell(d: harness.Daemon, script: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    """A pipeline of docker commands (each under its own ``timeout``) against ``d``."""
    return subprocess.run(["timeout", "-k", "5", str(timeout), "sh", "-c", script],
                          capture_output=True, text=True, env=d.env(), check=False)


def busybox_id(d: harness.Daemon) -> str:
    return d.docker("image", "inspect", "-f", "{{.Id}}", "busybox", check=True).stdout.strip()


@pytest.fixture
def rootfs_tar(d: harness.Daemon, busybox_rootfs: Path) -> Path:
    tar = d.root / "rootfs.tar"
    if not tar.exists():
        subprocess.run(["tar", "-C", str(busybox_rootfs), "-cf", str(tar), "."], check=True)
    return tar


def test_images_formats_and_quiet(d: harness.Daemon) -> None:
    bid = busybox_id(d)
    out = d.docker("images", check=True).stdout.splitlines()
    assert out[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert out[1].split()[:3] == ["busybox", "latest", bid[7:19]]
    assert d.docker("images", "-q", check=True).stdout == bid[7:19] + "\n"
    assert d.docker("images", "-q", "--no-trunc", check=True).stdout == bid + "\n"
    fmt = d.docker("images", "--format", "{{.Repository}}|{{.Tag}}|{{.ID}}|{{.Digest}}",
                   "--digests", check=True).stdout
    assert fmt == f"busybox|latest|{bid[7:19]}|<none>\n"
    rows = [json.loads(x) for x in d.docker("image", "ls", "--format", "json",
                                            check=True).stdout.splitlines()]
    assert rows[0]["Repository"] == "busybox" and rows[0]["Size"].endswith("MB")
    # docker images NAME is a reference filter.
    assert d.docker("images", "-q", "busybox", check=True).stdout == bid[7:19] + "\n"
    assert d.docker("images", "-q", "nosuch", check=True).stdout == ""


def test_tag_filters_and_rmi(d: harness.Daemon) -> None:
    bid = busybox_id(d)
    d.docker("tag", "busybox", "tools/bb:1", check=True)
    d.docker("tag", bid[7:19], "localhost:5000/bb:2", check=True)
    listed = d.docker("images", "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout
    assert sorted(listed.split()) == ["busybox:latest", "localhost:5000/bb:2", "tools/bb:1"]
    by_ref = d.docker("images", "--filter", "reference=tools/*", "--format",
                      "{{.Repository}}:{{.Tag}}", check=True).stdout
    assert by_ref == "tools/bb:1\n"
    assert d.docker("images", "-q", "--filter", "dangling=true", check=True).stdout == ""
    assert d.docker("images", "-q", "--filter", "before=busybox", check=True).stdout == ""
    bad = d.docker("images", "--filter", "nope=1")
    assert bad.returncode == 1 and "invalid filter 'nope'" in bad.stderr
    bad = d.docker("tag", "busybox", "UPPER")
    assert bad.returncode == 1 and "invalid reference format" in bad.stderr

    # By ID with names in several repositories: must be forced.
    conflict = d.docker("rmi", bid[7:19])
    assert conflict.returncode == 1
    assert (f"Error response from daemon: conflict: unable to delete {bid[7:19]} (must be "
            "forced) - image is referenced in multiple repositories") in conflict.stderr
    assert d.docker("rmi", "tools/bb:1", "localhost:5000/bb:2", check=True).stdout == \
        "Untagged: tools/bb:1\nUntagged: localhost:5000/bb:2\n"
    missing = d.docker("rmi", "nosuch")
    assert missing.returncode == 1
    assert "Error response from daemon: No such image: nosuch:latest" in missing.stderr


def test_rmi_conflicts_with_containers(d: harness.Daemon) -> None:
    bid = busybox_id(d)
    d.docker("run", "--name", "user", "busybox", "true", check=True)
    cid = d.docker("inspect", "-f", "{{.Id}}", "user", check=True).stdout.strip()
    try:
        p = d.docker("rmi", "busybox")
        assert p.returncode == 1 and (
            'conflict: unable to remove repository reference "busybox" (must force) - '
            f"container {cid[:12]} is using its referenced image {bid[7:19]}") in p.stderr
        d.docker("run", "-d", "--name", "runner", "busybox", "sleep", "60", check=True)
        runner = d.docker("inspect", "-f", "{{.Id}}", "runner", check=True).stdout.strip()
        p = d.docker("rmi", "-f", bid)
        assert p.returncode == 1 and (
            f"conflict: unable to delete {bid[7:19]} (cannot be forced) - image is being used "
            f"by running container {runner[:12]}") in p.stderr
        d.docker("rm", "-f", "runner", check=True)
        p = d.docker("rmi", bid[7:19])
        assert p.returncode == 1 and ("(must be forced) - image is being used by stopped "
                                      f"container {cid[:12]}") in p.stderr
    finally:
        d.docker("rm", "-f", "user", "runner")
    assert busybox_id(d) == bid


def test_save_load_round_trip(d: harness.Daemon) -> None:
    bid = busybox_id(d)
    tar = d.root / "busybox.tar"
    d.docker("save", "-o", str(tar), "busybox", check=True)
    d.docker("tag", "busybox", "keep:1", check=True)
    d.docker("rmi", "busybox", check=True)
    p = d.docker("load", "-i", str(tar), check=True)
    assert p.stdout == "Loaded image: busybox:latest\n"
    assert busybox_id(d) == bid
    # Through a pipe, both ends the real CLI.
    p = shell(d, "timeout 60 docker save busybox keep:1 | timeout 60 docker load")
    assert p.returncode == 0, p.stderr
    assert sorted(p.stdout.splitlines()) == ["Loaded image: busybox:latest",
                                             "Loaded image: keep:1"]
    p = shell(d, "timeout 60 docker save busybox | gzip | timeout 60 docker load -q")
    assert (p.returncode, p.stdout) == (0, "Loaded image: busybox:latest\n"), p.stderr
    d.docker("rmi", "keep:1", check=True)
    assert busybox_id(d) == bid
    bad = shell(d, "head -c 4096 /dev/zero | timeout 60 docker load")
    assert bad.returncode == 1 and "archive" in bad.stderr


def test_import_with_change_then_run(d: harness.Daemon, rootfs_tar: Path) -> None:
    p = d.docker("import", "--change", 'CMD ["echo","x"]', "--message", "from a test",
                 str(rootfs_tar), "imp:1", check=True)
    image_id = p.stdout.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    run = d.docker("run", "--rm", "imp:1", check=True)
    assert (run.stdout, run.stderr) == ("x\n", "")
    assert d.docker("image", "inspect", "-f", "{{json .Config.Cmd}} {{.Comment}}", "imp:1",
                    check=True).stdout == '["echo","x"] from a test\n'
    hist = d.docker("history", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Comment}}", "imp:1",
                    check=True).stdout
    assert hist == f"{image_id[7:19]}||from a test\n"
    # From stdin, with several changes, no name: a dangling image.
    p = shell(d, f"timeout 60 docker import --change 'ENV A=1' --change 'ENTRYPOINT "
              f"[\"/bin/sh\",\"-c\"]' --change 'CMD [\"echo $A\"]' - < {rootfs_tar}")
    assert p.returncode == 0, p.stderr
    anon = p.stdout.strip()
    assert d.docker("run", "--rm", anon, check=True).stdout == "1\n"
    dangling = d.docker("images", "-q", "--no-trunc", "--filter", "dangling=true",
                        check=True).stdout.split()
    assert dangling == [anon]
    bad = d.docker("import", "--change", "RUN true", str(rootfs_tar))
    assert bad.returncode == 1 and "RUN" in bad.stderr
    d.docker("rmi", "imp:1", anon, check=True)


def test_history_of_the_base_image(d: harness.Daemon) -> None:
    out = d.docker("history", busybox_id(d), check=True).stdout.splitlines()
    assert out[0].split()[:3] == ["IMAGE", "CREATED", "CREATED"]
    assert "offline base image" in out[1] and len(out) == 2
    full = d.docker("history", "--no-trunc", "-q", "busybox", check=True).stdout
    assert full == busybox_id(d) + "\n"


def test_image_prune(d: harness.Daemon, rootfs_tar: Path) -> None:
    anon = d.docker("import", "--change", "LABEL p=1", str(rootfs_tar),
                    check=True).stdout.strip()
    d.docker("import", "--change", "LABEL p=2", str(rootfs_tar), "named:1", check=True)
    p = d.docker("image", "prune", "-f", check=True)
    assert p.stdout.startswith(f"Deleted Images:\ndeleted: {anon}\n")
    assert "Total reclaimed space: " in p.stdout
    p = d.docker("image", "prune", "-a", "-f", "--filter", "label=p=2", check=True)
    assert p.stdout.startswith("Deleted Images:\nuntagged: named:1\ndeleted: sha256:")
    assert d.docker("images", "--format", "{{.Repository}}", check=True).stdout == \
        "busybox\n"
    p = d.docker("image", "prune", "-f", check=True)
    assert p.stdout == "Total reclaimed space: 0B\n"


def test_run_of_a_missing_image_tries_the_pull_and_says_why_it_failed(
        d: harness.Daemon) -> None:
    # A registry nobody listens on, on loopback (tests never reach past it).
    ref = "127.0.0.1:1/nope/alpine:3"
    p = d.docker("run", "--rm", ref)
    assert p.returncode == 125, p.stderr
    assert f"Unable to find image '{ref}' locally" in p.stderr
    assert "Error response from daemon" in p.stderr and "127.0.0.1:1" in p.stderr
    p = d.docker("pull", "127.0.0.1:1/nope/alpine")
    assert p.returncode == 1 and "127.0.0.1:1" in p.stderr, p.stderr
    assert d.docker("images", "-q", "127.0.0.1:1/nope/alpine", check=True).stdout == ""


def test_image_events(d: harness.Daemon) -> None:
    since = d.docker("version", "-f", "{{.Server.Os}}", check=True)  # a round trip first
    assert since.stdout == "linux\n"
    start = f"{time.time():.6f}"
    d.docker("tag", "busybox", "events/bb:1", check=True)
    d.docker("rmi", "events/bb:1", check=True)
    end = f"{time.time() + 1:.3f}"
    p = d.docker("events", "--since", start, "--until", end, "--filter", "type=image",
                 "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}", check=True)
    assert p.stdout.splitlines() == ["image tag events/bb:1",
                                     f"image untag {busybox_id(d)}"]
