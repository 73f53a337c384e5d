"""Restart policies and health checks through the Engine API of a real daemon: on-failure's
count and growing backoff, wait at the first exit, stop and rm -f of restarting containers,
the daemon's restart bringing back ``always`` but not a stopped ``unless-stopped``; health
probes turning unhealthy and healthy, their log, timeout, events, the image's HEALTHCHECK,
``NONE``, and the ``dockyard.health-on-failure`` label."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import daemon_harness as harness
import pytest

Daemon = harness.Daemon
MS = 1_000_000


@pytest.fixture
def made(daemon: Daemon) -> Iterator[list[str]]:
    """Containers (and images) a test makes, removed after it whatever happens."""
    ids: list[str] = []
    try:
        yield ids
    finally:
        for ref in ids:
            if ref.startswith("image:"):
                daemon.request("DELETE", f"/images/{ref[6:]}?force=1")
            else:
                daemon.request("DELETE", f"/containers/{ref}?force=1")


def create(d: Daemon, made: list[str], cmd: list[str], **kw: Any) -> str:
    r = d.request("POST", "/containers/create", {"Image": "busybox", "Cmd": cmd, **kw})
    assert r.status == 201, r.body
    cid = str(r.json()["Id"])
    made.append(cid)
    return cid


def run(d: Daemon, made: list[str], cmd: list[str], **kw: Any) -> str:
    cid = create(d, made, cmd, **kw)
    r = d.request("POST", f"/containers/{cid}/start")
    assert r.status == 204, r.body
    return cid


def inspect(d: Daemon, cid: str) -> dict[str, Any]:
    r = d.request("GET", f"/containers/{cid}/json")
    assert r.status == 200, r.body
    doc: dict[str, Any] = r.json()
    return doc


def events(d: Daemon, since: float, cid: str) -> list[dict[str, Any]]:
    filters = quote(json.dumps({"container": [cid]}))
    r = d.request("GET", f"/events?since={since:.9f}&until={time.time():.9f}"
                  f"&filters={filters}")
    assert r.status == 200, r.body
    return [json.loads(line) for line in r.body.splitlines() if line.strip()]


def wait_state(d: Daemon, cid: str, pred: Callable[[dict[str, Any]], bool], timeout: float,
               what: str) -> dict[str, Any]:
    last: list[dict[str, Any]] = []

    def probe() -> bool:
        doc = inspect(d, cid)
        last[:] = [doc]
        return pred(doc)

    try:
        harness.wait_for(probe, timeout, what, interval=0.05)
    except AssertionError:
        raise AssertionError(f"{what}: {json.dumps(last[-1]['State'])[:2000]}") from None
    return last[-1]


# ------------------------------------------------------------------ restart policies


def test_on_failure_3_restarts_three_times_with_growing_backoff(daemon: Daemon,
                                                                made: list[str]) -> None:
    since = time.time()
    cid = run(daemon, made, ["sh", "-c", "exit 3"],
              HostConfig={"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}})
    doc = wait_state(daemon, cid, lambda s: s["State"]["Status"] == "exited"
                     and s["RestartCount"] == 3, 15, "three restarts, then exited")
    assert doc["State"]["ExitCode"] == 3
    time.sleep(0.9)  # a fourth restart would come 800 ms after the last exit
    doc = inspect(daemon, cid)
    assert (doc["State"]["Status"], doc["RestartCount"]) == ("exited", 3)
    evs = [(e["Action"], e["timeNano"]) for e in events(daemon, since, cid)
           if e["Action"] in ("start", "die", "restart")]
    assert [a for a, _ in evs] == ["start", "die"] * 4, evs
    dies = [t for a, t in evs if a == "die"]
    starts = [t for a, t in evs if a == "start"]
    gaps = [(start - die) / MS for die, start in zip(dies, starts[1:], strict=False)]
    # 100, 200 and 400 ms of backoff before each restart; the start itself adds a little.
    for gap, delay in zip(gaps, (100, 200, 400), strict=True):
        assert gap >= delay * 0.95, gaps
    assert gaps[2] > gaps[1] > gaps[0], gaps
    # A start by the user resets the count (as Docker's ResetRestartManager).
    assert daemon.request("POST", f"/containers/{cid}/start").status == 204
    doc = wait_state(daemon, cid, lambda s: s["RestartCount"] >= 1, 10, "restarted again")
    assert doc["RestartCount"] <= 3


def test_wait_returns_at_the_first_exit_and_rm_f_of_a_restarting_one(
        daemon: Daemon, made: list[str]) -> None:
    cid = create(daemon, made, ["sh", "-c", "sleep 0.3; exit 5"],
                 HostConfig={"RestartPolicy": {"Name": "always"}})
    assert daemon.request("POST", f"/containers/{cid}/start").status == 204
    # Docker's wait (not-running): answered at the first exit, restart or not.
    r = daemon.request("POST", f"/containers/{cid}/wait", timeout=20)
    assert r.status == 200 and r.json()["StatusCode"] == 5
    doc = wait_state(daemon, cid, lambda s: s["State"]["Restarting"], 10, "restarting")
    assert doc["State"]["Running"] and doc["State"]["Pid"] == 0
    assert doc["State"]["ExitCode"] == 5
    # ps shows it as Docker does.
    ps = daemon.request("GET", "/containers/json?all=1").json()
    mine = [c for c in ps if c["Id"] == cid]
    assert mine and mine[0]["State"] in ("restarting", "running")
    r = daemon.request("DELETE", f"/containers/{cid}")
    assert r.status == 409, r.body
    # moby's words name the state (restarting, unless it has just been started again).
    assert b"container is restarting: stop the container before removing or force " \
        b"remove" in r.body or b"container is running: stop" in r.body, r.body
    r = daemon.request("DELETE", f"/containers/{cid}?force=1")
    assert r.status == 204, r.body
    assert daemon.request("GET", f"/containers/{cid}/json").status == 404
    time.sleep(1.0)  # no restart of a removed container (its record would reappear)
    assert daemon.request("GET", f"/containers/{cid}/json").status == 404
    assert not [c for c in daemon.request("GET", "/containers/json?all=1").json()
                if c["Id"] == cid]


def test_stop_keeps_always_down_and_kill_of_a_restarting_one(daemon: Daemon,
                                                              made: list[str]) -> None:
    cid = run(daemon, made, ["sleep", "1000"], HostConfig={"RestartPolicy": {"Name": "always"}})
    r = daemon.request("POST", f"/containers/{cid}/stop?t=1", timeout=30)
    assert r.status == 204, r.body
    time.sleep(0.5)
    doc = inspect(daemon, cid)
    assert (doc["State"]["Status"], doc["RestartCount"]) == ("exited", 0)
    # A restarting container: stop cancels its restart without a signal.
    since = time.time()
    other = run(daemon, made, ["sh", "-c", "exit 1"],
                HostConfig={"RestartPolicy": {"Name": "unless-stopped"}})
    # After the 4th restart the next one is 1.6 s away: time for a few requests.
    wait_state(daemon, other, lambda s: s["RestartCount"] >= 4 and s["State"]["Restarting"],
               15, "restarting after 4 restarts")
    r = daemon.request("POST", f"/containers/{other}/pause")
    assert r.status == 409 and b"is restarting, wait until the container is running" in r.body
    r = daemon.request("POST", f"/containers/{other}/attach?stream=1&stdout=1")
    assert r.status == 409 and b"cannot attach to a restarting container" in r.body
    r = daemon.request("POST", f"/containers/{other}/exec", {"Cmd": ["true"]})
    assert r.status == 409 and b"is restarting" in r.body
    assert daemon.request("POST", f"/containers/{other}/stop", timeout=30).status == 204
    doc = inspect(daemon, other)
    assert doc["State"]["Status"] == "exited" and not doc["State"]["Running"]
    count = doc["RestartCount"]
    time.sleep(1.0)
    doc = inspect(daemon, other)
    assert (doc["State"]["Status"], doc["RestartCount"]) == ("exited", count)
    assert "stop" in [e["Action"] for e in events(daemon, since, other)]
    # A start by the user resets the count; a kill of the restarting one keeps it down.
    assert daemon.request("POST", f"/containers/{other}/start").status == 204
    wait_state(daemon, other, lambda s: s["State"]["Restarting"] and s["RestartCount"] >= 2,
               15, "restarting again")
    assert daemon.request("POST", f"/containers/{other}/kill").status == 204
    doc = inspect(daemon, other)
    assert doc["State"]["Status"] == "exited"
    count = doc["RestartCount"]
    assert count < 5
    time.sleep(1.0)
    doc = inspect(daemon, other)
    assert (doc["State"]["Status"], doc["RestartCount"]) == ("exited", count)


def test_daemon_restart_brings_back_always_not_stopped_unless_stopped(
        new_daemon: Callable[[], Daemon]) -> None:
    d = new_daemon()
    d.start()
    made: list[str] = []
    always = run(d, made, ["sleep", "1000"], HostConfig={"RestartPolicy": {"Name": "always"}})
    unless = run(d, made, ["sleep", "1000"],
                 HostConfig={"RestartPolicy": {"Name": "unless-stopped"}})
    unless_up = run(d, made, ["sleep", "1000"],
                    HostConfig={"RestartPolicy": {"Name": "unless-stopped"}})
    plain = run(d, made, ["sleep", "1000"])
    never = create(d, made, ["sleep", "1000"], HostConfig={"RestartPolicy": {"Name": "always"}})
    for cid in (always, unless, plain):
        assert d.request("POST", f"/containers/{cid}/stop?t=0", timeout=30).status == 204
    pid_up = inspect(d, unless_up)["State"]["Pid"]
    assert d.stop() == 0
    d.start()
    # Live restore keeps the running one as it was; the stopped always one is started.
    doc = wait_state(d, always, lambda s: s["State"]["Running"], 20, "always back")
    assert doc["RestartCount"] == 0 and doc["State"]["Pid"] > 0
    assert inspect(d, unless_up)["State"]["Pid"] == pid_up
    assert inspect(d, unless)["State"]["Status"] == "exited"
    assert inspect(d, plain)["State"]["Status"] == "exited"
    assert inspect(d, never)["State"]["Status"] == "created"
    # The always one is up for real (it runs a process), and stops again on request.
    assert harness.pid_alive(doc["State"]["Pid"])
    for cid in made:
        assert d.request("DELETE", f"/containers/{cid}?force=1", timeout=30).status == 204
    assert d.leftovers() == []
    assert d.errors() == [], d.tail(60)


def test_restarting_container_across_a_daemon_restart(new_daemon: Callable[[], Daemon]
                                                      ) -> None:
    """A daemon stopped during a backoff: the restart happens at its next start."""
    d = new_daemon()
    d.start()
    made: list[str] = []
    cid = run(d, made, ["sh", "-c", "exit 1"],
              HostConfig={"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 50}})
    # After the 4th restart the backoff is 1.6 s: time enough to stop the daemon in it.
    wait_state(d, cid, lambda s: s["RestartCount"] >= 4 and s["State"]["Restarting"], 20,
               "restarting after 4 restarts")
    assert d.stop() == 0
    assert "was waiting to restart" not in d.log_path.read_text()
    d.start()
    assert "was waiting to restart" in d.log_path.read_text()
    doc = wait_state(d, cid, lambda s: s["State"]["StartedAt"] > "0001" and
                     s["State"]["Running"], 20, "running again")
    assert doc["RestartCount"] < 4  # a daemon start resets the count, as Docker's
    assert d.request("DELETE", f"/containers/{cid}?force=1", timeout=30).status == 204
    assert d.leftovers() == []


# ------------------------------------------------------------------ health checks


def health(doc: dict[str, Any]) -> str:
    return str((doc["State"].get("Health") or {}).get("Status", "none"))


def ps_status(d: Daemon, cid: str) -> str:
    for c in d.request("GET", "/containers/json").json():
        if c["Id"] == cid:
            return str(c["Status"])
    return ""


def test_failing_probe_turns_unhealthy_then_healthy(daemon: Daemon, made: list[str]) -> None:
    since = time.time()
    cid = run(daemon, made, ["sleep", "1000"], Healthcheck={
        "Test": ["CMD-SHELL", "echo probing; test -e /tmp/ok"], "Interval": 200 * MS,
        "Retries": 2})
    assert health(inspect(daemon, cid)) == "starting"
    assert ps_status(daemon, cid).endswith("(health: starting)")
    doc = wait_state(daemon, cid, lambda s: health(s) == "unhealthy", 10, "unhealthy")
    h = doc["State"]["Health"]
    assert h["FailingStreak"] >= 2
    assert h["Log"][-1]["ExitCode"] == 1 and h["Log"][-1]["Output"] == "probing\n"
    assert ps_status(daemon, cid).endswith("(unhealthy)")
    filtered = daemon.request("GET", "/containers/json?filters="
                              + quote(json.dumps({"health": ["unhealthy"]}))).json()
    assert [c["Id"] for c in filtered] == [cid]
    r = daemon.request("POST", f"/containers/{cid}/exec", {"Cmd": ["touch", "/tmp/ok"]})
    assert r.status == 201
    assert daemon.request("POST", f"/exec/{r.json()['Id']}/start", {"Detach": True}).status \
        == 200
    doc = wait_state(daemon, cid, lambda s: health(s) == "healthy", 10, "healthy")
    assert doc["State"]["Health"]["FailingStreak"] == 0
    assert ps_status(daemon, cid).endswith("(healthy)")
    wait_state(daemon, cid, lambda s: len(s["State"]["Health"]["Log"]) == 5, 10, "5 logs")
    time.sleep(0.5)
    assert len(inspect(daemon, cid)["State"]["Health"]["Log"]) == 5  # the last 5 only
    actions = [e["Action"] for e in events(daemon, since, cid)]
    assert "health_status: unhealthy" in actions and "health_status: healthy" in actions
    assert any(a.startswith("exec_create: /bin/sh -c echo probing") for a in actions)
    assert "exec_die" in actions
    # Stopped: no more probes, "unhealthy" as Docker says; a start begins at "starting".
    assert daemon.request("POST", f"/containers/{cid}/stop?t=0", timeout=30).status == 204
    assert health(inspect(daemon, cid)) == "unhealthy"  # moby's CloseMonitorChannel
    n = len([e for e in events(daemon, since, cid) if e["Action"] == "exec_die"])
    time.sleep(0.6)
    assert len([e for e in events(daemon, since, cid) if e["Action"] == "exec_die"]) == n
    assert daemon.request("POST", f"/containers/{cid}/start").status == 204
    assert health(inspect(daemon, cid)) == "starting"


def test_probe_timeout_and_output_limit(daemon: Daemon, made: list[str]) -> None:
    cid = run(daemon, made, ["sleep", "1000"], Healthcheck={
        "Test": ["CMD-SHELL", "head -c 5000 /dev/zero | tr '\\0' x; sleep 5"],
        "Interval": 100 * MS, "Timeout": 300 * MS, "Retries": 1})
    doc = wait_state(daemon, cid, lambda s: health(s) == "unhealthy", 15, "unhealthy")
    entry = doc["State"]["Health"]["Log"][-1]
    assert entry["ExitCode"] == -1
    assert entry["Output"] == "Health check exceeded timeout (300ms): " + "x" * 4096 + "..."
    # The probe was killed: no sleep of a probe is left in the container.
    r = daemon.request("GET", f"/containers/{cid}/top")
    assert r.status == 200, r.body
    assert not [p for p in r.json()["Processes"] if "sleep 5" in " ".join(p)], r.json()


def test_image_healthcheck_none_and_health_on_failure_restart(daemon: Daemon,
                                                              made: list[str]) -> None:
    base = create(daemon, made, ["sleep", "1000"])
    conf = {"Cmd": ["sleep", "1000"], "Healthcheck": {
        "Test": ["CMD", "false"], "Interval": 100 * MS, "Retries": 1}}
    r = daemon.request("POST", f"/commit?container={base}&repo=dy-health&tag=t1", conf)
    assert r.status == 201, r.body
    made.append("image:dy-health:t1")
    img = daemon.request("GET", "/images/dy-health:t1/json").json()
    assert img["Config"]["Healthcheck"]["Test"] == ["CMD", "false"]

    def from_image(**kw: Any) -> str:
        r = daemon.request("POST", "/containers/create", {"Image": "dy-health:t1", **kw})
        assert r.status == 201, r.body
        made.append(r.json()["Id"])
        assert daemon.request("POST", f"/containers/{r.json()['Id']}/start").status == 204
        return str(r.json()["Id"])

    inherits = from_image()
    none = from_image(Healthcheck={"Test": ["NONE"]})
    restarts = from_image(Labels={"dockyard.health-on-failure": "restart"},
                          StopTimeout=1)
    doc = wait_state(daemon, inherits, lambda s: health(s) == "unhealthy", 10, "unhealthy")
    assert doc["Config"]["Healthcheck"]["Test"] == ["CMD", "false"]
    assert doc["State"]["Running"] and doc["RestartCount"] == 0
    doc = wait_state(daemon, restarts, lambda s: s["RestartCount"] >= 2, 30,
                     "restarted by health-on-failure")
    wait_state(daemon, restarts, lambda s: s["State"]["Running"], 10, "running")
    assert "Health" not in inspect(daemon, none)["State"]
    assert ps_status(daemon, none).startswith("Up ") and "(" not in ps_status(daemon, none)
    bad = daemon.request("POST", "/containers/create", {
        "Image": "busybox", "Labels": {"dockyard.health-on-failure": "explode"}})
    assert bad.status == 400 and b"invalid action" in bad.body
    bad = daemon.request("POST", "/containers/create", {
        "Image": "busybox", "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000}})
    assert bad.status == 400 and b"Interval in Healthcheck cannot be less than" in bad.body
    assert daemon.errors() == [], daemon.tail(60)


def test_health_on_failure_kill_and_stop(daemon: Daemon, made: list[str]) -> None:
    probe = {"Test": ["CMD", "false"], "Interval": 100 * MS, "Retries": 1}
    always = {"RestartPolicy": {"Name": "always"}}
    killed = run(daemon, made, ["sleep", "1000"], Healthcheck=probe, HostConfig=always,
                 Labels={"dockyard.health-on-failure": "kill"})
    stopped = run(daemon, made, ["sleep", "1000"], Healthcheck=probe, HostConfig=always,
                  StopTimeout=1, Labels={"dockyard.health-on-failure": "stop"})
    # kill: SIGKILL, and the restart policy (always) brings it back.
    doc = wait_state(daemon, killed, lambda s: s["RestartCount"] >= 1, 20, "killed, restarted")
    assert doc["State"]["ExitCode"] == 137 or doc["State"]["Running"]
    # stop: as docker stop (SIGTERM, SIGKILL after 1 s): always does not bring it back.
    doc = wait_state(daemon, stopped, lambda s: s["State"]["Status"] == "exited", 20,
                     "stopped")
    time.sleep(0.5)
    doc = inspect(daemon, stopped)
    assert (doc["State"]["Status"], doc["RestartCount"]) == ("exited", 0)
