#!/usr/bin/env python3
"""Container start latency: `/bin/true` in a busybox bundle, N times per path, one table.

Rows, all measured in the same run on the same bundle (Docker's default spec):

- ``floor``      ``unshare --fork --pid --mount --uts --ipc --net true``: namespaces only,
                 no rootfs, no cgroups; what no runtime can beat;
- ``runc``       ``runc run``: the reference (about 27 ms on the project's machines);
- ``cold``       ``dockyard-runtime run``: our CLI from a fresh interpreter (the console
                 script's real path, not a pyenv shim);
- ``py``         detail for ``cold``: that script's interpreter, started with its flags,
                 running nothing (``python -IS -c pass``): the part of ``cold`` that is
                 the interpreter's own start-up;
- ``warm``       the supervisor's in-process driver (the zygote the daemon will use):
                 create → start → wait → delete through ``SupervisorClient``, with its
                 pool of spares (pre-forked child1s in pre-made cgroups) refilled between
                 runs, untimed, as the daemon's idle time refills it;
- ``warm0``      the same with no spares (``--spares 0``): the supervisor forks per create;
- ``sv+runc``    the same supervisor calls with the runc CLI driver, for reference.

Every container gets a unique ``linux.cgroupsPath`` (``/dockyard-bench/<id>``) and is
deleted; the timed span of ``run`` rows includes the runtime's own cleanup, as does the
supervisor rows' ``delete``. Goals (issue 2): warm <= 1/2 runc, cold <= runc.

Run as root: ``python3 bench/runtime.py [-n 50] [--rows floor,runc,cold,py,warm,sv+runc]``.
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
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.image.busybox import make_busybox_rootfs
from dockyard.runtime.specgen import default_spec

CGROUP_PARENT = "dockyard-bench"
ALL_ROWS = ("floor", "runc", "cold", "py", "warm", "warm0", "sv+runc")
GOALS = {"warm": 0.5, "cold": 1.0}


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    what: str
    samples: list[float] | None  # seconds; None when the path is not available
    note: str = ""

    def median(self) -> float:
        assert self.samples
        return statistics.median(self.samples)

    def p90(self) -> float:
        assert self.samples
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


class Bench:
    """A temp workspace: one busybox rootfs, a bundle per container, state roots."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.rootfs = work / "rootfs"
        make_busybox_rootfs(str(self.rootfs))
        self.ids: list[str] = []

    def bundle(self, tag: str) -> tuple[str, Path]:
        cid = f"bench-{tag.replace('+', '')}-{secrets.token_hex(4)}"
        self.ids.append(cid)
        spec = default_spec(["/bin/true"], cgroups_path=f"/{CGROUP_PARENT}/{cid}")
        spec["root"] = {"path": str(self.rootfs), "readonly": True}
        for rl in spec["process"]["rlimits"]:  # no CAP_SYS_RESOURCE in the sandbox
            _soft, hard = resource.getrlimit(getattr(resource, rl["type"]))
            if hard != resource.RLIM_INFINITY:
                rl["hard"] = min(rl["hard"], hard)
                rl["soft"] = min(rl["soft"], rl["hard"])
        bundle = self.work / "bundles" / cid
        bundle.mkdir(parents=True)
        (bundle / "config.json").write_text(json.dumps(spec))
        return cid, bundle

    def remove_cgroups(self) -> None:
        base = Path("/sys/fs/cgroup")
        for hierarchy in [base, *base.iterdir()]:
            parent = hierarchy / CGROUP_PARENT
            if not parent.is_dir():
                continue
            for child in parent.iterdir():
                if child.is_dir():
                    with contextlib.suppress(OSError):
                        child.rmdir()
            with contextlib.suppress(OSError):
                parent.rmdir()


def run_quiet(argv: list[str]) -> None:
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {r.returncode}: "
                           f"{r.stderr.decode(errors='replace').strip()}")


# ---------------------------------------------------------------------------- paths

# A path's ``once()`` starts one container and returns the seconds its timed span took
# (bundle writing and untimed cleanup happen inside, outside that span).
Once = Callable[[], float]


@dataclass(frozen=True, slots=True)
class StartPath:
    name: str
    what: str
    once: Once | None
    note: str = ""


