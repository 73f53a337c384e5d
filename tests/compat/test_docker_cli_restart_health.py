"""Restart policies and health checks judged by the real docker CLI and docker-py:
``--restart on-failure:3`` restarts three times and stops, a stopped ``--restart always``
container comes back after a daemon restart while a stopped ``unless-stopped`` one does
not; a failing ``--health-cmd`` turns ``(unhealthy)`` in ``docker ps`` and ``(healthy)``
after ``docker exec … touch``; ``dockyard.health-on-failure=restart`` restarts it; an
image's HEALTHCHECK (made by ``docker commit --change``) is honoured and
``--no-healthcheck`` disables it."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "daemon"))
import daemon_harness as harness

pytestmark = pytest.mark.root

Daemon = harness.Daemon


def fmt(d: Daemon, template: str, name: str) -> str:
    return d.docker("inspect", "-f", template, name, check=True).stdout.strip()


def until(d: Daemon, check: Callable[[], str | bool], timeout: float, what: str) -> None:
    last: list[object] = []

    def probe() -> bool:
        value = check()
        last[:] = [value]
        return bool(value)

    try:
        harness.wait_for(probe, timeout, what, interval=0.1)
    except AssertionError:
        raise AssertionError(f"{what}; last: {last!r}\n{d.tail(30)}") from None


def ps_status(d: Daemon, name: str) -> str:
    return d.docker("ps", "-a", "--filter", f"name=^{name}$", "--format", "{{.Status}}",
                    check=True).stdout.strip()


def test_on_failure_3_with_the_cli(d: Daemon) -> None:
    try:
        d.docker("run", "-d", "--name", "fails", "--restart", "on-failure:3", "busybox", "sh",
                 "-c", "exit 1", check=True)
        until(d, lambda: fmt(d, "{{.State.Status}} {{.RestartCount}}", "fails") == "exited 3",
              15, "three restarts then exited")
        time.sleep(0.9)
        assert fmt(d, "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}",
                   "fails") == "exited 3 1"
        assert ps_status(d, "fails").startswith("Exited (1) ")
        assert fmt(d, "{{.HostConfig.RestartPolicy.Name}}:"
                   "{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "fails") == "on-failure:3"
    finally:
        d.docker("rm", "-f", "fails")


def test_health_cmd_unhealthy_then_healthy_in_ps(d: Daemon) -> None:
    try:
        d.docker("run", "-d", "--name", "probed", "--health-cmd", "test -e /tmp/ok",
                 "--health-interval", "200ms", "--health-retries", "2", "busybox", "sleep",
                 "1000", check=True)
        until(d, lambda: ps_status(d, "probed").endswith("(unhealthy)"), 10, "(unhealthy)")
        names = d.docker("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}",
                         check=True).stdout
        assert names == "probed\n"
        d.docker("exec", "probed", "touch", "/tmp/ok", check=True)
        until(d, lambda: ps_status(d, "probed").endswith("(healthy)"), 10, "(healthy)")
        assert fmt(d, "{{.State.Health.Status}} {{.State.Health.FailingStreak}}",
                   "probed") == "healthy 0"
        assert fmt(d, "{{json .Config.Healthcheck.Test}}",
                   "probed") == '["CMD-SHELL","test -e /tmp/ok"]'
    finally:
        d.docker("rm", "-f", "probed")


def test_health_on_failure_restart_label(d: Daemon) -> None:
    try:
        d.docker("run", "-d", "--name", "healer", "--label",
                 "dockyard.health-on-failure=restart", "--stop-timeout", "1", "--health-cmd",
                 "false", "--health-interval", "100ms", "--health-retries", "1", "busybox",
                 "sleep", "1000", check=True)
        until(d, lambda: int(fmt(d, "{{.RestartCount}}", "healer")) >= 2, 30,
              "restarted by the health-on-failure label")
        until(d, lambda: fmt(d, "{{.State.Running}}", "healer") == "true", 10, "running")
    finally:
        d.docker("rm", "-f", "healer")


def test_image_healthcheck_and_no_healthcheck(d: Daemon) -> None:
    try:
        d.docker("create", "--name", "base-hc", "busybox", "sleep", "1000", check=True)
        d.docker("commit", "--change",
                 "HEALTHCHECK --interval=100ms --retries=1 CMD [\"false\"]", "base-hc",
                 "dy-hc:1", check=True)
        assert d.docker("image", "inspect", "-f", "{{json .Config.Healthcheck.Test}}",
                        "dy-hc:1", check=True).stdout.strip() == '["CMD","false"]'
        d.docker("run", "-d", "--name", "img-hc", "dy-hc:1", check=True)
        d.docker("run", "-d", "--name", "no-hc", "--no-healthcheck", "dy-hc:1", check=True)
        until(d, lambda: ps_status(d, "img-hc").endswith("(unhealthy)"), 10, "(unhealthy)")
        assert fmt(d, "{{json .State.Health}}", "no-hc") == "null"
        status = ps_status(d, "no-hc")
        assert status.startswith("Up ") and "(" not in status, status
    finally:
        d.docker("rm", "-f", "base-hc", "img-hc", "no-hc")
        d.docker("rmi", "dy-hc:1")


def test_docker_py_restart_policy_and_health(client: docker.DockerClient) -> None:
    c = client.containers.run("busybox", ["sh", "-c", "exit 2"], detach=True,
                              restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})
    h = client.containers.run("busybox", ["sleep", "1000"], detach=True, healthcheck={
        "test": ["CMD-SHELL", "echo hi; exit 1"], "interval": 100_000_000, "retries": 1})
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        c.reload()
        h.reload()
        if c.status == "exited" and c.attrs["RestartCount"] == 2 and h.health == "unhealthy":
            break
        time.sleep(0.1)
    assert (c.status, c.attrs["RestartCount"], c.attrs["State"]["ExitCode"]) == ("exited", 2, 2)
    assert h.health == "unhealthy"
    log = h.attrs["State"]["Health"]["Log"]
    assert log[-1]["ExitCode"] == 1 and log[-1]["Output"] == "hi\n"
    assert [x.id for x in client.containers.list(filters={"health": "unhealthy"})] == [h.id]


def test_always_back_after_a_daemon_restart_unless_stopped_not(d: Daemon) -> None:
    """Last of the module: it restarts the module's daemon (same roots)."""
    try:
        d.docker("run", "-d", "--name", "always", "--restart", "always", "busybox", "sleep",
                 "1000", check=True)
        d.docker("run", "-d", "--name", "unless", "--restart", "unless-stopped", "busybox",
                 "sleep", "1000", check=True)
        d.docker("stop", "-t", "0", "always", "unless", check=True)
        time.sleep(0.5)
        assert ps_status(d, "always").startswith("Exited (137)")  # a stop keeps it down
        assert d.stop() == 0
        d.start()
        until(d, lambda: ps_status(d, "always").startswith("Up "), 20, "always back")
        assert ps_status(d, "unless").startswith("Exited (137)")
        assert fmt(d, "{{.RestartCount}}", "always") == "0"
    finally:
        d.docker("rm", "-f", "always", "unless")
