"""Checking resources and converting them for v2; parsing stats files."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci.runtime_spec import (
    BlockIOResources,
    CPUResources,
    DeviceRule,
    MemoryResources,
    Resources,
)
from dockyard.runtime.cgroups import stats
from dockyard.runtime.cgroups.resources import (
    Plan,
    cpu_weight,
    io_weight,
    memory_plan,
    swap_v2,
)


def test_memory_plan_zero_is_unset() -> None:
    mp = memory_plan(MemoryResources(limit=0, swap=0, reservation=0))
    assert mp is not None and not mp.sets_limits


@pytest.mark.parametrize("mem", [
    MemoryResources(limit=-2),
    MemoryResources(limit=100, swap=50),
    MemoryResources(swappiness=101),
    MemoryResources(reservation=-5),
])
def test_memory_plan_refuses(mem: MemoryResources) -> None:
    with pytest.raises(InvalidArgument, match=r"linux\.resources\.memory"):
        memory_plan(mem)


@pytest.mark.parametrize(("swap", "limit", "expected"), [
    (None, -1, -1),          # unlimited memory lifts swap too
    (None, 100, None),
    (-1, 100, -1),
    (300, 100, 200),
    (100, 100, 0),           # same value: no swap
    (300, -1, 300),
])
def test_swap_v2(swap: int | None, limit: int | None, expected: int | None) -> None:
    assert swap_v2(swap, limit) == expected


def test_swap_v2_refuses() -> None:
    with pytest.raises(InvalidArgument, match="needs a memory limit"):
        swap_v2(300, None)
    with pytest.raises(InvalidArgument, match="must not be below"):
        swap_v2(50, 100)


def test_cpu_weight_matches_runc() -> None:
    assert [cpu_weight(s) for s in (2, 512, 1024, 2048, 262144, 1 << 20)] == \
        [1, 59, 100, 174, 10000, 10000]


def test_io_weight() -> None:
    assert [io_weight(w) for w in (10, 500, 1000, 1)] == [1, 4950, 10000, 1]


@pytest.mark.parametrize(("res", "version", "match"), [
    (Resources(cpu=CPUResources(quota=-5)), 1, "quota"),
    (Resources(cpu=CPUResources(cpus="0-a")), 1, "cpus"),
    (Resources(cpu=CPUResources(idle=2)), 2, "idle"),
    (Resources(cpu=CPUResources(realtime_runtime=1000)), 2, "realtime"),
    (Resources(block_io=BlockIOResources(weight=5000)), 1, "weight"),
    (Resources(unified=(("memory.max", "1G"),)), 1, "needs cgroup v2"),
    (Resources(unified=(("../memory.max", "1G"),)), 2, "not a cgroup file"),
    (Resources(unified=(("cgroup.procs", "1"),)), 2, "cannot be set"),
    (Resources(devices=(DeviceRule(allow=True, type="q"),)), 1, r"devices\[0\]"),
])
def test_plan_check_refuses(res: Resources, version: int, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        Plan.check(res, version)


def test_plan_check_accepts_v1_realtime() -> None:
    Plan.check(Resources(cpu=CPUResources(realtime_runtime=950000, realtime_period=1000000)), 1)


# --------------------------------------------------------------------------- stats parsing


def put(d: Path, **files: str) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / name.replace("__", ".")).write_text(text)


def test_memory_v1(tmp_path: Path) -> None:
    put(tmp_path, memory__usage_in_bytes="100\n", memory__max_usage_in_bytes="200\n",
        memory__limit_in_bytes="9223372036854771712\n", memory__failcnt="3\n",
        memory__stat="cache 10\nrss 90\n")
    m = stats.memory_v1(str(tmp_path))
    assert (m.usage, m.max_usage, m.limit, m.failcnt) == (100, 200, None, 3)
    assert m.swap_usage == 100 and m.swap_limit is None  # no memsw: same as memory
    assert m.stat == {"cache": 10, "rss": 90}
    assert stats.memory_v1(None) == stats.MemoryStats()


def test_memory_v1_missing_cgroup(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        stats.memory_v1(str(tmp_path / "gone"))


def test_cpu_v1(tmp_path: Path) -> None:
    acct, cpu = tmp_path / "cpuacct", tmp_path / "cpu"
    put(acct, cpuacct__usage="3000\n", cpuacct__usage_percpu="1000 2000 \n",
        cpuacct__usage_user="2500\n", cpuacct__usage_sys="500\n")
    put(cpu, cpu__stat="nr_periods 10\nnr_throttled 2\nthrottled_time 777\n")
    c = stats.cpu_v1(str(acct), str(cpu))
    assert c == stats.CPUStats(3000, (1000, 2000), 2500, 500, stats.ThrottlingStats(10, 2, 777))


def test_cpu_v1_ticks_fallback(tmp_path: Path) -> None:
    import os
    put(tmp_path, cpuacct__usage="1\n", cpuacct__stat="user 100\nsystem 50\n")
    hz = os.sysconf("SC_CLK_TCK")
    c = stats.cpu_v1(str(tmp_path), None)
    assert c.user_ns == 100 * 10**9 // hz and c.system_ns == 50 * 10**9 // hz


def test_blkio_v1_prefers_files_with_data(tmp_path: Path) -> None:
    put(tmp_path, blkio__bfq__io_service_bytes_recursive="Total 0\n",
        blkio__bfq__io_serviced_recursive="Total 0\n",
        blkio__throttle__io_service_bytes_recursive="8:0 Read 4096\n8:0 Write 8192\nTotal 12288\n",
        blkio__throttle__io_serviced_recursive="8:0 Read 1\n8:0 Write 2\nTotal 3\n")
    b = stats.blkio_v1(str(tmp_path))
    assert b.service_bytes == (stats.BlkioEntry(8, 0, "Read", 4096),
                               stats.BlkioEntry(8, 0, "Write", 8192))
    assert b.serviced[1] == stats.BlkioEntry(8, 0, "Write", 2)


def test_v2_files(tmp_path: Path) -> None:
    put(tmp_path, memory__current="1000\n", memory__max="max\n", memory__peak="5000\n",
        memory__swap__current="10\n", memory__swap__max="max\n",
        memory__events="low 0\nhigh 0\nmax 4\noom 1\noom_kill 2\n",
        memory__stat="anon 900\nfile 100\n",
        cpu__stat="usage_usec 7\nuser_usec 5\nsystem_usec 2\nnr_periods 3\nnr_throttled 1\n"
                  "throttled_usec 9\n",
        pids__current="4\n", pids__max="max\n",
        io__stat="8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n")
    d = str(tmp_path)
    m = stats.memory_v2(d)
    assert (m.usage, m.limit, m.max_usage, m.swap_usage, m.swap_limit, m.failcnt) == \
        (1000, None, 5000, 1010, None, 4)
    assert stats.cpu_v2(d) == stats.CPUStats(7000, (), 5000, 2000, stats.ThrottlingStats(3, 1, 9000))
    assert stats.pids_stats(d) == stats.PidsStats(4, None)
    assert stats.blkio_v2(d).service_bytes == (stats.BlkioEntry(8, 0, "Read", 10),
                                               stats.BlkioEntry(8, 0, "Write", 20))
    assert stats.oom_kills_v2(d) == 2


def test_v2_without_controllers(tmp_path: Path) -> None:
    put(tmp_path, cpu__stat="usage_usec 1\n")
    d = str(tmp_path)
    assert stats.memory_v2(d).usage == 0 and stats.oom_kills_v2(d) == 0
    assert stats.blkio_v2(d) == stats.BlkioStats()
