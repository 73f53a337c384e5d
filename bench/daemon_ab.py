#!/usr/bin/env python3
"""Two dockyardd of two source trees side by side: ``run --rm busybox true`` through the
API (``daemon_api``) and through the docker CLI, interleaved, to tell a change's effect on
the run's latency from the machine's noise (compare the two columns of one run only).

``python3 bench/daemon_ab.py [-n 30] OLD_SRC NEW_SRC``: each ``*_SRC`` is a ``src``
directory put first on ``PYTHONPATH`` of its daemon (and of the supervisor the daemon
starts), e.g. ``git archive HEAD~1 src | tar -x -C /tmp/old`` then ``/tmp/old/src``
against ``src``. Run as root; both engines are stopped and removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from daemon_api import run_rm_true
from daemon_engines import Dockyardd

PAUSE = 0.08


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=30, help="samples per engine and row")
    p.add_argument("trees", nargs=2, metavar="SRC")
    args = p.parse_args()
    engines: list[Dockyardd] = []
    saved = os.environ.get("PYTHONPATH")
    try:
        for i, src in enumerate(args.trees):
            os.environ["PYTHONPATH"] = os.path.abspath(src)
            e = Dockyardd(f"tree{i}", Path(tempfile.mkdtemp(prefix="dockyard-ab-")))
            engines.append(e)
            e.start()
            e.make_busybox()
        for e in engines:  # warm: spares filled, code paths run once
            for _ in range(4):
                run_rm_true(str(e.sock))
                e.docker("run", "--rm", "busybox", "true")
        api: list[list[float]] = [[] for _ in engines]
        cli: list[list[float]] = [[] for _ in engines]
        for r in range(args.n):
            order = range(len(engines)) if r % 2 == 0 else range(len(engines) - 1, -1, -1)
            for i in order:
                time.sleep(PAUSE)
                t = time.perf_counter()
                run_rm_true(str(engines[i].sock))
                api[i].append(time.perf_counter() - t)
            for i in order:
                time.sleep(PAUSE)
                t = time.perf_counter()
                engines[i].docker("run", "--rm", "busybox", "true")
                cli[i].append(time.perf_counter() - t)
        for i, src in enumerate(args.trees):
            print(f"{src}: API median {statistics.median(api[i]) * 1000:.1f} ms "
                  f"(p25 {statistics.quantiles(api[i], n=4)[0] * 1000:.1f}), CLI median "
                  f"{statistics.median(cli[i]) * 1000:.1f} ms "
                  f"(p25 {statistics.quantiles(cli[i], n=4)[0] * 1000:.1f})")
        with open("/proc/loadavg", encoding="ascii") as f:
            print("load average:", " ".join(f.read().split()[:3]))
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
        for e in engines:
            e.stop()
            shutil.rmtree(e.root, ignore_errors=True)


if __name__ == "__main__":
    main()
