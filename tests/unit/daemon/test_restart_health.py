"""Restart policies and health checks without a daemon: the policy decisions, the
backoff, the restart manager's cancel/force, the probe's bookkeeping (moby's
``restartmanager`` and ``daemon/health.go``), the create rules and the wire forms."""

from __future__ import annotations

import struct
from dataclasses import replace

import pytest

from dockyard.apitypes.containers import inspect_json, status_text, summary_json
from dockyard.apitypes.create import parse_create
from dockyard.daemon.containers.config import (
    ContainerConfig,
    CreateRequest,
    Healthcheck,
    HostConfig,
    RestartPolicy,
)
from dockyard.daemon.containers.create import make_container, merge_config
from dockyard.daemon.containers.filters import compile_filters
from dockyard.daemon.containers.health import (
    ProbeOutput,
    go_duration,
    next_interval,
    probe_command,
    record_result,
)
from dockyard.daemon.containers.model import (
    Container,
    Health,
    HealthResult,
    HealthStatus,
    State,
    Status,
)
from dockyard.daemon.containers.restart import (
    FIRST_DELAY_NS,
    MAX_DELAY_NS,
    RestartManager,
    cancels_restart,
    next_delay,
    should_restart,
    start_at_daemon_start,
)
from dockyard.errors import InvalidArgument
from dockyard.oci.manifest import ContainerConfig as ImageConfig
from dockyard.oci.manifest import HealthConfig

S = 1_000_000_000
MS = 1_000_000


def container(policy: str = "no", retries: int = 0, *, status: Status = Status.EXITED,
              exit_code: int = 1, started_ns: int = 1, manually_stopped: bool = False,
              restart_count: int = 0, health: Healthcheck | None = None,
              labels: tuple[tuple[str, str], ...] = ()) -> Container:
    return Container(id="c" * 64, name="c1", created_ns=1, image_id="sha256:x",
                     config=ContainerConfig(image="busybox", healthcheck=health,
                                            labels=labels),
                     host_config=HostConfig(restart_policy=RestartPolicy(policy, retries)),
                     path="sh", args=(),
                     state=State(status, exit_code=exit_code, started_ns=started_ns),
                     manually_stopped=manually_stopped, restart_count=restart_count)


# ------------------------------------------------------------------ policies


@pytest.mark.parametrize(("policy", "code", "manual", "count", "expected"), [
    ("no", 1, False, 0, False),
    ("always", 0, False, 0, True),
    ("always", 0, True, 99, True),
    ("unless-stopped", 0, False, 5, True),
    ("unless-stopped", 1, True, 0, False),
    ("on-failure", 0, False, 0, False),
    ("on-failure", 1, False, 1000, True),  # no maximum
])
def test_should_restart(policy: str, code: int, manual: bool, count: int,
                        expected: bool) -> None:
    assert should_restart(RestartPolicy(policy), code, manually_stopped=manual,
                          restart_count=count) is expected


def test_on_failure_maximum_counts_restarts() -> None:
    p = RestartPolicy("on-failure", 3)
    assert [should_restart(p, 1, manually_stopped=False, restart_count=n)
            for n in range(5)] == [True, True, True, False, False]


def test_backoff_doubles_caps_and_resets_after_ten_seconds() -> None:
    delays = [0]
    for _ in range(12):
        delays.append(next_delay(delays[-1], 1 * MS))
    assert delays[1:5] == [100 * MS, 200 * MS, 400 * MS, 800 * MS]
    assert delays[-1] == MAX_DELAY_NS
    assert next_delay(MAX_DELAY_NS, 9 * S) == MAX_DELAY_NS
    assert next_delay(MAX_DELAY_NS, 10 * S) == FIRST_DELAY_NS


def test_manager_decides_counts_cancels_and_forces() -> None:
    rm = RestartManager()
    c = container("on-failure", 2)
    assert rm.decide(c, 1, 0) == 100 * MS
    assert rm.decide(container("on-failure", 2, restart_count=1), 1, 0) == 200 * MS
    assert rm.decide(container("on-failure", 2, restart_count=2), 1, 0) is None
    rm.reset(c.id)
    assert rm.decide(c, 1, 0) == 100 * MS  # a fresh manager starts over
    rm.cancel(c.id)
    assert rm.cancelled(c.id)
    assert rm.decide(container("always"), 0, 0) is None
    rm.force(c.id)  # a cancel wins over a later force
    assert rm.decide(container("always"), 0, 0) is None
    rm.reset(c.id)
    rm.force(c.id)
    assert rm.decide(container("no"), 0, 0) == 0
    assert rm.decide(container("no"), 0, 0) is None  # once


def test_start_at_daemon_start() -> None:
    assert start_at_daemon_start(container("always", manually_stopped=True))
    assert start_at_daemon_start(container("unless-stopped"))
    assert not start_at_daemon_start(container("unless-stopped", manually_stopped=True))
    assert not start_at_daemon_start(container("always", started_ns=0))  # never started
    assert not start_at_daemon_start(container("always", status=Status.RUNNING))
    assert not start_at_daemon_start(container("no"))
    assert start_at_daemon_start(container("on-failure", 2, restart_count=1))
    assert not start_at_daemon_start(container("on-failure", 2, restart_count=2))
    assert not start_at_daemon_start(container("on-failure", exit_code=0))
    assert not start_at_daemon_start(container("on-failure", manually_stopped=True))


