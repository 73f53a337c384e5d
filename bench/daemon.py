#!/usr/bin/env python3
"""dockyardd beside a real dockerd, with the docker CLI as the one client.

Both engines run side by side in the same run, on temp data roots, exec roots and
sockets (never the host's default socket or ``/var/lib``/``/run``):

- ``dockyardd`` from this tree (default runtime and snapshotter), its own cgroup parent;
  busybox is made offline through the daemon's ``POST /dockyard/images/base``;
- ``dockerd`` from Debian's ``docker.io`` (installed with apt when missing; 20.10 here),
  with the containerd it starts itself, in a private mount namespace with a fresh tmpfs
  on ``/run``, ``--iptables=false --bridge=none``, overlay2, its own cgroup parent. It
  gets the same busybox image by ``docker load`` of dockyardd's ``docker save`` (the same
  image ID is checked).

Rows, each timed as the wall-clock time of the docker CLI commands (the CLI's own start
is in both columns alike):

===============================  ===========================================================
``ps -q``                        one CLI call that does nearly nothing
``run --rm busybox true``        one container, create → attach → wait → start → exit → rm
``  the same through the API``     the CLI's requests of that run from a small raw-socket
                                 client (``daemon_api``): the engine's share of the row
``exec <ctr> true``              one exec in a running ``sleep`` container
``30 x create/start/wait/rm``    30 containers one after the other, 4 CLI calls each
``8 parallel run --rm``          8 ``docker run --rm busybox true`` at once, until all end
``idle PSS per container``       the engine's PSS (``smaps_rollup``) with 30 idle ``sleep``
                                 containers minus without, per container: dockyardd +
                                 supervisor (+ its spare zygotes) vs dockerd + containerd +
                                 shims; the ``sleep`` payloads themselves are not counted;
                                 each reading once the engine's memory stopped moving
===============================  ===========================================================

The latency rows are interleaved (one sample per engine per round, the order alternating),
so a machine busy with other work slows both columns alike; the load average is printed.
The ``floor`` column of the ``ps -q``, ``run`` and ``exec`` rows is the same docker CLI
command against ``daemon_null.py``, a stub Engine API server that does no work at all,
timed in the same rounds as the two engines: the CLI's own share of the row, under any
engine's figure.
Goals (issue 4): run at most 0.25x dockerd's, exec at most 0.3x, idle cost under 0.5 MiB
per container; each goal is marked ``met`` or ``MISSED``, followed by the CLI floor's
ratio to dockerd (``(CLI floor 0.NNx)``): how much of the goal the CLI alone uses. Memory
is shown as PSS (the brief's measure: shared pages split among the processes using them,
so other Python processes on a shared machine move it a little) and as USS (private pages
only), each with every engine process; for dockyardd also without the supervisor's spare
pool (a fixed number of pre-forked zygote children whatever the number of containers,
whose PSS follows its refill history rather than the containers). The goal is judged on
that last PSS figure; the per-process breakdown under the table shows where the memory
is. A row an engine cannot do yet is printed as NOT MEASURED with the reason.

Run as root: ``python3 bench/daemon.py [-n 20] [--rounds 3] [--idle 30]``; ``--only
floor,exec`` runs only those rows. Everything it
starts (both daemons, containerd, shims, containers, mounts, cgroups, temp dirs) is
stopped and removed at the end, also when it fails.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from daemon_api import run_rm_true
from daemon_engines import (
    CLI_TIMEOUT,
    DOCKER,
    IDLE_ARG,
    SPARES,
    Dockerd,
    Dockyardd,
    Engine,
    StubEngine,
    Usage,
    ensure_dockerd,
    log,
    unmount_under,
    usage_by_kind,
)

GOALS = {"run": 0.25, "exec": 0.3}
ROWS = ("floor", "run", "api", "exec", "seq", "par", "idle")
FLOORED = ("floor", "run", "exec")
"""The rows also timed against ``daemon_null.py``, the no-work stub (the ``floor`` column)."""
IDLE_GOAL_MIB = 0.5
SETTLE_KIB = 256
SETTLE_TIMEOUT = 60.0


# --------------------------------------------------------------------------- rows


@dataclass
class Samples:
    values: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def add(self, engine: str, seconds: float) -> None:
        self.values.setdefault(engine, []).append(seconds)

    def median(self, engine: str) -> float | None:
        v = self.values.get(engine)
        return statistics.median(v) if v and engine not in self.notes else None

    def p90(self, engine: str) -> float | None:
        v = sorted(self.values.get(engine, []))
        if not v or engine in self.notes:
            return None
        return v[min(len(v) - 1, round(0.9 * (len(v) - 1)))]


def timed(fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleave(engines: list[Engine], rounds: int, once: Callable[[Engine], None],
               samples: Samples, warmup: int = 1) -> None:
    """``rounds`` samples per engine, one engine after the other, the order alternating;
    an engine that fails is noted and skipped from then on."""
    for i in range(warmup + rounds):
        order = engines if i % 2 == 0 else list(reversed(engines))
        for e in order:
            if e.name in samples.notes:
                continue
            try:
                seconds = timed(functools.partial(once, e))
            except RuntimeError as exc:
                samples.notes[e.name] = str(exc).splitlines()[0][:160]
                continue
            if i >= warmup:
                samples.add(e.name, seconds)


def cli_floor(e: Engine) -> None:
    e.docker("ps", "-q")


def run_true(e: Engine) -> None:
    e.docker("run", "--rm", "busybox", "true")


def run_true_api(e: Engine) -> None:
    try:
        run_rm_true(str(e.sock))
    except OSError as exc:
        raise RuntimeError(f"{e.name}: {exc}") from exc


def exec_true(e: Engine) -> None:
    e.docker("exec", "bench-exec", "true")


def sequential(n: int) -> Callable[[Engine], None]:
    def once(e: Engine) -> None:
        for _ in range(n):
            cid = e.docker("create", "busybox", "true").stdout.decode().strip()
            e.docker("start", cid)
            code = e.docker("wait", cid).stdout.decode().strip()
            if code != "0":
                raise RuntimeError(f"{e.name}: wait gave {code!r}")
            e.docker("rm", cid)
    return once


def parallel(n: int) -> Callable[[Engine], None]:
    def once(e: Engine) -> None:
        procs = [subprocess.Popen(["timeout", "-k", "5", str(CLI_TIMEOUT), DOCKER, "run",
                                   "--rm", "busybox", "true"], env=e.env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for _ in range(n)]
        failed = []
        for p in procs:
            _, err = p.communicate()
            if p.returncode != 0:
                failed.append(err.decode(errors="replace").strip())
        if failed:
            raise RuntimeError(f"{e.name}: {len(failed)} of {n} runs failed: {failed[0]}")
    return once


@dataclass
class IdleCost:
    before: dict[str, Usage] = field(default_factory=dict)
    after: dict[str, Usage] = field(default_factory=dict)
    n: int = 0
    note: str = ""

    def total(self, when: dict[str, Usage], without: str = "") -> Usage:
        out = Usage()
        for kind, u in when.items():
            if kind != without:
                out = out.plus(u)
        return out

    def per_container(self, metric: str, without: str = "") -> float:
        """MiB per container of ``pss`` or ``uss``, optionally leaving a kind out."""
        if not self.n:
            return float("nan")
        b = getattr(self.total(self.before, without), metric)
        a = getattr(self.total(self.after, without), metric)
        return float(a - b) / self.n / 1024

    def breakdown(self) -> str:
        """``kind PSS idle->with n MiB (processes)`` for each kind of process."""
        parts = []
        for kind in sorted(set(self.before) | set(self.after)):
            b = self.before.get(kind, Usage())
            a = self.after.get(kind, Usage())
            parts.append(f"{kind} {b.pss / 1024:.1f}->{a.pss / 1024:.1f} MiB ({b.n}->{a.n})")
        return "; ".join(parts)


def settled(e: Engine, timeout: float = SETTLE_TIMEOUT) -> dict[str, Usage]:
    """The engine's memory once it stopped moving: readings a second apart until two agree
    within ``SETTLE_KIB`` (spare pools refill and pre-fault their memory for a while after
    a burst of starts), or the last one after ``timeout``."""
    last = usage_by_kind(e.engine_pids(), e.roles())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = usage_by_kind(e.engine_pids(), e.roles())
        moved = abs(sum(u.pss for u in now.values()) - sum(u.pss for u in last.values()))
        if moved <= SETTLE_KIB:
            return now
        last = now
    log(f"{e.name}: memory still moving after {timeout:.0f} s; using the last reading")
    return last


def idle_cost(e: Engine, n: int) -> IdleCost:
    """The engine's PSS without and with ``n`` idle ``sleep`` containers, each reading
    taken once the engine is settled."""
    try:
        before = settled(e)
        ids = []
        for i in range(n):
            ids.append(e.docker("run", "-d", "--name", f"idle-{i}", "busybox", "sleep",
                                IDLE_ARG).stdout.decode().strip())
        after = settled(e)
        e.docker("rm", "-f", *ids, timeout=300)
        return IdleCost(before, after, n)
    except RuntimeError as exc:
        with contextlib.suppress(RuntimeError):
            left = e.docker("ps", "-aq", "--filter", "name=idle-", check=False).stdout.split()
            if left:
                e.docker("rm", "-f", *(x.decode() for x in left), check=False, timeout=300)
        return IdleCost(note=str(exc).splitlines()[0][:160])


class NullEngine(StubEngine):
    """``daemon_null.py``: the docker CLI against a server that does no work at all."""

    script = "daemon_null.py"

    def start(self) -> None:
        self.start_stub()


# --------------------------------------------------------------------------- report


def fmt_ms(v: float | None) -> str:
    return "—" if v is None else f"{v * 1e3:.0f} ms"


def latency_line(label: str, s: Samples, ours: str, ref: str, null: str,
                 goal: float | None, per: int = 1) -> str:
    m_o, m_r, m_n = s.median(ours), s.median(ref), s.median(null)
    cols = []
    for name in (ours, ref):
        med, p90 = s.median(name), s.p90(name)
        if med is None:
            cols.append(f"{'NOT MEASURED':>19}")
        else:
            cols.append(f"{fmt_ms(med / per):>9} {fmt_ms((p90 or 0) / per):>9}")
    floor = fmt_ms(m_n / per if m_n is not None else None)
    ratio = f"{m_o / m_r:.2f}x" if m_o is not None and m_r else "—"
    verdict = ""
    if goal is not None and m_o is not None and m_r:
        verdict = f"<={goal:g}x {'met' if m_o / m_r <= goal else 'MISSED'}"
        if m_n is not None:
            verdict += f" (CLI floor {m_n / m_r:.2f}x)"
    line = f"{label:<32} {cols[0]}  {cols[1]}  {floor:>8}  {ratio:>6}  {verdict}"
    for name in (ours, ref, null):
        if name in s.notes:
            line += f"\n{'':<34}{name}: {s.notes[name]}"
    return line


def report(rows: dict[str, Samples], idle: dict[str, IdleCost], engines: list[Engine],
           null: str, args: argparse.Namespace, loads: list[tuple[float, float, float]],
           image_id: str) -> str:
    ours, ref = engines[0].name, engines[1].name
    out = [f"dockyardd vs dockerd, the docker CLI ({cli_version()}) as the client; "
           f"{args.runs} samples per latency row, {args.rounds} rounds of the batch rows, "
           "interleaved",
           f"engines: {engines[0].version} | {engines[1].version} "
           f"({args.dockerd_storage}, containerd {tool_version('containerd')}, "
           f"runc {tool_version('runc')})",
           f"busybox {image_id[:19]} in both; floor: the same CLI command against "
           "daemon_null.py (a stub that does no work)", "",
           f"{'row':<32} {ours + ' median':>9} {'p90':>9}  {ref + ' med':>9} {'p90':>9}  "
           f"{'floor':>8}  {'ratio':>6}  goal", "-" * 110]
    labels = {"floor": ("ps -q (a call doing ~nothing)", None, 1),
              "run": ("run --rm busybox true", GOALS["run"], 1),
              "api": ("  the same through the API", None, 1),
              "exec": ("exec bench-exec true", GOALS["exec"], 1),
              "seq": (f"{args.sequential} x create/start/wait/rm", None, 1),
              "seq1": ("  per container", None, args.sequential),
              "par": (f"{args.parallel} parallel run --rm (wall)", None, 1)}
    for key, (label, goal, per) in labels.items():
        samples = rows.get("seq" if key == "seq1" else key)
        if samples is not None:
            out.append(latency_line(label, samples, ours, ref, null, goal, per))
    o, r = idle.get(ours), idle.get(ref)
    if o is not None and r is not None:
        for metric, label in (("pss", "idle PSS per sleep container"),
                              ("uss", "  USS (private memory) per ctr")):
            out.append(memory_line(label, metric, o, r))
        if not o.note and SPARES in o.before:
            # The spare pool is a fixed number of zygote forks whatever the number of
            # containers; its PSS moves with its refill history (spares of one refill
            # share their pages, of two refills do not), not with the containers.
            pss, uss = o.per_container("pss", SPARES), o.per_container("uss", SPARES)
            verdict = f"<{IDLE_GOAL_MIB} MiB {'met' if pss < IDLE_GOAL_MIB else 'MISSED'}"
            out.append(f"{'  without the spare pool':<32} {pss:>6.2f} PSS {uss:>5.2f} USS"
                       f"{'':>3}  {'':>19}  {'':>8}  {'':>6}  {verdict}")
        for name, c in ((ours, o), (ref, r)):
            if c.note:
                out.append(f"{'':<34}{name}: {c.note}")
            else:
                out.append(f"{'':<34}{name}: engine PSS {c.total(c.before).pss / 1024:.1f} MiB "
                           f"idle, {c.total(c.after).pss / 1024:.1f} MiB with {c.n} "
                           "containers")
                out.append(f"{'':<36}{c.breakdown()}")
    out.append("")
    out.append("load average (1/5/15 min): " + ", then ".join(
        f"{a:.2f} {b:.2f} {c:.2f}" for a, b, c in loads) + f" on {os.cpu_count()} CPUs")
    if max(x[0] for x in loads) > (os.cpu_count() or 1) * 0.5:
        out.append("WARNING: the machine was busy; compare the columns, not absolute figures")
    return "\n".join(out)


def memory_line(label: str, metric: str, o: IdleCost, r: IdleCost) -> str:
    def cell(c: IdleCost) -> str:
        return f"{'NOT MEASURED':>19}" if c.note else \
            f"{c.per_container(metric):>8.2f} MiB{'':>7}"
    ratio = "—"
    if not o.note and not r.note and r.per_container(metric) > 0:
        ratio = f"{o.per_container(metric) / r.per_container(metric):.2f}x"
    return f"{label:<32} {cell(o)}  {cell(r)}  {'':>8}  {ratio:>6}"


def cli_version() -> str:
    p = subprocess.run([DOCKER, "version", "--format", "{{.Client.Version}}"],
                       capture_output=True, text=True, check=False,
                       env={k: v for k, v in os.environ.items() if k != "DOCKER_HOST"})
    return f"docker {p.stdout.strip() or '?'}"


def tool_version(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        return "?"
    p = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    words = p.stdout.split()
    return next((w for w in words if w[:1].isdigit() or w[:2] == "v1"), "?")


# --------------------------------------------------------------------------- main


@contextlib.contextmanager
def engines_up(work: Path, storage: str,
               stub: bool) -> Iterator[tuple[Dockyardd, Dockerd, NullEngine]]:
    """Both engines, and the no-work stub if ``stub`` (else it is never started)."""
    ours = Dockyardd("dockyardd", work / "dockyardd")
    ref = Dockerd("dockerd", work / "dockerd")
    null = NullEngine("floor", work / "null")
    ours.root.mkdir()
    ref.root.mkdir()
    null.root.mkdir()
    with contextlib.ExitStack() as stack:
        stack.callback(ref.stop)
        stack.callback(ours.stop)
        stack.callback(null.stop)
        log("starting dockyardd")
        ours.start()
        log("starting dockerd")
        ref.start(storage)
        if stub:
            log("starting the no-work stub (daemon_null.py)")
            null.start()
        yield ours, ref, null


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("-n", "--runs", type=int, default=20, help="samples per latency row")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the batch rows")
    ap.add_argument("--sequential", type=int, default=30)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--idle", type=int, default=30, help="idle containers for the PSS row")
    ap.add_argument("--dockerd-storage", default="overlay2")
    ap.add_argument("--only", default=",".join(ROWS),
                    help=f"comma-separated rows to run, of {','.join(ROWS)} (default: all)")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    if not only <= set(ROWS):
        ap.error(f"--only: unknown rows {','.join(sorted(only - set(ROWS)))}")
    if os.geteuid() != 0:
        print("bench/daemon.py needs root (daemons, namespaces, cgroups)", file=sys.stderr)
        return 2
    missing = ensure_dockerd()
    if missing:
        print(f"bench/daemon.py: {missing}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-daemon-", dir="/tmp"))
    try:
        with engines_up(work, args.dockerd_storage, bool(only & set(FLOORED))) as (
                ours, ref, null):
            loads = [os.getloadavg()]
            log("making busybox in dockyardd, loading it into dockerd")
            ours.make_busybox()
            archive = ours.docker("save", "busybox").stdout
            ref.docker("load", stdin=archive)
            image_id = ours.docker("image", "inspect", "-f", "{{.Id}}", "busybox"
                                   ).stdout.decode().strip()
            theirs = ref.docker("image", "inspect", "-f", "{{.Id}}", "busybox"
                                ).stdout.decode().strip()
            if theirs != image_id:
                raise RuntimeError(f"dockerd loaded busybox as {theirs}, not {image_id}")
            engines: list[Engine] = [ours, ref]
            floored = [*engines, null]  # the same CLI command against the stub too
            rows: dict[str, Samples] = {}
            if "floor" in only:
                log(f"ps -q x {args.runs}")
                rows["floor"] = Samples()
                interleave(floored, args.runs, cli_floor, rows["floor"])
            if "run" in only:
                log(f"run --rm busybox true x {args.runs}")
                rows["run"] = Samples()
                interleave(floored, args.runs, run_true, rows["run"])
            if "api" in only:
                log(f"run --rm through the API x {args.runs}")
                rows["api"] = Samples()
                interleave(engines, args.runs, run_true_api, rows["api"])
            if "exec" in only:
                log(f"exec x {args.runs}")
                rows["exec"] = Samples()
                for e in engines:
                    e.docker("run", "-d", "--name", "bench-exec", "busybox", "sleep", "600")
                interleave(floored, args.runs, exec_true, rows["exec"])
                for e in engines:
                    e.docker("rm", "-f", "bench-exec")
            if "seq" in only:
                log(f"{args.sequential} sequential x {args.rounds}")
                rows["seq"] = Samples()
                interleave(engines, args.rounds, sequential(args.sequential), rows["seq"],
                           warmup=0)
            if "par" in only:
                log(f"{args.parallel} parallel x {args.rounds}")
                rows["par"] = Samples()
                interleave(engines, args.rounds, parallel(args.parallel), rows["par"])
            loads.append(os.getloadavg())
            idle = {}
            if "idle" in only:
                for e in engines:
                    log(f"idle PSS with {args.idle} containers: {e.name}")
                    idle[e.name] = idle_cost(e, args.idle)
                loads.append(os.getloadavg())
            print(report(rows, idle, engines, null.name, args, loads, image_id))
    finally:
        unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
