"""Checking ``linux.resources`` before anything is written, and the v1-to-v2 conversions.

The OCI resources were designed around cgroup v1. Conventions kept from runc: for memory
limit/reservation/swap, CPU shares/quota/period and block I/O weight, 0 means "not set";
-1 means "unlimited" where a limit can be lifted; a pids limit <= 0 means "max". Every
value is checked here first, so a bad value fails ``create``/``update`` before the first
write rather than half-way through.

Conversions to v2 follow runc (``cgroups/utils.go``): memory+swap becomes swap alone, CPU
shares become a weight with the quadratic fit runc 1.3 adopted (1024 -> 100, 2 -> 1,
262144 -> 10000), block I/O weight [10, 1000] maps linearly to [1, 10000].
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import CPUResources, MemoryResources, Resources
from dockyard.runtime.cgroups.devices import DeviceEmulator

# Not typing's TYPE_CHECKING/NamedTuple: the runtime CLI's start-up (dockyard.records).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from dockyard.records import NamedTuple

_LIST_RE = r"^\s*\d+(-\d+)?(,\d+(-\d+)?)*\s*$"
_UNIFIED_KEY_RE = r"^[a-z0-9_]+\.[A-Za-z0-9_.-]+$"


def _matches(pattern: str, text: str) -> bool:
    """``re.match``, with ``re`` imported only when a cpuset list or unified key is given:
    not on the runtime CLI's start-up path (re, enum, functools: ~10 ms)."""
    import re

    return re.match(pattern, text) is not None


_UNIFIED_FORBIDDEN = frozenset({"cgroup.procs", "cgroup.threads", "cgroup.subtree_control",
                                "cgroup.kill", "cgroup.freeze", "cgroup.type"})


def set_or_none(v: int | None) -> int | None:
    """``None`` for both "absent" and runc's "0 means unset"."""
    return None if v is None or v == 0 else v


class MemoryPlan(NamedTuple):
    """Checked memory settings: ``None`` = leave alone, -1 = unlimited."""

    limit: int | None = None
    swap: int | None = None          # memory+swap, as in the spec
    reservation: int | None = None
    swappiness: int | None = None
    disable_oom_killer: bool | None = None

    @property
    def sets_limits(self) -> bool:
        return self.limit is not None or self.swap is not None or self.reservation is not None


def memory_plan(m: MemoryResources | None) -> MemoryPlan | None:
    """Check ``linux.resources.memory`` and normalise it."""
    if m is None:
        return None
    limit, swap, reservation = set_or_none(m.limit), set_or_none(m.swap), set_or_none(m.reservation)
    for name, v in (("limit", limit), ("swap", swap), ("reservation", reservation)):
        if v is not None and v < -1:
            raise InvalidArgument(f"linux.resources.memory.{name}: {v} is not a size or -1")
    if limit is not None and limit > 0 and swap is not None and 0 < swap < limit:
        raise InvalidArgument(
            f"linux.resources.memory.swap: memory+swap ({swap}) must not be below the memory "
            f"limit ({limit})")
    if m.swappiness is not None and not 0 <= m.swappiness <= 100:
        raise InvalidArgument(
            f"linux.resources.memory.swappiness: {m.swappiness} is not in 0..100")
    return MemoryPlan(limit, swap, reservation, m.swappiness, m.disable_oom_killer)


def swap_v2(swap: int | None, limit: int | None) -> int | None:
    """The v2 ``memory.swap.max`` (-1 for max) for spec memory+swap ``swap`` and memory
    ``limit`` (the wanted one or, on update, the current one; -1 = unlimited)."""
    if limit == -1 and swap is None:
        return -1  # "unlimited memory" lifts the swap limit too, as on v1
    if swap is None or swap == -1:
        return swap
    if limit is None:
        raise InvalidArgument(
            "linux.resources.memory.swap: cgroup v2 needs a memory limit to set a swap limit")
    if limit == -1:
        return swap
    if swap < limit:
        raise InvalidArgument(
            f"linux.resources.memory.swap: memory+swap ({swap}) must not be below the memory "
            f"limit ({limit})")
    return swap - limit


