"""The cgroup v1 manager: one directory per mounted hierarchy.

A container's cgroup ``/dockyard/abc`` is ``<mountpoint>/dockyard/abc`` in every hierarchy
found in the mount table: each controller hierarchy (``memory``, ``cpu,cpuacct``, ...),
``name=systemd``, and in the hybrid layout the cgroup2 tree at ``unified/`` (which runc
joins too). Resources go to the hierarchy of the controller that owns each file.

Lessons taken from runc's ``libcontainer/cgroups/fs``:

* cpuset: a new cgroup starts with empty ``cpuset.cpus``/``cpuset.mems``, and no task can
  join it until they are set, so every new level copies its parent's values (the leaf
  takes the wanted values first, if any) before anything is attached;
* memory: the kernel keeps memory+swap >= memory at all times, so when raising, memsw is
  written before the limit, and when lowering, the limit before memsw; EBUSY on the limit
  means usage is above it, and the error says by how much;
* cpu: a shorter period can be refused until the quota is lowered, so on EINVAL the
  period is written again after the quota; shares are read back, because the kernel
  clamps them silently;
* devices: the wanted state is reached by the fewest writes from the live
  ``devices.list`` (see ``devices.py``), so updates never deny ``/dev/null`` in passing;
* freezer: FREEZING can last while tasks keep forking; the FROZEN write is repeated, with
  an occasional thaw and sleep, until FROZEN is read back.
"""

from __future__ import annotations

import errno
import os
import time

from dockyard.errors import (
    Conflict,
    DockyardError,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
)
from dockyard.oci.runtime_spec import CPUResources, Resources
from dockyard.runtime.cgroups import files, tree
from dockyard.runtime.cgroups.devices import DeviceEmulator, v1_line
from dockyard.runtime.cgroups.manager import JoinPlan
from dockyard.runtime.cgroups.mounts import Hierarchy, resolve_cgroups_path
from dockyard.runtime.cgroups.resources import MemoryPlan, Plan, set_or_none

# Not typing's TYPE_CHECKING: the runtime CLI's start-up (dockyard.records).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Sequence

    from dockyard.runtime.cgroups.stats import CgroupStats


def _log() -> logging.Logger:
    """This module's logger. ``logging`` costs ~7 ms to import, and the runtime CLI's
    start-up matters, so it is loaded only when something is actually logged."""
    import logging

    return logging.getLogger(__name__)

FREEZE_TIMEOUT = 10.0


def _normalize(path: str) -> str:
    if not path.startswith("/"):
        raise InvalidArgument(f"cgroup path {path!r} must be absolute")
    return resolve_cgroups_path(path, "")


