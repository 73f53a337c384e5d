"""Resource usage of a cgroup, as immutable values, read from v1 or v2 files.

The shape follows what ``docker stats`` and the Engine API need (runc's ``cgroups.Stats``
trimmed to that): memory usage/limit/peak and the raw ``memory.stat``; CPU time in
nanoseconds, total, per CPU (v1 only), user and system, and CFS throttling; pids; block
I/O bytes per device. v2 numbers are converted to v1 meaning where they differ (swap is
reported as memory+swap, as v1's memsw is). A controller that is not there reads as
zeros; a cgroup that is gone is ``NotFound``.

The values are ``NamedTuple``s, as elsewhere on the runtime's path: dataclasses (and the
``inspect`` import they pull in) cost tens of milliseconds of CLI start-up.
"""

from __future__ import annotations

import os
from types import MappingProxyType

from dockyard.errors import Internal
from dockyard.runtime.cgroups import files

# Not typing's TYPE_CHECKING/NamedTuple: the runtime CLI's start-up (dockyard.records).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import NamedTuple
else:
    from dockyard.records import NamedTuple

# v1 shows "no limit" as PAGE_COUNTER_MAX pages (0x7FFFFFFFFFFFF000 on 4 KiB pages);
# anything this large is unlimited.
_V1_UNLIMITED = 1 << 62


class MemoryStats(NamedTuple):
    """Memory in bytes. ``limit``/``swap_limit`` are ``None`` when unlimited; ``swap_*``
    count memory+swap together (v1's memsw meaning); ``max_usage`` is the peak (0 where
    the kernel does not track it); ``stat`` is ``memory.stat`` as read."""

    usage: int = 0
    max_usage: int = 0
    limit: int | None = None
    swap_usage: int = 0
    swap_limit: int | None = None
    failcnt: int = 0
    stat: Mapping[str, int] = MappingProxyType({})


class ThrottlingStats(NamedTuple):
    """CFS bandwidth throttling: periods elapsed, periods throttled, time throttled (ns)."""

    periods: int = 0
    throttled_periods: int = 0
    throttled_time_ns: int = 0


class CPUStats(NamedTuple):
    """CPU time in nanoseconds; ``per_cpu_ns`` is empty on v2 (not accounted there)."""

    total_usage_ns: int = 0
    per_cpu_ns: tuple[int, ...] = ()
    user_ns: int = 0
    system_ns: int = 0
    throttling: ThrottlingStats = ThrottlingStats()


class PidsStats(NamedTuple):
    """Number of tasks, and the limit (``None`` when unlimited)."""

    current: int = 0
    limit: int | None = None


class BlkioEntry(NamedTuple):
    """One device's counter: ``op`` is ``Read``, ``Write``, ``Sync``, ``Async``, ``Total``..."""

    major: int
    minor: int
    op: str
    value: int


class BlkioStats(NamedTuple):
    """Bytes and operations serviced per device (recursive)."""

    service_bytes: tuple[BlkioEntry, ...] = ()
    serviced: tuple[BlkioEntry, ...] = ()


class CgroupStats(NamedTuple):
    """Everything ``CgroupManager.stats`` reports."""

    memory: MemoryStats = MemoryStats()
    cpu: CPUStats = CPUStats()
    pids: PidsStats = PidsStats()
    blkio: BlkioStats = BlkioStats()


def _int(d: str, name: str) -> int:
    v = files.read_int_optional(os.path.join(d, name))
    return 0 if v is None else v


def _keyed(d: str, name: str) -> dict[str, int]:
    path = os.path.join(d, name)
    text = files.read_optional(path)
    return {} if text is None else files.parse_flat_keyed(text, path)


def _limit_v1(v: int | None) -> int | None:
    return None if v is None or v >= _V1_UNLIMITED else v


def _limit_v2(d: str, name: str) -> int | None:
    path = os.path.join(d, name)
    text = files.read_optional(path)
    return None if text is None else files.parse_limit(text, path)


# --------------------------------------------------------------------------- v1


def memory_v1(d: str | None) -> MemoryStats:
    """From a v1 memory cgroup directory (``None``: controller not mounted)."""
    if d is None:
        return MemoryStats()
    usage = _int(d, "memory.usage_in_bytes")
    memsw = files.read_int_optional(os.path.join(d, "memory.memsw.usage_in_bytes"))
    return MemoryStats(
        usage=usage,
        max_usage=_int(d, "memory.max_usage_in_bytes"),
        limit=_limit_v1(files.read_int_optional(os.path.join(d, "memory.limit_in_bytes"))),
        swap_usage=usage if memsw is None else memsw,
        swap_limit=_limit_v1(files.read_int_optional(os.path.join(d, "memory.memsw.limit_in_bytes"))),
        failcnt=_int(d, "memory.failcnt"),
        stat=_keyed(d, "memory.stat"),
    )


def cpu_v1(cpuacct: str | None, cpu: str | None) -> CPUStats:
    """From the v1 cpuacct and cpu directories (either may be ``None``)."""
    total = user = system = 0
    per_cpu: tuple[int, ...] = ()
    if cpuacct is not None:
        total = _int(cpuacct, "cpuacct.usage")
        path = os.path.join(cpuacct, "cpuacct.usage_percpu")
        text = files.read_optional(path)
        if text is not None:
            per_cpu = tuple(files.parse_int(x, path) for x in text.split())
        u = files.read_int_optional(os.path.join(cpuacct, "cpuacct.usage_user"))
        s = files.read_int_optional(os.path.join(cpuacct, "cpuacct.usage_sys"))
        if u is not None and s is not None:
            user, system = u, s
        else:  # older kernels: cpuacct.stat, in USER_HZ ticks
            ticks = _keyed(cpuacct, "cpuacct.stat")
            hz = os.sysconf("SC_CLK_TCK")
            user = ticks.get("user", 0) * 1_000_000_000 // hz
            system = ticks.get("system", 0) * 1_000_000_000 // hz
    throttling = ThrottlingStats()
    if cpu is not None:
        st = _keyed(cpu, "cpu.stat")
        throttling = ThrottlingStats(st.get("nr_periods", 0), st.get("nr_throttled", 0),
                                     st.get("throttled_time", 0))
    return CPUStats(total, per_cpu, user, system, throttling)


