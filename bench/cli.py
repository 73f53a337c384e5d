#!/usr/bin/env python3
"""The ``dockyard`` CLI's wall-clock time beside the docker CLI's, against the same
dockyardd in the same run.

One dockyardd from this tree on temp roots (``daemon_engines.Dockyardd``: its own socket,
cgroup parent and busybox made through the daemon), and two clients taking turns:

====================================  ===================================================
``python -I -S -c pass``              the interpreter's floor (no site), for scale
``dockyard ps``                       the fast launcher (``python -I -S``, what
                                      ``scripts/bootstrap.sh`` installs) listing 0
                                      containers; beside ``docker ps``
``python -m dockyard.cli ps``         the same through a normal interpreter start (site
                                      scan: what pip's console script costs)
``dockyard run --rm busybox true``    create → attach → wait → start → exit → removal,
                                      beside ``docker run --rm busybox true``
====================================  ===================================================

Each row is timed N times (after 2 warm-up runs); the rows are interleaved (one sample
per row per round, the order rotating), so a machine busy with other work slows every row
alike; the median and p90 are printed in milliseconds with each dockyard row's median as
a multiple of the docker CLI's, and the client process's own CPU time (user + system,
from ``getrusage``): the figure a busy machine inflates least. Goals (issue 6): ``dockyard ps`` under 80 ms and
``dockyard run --rm busybox true`` under 100 ms end to end, marked ``met`` or
``MISSED``; the load average is printed under the table.

Run as root: ``python3 bench/cli.py [-n 30]``. The daemon, its supervisor, containers,
cgroups, mounts and temp dirs are removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from daemon_engines import DOCKER, Dockyardd, log

GOALS_MS = {"dockyard ps": 80.0, "dockyard run --rm busybox true": 100.0}


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system of the client process) milliseconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, env=env, timeout=120, check=False)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {p.returncode}: "
                           f"{p.stderr.decode(errors='replace').strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed * 1000.0, cpu * 1000.0


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def launcher(root: Path) -> tuple[str, str]:
    """The ``dockyard`` to time: the installed one when it is the fast launcher, else one
    written for this run (the same text ``bootstrap.sh`` installs)."""
    installed = Path(sys.executable).parent / "dockyard"
    try:
        if installed.read_text().splitlines()[0].endswith(" -IS"):
            return str(installed), "the installed launcher"
    except (OSError, IndexError):
        pass
    from dockyard.cli.launcher import install

    path = root / "dockyard"
    install(str(path))
    return str(path), "a launcher written for this run (the installed script is pip's)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=30, help="timed samples per row")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/cli.py needs root (it starts a daemon)", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="dy-bench-cli-", dir="/tmp"))
    engine = Dockyardd("dockyardd", root)
    try:
        log("starting dockyardd ...")
        engine.start()
        engine.make_busybox()
        dockyard, which = launcher(root)
        env = dict(engine.env)
        env["DOCKYARD_HOST"] = env["DOCKER_HOST"]
        py_env = {**env, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
        rows: dict[str, Callable[[], tuple[float, float]]] = {
            "python -I -S -c pass": lambda: timed([sys.executable, "-I", "-S", "-c", "pass"],
                                                  env),
            "dockyard ps": lambda: timed([dockyard, "ps"], env),
            "docker ps": lambda: timed([DOCKER, "ps"], env),
            "python -m dockyard.cli ps": lambda: timed(
                [sys.executable, "-m", "dockyard.cli", "ps"], py_env),
            "dockyard run --rm busybox true": lambda: timed(
                [dockyard, "run", "--rm", "busybox", "true"], env),
            "docker run --rm busybox true": lambda: timed(
                [DOCKER, "run", "--rm", "busybox", "true"], env),
        }
        names = list(rows)
        samples: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
        for _ in range(2):
            for n in names:
                rows[n]()
        log(f"timing {args.n} rounds of {len(names)} rows ...")
        for i in range(args.n):
            order = names[i % len(names):] + names[:i % len(names)]
            for n in order:
                samples[n].append(rows[n]())
        report(samples, which)
        return 0
    finally:
        engine.stop()
        shutil.rmtree(root, ignore_errors=True)


def report(samples: dict[str, list[tuple[float, float]]], which: str) -> None:
    med = {n: statistics.median(w for w, _ in v) for n, v in samples.items()}
    cpu = {n: statistics.median(c for _, c in v) for n, v in samples.items()}
    ref = {"dockyard ps": "docker ps",
           "python -m dockyard.cli ps": "docker ps",
           "dockyard run --rm busybox true": "docker run --rm busybox true"}
    print(f"\n{'row':34s} {'median ms':>10s} {'p90 ms':>8s} {'vs docker':>10s} "
          f"{'client CPU ms':>14s}  goal")
    for n, v in samples.items():
        ratio = f"{med[n] / med[ref[n]]:.2f}x" if n in ref else ""
        goal = ""
        if n in GOALS_MS:
            goal = f"< {GOALS_MS[n]:.0f} ms " + ("met" if med[n] < GOALS_MS[n] else "MISSED")
        print(f"{n:34s} {med[n]:10.1f} {p90([w for w, _ in v]):8.1f} {ratio:>10s} "
              f"{cpu[n]:14.1f}  {goal}")
    load = os.getloadavg()
    print(f"\ndockyard: {which}")
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"on {os.cpu_count()} CPUs")
    if load[0] > (os.cpu_count() or 1) * 0.5:
        print("WARNING: the machine was busy; compare rows within this run only")


if __name__ == "__main__":
    sys.exit(main())
