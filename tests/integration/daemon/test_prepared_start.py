"""A created container is made ready to start in the background (``daemon.containers
.prepare``): the supervisor holds its task (state created) until the start releases it.
None of it may show: a copy into the container, an update, a rename, a removal, a daemon
restart before the start each see (or leave) exactly what they would without it."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import daemon_harness as harness

Daemon = harness.Daemon


def _task_dir(d: Daemon, cid: str) -> Path:
    return d.exec_root / "supervisor" / "containers" / cid


def _prepared(d: Daemon, cid: str) -> None:
    """Wait until the supervisor holds the created container's task."""
    harness.wait_for(lambda: _task_dir(d, cid).is_dir(), 10, f"{cid[:12]} prepared")


def _create(d: Daemon, *args: str) -> str:
    return d.docker("create", *args, check=True).stdout.strip()


def test_copy_into_a_prepared_container_is_seen_by_its_start(daemon: Daemon,
                                                            tmp_path: Path) -> None:
    cid = _create(daemon, "--name", "prep-cp", "busybox", "sh", "-c",
                  "cat /hello; id -un")
    try:
        _prepared(daemon, cid)
        (tmp_path / "hello").write_text("copied before the start\n")
        daemon.docker("cp", str(tmp_path / "hello"), "prep-cp:/hello", check=True)
        # The copy mounted the layer itself: the preparation was torn down first.
        assert not _task_dir(daemon, cid).exists()
        p = daemon.docker("start", "-a", "prep-cp", timeout=60)
        assert p.returncode == 0, (p.stderr, daemon.tail())
        assert p.stdout == "copied before the start\nroot\n"
    finally:
        daemon.docker("rm", "-f", "prep-cp")


def test_home_from_a_copied_passwd(daemon: Daemon, tmp_path: Path) -> None:
    # HOME comes from the user's passwd entry, read at the start: a copied /etc/passwd
    # counts, even when the container was prepared with the image's.
    cid = _create(daemon, "--name", "prep-home", "busybox", "sh", "-c", "echo $HOME")
    try:
        _prepared(daemon, cid)
        (tmp_path / "passwd").write_text("root:x:0:0:root:/prephome:/bin/sh\n")
        daemon.docker("cp", str(tmp_path / "passwd"), "prep-home:/etc/passwd", check=True)
        p = daemon.docker("start", "-a", "prep-home", timeout=60)
        assert p.returncode == 0, (p.stderr, daemon.tail())
        assert p.stdout == "/prephome\n"
    finally:
        daemon.docker("rm", "-f", "prep-home")


def test_update_and_rename_before_the_start(daemon: Daemon) -> None:
    cid = _create(daemon, "--name", "prep-upd", "busybox", "sh", "-c",
                  "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; hostname")
    try:
        _prepared(daemon, cid)
        daemon.docker("update", "--memory", "64m", "--memory-swap", "-1", "prep-upd",
                      check=True)
        daemon.docker("rename", "prep-upd", "prep-upd2", check=True)
        p = daemon.docker("start", "-a", "prep-upd2", timeout=60)
        assert p.returncode == 0, (p.stderr, daemon.tail())
        limit, hostname = p.stdout.split()
        assert int(limit) == 64 * 1024 * 1024
        assert hostname == cid[:12]
        # Started once: a second start is Docker's 304 (the CLI prints the name).
        assert daemon.docker("start", "prep-upd2", check=True).stdout == "prep-upd2\n"
    finally:
        daemon.docker("rm", "-f", "prep-upd2")


def test_removed_before_the_start_and_many_created(daemon: Daemon) -> None:
    first = _create(daemon, "busybox", "true")
    _prepared(daemon, first)
    assert daemon.docker("rm", first, check=True).stdout.strip() == first
    assert daemon.leftovers() == []
    ids = [_create(daemon, "busybox", "true") for _ in range(5)]
    try:
        # Only the first few are prepared (a burst of creates holds no more than that).
        harness.wait_for(lambda: sum(_task_dir(daemon, i).is_dir() for i in ids) >= 1, 10,
                         "a preparation")
        assert sum(_task_dir(daemon, i).is_dir() for i in ids) <= 2
        # Started in the reverse order: prepared or not, each runs.
        for cid in reversed(ids):
            p = daemon.docker("start", "-a", cid, timeout=60)
            assert p.returncode == 0, (p.stderr, daemon.tail())
    finally:
        daemon.docker("rm", "-f", *ids)
    assert daemon.leftovers() == []


def test_a_daemon_killed_with_prepared_containers(
        new_daemon: Callable[[], Daemon]) -> None:
    d = new_daemon()
    d.start()
    cid = _create(d, "--name", "prep-kill", "busybox", "echo", "after the restart")
    _prepared(d, cid)
    d.stop(signal.SIGKILL)
    d.start()
    # The task the dead daemon prepared is discarded at its next start.
    harness.wait_for(lambda: not _task_dir(d, cid).exists(), 10, "the task discarded")
    p = d.docker("start", "-a", "prep-kill", timeout=60)
    assert p.returncode == 0, (p.stderr, d.tail())
    assert p.stdout == "after the restart\n"
    # A prepared container at a clean shutdown: torn down, nothing left running.
    second = _create(d, "busybox", "true")
    _prepared(d, second)
    d.stop(signal.SIGTERM)
    assert not _task_dir(d, second).exists()
    assert harness.mounts_under(str(d.exec_root / "bundles")) == []
    d.start()
    d.docker("rm", "prep-kill", second, check=True)
    assert d.leftovers() == []
    assert d.errors() == []


def test_a_daemon_killed_between_recording_running_and_the_start(
        new_daemon: Callable[[], Daemon]) -> None:
    d = new_daemon()
    d.start()
    cid = _create(d, "--name", "prep-half", "busybox", "echo", "started again")
    _prepared(d, cid)
    d.stop(signal.SIGKILL)
    # As a daemon killed after the start recorded "running", before the supervisor
    # started the task (the record is written while the start is on its way).
    path = d.data_root / "containers" / cid / "container.json"
    doc = json.loads(path.read_text())
    doc["container"]["state"].update(status="running", pid=1, started_ns=1)
    path.write_text(json.dumps(doc))
    d.start()
    state = json.loads(d.docker("inspect", "-f", "{{json .State}}", cid, check=True).stdout)
    assert (state["Status"], state["ExitCode"]) == ("exited", 255)
    assert not _task_dir(d, cid).exists()
    p = d.docker("start", "-a", "prep-half", timeout=60)
    assert p.returncode == 0, (p.stderr, d.tail())
    assert p.stdout == "started again\n"
    d.docker("rm", "prep-half", check=True)
    assert d.leftovers() == []
