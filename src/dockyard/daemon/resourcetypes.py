"""Values of the resource endpoints (stats, update, disk use), shared by the daemon and
``dockyard.apitypes``: frozen dataclasses, no services, no I/O.

The cgroup figures are copied out of ``dockyard.runtime.cgroups``' values by
``dockyard.daemon.containers.stats``, so the wire layer depends on nothing below the
daemon's values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.daemon.containers.config import RestartPolicy


@dataclass(frozen=True, slots=True)
class CPUSample:
    """The CPU half of a read (what ``precpu_stats`` repeats of the previous one); times
    in ns. ``system_ns`` is the host's CPU time over all its CPUs (0: unknown)."""

    total_ns: int = 0
    per_cpu_ns: tuple[int, ...] = ()
    user_ns: int = 0
    kernel_ns: int = 0
    periods: int = 0
    throttled_periods: int = 0
    throttled_ns: int = 0
    system_ns: int = 0
    online_cpus: int = 0


@dataclass(frozen=True, slots=True)
class MemorySample:
    """Bytes; ``limit`` is what ``docker stats`` shows (the cgroup's limit, or the host's
    memory when lower or unlimited); ``stat`` is ``memory.stat`` as read."""

    usage: int = 0
    max_usage: int = 0
    limit: int = 0
    failcnt: int = 0
    stat: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class BlkioEntry:
    """One device's counter (``op``: ``Read``, ``Write``, ``Sync``, ``Async``, ``Total``...)."""

    major: int
    minor: int
    op: str
    value: int


@dataclass(frozen=True, slots=True)
class StatsSample:
    """One read of a container's usage; ``read_ns`` 0 for a container that does not run
    (every figure zero)."""

    id: str
    name: str
    read_ns: int = 0
    cpu: CPUSample = field(default_factory=CPUSample)
    memory: MemorySample = field(default_factory=MemorySample)
    pids: int = 0
    pids_limit: int = 0
    """0: no limit."""
    blkio_bytes: tuple[BlkioEntry, ...] = ()
    blkio_ops: tuple[BlkioEntry, ...] = ()
    blkio_lists: bool = False
    """Every blkio list written, ``[]`` when empty (dockerd on cgroup v1); otherwise an
    empty one is ``null`` (cgroup v2, a container that does not run)."""
    pre_read_ns: int = 0
    precpu: CPUSample = field(default_factory=CPUSample)


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    """``POST /containers/{id}/update``: Docker's ``Resources`` fields dockyard applies
    (0/"": not given; a pids limit <= 0 lifts the limit) and an optional restart policy."""

    memory: int = 0
    memory_swap: int = 0
    memory_reservation: int = 0
    nano_cpus: int = 0
    cpu_shares: int = 0
    cpu_period: int = 0
    cpu_quota: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    pids_limit: int | None = None
    blkio_weight: int = 0
    restart_policy: RestartPolicy | None = None


@dataclass(frozen=True, slots=True)
class ContainerSize:
    """``SizeRw`` (the container's own layer plus its log files) and ``SizeRootFs``
    (that plus its image): see ``dockyard.daemon.diskuse``."""

    rw: int
    root_fs: int


DISK_USAGE_KINDS = ("container", "image", "volume", "build-cache")
"""The ``type`` values of ``GET /system/df``."""