def check_cpu(c: CPUResources | None) -> None:
    """Check ``linux.resources.cpu``."""
    if c is None:
        return
    p = "linux.resources.cpu"
    if c.shares is not None and c.shares < 0:
        raise InvalidArgument(f"{p}.shares: {c.shares} is negative")
    if c.quota is not None and c.quota < -1:
        raise InvalidArgument(f"{p}.quota: {c.quota} is not a quota or -1")
    for name, v in (("period", c.period), ("burst", c.burst),
                    ("realtimePeriod", c.realtime_period)):
        if v is not None and v < 0:
            raise InvalidArgument(f"{p}.{name}: {v} is negative")
    if c.realtime_runtime is not None and c.realtime_runtime < -1:
        raise InvalidArgument(f"{p}.realtimeRuntime: {c.realtime_runtime} is not a time or -1")
    if c.idle is not None and c.idle not in (0, 1):
        raise InvalidArgument(f"{p}.idle: must be 0 or 1, not {c.idle}")
    for name, s in (("cpus", c.cpus), ("mems", c.mems)):
        if s is not None and not _matches(_LIST_RE, s):
            raise InvalidArgument(f"{p}.{name}: {s!r} is not a list like '0-3,6'")


def cpu_weight(shares: int) -> int:
    """v2 ``cpu.weight`` for v1 ``cpu.shares`` (runc's quadratic fit in log2 space)."""
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    import math  # here alone: a shared library to load, off the runtime CLI's start-up

    lg = math.log2(shares)
    exponent = (lg * lg + 125 * lg) / 612.0 - 7.0 / 34.0
    return min(10000, max(1, math.ceil(10 ** exponent)))


def io_weight(blkio_weight: int) -> int:
    """v2 ``io.weight`` for v1 ``blkio.weight``: [10, 1000] -> [1, 10000]."""
    return max(1, 1 + (blkio_weight - 10) * 9999 // 990)


def check_unified(unified: tuple[tuple[str, str], ...], version: int) -> None:
    """``linux.resources.unified`` is cgroup v2 only; its keys must be plain interface file
    names (no paths), and not the files through which processes or controllers move."""
    if not unified:
        return
    if version != 2:
        raise InvalidArgument("linux.resources.unified: needs cgroup v2 (this host runs v1)")
    for key, value in unified:
        if not _matches(_UNIFIED_KEY_RE, key) or ".." in key:
            raise InvalidArgument(f"linux.resources.unified: {key!r} is not a cgroup file name")
        if key in _UNIFIED_FORBIDDEN:
            raise InvalidArgument(f"linux.resources.unified: {key!r} cannot be set this way")
        if "\0" in value:
            raise InvalidArgument(f"linux.resources.unified.{key}: value contains a NUL byte")


class Plan(NamedTuple):
    """``Resources`` checked for one cgroup version, ready to apply."""

    resources: Resources
    memory: MemoryPlan | None
    devices: DeviceEmulator | None

    @classmethod
    def check(cls, resources: Resources, version: int) -> Plan:
        """Check everything; ``InvalidArgument`` names the first bad field."""
        mem = memory_plan(resources.memory)
        check_cpu(resources.cpu)
        c = resources.cpu
        if version == 2 and c is not None and (set_or_none(c.realtime_runtime) is not None
                                               or set_or_none(c.realtime_period) is not None):
            raise InvalidArgument(
                "linux.resources.cpu.realtimeRuntime/realtimePeriod: not supported on cgroup v2")
        if resources.block_io is not None and resources.block_io.weight is not None \
                and not 0 <= resources.block_io.weight <= 1000:
            raise InvalidArgument(
                f"linux.resources.blockIO.weight: {resources.block_io.weight} not in 10..1000")
        check_unified(resources.unified, version)
        devices = DeviceEmulator.from_rules(resources.devices) if resources.devices else None
        return cls(resources, mem, devices)