def path_floor() -> StartPath:
    what = "unshare (namespaces only)"
    unshare = shutil.which("unshare")
    if unshare is None:
        return StartPath("floor", what, None, "unshare not installed")
    argv = [unshare, "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "true"]

    def once() -> float:
        t0 = time.perf_counter()
        run_quiet(argv)
        return time.perf_counter() - t0

    return StartPath("floor", what, once)


def path_cli(name: str, what: str, argv: list[str] | None, bench: Bench,
             note: str = "") -> StartPath:
    if argv is None:
        return StartPath(name, what, None, note)
    cli = argv
    root = bench.work / f"state-{name}"
    root.mkdir()

    def once() -> float:
        cid, bundle = bench.bundle(name)
        t0 = time.perf_counter()
        run_quiet([*cli, "--root", str(root), "run", "--bundle", str(bundle), cid])
        elapsed = time.perf_counter() - t0
        subprocess.run([*cli, "--root", str(root), "delete", "--force", cid],
                       capture_output=True)
        return elapsed

    return StartPath(name, what, once, note)


def path_interpreter(script: list[str] | None, note: str) -> StartPath:
    """The ``py`` row: the interpreter of the ``dockyard-runtime`` script (its ``#!``
    line, flags included) running nothing."""
    what = "its interpreter alone (-c pass)"
    if script is None:
        return StartPath("py", what, None, note)
    with open(script[0], "rb") as f:
        first = f.readline().decode(errors="replace").strip()
    if not first.startswith("#!"):
        return StartPath("py", what, None, f"{script[0]} has no #! line")
    argv = [*first[2:].split(), "-c", "pass"]

    def once() -> float:
        t0 = time.perf_counter()
        run_quiet(argv)
        return time.perf_counter() - t0

    return StartPath("py", what, once)


def dockyard_runtime_argv() -> tuple[list[str] | None, str]:
    script = Path(sysconfig.get_path("scripts")) / "dockyard-runtime"
    if script.is_file():
        return [str(script)], str(script)
    return None, f"{script} does not exist (pip install -e .)"


@contextlib.contextmanager
def supervisor(work: Path, spares: int | None = None,
               name: str = "supervisor") -> Iterator[tuple[Any, Path] | str]:
    """A supervisor for the bench, stopped at the end; or why there is none."""
    try:
        from dockyard.runtime.supervisor.client import SupervisorClient, spawn_supervisor
    except ImportError as e:
        yield f"no supervisor client: {e}"
        return
    state = work / name
    state.mkdir()
    try:
        pid = spawn_supervisor(str(state), spares=spares)
    except Exception as e:  # reported in the table, not hidden
        yield f"the supervisor did not start: {e}"
        return
    client = SupervisorClient.for_state(str(state))
    try:
        yield client, state
    finally:
        client.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.01)
        else:
            os.kill(pid, signal.SIGKILL)