def test_kill_cancels_like_moby() -> None:
    assert cancels_restart(9, 15)
    assert cancels_restart(1, None)
    assert cancels_restart(15, 15)
    assert not cancels_restart(1, 15)


# ------------------------------------------------------------------ health


def test_probe_command_forms() -> None:
    def cmd(*test: str, shell: tuple[str, ...] = ()) -> tuple[str, ...] | None:
        c = container(health=Healthcheck(test=test))
        return probe_command(replace(c, config=replace(c.config, shell=shell)))

    assert cmd("CMD", "true", "x") == ("true", "x")
    assert cmd("CMD-SHELL", "test -e /tmp/ok") == ("/bin/sh", "-c", "test -e /tmp/ok")
    assert cmd("CMD-SHELL", "x", shell=("/bin/ash", "-ec")) == ("/bin/ash", "-ec", "x")
    assert cmd("NONE") is None
    assert cmd("CMD") is None
    assert cmd() is None
    assert probe_command(container()) is None


def result(code: int, start: int = 100 * S) -> HealthResult:
    return HealthResult(start, start + 1, code, "out")


def test_record_result_streak_retries_and_log() -> None:
    hc = Healthcheck(test=("CMD", "x"), retries=2)
    h = Health()
    h = record_result(h, result(1), hc, 0)
    assert (h.status, h.failing_streak) == (HealthStatus.STARTING, 1)
    h = record_result(h, result(1), hc, 0)
    assert (h.status, h.failing_streak) == (HealthStatus.UNHEALTHY, 2)
    h = record_result(h, result(0), hc, 0)
    assert (h.status, h.failing_streak) == (HealthStatus.HEALTHY, 0)
    for _ in range(7):
        h = record_result(h, result(1), hc, 0)
    assert len(h.log) == 5 and h.failing_streak == 7
    # Default retries: 3.
    h = Health()
    for _ in range(2):
        h = record_result(h, result(1), Healthcheck(test=("CMD", "x")), 0)
    assert h.status is HealthStatus.STARTING
    h = record_result(h, result(1), Healthcheck(test=("CMD", "x")), 0)
    assert h.status is HealthStatus.UNHEALTHY


def test_start_period_failures_do_not_count_while_starting() -> None:
    hc = Healthcheck(test=("CMD", "x"), retries=1, start_period=10 * S)
    h = record_result(Health(), result(1, start=5 * S), hc, 0)
    assert (h.status, h.failing_streak) == (HealthStatus.STARTING, 0)
    h = record_result(h, result(1, start=11 * S), hc, 0)
    assert h.status is HealthStatus.UNHEALTHY
    healthy = record_result(Health(), result(0, start=1 * S), hc, 0)
    h = record_result(healthy, result(1, start=2 * S), hc, 0)  # once healthy, it counts
    assert h.status is HealthStatus.UNHEALTHY


def test_next_interval() -> None:
    hc = Healthcheck(test=("CMD", "x"), interval=2 * S, start_period=10 * S,
                     start_interval=1 * S)
    assert next_interval(hc, Health(), 0, 1 * S) == 1 * S
    assert next_interval(hc, Health(HealthStatus.HEALTHY), 0, 1 * S) == 2 * S
    assert next_interval(hc, Health(), 0, 11 * S) == 2 * S
    assert next_interval(Healthcheck(("CMD", "x")), Health(), 0, 1) == 30 * S


def test_probe_output_is_demultiplexed_and_limited() -> None:
    out = ProbeOutput()
    frame = struct.pack(">BxxxI", 1, 3) + b"abc" + struct.pack(">BxxxI", 2, 2) + b"de"
    for i in range(len(frame)):  # byte by byte: frames split anywhere
        out.feed(frame[i:i + 1])
    assert out.text() == "abcde"
    big = ProbeOutput()
    big.feed(struct.pack(">BxxxI", 1, 5000) + b"x" * 5000)
    assert big.text() == "x" * 4096 + "..."


def test_go_duration() -> None:
    assert go_duration(200 * MS) == "200ms"
    assert go_duration(30 * S) == "30s"
    assert go_duration(1500 * MS) == "1.5s"
    assert go_duration(90 * S) == "1m30s"


# ------------------------------------------------------------------ create and wire forms


