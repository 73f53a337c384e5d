"""Container resource usage: the samples ``GET /containers/{id}/stats`` sends.

A sample is one read of the container's cgroup (``runtime.cgroups``: v1 or v2) beside the
host's CPU time (``/proc/stat``, in nanoseconds, as moby's ``getSystemCPUUsage``), the
CPUs the daemon may use (its affinity, moby's ``online_cpus``) and the host's memory
(which ``docker stats`` shows as the limit of a container without one, as dockerd does).
A container that does not run (or whose cgroup is already gone) gives a zero sample: its
name and id, every figure 0, as dockerd answers.

Three ways to ask, as dockerd has them:

* ``one-shot=true`` (with ``stream=false``): one read, now, with no previous CPU read
  (``precpu_stats`` zero), as dockerd's one-shot. A few cgroup files: well under 50 ms.
* ``stream=false``: dockerd waits for its collector's second tick (1-2 s, moby#23188) to
  fill ``precpu_stats``. dockerd's answer is meant for a CPU percentage of *now*, so ours
  is too, sooner: two reads ``WINDOW`` (0.2 s) apart, the first as ``precpu_stats`` (an
  idle container shows 0 %, whatever it did before). Should the container stop between
  them, the previous read is its start (CPU time 0, the host's CPU time estimated back by
  the elapsed wall time on all CPUs: the average since it started).
* ``stream=true``: a sample every ``INTERVAL`` seconds, the first at once; each carries
  the previous one's CPU figures as ``precpu_stats`` (the first none, as dockerd's first
  frame). The stream ends when the container is removed (or the client leaves).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import replace

from dockyard import errors
from dockyard.daemon.containers.model import Container, Status
from dockyard.daemon.resourcetypes import BlkioEntry, CPUSample, MemorySample, StatsSample
from dockyard.runtime import cgroups

log = logging.getLogger(__name__)

INTERVAL = 1.0
WINDOW = 0.2
"""``stream=false``: seconds between the two reads whose difference is the CPU figure."""
_PROC_STAT = "/proc/stat"
_MEMINFO = "/proc/meminfo"


def system_cpu_ns(path: str = _PROC_STAT) -> int:
    """The host's CPU time in ns: the first seven fields of the ``cpu`` line of /proc/stat
    (user, nice, system, idle, iowait, irq, softirq), in clock ticks, as moby sums them."""
    with open(path, "rb") as f:
        line = f.readline()
    parts = line.split()
    if not parts or parts[0] != b"cpu" or len(parts) < 8:
        raise errors.Internal(f"{path}: unexpected first line {line[:80]!r}")
    ticks = sum(int(x) for x in parts[1:8])
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def host_memory(path: str = _MEMINFO) -> int:
    """``MemTotal`` in bytes (0 if unreadable)."""
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError) as exc:
        log.warning("cannot read the host's memory from %s: %s", path, exc)
    return 0


def online_cpus() -> int:
    """The CPUs this daemon may run on (moby counts its affinity mask)."""
    return len(os.sched_getaffinity(0)) or (os.cpu_count() or 1)


def effective_limit(limit: int | None, host: int) -> int:
    """The cgroup's memory limit, or the host's memory when unlimited or larger."""
    if limit is None or (host and limit > host):
        return host
    return limit


def zero_sample(c: Container) -> StatsSample:
    return StatsSample(c.id, "/" + c.name)


def _blkio(entries: tuple[cgroups.BlkioEntry, ...]) -> tuple[BlkioEntry, ...]:
    return tuple(BlkioEntry(e.major, e.minor, e.op, e.value) for e in entries)


def sample_of(c: Container, st: cgroups.CgroupStats, read_ns: int, system_ns: int,
              cpus: int, host_mem: int, *, v1: bool = False) -> StatsSample:
    """The sample of cgroup stats ``st`` read at ``read_ns``."""
    u, t, m = st.cpu, st.cpu.throttling, st.memory
    cpu = CPUSample(u.total_usage_ns, u.per_cpu_ns, u.user_ns, u.system_ns, t.periods,
                    t.throttled_periods, t.throttled_time_ns, system_ns, cpus)
    memory = MemorySample(m.usage, m.max_usage, effective_limit(m.limit, host_mem),
                          m.failcnt, tuple(m.stat.items()))
    return StatsSample(c.id, "/" + c.name, read_ns, cpu, memory, st.pids.current,
                       st.pids.limit or 0, _blkio(st.blkio.service_bytes),
                       _blkio(st.blkio.serviced), blkio_lists=v1)


def read_sample(c: Container, cgroup_path: str, host_mem: int) -> StatsSample:
    """One read of a running container (blocking: a few small files)."""
    manager = cgroups.new_manager(cgroup_path, c.id)
    try:
        st = manager.stats()
    except errors.NotFound:
        return zero_sample(c)  # exited meanwhile: its cgroup is gone
    return sample_of(c, st, time.time_ns(), system_cpu_ns(), online_cpus(), host_mem,
                     v1=_cgroup_v1())


@functools.cache
def _cgroup_v1() -> bool:
    """The host's cgroup version is 1 (it does not change while the daemon runs)."""
    return cgroups.cgroup_version() == 1