def wait_for_spares(client: Any, parent: str, timeout: float = 5.0) -> None:
    """Untimed: let the supervisor's idle loop refill its spares for ``parent`` (the first
    create of a parent registers it; the warm-up rounds do that), to the end of the
    refill (``filling``: the zygote's pre-faulting after the forks), as a daemon's idle
    time between runs does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        spares = client.ping().get("spares") or {}
        if not spares.get("enabled"):
            return
        if (spares.get("ready", {}).get(parent, 0) >= spares.get("size", 0)
                and not spares.get("filling", False)):
            return
        time.sleep(0.02)  # a ping is activity: the supervisor refills only when idle


def path_supervisor(name: str, what: str, sv: tuple[Any, Path] | str, kind: str,
                    binary: str | None, bench: Bench) -> StartPath:
    if isinstance(sv, str):
        return StartPath(name, what, None, sv)
    from dockyard.runtime.supervisor.protocol import RuntimeKind, RuntimeSpec

    client, _state = sv
    root = bench.work / f"state-{name.replace('+', '')}"
    root.mkdir()
    spec = RuntimeSpec(RuntimeKind(kind), str(root), binary or "runc")

    def once() -> float:
        cid, bundle = bench.bundle(name)
        if kind == "in-process":
            wait_for_spares(client, f"/{CGROUP_PARENT}")
        t0 = time.perf_counter()
        client.create(cid, str(bundle), spec)
        client.start(cid)
        status = client.wait(cid)
        client.delete(cid)
        elapsed = time.perf_counter() - t0
        if getattr(status, "exit_code", 0) != 0:
            raise RuntimeError(f"{name}: /bin/true exited {status}")
        return elapsed

    return StartPath(name, what, once)


def measure(paths: list[StartPath], n: int, warmup: int) -> list[Row]:
    """Interleave the paths, one container each per round, rotating the order, so that
    a busy machine slows every row alike and the ratios stay meaningful."""
    live = [p for p in paths if p.once is not None]
    samples: dict[str, list[float]] = {p.name: [] for p in live}
    for rnd in range(warmup + n):
        k = rnd % len(live) if live else 0
        for p in live[k:] + live[:k]:
            assert p.once is not None
            elapsed = p.once()
            if rnd >= warmup:
                samples[p.name].append(elapsed)
    return [Row(p.name, p.what, samples.get(p.name), p.note) for p in paths]


# ---------------------------------------------------------------------------- report


def report(rows: list[Row], n: int) -> str:
    ref = next((r for r in rows if r.name == "runc" and r.samples), None)
    lines = [f"container start latency: /bin/true in a busybox bundle, {n} runs per row",
             "",
             f"{'row':<9} {'median ms':>10} {'p90 ms':>8} {'x runc':>7}  {'goal':<14} what",
             "-" * 90]
    for r in rows:
        if not r.samples:
            lines.append(f"{r.name:<9} {'—':>10} {'—':>8} {'—':>7}  {'':<14} {r.what}: "
                         f"NOT MEASURED ({r.note})")
            continue
        ratio = r.median() / ref.median() if ref else float("nan")
        goal = ""
        if r.name in GOALS and ref:
            limit = GOALS[r.name]
            goal = f"<={limit:g}x {'met' if ratio <= limit else 'MISSED'}"
        lines.append(f"{r.name:<9} {r.median() * 1e3:>10.1f} {r.p90() * 1e3:>8.1f} "
                     f"{ratio:>7.2f}  {goal:<14} {r.what}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("-n", "--runs", type=int, default=50, help="timed runs per row")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rows", default=",".join(ALL_ROWS),
                    help=f"comma-separated subset of {','.join(ALL_ROWS)}")
    args = ap.parse_args(argv)
    wanted = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = set(wanted) - set(ALL_ROWS)
    if unknown:
        ap.error(f"unknown rows: {sorted(unknown)}")
    if os.geteuid() != 0:
        print("bench/runtime.py needs root (namespaces, cgroups, mounts)", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    bench = Bench(work)
    rows: list[Row] = []
    load = 0.0
    try:
        with supervisor(work) as sv, supervisor(work, 0, "supervisor0") as sv0:
            paths: list[StartPath] = []
            for name in wanted:
                if name == "floor":
                    paths.append(path_floor())
                elif name == "runc":
                    runc = shutil.which("runc")
                    paths.append(path_cli("runc", "runc run", [runc] if runc else None,
                                          bench, "runc not installed"))
                elif name == "cold":
                    cli, note = dockyard_runtime_argv()
                    paths.append(path_cli("cold", "dockyard-runtime run (fresh CLI)", cli,
                                          bench, note))
                elif name == "py":
                    paths.append(path_interpreter(*dockyard_runtime_argv()))
                elif name == "warm":
                    paths.append(path_supervisor("warm", "supervisor, in-process driver", sv,
                                                 "in-process", None, bench))
                elif name == "warm0":
                    paths.append(path_supervisor("warm0", "supervisor, in-process, no spares",
                                                 sv0, "in-process", None, bench))
                elif name == "sv+runc":
                    paths.append(path_supervisor("sv+runc", "supervisor, runc CLI driver", sv,
                                                 "oci-cli", shutil.which("runc"), bench))
            load = os.getloadavg()[0]
            rows = measure(paths, args.runs, args.warmup)
            load = max(load, os.getloadavg()[0])
    finally:
        bench.remove_cgroups()
        shutil.rmtree(work, ignore_errors=True)
    print(report(rows, args.runs))
    cpus = os.cpu_count() or 1
    print(f"\nload average {load:.2f} on {cpus} CPUs"
          + (" (busy machine: absolute figures are inflated, ratios less so)"
             if load > 0.5 * cpus else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
