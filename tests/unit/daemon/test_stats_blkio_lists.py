"""``blkio_stats`` lists as dockerd writes them: on cgroup v1 every list of a running
container is a list (``[]`` when empty: moby copies each one), so a script can iterate
them; a container that does not run (or cgroup v2 without I/O) gets ``null``."""

from __future__ import annotations

from dockyard.apitypes.stats import stats_json
from dockyard.daemon.containers.config import ContainerConfig, HostConfig
from dockyard.daemon.containers.model import Container
from dockyard.daemon.containers.stats import sample_of
from dockyard.daemon.resourcetypes import StatsSample
from dockyard.runtime import cgroups

KEYS = ("io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
        "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
        "io_time_recursive", "sectors_recursive")


def _stats() -> cgroups.CgroupStats:
    return cgroups.CgroupStats(
        cgroups.MemoryStats(usage=1, max_usage=1, limit=None, stat={}),
        cgroups.CPUStats(1, (1,), 1, 1, cgroups.ThrottlingStats(0, 0, 0)),
        cgroups.PidsStats(1, None), cgroups.BlkioStats(()))


def test_v1_lists_are_empty_lists_v2_and_stopped_null() -> None:
    c = Container("abc", "box", 0, "sha256:x", ContainerConfig(), HostConfig(), "sleep", ())
    v1 = stats_json(sample_of(c, _stats(), 10**18, 10**13, 2, 8 << 30, v1=True))
    assert all(v1["blkio_stats"][k] == [] for k in KEYS)
    v2 = stats_json(sample_of(c, _stats(), 10**18, 10**13, 2, 8 << 30))
    assert all(v2["blkio_stats"][k] is None for k in KEYS)
    stopped = stats_json(StatsSample("abc", "/box"))
    assert all(stopped["blkio_stats"][k] is None for k in KEYS)
