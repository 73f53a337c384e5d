"""V1Manager against a fake cgroup tree in a temporary directory.

A plain directory does not grow interface files on mkdir the way cgroupfs does, so the
fake pre-creates the container's directories with the files a real kernel would show;
``create`` is idempotent on existing directories. Writes are recorded in order (a
recording ``write_raw``) to check the orders that matter to the kernel.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from dockyard.oci.runtime_spec import (
    BlockIOResources,
    CPUResources,
    DeviceRule,
    MemoryResources,
    PidsResources,
    Resources,
)
from dockyard.runtime.cgroups import Hierarchy, V1Manager, files

UNLIMITED = "9223372036854771712\n"
LEAF_FILES: dict[str, dict[str, str]] = {
    "cpu,cpuacct": {"cpu.shares": "1024\n", "cpu.cfs_period_us": "100000\n",
                    "cpu.cfs_quota_us": "-1\n", "cpu.cfs_burst_us": "0\n", "cpu.idle": "0\n",
                    "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
                    "cpuacct.usage": "5\n", "cpuacct.usage_percpu": "2 3\n",
                    "cpuacct.usage_user": "4\n", "cpuacct.usage_sys": "1\n"},
    "cpuset": {"cpuset.cpus": "\n", "cpuset.mems": "\n"},
    "memory": {"memory.limit_in_bytes": UNLIMITED, "memory.memsw.limit_in_bytes": UNLIMITED,
               "memory.soft_limit_in_bytes": UNLIMITED, "memory.swappiness": "60\n",
               "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 7\n",
               "memory.usage_in_bytes": "4096\n", "memory.max_usage_in_bytes": "8192\n",
               "memory.failcnt": "0\n", "memory.stat": "cache 0\nrss 4096\n"},
    "devices": {"devices.list": "a *:* rwm\n", "devices.allow": "", "devices.deny": ""},
    "freezer": {"freezer.state": "THAWED\n", "freezer.self_freezing": "0\n"},
    "pids": {"pids.max": "max\n", "pids.current": "1\n"},
    "blkio": {"blkio.bfq.weight": "100\n"},
    "systemd": {},
}
CONTROLLERS = {"cpu,cpuacct": ("cpu", "cpuacct"), "cpuset": ("cpuset",), "memory": ("memory",),
               "devices": ("devices",), "freezer": ("freezer",), "pids": ("pids",),
               "blkio": ("blkio",), "systemd": ("name=systemd",)}


class Tree:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.hierarchies = tuple(Hierarchy(str(root / name), "/", ctrls, 1)
                                 for name, ctrls in CONTROLLERS.items())
        for name in CONTROLLERS:
            (root / name).mkdir()
            (root / name / "cgroup.procs").write_text("")
        (root / "cpuset" / "cpuset.cpus").write_text("0-3\n")
        (root / "cpuset" / "cpuset.mems").write_text("0\n")

    def leaf(self, path: str) -> None:
        """Pre-create ``path`` (and its parents) in every hierarchy, with interface files."""
        for name in CONTROLLERS:
            cur = self.root / name
            for part in path.strip("/").split("/"):
                cur = cur / part
                cur.mkdir(exist_ok=True)
                (cur / "cgroup.procs").touch()
                for fname, text in LEAF_FILES[name].items():
                    if not (cur / fname).exists():
                        (cur / fname).write_text(text)

    def read(self, hierarchy: str, path: str, name: str) -> str:
        return (self.root / hierarchy / path.strip("/") / name).read_text()


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[tuple[str, str]]]:
    log: list[tuple[str, str]] = []
    real = files.write_raw

    def recording(path: str, value: str) -> None:
        real(path, value)
        log.append((os.path.relpath(path, tmp_path), value))

    def recording_many(pairs: list[tuple[str, str]]) -> None:
        real_many(pairs)
        log.extend((os.path.relpath(path, tmp_path), value) for path, value in pairs)

    real_many = files.write_many
    monkeypatch.setattr(files, "write_raw", recording)
    monkeypatch.setattr(files, "write_many", recording_many)
    yield log


def test_construction_and_join_paths_touch_nothing(tmp_path: Path) -> None:
    hs = (Hierarchy("/nonexistent/memory", "/", ("memory",)),
          Hierarchy("/nonexistent/cpu,cpuacct", "/", ("cpu", "cpuacct")),
          Hierarchy("/nonexistent/unified", "/", (), 2))
    m = V1Manager("/dockyard/abc", hs)
    assert m.join_paths() == ("/nonexistent/memory/dockyard/abc/cgroup.procs",
                              "/nonexistent/cpu,cpuacct/dockyard/abc/cgroup.procs",
                              "/nonexistent/unified/dockyard/abc/cgroup.procs")
    assert m.v1_binds() == (("/nonexistent/memory/dockyard/abc", "memory"),
                            ("/nonexistent/cpu,cpuacct/dockyard/abc", "cpu,cpuacct"))
    assert m.v1_symlinks() == (("cpu", "cpu,cpuacct"), ("cpuacct", "cpu,cpuacct"))
    assert m.version == 1 and not m.exists()


def test_path_must_be_safe() -> None:
    with pytest.raises(InvalidArgument):
        V1Manager("/a/../b", ())
    with pytest.raises(InvalidArgument):
        V1Manager("relative", ())


def test_create_applies_everything(tree: Tree, writes: list[tuple[str, str]]) -> None:
    tree.leaf("/dy/c1")
    m = V1Manager("/dy/c1", tree.hierarchies)
    m.create(Resources(
        devices=(DeviceRule(allow=False), DeviceRule(allow=True, type="c", major=1, minor=3)),
        memory=MemoryResources(limit=1 << 26, swap=1 << 27, reservation=1 << 25, swappiness=0,
                               disable_oom_killer=True),
        cpu=CPUResources(shares=512, quota=50000, period=100000, burst=1000, idle=1, cpus="1",
                         mems="0"),
        pids=PidsResources(limit=0),
        block_io=BlockIOResources(weight=300),
    ))
    r = tree.read
    assert r("cpuset", "/dy", "cpuset.cpus") == "0-3" and r("cpuset", "/dy", "cpuset.mems") == "0"
    assert r("cpuset", "/dy/c1", "cpuset.cpus") == "1"
    assert r("memory", "/dy/c1", "memory.limit_in_bytes") == str(1 << 26)
    assert r("memory", "/dy/c1", "memory.memsw.limit_in_bytes") == str(1 << 27)
    assert r("memory", "/dy/c1", "memory.soft_limit_in_bytes") == str(1 << 25)
    assert r("memory", "/dy/c1", "memory.swappiness") == "0"
    assert r("memory", "/dy/c1", "memory.oom_control") == "1"
    assert r("cpu,cpuacct", "/dy/c1", "cpu.shares") == "512"
    assert r("cpu,cpuacct", "/dy/c1", "cpu.cfs_quota_us") == "50000"
    assert r("cpu,cpuacct", "/dy/c1", "cpu.cfs_burst_us") == "1000"
    assert r("cpu,cpuacct", "/dy/c1", "cpu.idle") == "1"
    assert r("pids", "/dy/c1", "pids.max") == "max"
    assert r("blkio", "/dy/c1", "blkio.bfq.weight") == "300"
    dev = [(p.rsplit("/", 1)[1], v) for p, v in writes if p.startswith("devices/")]
    assert dev == [("devices.deny", "a *:* rwm"), ("devices.allow", "c 1:3 rwm")]
    # cpuset values are in place before anything could join (they come first)
    assert writes[0][0].startswith("cpuset/dy/cpuset.")


def test_memory_order_raising_and_lowering(tree: Tree, writes: list[tuple[str, str]]) -> None:
    tree.leaf("/c")
    m = V1Manager("/c", tree.hierarchies)

    def memory_writes() -> list[tuple[str, str]]:
        out = [(p.rsplit("/", 1)[1], v) for p, v in writes if p.startswith("memory/")]
        writes.clear()
        return out

    m.create(Resources(memory=MemoryResources(limit=100, swap=200)))
    assert memory_writes() == [("memory.limit_in_bytes", "100"),  # from unlimited: lowering
                               ("memory.memsw.limit_in_bytes", "200")]
    m.update(Resources(memory=MemoryResources(limit=1000, swap=2000)))
    assert memory_writes() == [("memory.memsw.limit_in_bytes", "2000"),  # raising
                               ("memory.limit_in_bytes", "1000")]
    m.update(Resources(memory=MemoryResources(limit=50, swap=60)))
    assert memory_writes() == [("memory.limit_in_bytes", "50"),  # lowering
                               ("memory.memsw.limit_in_bytes", "60")]
    m.update(Resources(memory=MemoryResources(limit=-1)))
    assert memory_writes() == [("memory.memsw.limit_in_bytes", "-1"),
                               ("memory.limit_in_bytes", "-1")]


def test_swap_ignored_without_memsw(tree: Tree, writes: list[tuple[str, str]]) -> None:
    tree.leaf("/c")
    os.unlink(tree.root / "memory" / "c" / "memory.memsw.limit_in_bytes")
    V1Manager("/c", tree.hierarchies).create(Resources(memory=MemoryResources(limit=10, swap=20)))
    assert [p for p, _ in writes if p.startswith("memory/")] == ["memory/c/memory.limit_in_bytes"]


def test_shares_read_back(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    tree.leaf("/c")
    real = files.write_raw

    def clamping(path: str, value: str) -> None:
        real(path, "262144" if path.endswith("cpu.shares") else value)

    monkeypatch.setattr(files, "write_raw", clamping)
    with pytest.raises(InvalidArgument, match="maximum allowed is 262144"):
        V1Manager("/c", tree.hierarchies).create(Resources(cpu=CPUResources(shares=10**7)))


def test_missing_file_names_file_and_value(tree: Tree) -> None:
    tree.leaf("/c")
    m = V1Manager("/c", tree.hierarchies)
    with pytest.raises(FailedPrecondition, match=r"cpu\.rt_period_us: cannot write '1000000'"):
        m.update(Resources(cpu=CPUResources(realtime_period=1000000)))


def test_missing_controller(tree: Tree) -> None:
    hs = tuple(h for h in tree.hierarchies if "memory" not in h.controllers)
    tree.leaf("/c")
    with pytest.raises(FailedPrecondition, match="memory cgroup controller is not mounted"):
        V1Manager("/c", hs).update(Resources(memory=MemoryResources(limit=1 << 20)))


def test_failed_create_removes_what_it_made(tree: Tree) -> None:
    # Nothing pre-created: the fake directories have no interface files, so applying
    # fails after the directories were made; they must be gone again.
    m = V1Manager("/new/c", tuple(h for h in tree.hierarchies if "cpuset" not in h.controllers))
    with pytest.raises(FailedPrecondition):
        m.create(Resources(pids=PidsResources(limit=5)))
    for name in CONTROLLERS:
        assert not (tree.root / name / "new").exists(), name


def test_create_refuses_populated_cgroup(tree: Tree) -> None:
    tree.leaf("/c")
    (tree.root / "pids" / "c" / "cgroup.procs").write_text("4242\n")
    with pytest.raises(Conflict, match="4242"):
        V1Manager("/c", tree.hierarchies).create(None)
    assert (tree.root / "pids" / "c").exists()  # not ours to remove


def test_unified_refused_on_v1(tree: Tree) -> None:
    with pytest.raises(InvalidArgument, match="cgroup v2"):
        V1Manager("/c", tree.hierarchies).create(Resources(unified=(("memory.high", "1"),)))


def test_update_needs_cgroup(tree: Tree) -> None:
    with pytest.raises(NotFound):
        V1Manager("/nope", tree.hierarchies).update(Resources(pids=PidsResources(limit=3)))


def test_frozen_and_stats(tree: Tree) -> None:
    tree.leaf("/c")
    m = V1Manager("/c", tree.hierarchies)
    assert not m.frozen()
    (tree.root / "freezer" / "c" / "freezer.state").write_text("FROZEN\n")
    assert not m.frozen()  # frozen through an ancestor only
    (tree.root / "freezer" / "c" / "freezer.self_freezing").write_text("1\n")
    assert m.frozen()
    s = m.stats()
    assert s.memory.usage == 4096 and s.memory.limit is None
    assert s.cpu.total_usage_ns == 5 and s.cpu.per_cpu_ns == (2, 3)
    assert s.pids.current == 1 and s.pids.limit is None
    assert m.oom_kill_count() == 7


def test_pids_recursive(tree: Tree) -> None:
    tree.leaf("/c/sub")
    (tree.root / "freezer" / "c" / "cgroup.procs").write_text("10\n11\n")
    (tree.root / "freezer" / "c" / "sub" / "cgroup.procs").write_text("12\n10\n")
    assert V1Manager("/c", tree.hierarchies).pids() == [10, 11, 12]
    assert V1Manager("/absent", tree.hierarchies).pids() == []


def test_destroy_when_already_gone(tree: Tree) -> None:
    V1Manager("/never/made", tree.hierarchies).destroy(timeout=0.1)