def since_start(sample: StatsSample, started_ns: int) -> StatsSample:
    """``sample`` with ``precpu_stats`` set to the container's start: CPU time 0, the
    host's CPU time estimated back by the wall time elapsed on all its CPUs."""
    if not sample.read_ns or not started_ns or started_ns > sample.read_ns:
        return sample
    elapsed = sample.read_ns - started_ns
    system = max(0, sample.cpu.system_ns - elapsed * (os.cpu_count() or 1))
    return replace(sample, pre_read_ns=started_ns,
                   precpu=CPUSample(system_ns=system, online_cpus=sample.cpu.online_cpus))


class ContainerStats:
    """Reads the samples of one container at a time; the daemon's ``stats`` backend.

    ``find`` resolves a name or id (``NotFound`` when there is none); ``cgroup_path``
    gives a container's cgroup (the runner's)."""

    def __init__(self, find: Callable[[str], Container],
                 cgroup_path: Callable[[Container], str]) -> None:
        self._find = find
        self._cgroup_path = cgroup_path
        self.host_memory = host_memory()

    async def _read(self, c: Container) -> StatsSample:
        if c.state.status not in (Status.RUNNING, Status.PAUSED):
            return zero_sample(c)
        return await asyncio.to_thread(read_sample, c, self._cgroup_path(c), self.host_memory)

    async def stats(self, ref: str, *, stream: bool,
                    one_shot: bool) -> AsyncGenerator[StatsSample, None]:
        """The samples to send (see the module docstring). The container is looked up
        now, so a missing one is ``NotFound`` before anything is sent."""
        c = self._find(ref)
        if one_shot and stream:
            raise errors.InvalidArgument("cannot have stream=true and one-shot=true")
        return self._samples(c, stream, one_shot)

    async def _samples(self, c: Container, stream: bool,
                       one_shot: bool) -> AsyncGenerator[StatsSample, None]:
        if not stream:
            s = await self._read(c)
            if one_shot or not s.read_ns:
                yield s
                return
            await asyncio.sleep(WINDOW)
            now = await self._read(c)
            if now.read_ns:
                yield replace(now, pre_read_ns=s.read_ns, precpu=s.cpu)
            else:
                yield since_start(s, c.state.started_ns)  # stopped meanwhile
            return
        previous: StatsSample | None = None
        while True:
            try:
                c = self._find(c.id)
            except errors.NotFound:
                return  # removed: the stream ends
            s = await self._read(c)
            if previous is not None and previous.read_ns and s.read_ns:
                s = replace(s, pre_read_ns=previous.read_ns, precpu=previous.cpu)
            yield s
            previous = s
            await asyncio.sleep(INTERVAL)
