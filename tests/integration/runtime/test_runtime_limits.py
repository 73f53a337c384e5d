"""Resource limits: memory (OOM kill seen as 137), pids (fork fails), cpu and cpuset values.

The cgroup files are read host-side under /sys/fs/cgroup/<controller>/dockyard-test/<id>
while the container is created (not yet started), and inside the container, which sees
its own cgroup at the root of each controller mount.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Runtime

pytestmark = pytest.mark.root

MiB = 1 << 20
HOG = "x=0123456789; while true; do x=$x$x; done"


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def resources(**res: Any) -> Any:
    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["resources"].update(res)
    return edit


def read(rt: Runtime, controller: str, cid: str, name: str) -> str:
    return (rt.cgroup_dir(controller, cid) / name).read_text().strip()


# ---------------------------------------------------------------------------- memory


def test_memory_limit_kills_hog_with_137(oci_runtime: Runtime) -> None:
    edit = resources(memory={"limit": 32 * MiB, "swap": 32 * MiB})
    r = oci_runtime.run(oci_runtime.bundle(sh(HOG), edit), timeout=60)
    assert r.returncode == 137, r


def test_memory_hog_is_oom_killed_inside_its_cgroup(oci_runtime: Runtime) -> None:
    """The limit is in memory.limit_in_bytes (and memsw), and the kill is the OOM killer's."""
    box = oci_runtime.bundle(sh(HOG), resources(memory={"limit": 32 * MiB, "swap": 32 * MiB}))
    r = oci_runtime.create(box)
    assert r.returncode == 0, r
    assert int(read(oci_runtime, "memory", box.id, "memory.limit_in_bytes")) == 32 * MiB
    memsw = oci_runtime.cgroup_dir("memory", box.id) / "memory.memsw.limit_in_bytes"
    if memsw.exists():
        assert int(memsw.read_text()) == 32 * MiB
    assert oci_runtime.start(box.id).returncode == 0
    oci_runtime.wait_status(box.id, "stopped", timeout=60)
    control = dict(line.split() for line in
                   read(oci_runtime, "memory", box.id, "memory.oom_control").splitlines())
    assert int(control["oom_kill"]) >= 1, control
    assert int(read(oci_runtime, "memory", box.id, "memory.max_usage_in_bytes")) <= 32 * MiB


def test_memory_reservation_and_swappiness_in_cgroup_files(oci_runtime: Runtime) -> None:
    edit = resources(memory={"limit": 64 * MiB, "reservation": 16 * MiB, "swappiness": 0})
    box = oci_runtime.bundle(["true"], edit)
    assert oci_runtime.create(box).returncode == 0
    assert int(read(oci_runtime, "memory", box.id, "memory.limit_in_bytes")) == 64 * MiB
    assert int(read(oci_runtime, "memory", box.id, "memory.soft_limit_in_bytes")) == 16 * MiB
    assert read(oci_runtime, "memory", box.id, "memory.swappiness") == "0"


# ---------------------------------------------------------------------------- pids


def test_pids_limit_makes_fork_fail(oci_runtime: Runtime) -> None:
    script = ("cat /sys/fs/cgroup/pids/pids.max; "
              "for i in $(seq 20); do sleep 5 & done; echo not reached")
    r = oci_runtime.run(oci_runtime.bundle(sh(script), resources(pids={"limit": 10})))
    assert r.stdout.splitlines()[0] == "10", r
    assert "can't fork" in r.stderr, r


def test_pids_limit_in_cgroup_file(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["true"], resources(pids={"limit": 42}))
    assert oci_runtime.create(box).returncode == 0
    assert read(oci_runtime, "pids", box.id, "pids.max") == "42"


# ---------------------------------------------------------------------------- cpu


CPU_FILES = ("cpu/cpu.shares", "cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us",
             "cpuset/cpuset.cpus", "cpuset/cpuset.mems")


def test_cpu_shares_quota_and_cpuset_in_cgroup_files(oci_runtime: Runtime) -> None:
    cpu = {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"}
    want = ["512", "50000", "100000", "0", "0"]
    inside = "; ".join(f"cat /sys/fs/cgroup/{f}" for f in CPU_FILES)
    box = oci_runtime.bundle(sh(inside), resources(cpu=cpu))
    assert oci_runtime.create(box).returncode == 0
    host = [read(oci_runtime, controller, box.id, name)
            for controller, name in (f.split("/") for f in CPU_FILES)]
    assert host == want
    assert oci_runtime.start(box.id).returncode == 0
    oci_runtime.wait_status(box.id, "stopped")
    assert box.output().split() == want


def test_cpuset_restricts_affinity(oci_runtime: Runtime) -> None:
    cpus = "1" if (os.cpu_count() or 1) > 1 else "0"
    box = oci_runtime.bundle(["grep", "Cpus_allowed_list", "/proc/self/status"],
                             resources(cpu={"cpus": cpus}))
    r = oci_runtime.run(box)
    assert (r.returncode, r.stdout.split()[-1]) == (0, cpus), r


def test_container_is_in_its_cgroups(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["cat", "/proc/self/cgroup"])
    r = oci_runtime.run(box)
    assert r.returncode == 0, r
    paths = {line.split(":", 2)[1]: line.split(":", 2)[2] for line in r.stdout.splitlines()}
    for controller in ("memory", "pids", "cpu,cpuacct", "cpu", "cpuset", "devices",
                       "freezer", "blkio"):
        if controller in paths:
            assert paths[controller] == box.cgroups_path, (controller, paths)
    assert "memory" in paths and "pids" in paths, paths
