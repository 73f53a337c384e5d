"""Docker's ``ContainerStatsResponse`` (``GET /containers/{id}/stats``), key for key.

moby's Go types drop zero fields marked ``omitempty`` (``percpu_usage``,
``system_cpu_usage``, ``online_cpus``, every ``memory_stats`` field, ``pids_stats``) and
write the others even when zero; the blkio lists are ``null`` when empty, except on
cgroup v1, where dockerd copies every list (``[]``) for a running container. The zero sample
of a container that does not run is therefore the same JSON dockerd sends for one.
"""

from __future__ import annotations

from typing import Any

from dockyard.apitypes.times import format_ns
from dockyard.daemon.resourcetypes import BlkioEntry, CPUSample, StatsSample

__all__ = ["StatsSample", "stats_json"]

_BLKIO_KEYS = ("io_queue_recursive", "io_service_time_recursive", "io_wait_time_recursive",
               "io_merged_recursive", "io_time_recursive", "sectors_recursive")


def _cpu_json(s: CPUSample) -> dict[str, Any]:
    usage: dict[str, Any] = {"total_usage": s.total_ns}
    if s.per_cpu_ns:
        usage["percpu_usage"] = list(s.per_cpu_ns)
    usage["usage_in_kernelmode"] = s.kernel_ns
    usage["usage_in_usermode"] = s.user_ns
    out: dict[str, Any] = {"cpu_usage": usage}
    if s.system_ns:
        out["system_cpu_usage"] = s.system_ns
    if s.online_cpus:
        out["online_cpus"] = s.online_cpus
    out["throttling_data"] = {"periods": s.periods, "throttled_periods": s.throttled_periods,
                              "throttled_time": s.throttled_ns}
    return out


def _blkio_list(entries: tuple[BlkioEntry, ...], lists: bool) -> list[dict[str, Any]] | None:
    if not entries:
        return [] if lists else None
    return [{"major": e.major, "minor": e.minor, "op": e.op, "value": e.value}
            for e in entries]


def stats_json(s: StatsSample) -> dict[str, Any]:
    """One sample as dockerd writes it (cgroup v1 names; v2 figures are converted)."""
    pids: dict[str, Any] = {}
    if s.pids:
        pids["current"] = s.pids
    if s.pids_limit:
        pids["limit"] = s.pids_limit
    blkio: dict[str, Any] = {
        "io_service_bytes_recursive": _blkio_list(s.blkio_bytes, s.blkio_lists),
        "io_serviced_recursive": _blkio_list(s.blkio_ops, s.blkio_lists),
    }
    blkio.update({key: [] if s.blkio_lists else None for key in _BLKIO_KEYS})
    m = s.memory
    memory: dict[str, Any] = {}
    if s.read_ns:
        for key, value in (("usage", m.usage), ("max_usage", m.max_usage)):
            if value:
                memory[key] = value
        if m.stat:
            memory["stats"] = dict(m.stat)
        if m.failcnt:
            memory["failcnt"] = m.failcnt
        if m.limit:
            memory["limit"] = m.limit
    return {
        "read": format_ns(s.read_ns),
        "preread": format_ns(s.pre_read_ns),
        "pids_stats": pids,
        "blkio_stats": blkio,
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": _cpu_json(s.cpu),
        "precpu_stats": _cpu_json(s.precpu),
        "memory_stats": memory,
        "name": s.name,
        "id": s.id,
    }
