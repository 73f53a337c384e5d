#!/usr/bin/env python3
"""The supervisor's memory per idle container, against podman's conmon.

Starts one supervisor, measures it idle (``/proc/<pid>/smaps_rollup``: Rss, Pss and USS =
Private_Clean + Private_Dirty), then starts N idle containers (``sleep 1000`` in a busybox
bundle with Docker's default spec, each holding its stdout/stderr pipes and a json-file
log) and measures it again, for each runtime driver:

- ``runc``        the OCI CLI driver (``runc create``/``start`` as subprocesses);
- ``in-process``  the launcher called in the supervisor (the zygote path), if present.

It prints the growth per container two ways: from the idle supervisor (includes one-time
costs the first container triggers: lazily built caches, the driver object) and the
marginal cost from the first container to the N-th (the figure the goal is about).
Goal (issue 2): under 0.5 MiB per container. Reference: podman's conmon, one process per
container, 0.47 MiB each (documented figure; conmon is not installed here to measure);
docker's containerd-shim-runc-v2, 2.8 MiB each.

Run as root: ``python3 bench/supervisor_memory.py [-n 50] [--drivers runc,in-process]``.
Cleans up after itself (containers, cgroups ``/dockyard-bench/<id>``, temp dirs in /tmp).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.image.busybox import make_busybox_rootfs
from dockyard.runtime.specgen import default_spec
from dockyard.runtime.supervisor.client import (
    RuntimeKind,
    RuntimeSpec,
    SupervisorClient,
    spawn_supervisor,
)

CGROUP_PARENT = "dockyard-bench"
GOAL_MIB = 0.5
CONMON_MIB = 0.47
SHIM_MIB = 2.8


@dataclass(frozen=True, slots=True)
class Memory:
    rss: int  # KiB
    pss: int
    uss: int

    @classmethod
    def of(cls, pid: int) -> Memory:
        fields: dict[str, int] = {}
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            name, _, rest = line.partition(":")
            fields[name] = int(rest.split()[0])
        return cls(fields["Rss"], fields["Pss"],
                   fields["Private_Clean"] + fields["Private_Dirty"])

    def minus(self, other: Memory) -> Memory:
        return Memory(self.rss - other.rss, self.pss - other.pss, self.uss - other.uss)


def settle(pid: int) -> Memory:
    """A reading once the process is idle (a few samples, the last one)."""
    time.sleep(0.3)
    return Memory.of(pid)


def make_bundle(work: Path, rootfs: Path, cid: str) -> Path:
    spec: dict[str, Any] = default_spec(["sleep", "1000"], cgroups_path=f"/{CGROUP_PARENT}/{cid}")
    spec["root"] = {"path": str(rootfs), "readonly": True}
    for rl in spec["process"]["rlimits"]:
        _soft, hard = resource.getrlimit(getattr(resource, rl["type"]))
        if hard != resource.RLIM_INFINITY:
            rl["hard"] = min(rl["hard"], hard)
            rl["soft"] = min(rl["soft"], rl["hard"])
    bundle = work / "bundles" / cid
    bundle.mkdir(parents=True)
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle


def measure(kind: str, n: int, work: Path, rootfs: Path) -> tuple[Memory, Memory, Memory]:
    """(idle, with 1 container, with n containers) for one supervisor using ``kind``."""
    state = work / f"sv-{kind}"
    root = work / f"root-{kind}"
    root.mkdir()
    spec = (RuntimeSpec(RuntimeKind.OCI_CLI, str(root), "runc") if kind == "runc"
            else RuntimeSpec(RuntimeKind.IN_PROCESS, str(root)))
    pid = spawn_supervisor(str(state), log_level="WARNING")
    ids: list[str] = []
    client = SupervisorClient.for_state(str(state))
    try:
        client.ping()
        idle = settle(pid)
        one = idle
        for i in range(n):
            cid = f"mem-{secrets.token_hex(4)}"
            ids.append(cid)
            client.create(cid, str(make_bundle(work, rootfs, cid)), spec,
                          log_path=str(work / "logs" / f"{cid}-json.log"))
            client.start(cid)
            if i == 0:
                one = settle(pid)
        full = settle(pid)
        return idle, one, full
    finally:
        with contextlib.suppress(Exception):
            client.shutdown(force=True)
        client.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        for cid in ids:
            if kind == "runc":
                subprocess.run(["runc", "--root", str(root), "delete", "--force", cid],
                               capture_output=True, check=False)
            else:
                from dockyard.runtime import launcher

                with contextlib.suppress(Exception):
                    launcher.delete(str(root), cid, force=True)
        for h in Path("/sys/fs/cgroup").iterdir():
            for cid in ids:
                with contextlib.suppress(OSError):
                    (h / CGROUP_PARENT / cid).rmdir()
            with contextlib.suppress(OSError):
                (h / CGROUP_PARENT).rmdir()


def mib(kib: float) -> str:
    return f"{kib / 1024:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("-n", type=int, default=50, help="idle containers per supervisor")
    ap.add_argument("--drivers", default="runc,in-process")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/supervisor_memory.py needs root", file=sys.stderr)
        return 2
    if args.n < 2:
        ap.error("-n must be at least 2")
    work = Path(tempfile.mkdtemp(prefix="dy-mem-", dir="/tmp"))
    lines = [f"supervisor memory per idle container ({args.n} x `sleep 1000`, "
             "from /proc/<pid>/smaps_rollup)", ""]
    header = (f"{'driver':<11} {'idle Rss':>9} {'idle Pss':>9} {'N Rss':>8} {'N Pss':>8}   "
              f"{'per container, MiB (Rss / Pss / USS)':<40} goal")
    lines += [header, "-" * len(header)]
    try:
        rootfs = work / "rootfs"
        make_busybox_rootfs(str(rootfs))
        for kind in [d.strip() for d in args.drivers.split(",") if d.strip()]:
            if kind == "in-process":
                try:
                    from dockyard.runtime import launcher  # noqa: F401
                except ModuleNotFoundError:
                    lines.append(f"{kind:<11} NOT MEASURED (dockyard.runtime.launcher missing)")
                    continue
            idle, one, full = measure(kind, args.n, work, rootfs)
            total = full.minus(idle)
            marginal = full.minus(one)
            k = args.n - 1
            per_total = (total.rss / args.n, total.pss / args.n, total.uss / args.n)
            per_marg = (marginal.rss / k, marginal.pss / k, marginal.uss / k)
            met = "met" if per_marg[1] / 1024 < GOAL_MIB else "MISSED"
            lines.append(
                f"{kind:<11} {mib(idle.rss):>9} {mib(idle.pss):>9} {mib(full.rss):>8} "
                f"{mib(full.pss):>8}   marginal {mib(per_marg[0])} / {mib(per_marg[1])} / "
                f"{mib(per_marg[2])}   <{GOAL_MIB} {met}")
            lines.append(f"{'':<11} {'':>9} {'':>9} {'':>8} {'':>8}   "
                         f"from idle {mib(per_total[0])} / {mib(per_total[1])} / "
                         f"{mib(per_total[2])}")
            lines.append(f"{'':<11} {'':>9} {'':>9} {'':>8} {'':>8}   "
                         f"whole supervisor / N {mib(full.rss / args.n)} / "
                         f"{mib(full.pss / args.n)} / {mib(full.uss / args.n)}")
        lines += ["", f"reference: podman conmon {CONMON_MIB} MiB per container (documented; "
                  "one conmon process each)",
                  f"reference: docker containerd-shim-runc-v2 {SHIM_MIB} MiB per container",
                  "(idle and N columns: the whole supervisor in MiB; marginal = growth from "
                  "container 1 to N, divided by N-1; whole / N amortizes the interpreter)"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
