"""``POST /containers/{id}/update``: new resource limits (and restart policy) for a
container, running or not (moby ``daemon/update.go`` and ``container.UpdateContainer``).

Order of work, under the container's lock::

    check the request (Docker's 400s: "Minimum memory limit allowed is 6MB", ...)
    → merge into the container's resources (only the fields given: 0/"" leave a value
      alone; a pids limit <= 0 lifts the limit), with Docker's 409s for conflicts
      (nano CPUs against a CPU period/quota, memory above the memory+swap limit)
    → running or paused: write the merged resources to the live cgroup (a refusal, such
      as a memory limit below what the container uses, is "Cannot update container <id>:
      ..." and nothing is recorded)
    → record the new host config (so the next start applies the same) → "update" event

Swap: Docker stores ``MemorySwap`` as twice ``Memory`` when a container is created with a
memory limit only, so a later memory update cannot go above that without a new
``MemorySwap``; dockyard keeps ``MemorySwap`` 0 in that case and materialises the same
2x value when the memory is first updated, so the limits and the error are Docker's.
Unlike dockerd, a memory limit given to a container created without one (swap 0) or with
unlimited swap (-1) is accepted without ``MemorySwap``.

The restart policy is only recorded (the restart manager reads it from the record).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import replace

from dockyard import errors
from dockyard.daemon.containers.config import Resources
from dockyard.daemon.containers.create import MIN_MEMORY, RESTART_POLICIES, check_cpusets
from dockyard.daemon.containers.model import Container, Status
from dockyard.daemon.containers.runner import Runner
from dockyard.daemon.containers.spec import linux_resources
from dockyard.daemon.containers.table import Table
from dockyard.daemon.resourcetypes import UpdateRequest
from dockyard.oci.runtime_spec import parse_resources
from dockyard.runtime import cgroups

log = logging.getLogger(__name__)


def check_request(u: UpdateRequest, *, blkio_weight: bool) -> None:
    """Docker's checks of an update's values on their own (400s, Docker's words)."""
    bad = errors.InvalidArgument
    if u.memory and u.memory < MIN_MEMORY:
        raise bad("Minimum memory limit allowed is 6MB")
    if u.memory_reservation and u.memory_reservation < MIN_MEMORY:
        raise bad("Minimum memory reservation allowed is 6MB")
    if u.memory > 0 and u.memory_swap > 0 and u.memory_swap < u.memory:
        raise bad("Minimum memoryswap limit should be larger than memory limit, see usage")
    if u.memory > 0 and u.memory_reservation > 0 and u.memory < u.memory_reservation:
        raise bad("Minimum memory limit can not be less than memory reservation limit, "
                  "see usage")
    if u.memory_swap < -1:
        raise bad(f"invalid memory swap limit {u.memory_swap}")
    ncpu = os.cpu_count() or 1
    if u.nano_cpus < 0 or u.nano_cpus > ncpu * 1_000_000_000:
        raise bad(f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs "
                  "available")
    if u.nano_cpus and (u.cpu_period or u.cpu_quota):
        raise bad("Conflicting options: Nano CPUs and CPU Period cannot both be set"
                  if u.cpu_period else
                  "Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if u.cpu_period and not 1000 <= u.cpu_period <= 1_000_000:
        raise bad("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s "
                  "(i.e. 1000000)")
    if u.cpu_quota and 0 < u.cpu_quota < 1000:
        raise bad("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if u.cpu_shares < 0:
        raise bad("CpuShares: must not be negative")
    check_cpusets(u.cpuset_cpus, u.cpuset_mems)
    if u.blkio_weight:
        if not 10 <= u.blkio_weight <= 1000:
            raise bad("Range of blkio weight is from 10 to 1000")
        if not blkio_weight:
            raise bad("Your kernel does not support Block I/O weight or the cgroup is not "
                      "mounted. Weight discarded.")
    rp = u.restart_policy
    if rp is not None:
        if rp.name not in RESTART_POLICIES:
            raise bad(f"invalid restart policy '{rp.name}'")
        if rp.maximum_retry_count and rp.name != "on-failure":
            raise bad("invalid restart policy: maximum retry count can only be used with "
                      "'on-failure'")
        if rp.maximum_retry_count < 0:
            raise bad("invalid restart policy: maximum retry count cannot be negative")


def merge(r: Resources, u: UpdateRequest) -> Resources:
    """The container's resources with the update's given fields (moby
    ``UpdateContainer``); 409 for what conflicts with the values already set."""
    conflict = errors.Conflict
    if u.nano_cpus > 0 and r.cpu_period > 0:
        raise conflict("Conflicting options: Nano CPUs cannot be updated as CPU Period has "
                       "already been set")
    if u.nano_cpus > 0 and r.cpu_quota > 0:
        raise conflict("Conflicting options: Nano CPUs cannot be updated as CPU Quota has "
                       "already been set")
    if u.cpu_period > 0 and r.nano_cpus > 0:
        raise conflict("Conflicting options: CPU Period cannot be updated as NanoCPUs has "
                       "already been set")
    if u.cpu_quota > 0 and r.nano_cpus > 0:
        raise conflict("Conflicting options: CPU Quota cannot be updated as NanoCPUs has "
                       "already been set")
    new = r
    for attr in ("blkio_weight", "cpu_shares", "nano_cpus", "cpu_period", "cpu_quota",
                 "cpuset_cpus", "cpuset_mems", "memory_reservation"):
        value = getattr(u, attr)
        if value:
            new = replace(new, **{attr: value})
    swap = r.memory_swap if r.memory_swap else (2 * r.memory if r.memory > 0 else 0)
    if u.memory:
        if u.memory_swap == 0 and swap > 0 and u.memory > swap:
            raise conflict("Memory limit should be smaller than already set memoryswap limit, "
                           "update the memoryswap at the same time")
        new = replace(new, memory=u.memory, memory_swap=swap)
    if u.memory_swap:
        if u.memory_swap > 0 and not new.memory:
            raise errors.InvalidArgument("You should always set the Memory limit when using "
                                         "Memoryswap limit, see usage")
        if u.memory_swap > 0 and u.memory_swap < new.memory:
            raise errors.InvalidArgument("Minimum memoryswap limit should be larger than "
                                         "memory limit, see usage")
        new = replace(new, memory_swap=u.memory_swap)
    if new.memory and new.memory_reservation and new.memory < new.memory_reservation:
        raise errors.InvalidArgument("Minimum memory limit can not be less than memory "
                                     "reservation limit, see usage")
    if u.pids_limit is not None:
        new = replace(new, pids_limit=u.pids_limit if u.pids_limit > 0 else None)
    return new


def live_resources(r: Resources, *, swap_accounting: bool) -> dict[str, object]:
    """The OCI ``linux.resources`` to write to a running container's cgroup: the start's,
    plus an explicit "no pids limit" (a start leaves it out; an update may lift one)."""
    out: dict[str, object] = linux_resources(r, swap_accounting=swap_accounting)
    if r.pids_limit is None:
        out["pids"] = {"limit": -1}
    return out


class ContainerUpdater:
    """The daemon's ``update`` backend."""

    def __init__(self, table: Table, runner: Runner, *, blkio_weight: bool) -> None:
        self.table = table
        self.runner = runner
        self.blkio_weight = blkio_weight

    async def update(self, ref: str, u: UpdateRequest) -> tuple[str, ...]:
        """Apply ``u``; Docker's warnings (none)."""
        entry = self.table.find(ref)
        check_request(u, blkio_weight=self.blkio_weight)
        async with entry.lock:
            c = entry.container
            if entry.removing or entry.gone:
                raise errors.Conflict(f"Cannot update container {c.id}: container is marked "
                                      "for removal")
            hc = c.host_config
            rp = u.restart_policy
            if rp is not None and rp.name and hc.auto_remove and rp.name != "no":
                raise errors.Conflict("Restart policy cannot be updated because AutoRemove is "
                                      "enabled for the container")
            try:
                resources = merge(hc.resources, u)
            except errors.Conflict as exc:  # moby's UpdateContainer errors are wrapped
                raise errors.Conflict(f"Cannot update container {c.id}: {exc}") from None
            if c.state.status in (Status.RUNNING, Status.PAUSED) \
                    and resources != hc.resources:
                await asyncio.to_thread(self._apply, c, resources)
            new_hc = replace(hc, resources=resources)
            if rp is not None and rp.name:
                new_hc = replace(new_hc, restart_policy=rp)
            await self.runner.save(entry, replace(c, host_config=new_hc))
        self.runner.event(entry.container, "update")
        log.info("updated container %s", c.short_id)
        return ()

    def _apply(self, c: Container, resources: Resources) -> None:
        spec = live_resources(resources, swap_accounting=self.runner.swap_accounting)
        manager = cgroups.new_manager(self.runner.cgroup_path(c), c.id)
        try:
            manager.update(parse_resources(spec))
        except errors.DockyardError as exc:
            raise type(exc)(f"Cannot update container {c.id}: {exc}") from exc
