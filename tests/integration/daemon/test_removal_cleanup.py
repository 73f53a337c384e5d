"""A removal answers once the container is gone from the API; its files, mount and
snapshot are removed by a background cleanup afterwards (``daemon.containers.cleanup``),
which ``POST /dockyard/containers/settle`` waits for, image removal too, and a daemon
start finishes when the daemon stopped before it ended."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable

import daemon_harness as harness

Daemon = harness.Daemon


def test_name_free_at_once_and_nothing_left_after_settle(daemon: Daemon) -> None:
    for _ in range(3):
        p = daemon.docker("run", "--rm", "--name", "rmnow", "busybox", "true", timeout=60)
        assert p.returncode == 0, (p.stderr, daemon.tail())
        # The name is free as soon as `docker run --rm` returned, the container gone.
        created = daemon.docker("create", "--name", "rmnow", "busybox", "true", check=True)
        cid = created.stdout.strip()
        assert daemon.docker("ps", "-aq", "--no-trunc", check=True).stdout.split() == [cid]
        assert daemon.docker("rm", "rmnow", check=True).stdout == "rmnow\n"
        assert daemon.docker("inspect", cid).returncode == 1
    assert daemon.request("POST", "/dockyard/containers/settle").status == 204
    assert daemon.request("POST", "/v1.45/dockyard/containers/settle").status == 204
    assert daemon.leftovers() == []


def test_image_removal_right_after_a_container_removal(daemon: Daemon) -> None:
    daemon.docker("create", "--name", "rmbase", "busybox", "true", check=True)
    try:
        daemon.docker("commit", "rmbase", "rmimage:1", check=True)
    finally:
        daemon.docker("rm", "-f", "rmbase")
    try:
        p = daemon.docker("run", "--rm", "rmimage:1", "true", timeout=60)
        assert p.returncode == 0, p.stderr
        # The container's lease held the image until its cleanup ended: rmi waits for it
        # instead of refusing with a conflict on a container that no longer exists.
        p = daemon.docker("rmi", "rmimage:1")
        assert p.returncode == 0, (p.stderr, daemon.tail())
        assert "Deleted: sha256:" in p.stdout
    finally:
        daemon.docker("rmi", "-f", "rmimage:1")
    assert daemon.leftovers() == []


def _edit_record(d: Daemon, cid: str, edit: Callable[[dict[str, object]], None]) -> None:
    path = d.data_root / "containers" / cid / "container.json"
    doc = json.loads(path.read_text())
    edit(doc["container"])
    path.write_text(json.dumps(doc))


def test_a_start_finishes_a_removal_whose_name_was_taken_since(
        new_daemon: Callable[[], Daemon]) -> None:
    d = new_daemon()
    d.start()
    old = d.docker("create", "--name", "taken", "busybox", "true", check=True).stdout.strip()
    new = d.docker("create", "--name", "other", "busybox", "true", check=True).stdout.strip()
    d.stop(signal.SIGKILL)
    # As a daemon killed after `rm taken` answered (record marked removing, name free)
    # and after `rename other taken`, before the removal's cleanup ended, leaves them.
    _edit_record(d, old, lambda c: c["state"].update(status="removing"))  # type: ignore[attr-defined]
    _edit_record(d, new, lambda c: c.update(name="taken"))
    d.start()
    assert d.docker("inspect", "-f", "{{.Id}}", "taken", check=True).stdout.strip() == new
    assert d.docker("inspect", old).returncode == 1
    d.settle()
    assert not (d.data_root / "containers" / old).exists()
    assert d.docker("rm", "taken", check=True).stdout == "taken\n"
    assert d.leftovers() == []
    assert d.errors() == []