class V1Manager:
    """A container's cgroup on a v1 (or hybrid) host. Construction touches nothing."""

    def __init__(self, path: str, hierarchies: Sequence[Hierarchy]) -> None:
        self._path = _normalize(path)
        self._hier = tuple(hierarchies)
        self._dirs = tuple(h.dir_for(self._path) for h in self._hier)
        self._ctl: dict[str, str] = {}
        for h, d in zip(self._hier, self._dirs, strict=True):
            for c in h.controllers:
                self._ctl.setdefault(c, d)
        self._join = tuple(os.path.join(d, "cgroup.procs") for d in self._dirs)

    def __repr__(self) -> str:
        return f"V1Manager({self._path!r}, {len(self._hier)} hierarchies)"

    @property
    def path(self) -> str:
        return self._path

    @property
    def version(self) -> int:
        return 1

    def dir(self, controller: str) -> str | None:
        """This cgroup's directory in the hierarchy of ``controller`` (``None`` when that
        controller is not mounted)."""
        return self._ctl.get(controller)

    # ----------------------------------------------------------------- lifecycle

    def create(self, resources: Resources | None) -> None:
        plan = Plan.check(resources, 1) if resources is not None else None
        if not self._hier:
            raise FailedPrecondition("no cgroup v1 hierarchy is mounted")
        made: list[str] = []
        try:
            for h, d in zip(self._hier, self._dirs, strict=True):
                hook = self._cpuset_level(plan) if "cpuset" in h.controllers else None
                made.extend(tree.make_levels(h.mountpoint, d, hook))
            for d in self._dirs:
                if d not in made:
                    busy = files.procs_recursive(d)
                    if busy:
                        raise Conflict(f"cgroup {d} already has processes: {busy[:10]}")
            if plan is not None:
                self._apply(plan, creating=True)
        except BaseException:
            tree.remove_made(made)
            raise

    def _cpuset_level(self, plan: Plan | None) -> Callable[[str, str, bool], None]:
        cpu = plan.resources.cpu if plan is not None else None

        def level(d: str, parent: str, is_leaf: bool) -> None:
            for name, wanted in (("cpuset.cpus", cpu.cpus if cpu else None),
                                 ("cpuset.mems", cpu.mems if cpu else None)):
                path = os.path.join(d, name)
                if is_leaf and wanted:
                    files.write(path, wanted)
                elif not files.read(path).strip():
                    files.write(path, files.read(os.path.join(parent, name)).strip())
        return level

    def join_paths(self) -> tuple[str, ...]:
        return self._join

    def join_plan(self) -> JoinPlan:
        pairs = tuple(zip(self._hier, self._dirs, strict=True))
        v2 = [d for h, d in pairs if h.version != 1]
        return JoinPlan(tuple(os.path.join(d, "tasks") for h, d in pairs if h.version == 1),
                        v2[0] if v2 else "", tuple(os.path.join(d, "cgroup.procs") for d in v2[1:]))

    def add_pid(self, pid: int) -> None:
        for p in self._join:
            tree.write_pid(p, pid)

    def pids(self) -> list[int]:
        d = self._ctl.get("freezer") or self._ctl.get("pids")
        if d is None:
            if not self._dirs:
                return []
            d = self._dirs[0]
        return files.procs_recursive(d)

    def exists(self) -> bool:
        return any(files.is_dir(d) for d in self._dirs)

    def destroy(self, timeout: float = 5.0) -> None:
        tree.remove_trees(self._dirs, timeout)

    def update(self, resources: Resources) -> None:
        plan = Plan.check(resources, 1)
        self._require()
        self._apply(plan, creating=False)

    def _require(self) -> None:
        if not self.exists():
            raise NotFound(f"cgroup {self._path} does not exist")

    # ----------------------------------------------------------------- resources

    def _need(self, controller: str, what: str) -> str:
        d = self._ctl.get(controller)
        if d is None:
            raise FailedPrecondition(
                f"cannot apply {what}: the {controller} cgroup controller is not mounted")
        return d

    def _apply(self, plan: Plan, creating: bool) -> None:
        r = plan.resources
        if plan.devices is not None:
            self._apply_devices(plan.devices)
        if plan.memory is not None:
            self._apply_memory(plan.memory)
        if r.cpu is not None:
            self._apply_cpu(r.cpu, creating)
        if r.pids is not None:
            d = self._need("pids", "linux.resources.pids")
            files.write(os.path.join(d, "pids.max"),
                        "max" if r.pids.limit <= 0 else str(r.pids.limit))
        if r.block_io is not None and set_or_none(r.block_io.weight) is not None:
            d = self._need("blkio", "linux.resources.blockIO.weight")
            name = "blkio.weight"
            if not os.path.exists(os.path.join(d, name)):
                name = "blkio.bfq.weight"
            files.write(os.path.join(d, name), str(r.block_io.weight))

    def _apply_devices(self, target: DeviceEmulator) -> None:
        d = self._need("devices", "linux.resources.devices")
        current = DeviceEmulator.from_list(files.read(os.path.join(d, "devices.list")),
                                           os.path.join(d, "devices.list"))
        files.write_many([
            (os.path.join(d, "devices.allow" if rule.allow else "devices.deny"), v1_line(rule))
            for rule in current.transition(target)])

    def _apply_memory(self, mp: MemoryPlan) -> None:
        if not (mp.sets_limits or mp.swappiness is not None or mp.disable_oom_killer is not None):
            return
        d = self._need("memory", "linux.resources.memory")
        memsw = os.path.join(d, "memory.memsw.limit_in_bytes")
        has_memsw = os.path.exists(memsw)
        limit, swap = mp.limit, mp.swap
        if limit == -1 and swap is None and has_memsw:
            swap = -1  # unlimited memory lifts the memory+swap limit too (runc)
        if swap is not None and not has_memsw:
            _log().warning("%s: no swap accounting on this kernel; memory+swap limit %d ignored",
                        d, swap)
            swap = None
        if limit is not None and swap is not None:
            current = files.parse_int(files.read(os.path.join(d, "memory.limit_in_bytes")), d)
            if swap == -1 or current < swap:  # raising: memsw first
                files.write(memsw, str(swap))
                self._write_limit(d, limit)
            else:                              # lowering: limit first
                self._write_limit(d, limit)
                files.write(memsw, str(swap))
        elif limit is not None:
            self._write_limit(d, limit)
        elif swap is not None:
            files.write(memsw, str(swap))
        if mp.reservation is not None:
            files.write(os.path.join(d, "memory.soft_limit_in_bytes"), str(mp.reservation))
        if mp.swappiness is not None:
            files.write(os.path.join(d, "memory.swappiness"), str(mp.swappiness))
        if mp.disable_oom_killer is not None:
            files.write(os.path.join(d, "memory.oom_control"),
                        "1" if mp.disable_oom_killer else "0")

    def _write_limit(self, d: str, limit: int) -> None:
        path = os.path.join(d, "memory.limit_in_bytes")
        try:
            files.write_raw(path, str(limit))
        except OSError as e:
            err = files.translate(e, path, str(limit))
            if e.errno == errno.EBUSY:  # usage above the new limit, nothing left to reclaim
                usage = files.read(os.path.join(d, "memory.usage_in_bytes")).strip()
                peak = files.read(os.path.join(d, "memory.max_usage_in_bytes")).strip()
                raise FailedPrecondition(
                    f"{path}: cannot set the memory limit to {limit}: current usage {usage}, "
                    f"peak usage {peak}") from e
            if isinstance(err, InvalidArgument):
                memsw = files.read_optional(os.path.join(d, "memory.memsw.limit_in_bytes"))
                if memsw is not None:
                    raise InvalidArgument(
                        f"{err} (the memory+swap limit is {memsw.strip()}; the memory limit "
                        "cannot exceed it - set linux.resources.memory.swap too)") from e
            raise err from e

    def _apply_cpu(self, c: CPUResources, creating: bool) -> None:
        shares, quota, period = set_or_none(c.shares), set_or_none(c.quota), set_or_none(c.period)
        rt_period, rt_runtime = set_or_none(c.realtime_period), set_or_none(c.realtime_runtime)
        if any(v is not None for v in (shares, quota, period, c.burst, rt_period, rt_runtime,
                                       c.idle)):
            d = self._need("cpu", "linux.resources.cpu")
            if shares is not None:
                path = os.path.join(d, "cpu.shares")
                files.write(path, str(shares))
                got = files.parse_int(files.read(path), path)
                if got != shares:
                    bound = "maximum" if shares > got else "minimum"
                    raise InvalidArgument(
                        f"linux.resources.cpu.shares: {shares} is out of range; the {bound} "
                        f"allowed is {got}")
            retry_period = False
            if period is not None:
                try:
                    files.write(os.path.join(d, "cpu.cfs_period_us"), str(period))
                except InvalidArgument:
                    # A shorter period can exceed the parent's bandwidth until the quota is
                    # lowered: write the quota, then the period again.
                    if quota is None:
                        raise
                    retry_period = True
            if quota is not None:
                files.write(os.path.join(d, "cpu.cfs_quota_us"), str(quota))
                if retry_period:
                    files.write(os.path.join(d, "cpu.cfs_period_us"), str(period))
            if c.burst is not None:
                files.write(os.path.join(d, "cpu.cfs_burst_us"), str(c.burst))
            if rt_period is not None:
                files.write(os.path.join(d, "cpu.rt_period_us"), str(rt_period))
            if rt_runtime is not None:
                files.write(os.path.join(d, "cpu.rt_runtime_us"), str(rt_runtime))
            if c.idle is not None:
                files.write(os.path.join(d, "cpu.idle"), str(c.idle))
        if not creating and (c.cpus or c.mems):  # create wrote them while making the levels
            d = self._need("cpuset", "linux.resources.cpu.cpus/mems")
            if c.cpus:
                files.write(os.path.join(d, "cpuset.cpus"), c.cpus)
            if c.mems:
                files.write(os.path.join(d, "cpuset.mems"), c.mems)

    # ----------------------------------------------------------------- freezer

    def _freezer_state(self) -> str:
        d = self._need("freezer", "freeze/thaw")
        return os.path.join(d, "freezer.state")

    def freeze(self) -> None:
        state_path = self._freezer_state()
        deadline = time.monotonic() + FREEZE_TIMEOUT
        backoff = 0.1
        try:
            for i in range(1000):
                if i % 50 == 49:
                    # An occasional thaw and pause helps when tasks keep appearing.
                    files.write(state_path, "THAWED")
                    time.sleep(0.01)
                files.write(state_path, "FROZEN")
                if i % 25 == 24:
                    time.sleep(0.00001)
                if i % 200 == 199:
                    time.sleep(max(0.0, min(backoff, deadline - time.monotonic())))
                    backoff *= 2
                state = files.read(state_path).strip()
                if state == "FROZEN":
                    return
                if state != "FREEZING":
                    raise Internal(f"{state_path}: unexpected state {state!r} while freezing")
                if time.monotonic() > deadline:
                    break
            raise FailedPrecondition(
                f"cannot freeze cgroup {self._path}: still FREEZING (tasks keep appearing?)")
        except BaseException:
            # Never leave a cgroup half-frozen behind a failed freeze.
            try:
                files.write(state_path, "THAWED")
            except DockyardError as e:
                _log().warning("thawing %s after a failed freeze: %s", self._path, e)
            raise

    def thaw(self) -> None:
        files.write(self._freezer_state(), "THAWED")

    def frozen(self) -> bool:
        d = self._ctl.get("freezer")
        if d is None:
            return False
        state = files.read(os.path.join(d, "freezer.state")).strip()
        if state != "FROZEN":
            return False
        own = files.read_optional(os.path.join(d, "freezer.self_freezing"))
        return own is None or own.strip() == "1"

    # ----------------------------------------------------------------- stats

    def stats(self) -> CgroupStats:
        from dockyard.runtime.cgroups import stats as _stats  # not on the start-up path

        self._require()
        return _stats.CgroupStats(
            memory=_stats.memory_v1(self._ctl.get("memory")),
            cpu=_stats.cpu_v1(self._ctl.get("cpuacct"), self._ctl.get("cpu")),
            pids=_stats.pids_stats(self._ctl.get("pids")),
            blkio=_stats.blkio_v1(self._ctl.get("blkio")),
        )

    def oom_kill_count(self) -> int:
        from dockyard.runtime.cgroups import stats as _stats  # not on the start-up path

        self._require()
        return _stats.oom_kills_v1(self._ctl.get("memory"))

    # ----------------------------------------------------------------- in-container mount

    def v1_binds(self) -> tuple[tuple[str, str], ...]:
        return tuple((d, h.name) for h, d in zip(self._hier, self._dirs, strict=True)
                     if h.version == 1)

    def v1_symlinks(self) -> tuple[tuple[str, str], ...]:
        out: list[tuple[str, str]] = []
        for h in self._hier:
            if h.version == 1 and "," in h.name:
                out.extend((c, h.name) for c in h.name.split(",") if c and c != h.name)
        return tuple(out)