def pids_stats(d: str | None) -> PidsStats:
    """From a pids cgroup directory (the files are the same on v1 and v2)."""
    if d is None:
        return PidsStats()
    return PidsStats(_int(d, "pids.current"), _limit_v2(d, "pids.max"))


def _blkio_entries(path: str, text: str) -> tuple[BlkioEntry, ...]:
    out = []
    for line in text.splitlines():
        parts = line.replace(":", " ").split()
        if not parts or parts[0] == "Total":
            continue
        if len(parts) not in (3, 4):
            raise Internal(f"{path}: malformed line {line!r}")
        op = parts[2] if len(parts) == 4 else ""
        out.append(BlkioEntry(files.parse_int(parts[0], path), files.parse_int(parts[1], path),
                              op, files.parse_int(parts[-1], path)))
    return tuple(out)


_V1_BLKIO_SOURCES = (
    ("blkio.bfq.io_service_bytes_recursive", "blkio.bfq.io_serviced_recursive"),
    ("blkio.io_service_bytes_recursive", "blkio.io_serviced_recursive"),
    ("blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_serviced_recursive"),
    ("blkio.throttle.io_service_bytes", "blkio.throttle.io_serviced"),
)


def blkio_v1(d: str | None) -> BlkioStats:
    """From a v1 blkio directory: the first family of files that has data, in runc's
    order of preference (BFQ, CFQ, throttle recursive, throttle)."""
    if d is None:
        return BlkioStats()
    first: BlkioStats | None = None
    for bytes_name, ops_name in _V1_BLKIO_SOURCES:
        bpath = os.path.join(d, bytes_name)
        text = files.read_optional(bpath)
        if text is None:
            continue
        opath = os.path.join(d, ops_name)
        ops = files.read_optional(opath)
        found = BlkioStats(_blkio_entries(bpath, text),
                           _blkio_entries(opath, ops) if ops is not None else ())
        if found.service_bytes:
            return found
        first = first or found
    return first or BlkioStats()


def oom_kills_v1(d: str | None) -> int:
    """``oom_kill`` of a v1 ``memory.oom_control`` (0 without the controller or the field)."""
    return 0 if d is None else _keyed(d, "memory.oom_control").get("oom_kill", 0)


# --------------------------------------------------------------------------- v2


def memory_v2(d: str) -> MemoryStats:
    """From a v2 cgroup directory; swap reported as memory+swap, as on v1."""
    usage = _int(d, "memory.current")
    limit = _limit_v2(d, "memory.max")
    swap = files.read_int_optional(os.path.join(d, "memory.swap.current"))
    swap_max = _limit_v2(d, "memory.swap.max")
    if swap is None:
        swap_usage, swap_limit = usage, limit
    else:
        swap_usage = usage + swap
        swap_limit = None if swap_max is None or limit is None else swap_max + limit
    return MemoryStats(
        usage=usage,
        max_usage=_int(d, "memory.peak"),
        limit=limit,
        swap_usage=swap_usage,
        swap_limit=swap_limit,
        failcnt=_keyed(d, "memory.events").get("max", 0),
        stat=_keyed(d, "memory.stat"),
    )


def cpu_v2(d: str) -> CPUStats:
    """From a v2 ``cpu.stat`` (microseconds, converted to nanoseconds)."""
    st = _keyed(d, "cpu.stat")
    return CPUStats(
        total_usage_ns=st.get("usage_usec", 0) * 1000,
        user_ns=st.get("user_usec", 0) * 1000,
        system_ns=st.get("system_usec", 0) * 1000,
        throttling=ThrottlingStats(st.get("nr_periods", 0), st.get("nr_throttled", 0),
                                   st.get("throttled_usec", 0) * 1000),
    )


def blkio_v2(d: str) -> BlkioStats:
    """From a v2 ``io.stat`` (``8:0 rbytes=.. wbytes=.. rios=.. wios=..``), mapped to the
    v1 names Read/Write."""
    path = os.path.join(d, "io.stat")
    text = files.read_optional(path)
    if text is None:
        return BlkioStats()
    nbytes: list[BlkioEntry] = []
    nops: list[BlkioEntry] = []
    names = {"rbytes": (nbytes, "Read"), "wbytes": (nbytes, "Write"),
             "rios": (nops, "Read"), "wios": (nops, "Write")}
    for line in text.splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major_s, _, minor_s = parts[0].partition(":")
        major, minor = files.parse_int(major_s, path), files.parse_int(minor_s, path)
        for item in parts[1:]:
            k, _, v = item.partition("=")
            if k in names:
                table, op = names[k]
                table.append(BlkioEntry(major, minor, op, files.parse_int(v, path)))
    return BlkioStats(tuple(nbytes), tuple(nops))


def oom_kills_v2(d: str) -> int:
    """``oom_kill`` of a v2 ``memory.events`` (0 without the memory controller)."""
    return _keyed(d, "memory.events").get("oom_kill", 0)
