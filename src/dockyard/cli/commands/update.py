"""``update``: ``POST /containers/{id}/update`` with the resources and restart policy
given on the command line (only those: a flag not given leaves its value alone)."""

from __future__ import annotations

from dockyard.cli.args import INT, STRING, Flag, Spec
from dockyard.cli.commands.containers import cpath
from dockyard.cli.context import PROG, Context, StatusError
from dockyard.cli.values import memory_swap, nano_cpus, ram_in_bytes, restart_policy

UPDATE = Spec(f"{PROG} update", f"{PROG} update [OPTIONS] CONTAINER [CONTAINER...]",
              "Update configuration of one or more containers", [
                  Flag("blkio-weight", INT, "Block IO (relative weight), between 10 and "
                       "1000, or 0 to disable (default 0)"),
                  Flag("cpu-period", INT, "Limit CPU CFS (Completely Fair Scheduler) period"),
                  Flag("cpu-quota", INT, "Limit CPU CFS (Completely Fair Scheduler) quota"),
                  Flag("cpu-rt-period", INT, "Limit the CPU real-time period in "
                       "microseconds"),
                  Flag("cpu-rt-runtime", INT, "Limit the CPU real-time runtime in "
                       "microseconds"),
                  Flag("cpu-shares", INT, "CPU shares (relative weight)", short="c"),
                  Flag("cpus", STRING, "Number of CPUs", metavar="decimal",
                       convert=nano_cpus),
                  Flag("cpuset-cpus", STRING, "CPUs in which to allow execution (0-3, 0,1)"),
                  Flag("cpuset-mems", STRING, "MEMs in which to allow execution (0-3, 0,1)"),
                  Flag("memory", STRING, "Memory limit", short="m", metavar="bytes",
                       convert=ram_in_bytes),
                  Flag("memory-reservation", STRING, "Memory soft limit", metavar="bytes",
                       convert=ram_in_bytes),
                  Flag("memory-swap", STRING, "Swap limit equal to memory plus swap: -1 to "
                       "enable unlimited swap", metavar="bytes", convert=memory_swap),
                  Flag("pids-limit", INT, "Tune container pids limit (set -1 for "
                       "unlimited)"),
                  Flag("restart", STRING, "Restart policy to apply when a container exits",
                       convert=restart_policy),
              ], min_args=1, aliases=[f"{PROG} container update", f"{PROG} update"])

# flag → (body field, kind): "int" values as parsed, "raw" after the flag's converter.
FIELDS = {
    "blkio-weight": "BlkioWeight", "cpu-period": "CpuPeriod", "cpu-quota": "CpuQuota",
    "cpu-rt-period": "CpuRealtimePeriod", "cpu-rt-runtime": "CpuRealtimeRuntime",
    "cpu-shares": "CpuShares", "cpus": "NanoCpus", "cpuset-cpus": "CpusetCpus",
    "cpuset-mems": "CpusetMems", "memory": "Memory",
    "memory-reservation": "MemoryReservation", "memory-swap": "MemorySwap",
    "pids-limit": "PidsLimit", "restart": "RestartPolicy",
}


def update(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(UPDATE, argv)
    body: dict[str, object] = {}
    for flag, field in FIELDS.items():
        if opts.given(flag):
            body[field] = opts.raw(flag)
    if not body:
        raise StatusError("you must provide one or more flags when using this command", 1)
    client = ctx.client()

    def one(name: str) -> None:
        answer = client.post(cpath(name, "update"), body=body).json() or {}
        for warning in answer.get("Warnings") or []:
            ctx.warn(f"WARNING: {warning}")

    return ctx.each(opts.args, one)
