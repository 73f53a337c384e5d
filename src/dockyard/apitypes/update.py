"""``POST /containers/{id}/update``: Docker's ``Resources`` plus ``RestartPolicy`` in,
``{"Warnings": [...]}`` out.

The docker CLI sends every field of ``Resources`` (zeros for the ones not asked for,
``null`` for the pointers); a field dockyard cannot change is refused when it is not
zero, as at create.
"""

from __future__ import annotations

from typing import Any

from dockyard.apitypes.reader import Obj
from dockyard.daemon.containers.config import RestartPolicy
from dockyard.daemon.resourcetypes import UpdateRequest
from dockyard.errors import InvalidArgument

__all__ = ["UpdateRequest", "parse_update", "update_json"]


def parse_update(doc: Any) -> UpdateRequest:
    body = Obj(doc, "")
    policy = None
    restart = body.child("RestartPolicy")
    if restart is not None:
        policy = RestartPolicy(restart.string("Name"), restart.integer("MaximumRetryCount"))
        restart.finish()
        if not policy.name and not policy.maximum_retry_count:
            policy = None
    pids = body.opt_integer("PidsLimit")
    swappiness = body.opt_integer("MemorySwappiness")
    if swappiness is not None and swappiness != -1:
        body.refuse_unless_zero("MemorySwappiness", "it is set at create only")
    out = UpdateRequest(
        memory=body.integer("Memory"),
        memory_swap=body.integer("MemorySwap"),
        memory_reservation=body.integer("MemoryReservation"),
        nano_cpus=body.integer("NanoCpus"),
        cpu_shares=body.integer("CpuShares"),
        cpu_period=body.integer("CpuPeriod"),
        cpu_quota=body.integer("CpuQuota"),
        cpuset_cpus=body.string("CpusetCpus"),
        cpuset_mems=body.string("CpusetMems"),
        pids_limit=pids,
        blkio_weight=body.integer("BlkioWeight"),
        restart_policy=policy,
    )
    if out.memory < 0:
        raise InvalidArgument(f"Memory: {out.memory} is not a size")
    body.finish(ignore=("MemorySwappiness",))
    return out


def update_json(warnings: tuple[str, ...]) -> dict[str, Any]:
    return {"Warnings": list(warnings)}
