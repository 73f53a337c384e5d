"""Stats samples and their JSON, update merging and checks, disk-use helpers (no daemon)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.apitypes.stats import stats_json
from dockyard.apitypes.update import parse_update
from dockyard.daemon.containers.config import (
    ContainerConfig,
    HostConfig,
    Resources,
    RestartPolicy,
)
from dockyard.daemon.containers.model import Container
from dockyard.daemon.containers.stats import (
    effective_limit,
    sample_of,
    since_start,
    system_cpu_ns,
)
from dockyard.daemon.containers.update import check_request, live_resources, merge
from dockyard.daemon.diskuse import log_bytes
from dockyard.daemon.resourcetypes import StatsSample, UpdateRequest
from dockyard.runtime import cgroups

MB = 1 << 20


def test_system_cpu_ns_sums_seven_fields(tmp_path: Path) -> None:
    p = tmp_path / "stat"
    p.write_text("cpu  100 1 50 1000 5 2 3 99 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
    hz = os.sysconf("SC_CLK_TCK")
    assert system_cpu_ns(str(p)) == (100 + 1 + 50 + 1000 + 5 + 2 + 3) * 1_000_000_000 // hz
    p.write_text("intr 1 2 3\n")
    with pytest.raises(errors.Internal):
        system_cpu_ns(str(p))
    assert system_cpu_ns() > 0


def test_effective_limit_is_the_host_memory_when_unlimited_or_above() -> None:
    assert effective_limit(None, 8 << 30) == 8 << 30
    assert effective_limit(64 * MB, 8 << 30) == 64 * MB
    assert effective_limit(16 << 30, 8 << 30) == 8 << 30


def test_zero_sample_json_is_dockerds_for_a_stopped_container() -> None:
    doc = stats_json(StatsSample("abc", "/box"))
    assert doc["read"] == doc["preread"] == "0001-01-01T00:00:00Z"
    assert doc["memory_stats"] == {} and doc["pids_stats"] == {}
    assert doc["cpu_stats"] == {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0,
                                              "usage_in_usermode": 0},
                                "throttling_data": {"periods": 0, "throttled_periods": 0,
                                                    "throttled_time": 0}}
    assert doc["blkio_stats"]["io_service_bytes_recursive"] is None
    assert (doc["name"], doc["id"], doc["num_procs"]) == ("/box", "abc", 0)


def test_running_sample_json_and_since_start() -> None:
    c = Container("abc", "box", 0, "sha256:x", ContainerConfig(), HostConfig(), "sleep", ())
    st = cgroups.CgroupStats(
        cgroups.MemoryStats(usage=5 * MB, max_usage=6 * MB, limit=None,
                            stat={"total_inactive_file": MB}),
        cgroups.CPUStats(3_000_000_000, (1, 2), 1_000, 2_000,
                         cgroups.ThrottlingStats(4, 3, 2)),
        cgroups.PidsStats(3, 100),
        cgroups.BlkioStats((cgroups.BlkioEntry(8, 0, "Read", 4096),)))
    s = sample_of(c, st, 2_000_000_000_000_000_000, 10**13, 2, 8 << 30)
    doc = stats_json(s)
    assert doc["name"] == "/box"
    assert doc["cpu_stats"] == {
        "cpu_usage": {"total_usage": 3_000_000_000, "percpu_usage": [1, 2],
                      "usage_in_kernelmode": 2_000, "usage_in_usermode": 1_000},
        "system_cpu_usage": 10**13, "online_cpus": 2,
        "throttling_data": {"periods": 4, "throttled_periods": 3, "throttled_time": 2}}
    assert doc["memory_stats"] == {"usage": 5 * MB, "max_usage": 6 * MB,
                                   "stats": {"total_inactive_file": MB}, "limit": 8 << 30}
    assert doc["pids_stats"] == {"current": 3, "limit": 100}
    assert doc["blkio_stats"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 4096}]
    # stream=false: the previous read is the start, 10 s before on every host CPU
    started = s.read_ns - 10_000_000_000
    pre = since_start(s, started)
    assert pre.pre_read_ns == started and pre.precpu.total_ns == 0
    ncpu = os.cpu_count() or 1
    assert pre.precpu.system_ns == 10**13 - 10_000_000_000 * ncpu
    # the CPU % docker stats computes: the average since start
    percent = (3_000_000_000 / (10**13 - pre.precpu.system_ns)) * 2 * 100
    assert percent == pytest.approx(30.0 * 2 / ncpu)
    assert since_start(StatsSample("a", "/a"), started) == StatsSample("a", "/a")


def test_merge_changes_only_the_fields_given() -> None:
    r = Resources(memory=64 * MB, cpu_shares=512, pids_limit=20)
    new = merge(r, UpdateRequest(memory=100 * MB))
    # Docker's stored swap for "--memory 64m" alone: twice the memory
    assert (new.memory, new.memory_swap, new.cpu_shares, new.pids_limit) == \
        (100 * MB, 128 * MB, 512, 20)
    assert merge(r, UpdateRequest(pids_limit=-1)).pids_limit is None
    assert merge(r, UpdateRequest(nano_cpus=500_000_000)).nano_cpus == 500_000_000
    with pytest.raises(errors.Conflict, match="smaller than already set memoryswap"):
        merge(r, UpdateRequest(memory=200 * MB))
    assert merge(r, UpdateRequest(memory=200 * MB, memory_swap=400 * MB)).memory_swap == \
        400 * MB
    assert merge(Resources(), UpdateRequest(memory=200 * MB)).memory == 200 * MB
    with pytest.raises(errors.Conflict, match="CPU Quota cannot be updated"):
        merge(Resources(nano_cpus=10**9), UpdateRequest(cpu_quota=50_000))
    with pytest.raises(errors.Conflict, match="Nano CPUs cannot be updated"):
        merge(Resources(cpu_period=50_000), UpdateRequest(nano_cpus=10**9))
    with pytest.raises(errors.InvalidArgument, match="memory reservation"):
        merge(r, UpdateRequest(memory_reservation=100 * MB))


@pytest.mark.parametrize(("req", "message"), [
    (UpdateRequest(memory=4 * MB), "Minimum memory limit allowed is 6MB"),
    (UpdateRequest(memory_reservation=MB), "Minimum memory reservation allowed is 6MB"),
    (UpdateRequest(memory=64 * MB, memory_swap=32 * MB), "Minimum memoryswap limit"),
    (UpdateRequest(nano_cpus=1000 * 10**9), "Range of CPUs is from 0.01"),
    (UpdateRequest(cpu_period=10), "CPU cfs period can not be less than 1ms"),
    (UpdateRequest(cpu_quota=10), "CPU cfs quota can not be less than 1ms"),
    (UpdateRequest(cpuset_cpus="0-999"), "Requested CPUs are not available"),
    (UpdateRequest(cpuset_cpus="a"), "Invalid value a for cpuset cpus"),
    (UpdateRequest(blkio_weight=5), "Range of blkio weight is from 10 to 1000"),
    (UpdateRequest(restart_policy=RestartPolicy("sometimes")), "invalid restart policy"),
    (UpdateRequest(restart_policy=RestartPolicy("always", 3)), "maximum retry count"),
])
def test_check_request_uses_dockers_words(req: UpdateRequest, message: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=message):
        check_request(req, blkio_weight=True)


def test_live_resources_lift_the_pids_limit() -> None:
    assert live_resources(Resources(), swap_accounting=True) == {"pids": {"limit": -1}}
    out = live_resources(Resources(memory=64 * MB, nano_cpus=5 * 10**8, pids_limit=9),
                         swap_accounting=True)
    assert out["memory"] == {"limit": 64 * MB, "swap": 128 * MB}
    assert out["cpu"] == {"period": 100_000, "quota": 50_000}
    assert out["pids"] == {"limit": 9}


def test_parse_update_reads_the_clis_body() -> None:
    body = {"Memory": 128 * MB, "MemorySwap": 0, "NanoCpus": 0, "CpuShares": 0,
            "PidsLimit": None, "Ulimits": None, "KernelMemory": 0, "MemorySwappiness": None,
            "RestartPolicy": {"Name": "", "MaximumRetryCount": 0}}
    u = parse_update(body)
    assert u == UpdateRequest(memory=128 * MB)
    u = parse_update({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
                      "PidsLimit": 0})
    assert u.restart_policy == RestartPolicy("on-failure", 3) and u.pids_limit == 0
    with pytest.raises(errors.InvalidArgument, match="Devices"):
        parse_update({"Devices": [{"PathOnHost": "/dev/sda"}]})
    with pytest.raises(errors.InvalidArgument):
        parse_update({"Memory": "lots"})


def test_log_bytes_count_rotated_files(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    assert log_bytes(str(log)) == 0
    log.write_bytes(b"x" * 10)
    (tmp_path / "c-json.log.1").write_bytes(b"y" * 5)
    assert log_bytes(str(log)) == 15


def test_image_prune_until_takes_go_durations() -> None:
    from dockyard.image.naming import parse_until

    assert parse_until("1.5h", 10_000.0) == 10_000.0 - 5400
    assert parse_until("2h45m", 20_000.0) == 20_000.0 - 9900
    assert parse_until("500ms", 1.0) == 0.5
    assert parse_until("1700000000.5") == 1_700_000_000.5
    with pytest.raises(errors.InvalidArgument):
        parse_until("yesterday")
