"""V2Manager against a fake unified tree in a temporary directory (see the v1 fake's notes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import FailedPrecondition, InvalidArgument, NotFound
from dockyard.oci.runtime_spec import (
    BlockIOResources,
    CPUResources,
    MemoryResources,
    PidsResources,
    Resources,
)
from dockyard.runtime.cgroups import V2Manager

LEAF = {"cgroup.procs": "", "cgroup.type": "domain\n", "cgroup.controllers": "",
        "cgroup.subtree_control": "", "cgroup.freeze": "0\n",
        "cgroup.events": "populated 0\nfrozen 0\n",
        "memory.max": "max\n", "memory.swap.max": "max\n", "memory.low": "0\n",
        "memory.current": "4096\n", "memory.events": "oom_kill 3\n",
        "cpu.weight": "100\n", "cpu.max": "max 100000\n", "cpu.max.burst": "0\n",
        "cpu.idle": "0\n", "cpu.stat": "usage_usec 10\n", "cpuset.cpus": "", "cpuset.mems": "",
        "pids.max": "max\n", "pids.current": "0\n", "io.weight": "default 100\n",
        "memory.high": "max\n"}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("cpu\n")
    return tmp_path


def leaf(root: Path, path: str, **override: str) -> Path:
    cur = root
    for part in path.strip("/").split("/"):
        cur = cur / part
        cur.mkdir(exist_ok=True)
        for name, text in LEAF.items():
            if not (cur / name).exists():
                (cur / name).write_text(text)
        (cur / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    for name, text in override.items():
        (cur / name.replace("__", ".")).write_text(text)
    return cur


def test_construction_touches_nothing() -> None:
    m = V2Manager("/dockyard/abc", "/nonexistent")
    assert m.join_paths() == ("/nonexistent/dockyard/abc/cgroup.procs",)
    assert m.v1_binds() == () and m.v1_symlinks() == () and m.version == 2
    assert not m.exists()
    with pytest.raises(InvalidArgument):
        V2Manager("rel", "/x")


def test_create_enables_controllers_on_ancestors(root: Path) -> None:
    leaf(root, "/dy/c")
    V2Manager("/dy/c", str(root)).create(None)
    # the root had "cpu" already: only the missing ones are written
    assert (root / "cgroup.subtree_control").read_text() == "+cpuset +io +memory +pids"
    assert (root / "dy" / "cgroup.subtree_control").read_text() == \
        "+cpuset +cpu +io +memory +pids"
    assert (root / "dy" / "c" / "cgroup.subtree_control").read_text() == ""  # never the leaf


def test_create_with_chosen_controllers(root: Path) -> None:
    leaf(root, "/dy/c")
    V2Manager("/dy/c", str(root), controllers=("pids", "rdma")).create(None)
    assert (root / "dy" / "cgroup.subtree_control").read_text() == "+pids"


def test_resources(root: Path) -> None:
    d = leaf(root, "/c")
    m = V2Manager("/c", str(root))
    m.create(Resources(
        memory=MemoryResources(limit=1 << 20, swap=3 << 20, reservation=1 << 19),
        cpu=CPUResources(shares=1024, quota=50000, period=200000, burst=10, idle=1, cpus="0-1",
                         mems="0"),
        pids=PidsResources(limit=-1),
        block_io=BlockIOResources(weight=500),
        unified=(("memory.high", "2000000"),),
    ))
    got = {name: (d / name).read_text() for name in (
        "memory.max", "memory.swap.max", "memory.low", "cpu.weight", "cpu.max", "cpu.max.burst",
        "cpu.idle", "cpuset.cpus", "cpuset.mems", "pids.max", "io.weight", "memory.high")}
    assert got == {"memory.max": str(1 << 20), "memory.swap.max": str(2 << 20),
                   "memory.low": str(1 << 19), "cpu.weight": "100", "cpu.max": "50000 200000",
                   "cpu.max.burst": "10", "cpu.idle": "1", "cpuset.cpus": "0-1",
                   "cpuset.mems": "0", "pids.max": "max", "io.weight": "4950",
                   "memory.high": "2000000"}


def test_cpu_max_keeps_the_other_half(root: Path) -> None:
    d = leaf(root, "/c", cpu__max="30000 100000\n")
    m = V2Manager("/c", str(root))
    m.update(Resources(cpu=CPUResources(period=50000)))
    assert (d / "cpu.max").read_text() == "30000 50000"
    m.update(Resources(cpu=CPUResources(quota=-1)))
    assert (d / "cpu.max").read_text() == "max"  # the kernel keeps the period


def test_memory_unlimited_and_swap_only(root: Path) -> None:
    d = leaf(root, "/c", memory__max="1000\n")
    m = V2Manager("/c", str(root))
    m.update(Resources(memory=MemoryResources(swap=3000)))  # relative to the current limit
    assert (d / "memory.swap.max").read_text() == "2000"
    m.update(Resources(memory=MemoryResources(limit=-1)))
    assert (d / "memory.max").read_text() == "max" and (d / "memory.swap.max").read_text() == "max"


def test_limit_below_usage(root: Path) -> None:
    leaf(root, "/c", memory__current="5000\n")
    with pytest.raises(FailedPrecondition, match="current usage 5000"):
        V2Manager("/c", str(root)).update(Resources(memory=MemoryResources(limit=1000)))


def test_realtime_refused_before_any_write(root: Path) -> None:
    leaf(root, "/c")
    with pytest.raises(InvalidArgument, match="realtime"):
        V2Manager("/c", str(root)).update(
            Resources(pids=PidsResources(limit=5), cpu=CPUResources(realtime_period=1000)))
    assert (root / "c" / "pids.max").read_text() == "max\n"


def test_unified_missing_file(root: Path) -> None:
    leaf(root, "/c")
    with pytest.raises(FailedPrecondition, match=r"hugetlb\.2MB\.max: cannot write '1'"):
        V2Manager("/c", str(root)).update(Resources(unified=(("hugetlb.2MB.max", "1"),)))


def test_domain_invalid(root: Path) -> None:
    leaf(root, "/c", cgroup__type="domain invalid\n")
    with pytest.raises(FailedPrecondition, match="domain invalid"):
        V2Manager("/c", str(root)).create(None)


def test_frozen_and_stats(root: Path) -> None:
    d = leaf(root, "/c")
    m = V2Manager("/c", str(root))
    assert not m.frozen()
    (d / "cgroup.freeze").write_text("1\n")
    assert not m.frozen()  # asked, but not yet frozen
    (d / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    assert m.frozen()
    s = m.stats()
    assert s.memory.usage == 4096 and s.cpu.total_usage_ns == 10000
    assert m.oom_kill_count() == 3
    with pytest.raises(NotFound):
        V2Manager("/gone", str(root)).stats()