def test_healthcheck_parsed_merged_and_checked() -> None:
    req = parse_create({"Image": "busybox", "Healthcheck": {
        "Test": ["CMD-SHELL", "true"], "Interval": 200 * MS, "Retries": 2}})
    assert req.config.healthcheck == Healthcheck(("CMD-SHELL", "true"), interval=200 * MS,
                                                 retries=2)
    image = ImageConfig(cmd=("sh",), healthcheck=HealthConfig(("CMD", "img"), interval=5 * S,
                                                              timeout=7 * S, retries=9))
    merged = merge_config(req.config, image).healthcheck
    assert merged == Healthcheck(("CMD-SHELL", "true"), interval=200 * MS, timeout=7 * S,
                                 retries=2)
    assert merge_config(ContainerConfig(image="b"), image).healthcheck == Healthcheck(
        ("CMD", "img"), interval=5 * S, timeout=7 * S, retries=9)
    none = merge_config(ContainerConfig(image="b", healthcheck=Healthcheck(("NONE",))), image)
    assert none.healthcheck is not None and probe_command(
        container(health=none.healthcheck)) is None

    def make(cfg: ContainerConfig) -> Container:
        return make_container(CreateRequest("", cfg, HostConfig()), ImageConfig(cmd=("sh",)),
                              image_id="sha256:x", container_id="a" * 64, name="n",
                              created_ns=1, driver="overlay", swap_accounting=False,
                              blkio_weight=False, init_path="/bin/sh")

    with pytest.raises(InvalidArgument, match="Interval in Healthcheck cannot be less than"):
        make(ContainerConfig(image="b", healthcheck=Healthcheck(("CMD", "x"), interval=10)))
    with pytest.raises(InvalidArgument, match="Retries in Healthcheck cannot be negative"):
        make(ContainerConfig(image="b", healthcheck=Healthcheck(("CMD", "x"), retries=-1)))
    with pytest.raises(InvalidArgument, match="invalid action"):
        make(ContainerConfig(image="b", labels=(("dockyard.health-on-failure", "boom"),)))
    make(ContainerConfig(image="b", labels=(("dockyard.health-on-failure", "restart"),)))


def test_health_in_inspect_ps_and_filters() -> None:
    c = container(health=Healthcheck(("CMD", "x"), interval=S), status=Status.RUNNING,
                  started_ns=1)
    h = Health(HealthStatus.UNHEALTHY, 2, (HealthResult(1, 2, 1, "no"),))
    running = replace(c, state=State(Status.RUNNING, started_ns=1, health=h))
    doc = inspect_json(running)
    assert doc["State"]["Health"] == {"Status": "unhealthy", "FailingStreak": 2, "Log": [
        {"Start": "1970-01-01T00:00:00.000000001Z", "End": "1970-01-01T00:00:00.000000002Z",
         "ExitCode": 1, "Output": "no"}]}
    assert doc["Config"]["Healthcheck"] == {"Test": ["CMD", "x"], "Interval": S}
    assert "Health" not in inspect_json(container())["State"]
    assert summary_json(running, now_ns=3 * S)["Status"] == "Up 2 seconds (unhealthy)"
    assert status_text(State(Status.RUNNING, started_ns=1, health=Health()), 3 * S) \
        == "Up 2 seconds (health: starting)"
    match = compile_filters({"health": ["unhealthy"]}, lambda ref: c)
    assert match(running) and not match(c)
    assert compile_filters({"health": ["none"]}, lambda ref: c)(c)
    with pytest.raises(InvalidArgument, match="Unrecognised filter value for health"):
        compile_filters({"health": ["sick"]}, lambda ref: c)


def test_healthcheck_change_lines() -> None:
    from dockyard.image.changes import apply_changes

    def hc(line: str) -> HealthConfig | None:
        return apply_changes(ImageConfig(), [line]).healthcheck

    assert hc("HEALTHCHECK --interval=200ms --retries=2 CMD test -e /tmp/ok") == HealthConfig(
        ("CMD-SHELL", "test -e /tmp/ok"), interval=200 * MS, retries=2)
    assert hc('HEALTHCHECK --timeout=1m30s --start-period=1s --start-interval=2s CMD ["a", "b"]'
              ) == HealthConfig(("CMD", "a", "b"), timeout=90 * S, start_period=S,
                                start_interval=2 * S)
    assert hc("HEALTHCHECK NONE") == HealthConfig(("NONE",))
    for bad, message in (("HEALTHCHECK NONE CMD x", "NONE takes no other"),
                         ("HEALTHCHECK RUN x", "Unknown type"),
                         ("HEALTHCHECK CMD", "Missing command"),
                         ("HEALTHCHECK --retries=-1 CMD x", "cannot be negative"),
                         ("HEALTHCHECK --interval=10us CMD x", "cannot be less than"),
                         ("HEALTHCHECK --interval=soon CMD x", "invalid duration"),
                         ("HEALTHCHECK --bogus=1 CMD x", "unknown flag")):
        with pytest.raises(InvalidArgument, match=message):
            hc(bad)


def test_commit_keeps_the_containers_healthcheck() -> None:
    from dockyard.daemon.containers.commit import image_config_of

    cfg = ContainerConfig(image="b", healthcheck=Healthcheck(("CMD", "x"), interval=S,
                                                             retries=2))
    assert image_config_of(cfg).healthcheck == HealthConfig(("CMD", "x"), interval=S,
                                                            retries=2)
    assert image_config_of(ContainerConfig(image="b")).healthcheck is None
