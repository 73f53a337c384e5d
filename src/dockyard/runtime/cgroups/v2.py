"""The cgroup v2 manager: one directory in the unified hierarchy.

The container's cgroup ``/dockyard/abc`` is ``<mountpoint>/dockyard/abc``. Controllers
are enabled in ``cgroup.subtree_control`` of every ancestor (every controller the level
offers, as runc does, or a given subset), never in the leaf, which holds the processes
(the "no internal processes" rule). Resources are the spec's v1-minded values converted
as runc converts them (``resources.py``); devices are an eBPF program (``devices_bpf.py``);
the freezer is ``cgroup.freeze``, confirmed through ``cgroup.events``.

The manager can be pointed at any cgroup2 mount: on a hybrid host the tree at
``/sys/fs/cgroup/unified`` works for the freezer and device filters even though it has
no resource controllers.
"""

from __future__ import annotations

import os
import time

from dockyard.errors import (
    Conflict,
    DockyardError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from dockyard.oci.runtime_spec import CPUResources, Resources
from dockyard.runtime.cgroups import files, tree
from dockyard.runtime.cgroups.manager import JoinPlan
from dockyard.runtime.cgroups.mounts import DEFAULT_ROOT, Hierarchy, resolve_cgroups_path
from dockyard.runtime.cgroups.resources import (
    MemoryPlan,
    Plan,
    cpu_weight,
    io_weight,
    set_or_none,
    swap_v2,
)

# Not typing's TYPE_CHECKING: the runtime CLI's start-up (dockyard.records).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from collections.abc import Sequence

    from dockyard.runtime.cgroups.stats import CgroupStats


def _log() -> logging.Logger:
    """This module's logger. ``logging`` costs ~7 ms to import, and the runtime CLI's
    start-up matters, so it is loaded only when something is actually logged."""
    import logging

    return logging.getLogger(__name__)

FREEZE_TIMEOUT = 10.0
_DOMAIN_INVALID = ("domain invalid",)


class V2Manager:
    """A container's cgroup in a cgroup2 hierarchy. Construction touches nothing.

    ``mount_root`` is the cgroup shown at the top of the mount (``/`` on a host);
    ``controllers`` limits which controllers are enabled on the ancestors (``None``: all
    that each level offers).
    """

    def __init__(self, path: str, mountpoint: str = DEFAULT_ROOT, *, mount_root: str = "/",
                 controllers: Sequence[str] | None = None) -> None:
        if not path.startswith("/"):
            raise InvalidArgument(f"cgroup path {path!r} must be absolute")
        self._path = resolve_cgroups_path(path, "")
        self._mount = mountpoint
        self._dir = Hierarchy(mountpoint, mount_root, (), 2).dir_for(self._path)
        self._controllers = None if controllers is None else tuple(controllers)
        self._join = (os.path.join(self._dir, "cgroup.procs"),)

    def __repr__(self) -> str:
        return f"V2Manager({self._path!r}, {self._mount!r})"

    @property
    def path(self) -> str:
        return self._path

    @property
    def version(self) -> int:
        return 2

    @property
    def dir(self) -> str:
        """The cgroup's directory."""
        return self._dir

    def _file(self, name: str) -> str:
        return os.path.join(self._dir, name)

    # ----------------------------------------------------------------- lifecycle

    def create(self, resources: Resources | None) -> None:
        plan = Plan.check(resources, 2) if resources is not None else None
        made: list[str] = []
        try:
            made = tree.make_levels(self._mount, self._dir,
                                    lambda d, parent, leaf: self._enable_controllers(parent))
            kind = files.read_optional(self._file("cgroup.type"))
            if kind is not None and kind.strip() in _DOMAIN_INVALID:
                raise FailedPrecondition(
                    f"cgroup {self._dir} is in the 'domain invalid' state (a process lives in "
                    "a parent cgroup); choose another cgroupsPath")
            if self._dir not in made:
                busy = files.procs_recursive(self._dir)
                if busy:
                    raise Conflict(f"cgroup {self._dir} already has processes: {busy[:10]}")
            if plan is not None:
                self._apply(plan)
        except BaseException:
            tree.remove_made(made)
            raise

    def _enable_controllers(self, parent: str) -> None:
        offered = files.read(os.path.join(parent, "cgroup.controllers")).split()
        wanted = offered if self._controllers is None else [
            c for c in self._controllers if c in offered]
        control = os.path.join(parent, "cgroup.subtree_control")
        enabled = set(files.read(control).split())
        missing = [c for c in wanted if c not in enabled]
        if not missing:
            return
        try:
            files.write(control, " ".join("+" + c for c in missing))
        except DockyardError:
            # One by one, so one refused controller (say, a parent with processes of its
            # own) does not keep the others off; a missing one fails clearly when used.
            for c in missing:
                try:
                    files.write(control, "+" + c)
                except DockyardError as e:
                    _log().debug("cannot enable the %s controller in %s: %s", c, parent, e)

    def join_paths(self) -> tuple[str, ...]:
        return self._join

    def join_plan(self) -> JoinPlan:
        return JoinPlan(into=self._dir)

    def add_pid(self, pid: int) -> None:
        tree.write_pid(self._join[0], pid)

    def pids(self) -> list[int]:
        return files.procs_recursive(self._dir)

    def exists(self) -> bool:
        return files.is_dir(self._dir)

    def destroy(self, timeout: float = 5.0) -> None:
        tree.remove_trees((self._dir,), timeout)

    def update(self, resources: Resources) -> None:
        plan = Plan.check(resources, 2)
        self._require()
        self._apply(plan)

    def _require(self) -> None:
        if not self.exists():
            raise NotFound(f"cgroup {self._dir} does not exist")

    # ----------------------------------------------------------------- resources

    def _apply(self, plan: Plan) -> None:
        r = plan.resources
        if r.pids is not None:
            files.write(self._file("pids.max"), "max" if r.pids.limit <= 0 else str(r.pids.limit))
        if plan.memory is not None:
            self._apply_memory(plan.memory)
        weight = set_or_none(r.block_io.weight) if r.block_io is not None else None
        if weight is not None:
            bfq = self._file("io.bfq.weight")
            if os.path.exists(bfq):
                files.write(bfq, str(weight))
            else:
                files.write(self._file("io.weight"), str(io_weight(weight)))
        if r.cpu is not None:
            self._apply_cpu(r.cpu)
        if plan.devices is not None:
            from dockyard.runtime.cgroups import devices_bpf  # ctypes: load on demand

            devices_bpf.attach_device_filter(self._dir, plan.devices)
        for key, value in r.unified:
            files.write(self._file(key), value)

    def _apply_memory(self, mp: MemoryPlan) -> None:
        if mp.swappiness is not None:
            _log().warning("%s: memory swappiness has no cgroup v2 equivalent; ignored", self._dir)
        if mp.disable_oom_killer:
            _log().warning("%s: disabling the OOM killer has no cgroup v2 equivalent; ignored",
                        self._dir)
        if not mp.sets_limits:
            return
        limit = mp.limit
        if limit is not None and limit > 0:
            current = files.read_int_optional(self._file("memory.current"))
            if current is not None and limit < current:
                raise FailedPrecondition(
                    f"{self._file('memory.max')}: cannot set the memory limit to {limit}: "
                    f"current usage {current} is higher")
        if mp.swap is not None or limit == -1:
            base = limit
            if base is None:  # update of swap alone: relative to the current limit
                text = files.read_optional(self._file("memory.max"))
                base = -1 if text is None or text.strip() == "max" else files.parse_int(
                    text, self._file("memory.max"))
            swap = swap_v2(mp.swap, base)
            if swap is not None:
                value = "max" if swap == -1 else str(swap)
                path = self._file("memory.swap.max")
                if os.path.exists(path):
                    files.write(path, value)
                elif value not in ("max", "0"):
                    raise FailedPrecondition(
                        f"{path}: cannot write {value!r}: no swap accounting on this host")
        if limit is not None:
            files.write(self._file("memory.max"), "max" if limit == -1 else str(limit))
        if mp.reservation is not None:
            files.write(self._file("memory.low"),
                        "max" if mp.reservation == -1 else str(mp.reservation))

    def _apply_cpu(self, c: CPUResources) -> None:
        shares = set_or_none(c.shares)
        if shares is not None:
            files.write(self._file("cpu.weight"), str(cpu_weight(shares)))
        quota, period = set_or_none(c.quota), set_or_none(c.period)
        if quota is not None or period is not None:
            q = None if quota is None else ("max" if quota == -1 else str(quota))
            if period is None:
                value = str(q)  # the kernel keeps the current period
            else:
                if q is None:  # keep the current quota
                    q = files.read(self._file("cpu.max")).split()[0]
                value = f"{q} {period}"
            files.write(self._file("cpu.max"), value)
        if c.burst is not None:
            files.write(self._file("cpu.max.burst"), str(c.burst))
        if c.idle is not None:
            files.write(self._file("cpu.idle"), str(c.idle))
        if c.cpus:
            files.write(self._file("cpuset.cpus"), c.cpus)
        if c.mems:
            files.write(self._file("cpuset.mems"), c.mems)

    # ----------------------------------------------------------------- freezer

    def _events(self) -> dict[str, int]:
        path = self._file("cgroup.events")
        return files.parse_flat_keyed(files.read(path), path)

    def _freeze_file(self) -> str:
        path = self._file("cgroup.freeze")
        if not os.path.exists(path):
            self._require()
            raise FailedPrecondition(f"{path}: no cgroup v2 freezer (needs Linux 5.2)")
        return path

    def _wait_frozen(self, want: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        delay = 0.001
        while self._events().get("frozen") != want:
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        return True

    def freeze(self) -> None:
        path = self._freeze_file()
        files.write(path, "1")
        try:
            if self._wait_frozen(1, FREEZE_TIMEOUT):
                return
            raise FailedPrecondition(f"cannot freeze cgroup {self._dir}: not frozen after "
                                     f"{FREEZE_TIMEOUT:.0f}s")
        except BaseException:
            try:
                files.write(path, "0")
            except DockyardError as e:
                _log().warning("thawing %s after a failed freeze: %s", self._dir, e)
            raise

    def thaw(self) -> None:
        files.write(self._freeze_file(), "0")
        if not self._wait_frozen(0, 1.0):
            _log().debug("%s still frozen after thaw: an ancestor is frozen", self._dir)

    def frozen(self) -> bool:
        own = files.read_optional(self._file("cgroup.freeze"))
        if own is None:
            self._require()
            return False
        return own.strip() == "1" and self._events().get("frozen") == 1

    # ----------------------------------------------------------------- stats

    def stats(self) -> CgroupStats:
        from dockyard.runtime.cgroups import stats as _stats  # not on the start-up path

        self._require()
        return _stats.CgroupStats(
            memory=_stats.memory_v2(self._dir),
            cpu=_stats.cpu_v2(self._dir),
            pids=_stats.pids_stats(self._dir),
            blkio=_stats.blkio_v2(self._dir),
        )

    def oom_kill_count(self) -> int:
        from dockyard.runtime.cgroups import stats as _stats  # not on the start-up path

        self._require()
        return _stats.oom_kills_v2(self._dir)

    def v1_binds(self) -> tuple[tuple[str, str], ...]:
        return ()

    def v1_symlinks(self) -> tuple[tuple[str, str], ...]:
        return ()
