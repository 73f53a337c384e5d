"""Stats, update, disk use and sizes through the Engine API of a real daemon: the JSON
shapes dockerd sends, the live cgroup files an update writes, the record it keeps."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import daemon_harness as harness
import pytest

Daemon = harness.Daemon
MB = 1 << 20
CGROUP = Path("/sys/fs/cgroup")


def create(daemon: Daemon, cmd: list[str], **host: object) -> str:
    r = daemon.request("POST", "/containers/create",
                       {"Image": "busybox", "Cmd": cmd, "HostConfig": host})
    assert r.status == 201, r.body
    return str(r.json()["Id"])


@pytest.fixture
def running(daemon: Daemon) -> Iterator[str]:
    """A running ``sleep`` with a 64 MiB memory limit, removed after the test."""
    cid = create(daemon, ["sleep", "1000"], Memory=64 * MB)
    try:
        assert daemon.request("POST", f"/containers/{cid}/start").status == 204
        yield cid
    finally:
        daemon.request("DELETE", f"/containers/{cid}?force=1")


def cgroup_file(daemon: Daemon, controller: str, cid: str, name: str) -> str:
    path = CGROUP / controller / daemon.cgroup_parent.strip("/") / cid / name
    return path.read_text().strip()


def test_one_shot_stats_have_dockers_shape(daemon: Daemon, running: str) -> None:
    t0 = time.monotonic()
    r = daemon.request("GET", f"/containers/{running}/stats?stream=false&one-shot=true")
    elapsed = time.monotonic() - t0
    assert r.status == 200, r.body
    assert r.headers["Content-Type"].startswith("application/json")
    s = r.json()
    assert elapsed < 1.0  # dockerd's needs 1-2 s; ours is one read (bench/ops.py times it)
    assert set(s) >= {"read", "preread", "pids_stats", "blkio_stats", "num_procs",
                      "cpu_stats", "precpu_stats", "memory_stats", "name", "id"}
    assert (s["id"], s["preread"]) == (running, "0001-01-01T00:00:00Z")
    assert s["name"].startswith("/")
    cpu = s["cpu_stats"]
    assert cpu["cpu_usage"]["total_usage"] > 0 and cpu["system_cpu_usage"] > 0
    assert cpu["online_cpus"] >= 1 and set(cpu["throttling_data"]) == {
        "periods", "throttled_periods", "throttled_time"}
    assert s["precpu_stats"]["cpu_usage"]["total_usage"] == 0
    mem = s["memory_stats"]
    assert mem["limit"] == 64 * MB and 0 < mem["usage"] <= 64 * MB
    assert "total_inactive_file" in mem["stats"] or "inactive_file" in mem["stats"]
    assert s["pids_stats"]["current"] == 1


def test_stream_false_has_precpu_and_stream_sends_a_line_a_second(daemon: Daemon,
                                                                  running: str) -> None:
    s = daemon.request("GET", f"/containers/{running}/stats?stream=false").json()
    pre = s["precpu_stats"]
    assert s["preread"] != "0001-01-01T00:00:00Z"
    assert 0 < pre["system_cpu_usage"] < s["cpu_stats"]["system_cpu_usage"]
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(10)
    sock.connect(str(daemon.socket))
    try:
        sock.sendall(f"GET /containers/{running}/stats HTTP/1.1\r\nHost: d\r\n\r\n".encode())
        data = b""
        while data.count(b"\n{") < 2:  # the head, then two chunked JSON lines
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    finally:
        sock.close()
    lines = [json.loads(x) for x in data.split(b"\r\n") if x.startswith(b"{")]
    assert lines[0]["preread"] == "0001-01-01T00:00:00Z"
    assert lines[1]["preread"] == lines[0]["read"]
    assert lines[1]["precpu_stats"] == lines[0]["cpu_stats"]


def test_stats_of_a_stopped_container_are_zero_and_unknown_is_404(daemon: Daemon) -> None:
    cid = create(daemon, ["true"])
    try:
        s = daemon.request("GET", f"/containers/{cid}/stats?stream=false").json()
        assert s["read"] == "0001-01-01T00:00:00Z" and s["memory_stats"] == {}
        assert s["cpu_stats"]["cpu_usage"]["total_usage"] == 0 and s["id"] == cid
    finally:
        daemon.request("DELETE", f"/containers/{cid}?force=1")
    r = daemon.request("GET", "/containers/nope/stats?stream=false")
    assert r.status == 404 and "No such container" in r.json()["message"]
    r = daemon.request("GET", f"/containers/{cid}/stats?stream=true&one-shot=true")
    assert r.status in (400, 404)


def test_update_writes_the_live_cgroup_and_the_record(daemon: Daemon, running: str) -> None:
    r = daemon.request("POST", f"/containers/{running}/update",
                       {"Memory": 128 * MB, "NanoCpus": 500_000_000, "PidsLimit": 50,
                        "CpuShares": 512, "RestartPolicy": {"Name": "unless-stopped"}})
    assert (r.status, r.json()) == (200, {"Warnings": []}), r.body
    assert cgroup_file(daemon, "memory", running, "memory.limit_in_bytes") == str(128 * MB)
    assert cgroup_file(daemon, "cpu", running, "cpu.cfs_quota_us") == "50000"
    assert cgroup_file(daemon, "cpu", running, "cpu.shares") == "512"
    assert cgroup_file(daemon, "pids", running, "pids.max") == "50"
    hc = daemon.request("GET", f"/containers/{running}/json").json()["HostConfig"]
    assert (hc["Memory"], hc["MemorySwap"], hc["NanoCpus"], hc["PidsLimit"]) == (
        128 * MB, 128 * MB, 500_000_000, 50)
    assert hc["RestartPolicy"] == {"Name": "unless-stopped", "MaximumRetryCount": 0}
    s = daemon.request("GET", f"/containers/{running}/stats?one-shot=1&stream=0").json()
    assert s["memory_stats"]["limit"] == 128 * MB and s["pids_stats"]["limit"] == 50
    # lifted again
    assert daemon.request("POST", f"/containers/{running}/update",
                          {"PidsLimit": -1}).status == 200
    assert cgroup_file(daemon, "pids", running, "pids.max") == "max"
    # a restart keeps the update
    assert daemon.request("POST", f"/containers/{running}/restart?t=0").status == 204
    assert cgroup_file(daemon, "memory", running, "memory.limit_in_bytes") == str(128 * MB)


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"Memory": 4 * MB}, 400, "Minimum memory limit allowed is 6MB"),
    ({"Memory": 512 * MB}, 409, "Memory limit should be smaller than already set memoryswap"),
    ({"CpuQuota": 10}, 400, "CPU cfs quota can not be less than 1ms"),
    ({"RestartPolicy": {"Name": "sometimes"}}, 400, "invalid restart policy"),
    ({"Devices": [{"PathOnHost": "/dev/sda"}]}, 400, "Devices"),
])
def test_update_errors(daemon: Daemon, running: str, body: dict[str, object], status: int,
                       message: str) -> None:
    r = daemon.request("POST", f"/containers/{running}/update", body)
    assert r.status == status and message in r.json()["message"], r.body
    assert cgroup_file(daemon, "memory", running, "memory.limit_in_bytes") == str(64 * MB)


def test_update_below_usage_fails_and_changes_nothing(daemon: Daemon) -> None:
    cid = create(daemon, ["sh", "-c", "dd if=/dev/zero of=/dev/shm/f bs=1M count=24 && "
                          "touch /tmp/ready && sleep 1000"], Memory=64 * MB,
                 MemorySwappiness=0)  # nothing swapped out: the usage stays above 8 MiB
    try:
        assert daemon.request("POST", f"/containers/{cid}/start").status == 204
        harness.wait_for(lambda: int(cgroup_file(daemon, "memory", cid,
                                                 "memory.usage_in_bytes")) > 24 * MB,
                         20, "the container to use 24 MiB")
        r = daemon.request("POST", f"/containers/{cid}/update", {"Memory": 8 * MB})
        assert r.status >= 400 and r.json()["message"].startswith(
            f"Cannot update container {cid}: "), r.body
        assert cgroup_file(daemon, "memory", cid, "memory.limit_in_bytes") == str(64 * MB)
        hc = daemon.request("GET", f"/containers/{cid}/json").json()["HostConfig"]
        assert hc["Memory"] == 64 * MB
    finally:
        daemon.request("DELETE", f"/containers/{cid}?force=1")


def test_update_of_a_stopped_container_applies_at_start(daemon: Daemon) -> None:
    cid = create(daemon, ["sleep", "1000"])
    try:
        assert daemon.request("POST", f"/containers/{cid}/update",
                              {"Memory": 32 * MB, "PidsLimit": 7}).status == 200
        assert daemon.request("POST", f"/containers/{cid}/start").status == 204
        assert cgroup_file(daemon, "memory", cid, "memory.limit_in_bytes") == str(32 * MB)
        assert cgroup_file(daemon, "pids", cid, "pids.max") == "7"
    finally:
        daemon.request("DELETE", f"/containers/{cid}?force=1")


def test_system_df_and_sizes_count_the_layer_and_the_logs(daemon: Daemon) -> None:
    cid = create(daemon, ["sh", "-c", "head -c 300000 /dev/zero > /big; "
                          "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done"])
    try:
        assert daemon.request("POST", f"/containers/{cid}/start").status == 204
        daemon.request("POST", f"/containers/{cid}/wait")
        log_path = daemon.request("GET", f"/containers/{cid}/json").json()["LogPath"]
        log_size = Path(log_path).stat().st_size
        assert log_size > 100_000
        df = daemon.request("GET", "/system/df").json()
        assert set(df) == {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"}
        assert df["Volumes"] == [] and df["BuildCache"] == []
        (image,) = df["Images"]
        assert image["Size"] == df["LayersSize"] > 0
        assert image["SharedSize"] == 0 and image["Containers"] == 1
        (row,) = [c for c in df["Containers"] if c["Id"] == cid]
        assert row["SizeRw"] >= 300_000 + log_size
        assert row["SizeRootFs"] == row["SizeRw"] + image["Size"]
        (ps,) = [c for c in daemon.request("GET", "/containers/json?all=1&size=1").json()
                 if c["Id"] == cid]
        assert (ps["SizeRw"], ps["SizeRootFs"]) == (row["SizeRw"], row["SizeRootFs"])
        assert "SizeRw" not in daemon.request("GET", "/containers/json?all=1").json()[0]
        # inspect with ?size=1 (docker inspect --size) has the same two fields, else none
        sized = daemon.request("GET", f"/containers/{cid}/json?size=1").json()
        assert (sized["SizeRw"], sized["SizeRootFs"]) == (row["SizeRw"], row["SizeRootFs"])
        assert list(sized).index("SizeRw") == list(sized).index("GraphDriver") + 1
        assert "SizeRw" not in daemon.request("GET", f"/containers/{cid}/json").json()
        only = daemon.request("GET", "/system/df?type=image").json()
        assert set(only) == {"LayersSize", "Images"}
        assert daemon.request("GET", "/system/df?type=bogus").status == 400
    finally:
        daemon.request("DELETE", f"/containers/{cid}?force=1")


def test_the_daemon_logged_no_error(daemon: Daemon) -> None:
    assert daemon.errors() == [], daemon.tail(80)
