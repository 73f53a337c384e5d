#!/usr/bin/env python3
"""``docker logs`` throughput: the block reader against the entry-by-entry reader.

Two parts, each comparing rows measured in the same run:

- ``reader``: in this process, a json-file written by the supervisor's own encoder
  (``encode_output``, as a chatty container's reads make it) read back by
  ``logblocks.history`` (what ``GET /containers/{id}/logs`` serves) and by ``logs.read``
  (the entry-by-entry reference it replaced), for 80-byte and 2-byte lines, plain,
  ``-t`` and ``--since``; MB/s of what the client gets.
- ``cli`` (as root): a real ``dockyardd`` on temp roots (the tests' daemon harness), a
  busybox container printing the same two shapes (``yes``), then ``docker logs`` and
  ``docker logs -t`` to a pipe, best of three.

    sudo .venv/bin/python bench/logs.py [--rows reader,cli]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dockyard.daemon.containers import logblocks
from dockyard.daemon.containers.logs import read
from dockyard.daemon.containers.model import LogQuery
from dockyard.runtime.supervisor.logs import LineSplitter, encode_output

SHAPES = {"80B": b"0123456789" * 7 + b"abcdefgh\n", "2B": b"y\n"}
TOTAL = 20 << 20  # bytes of output per shape


def reader_rows() -> None:
    print(f"{'reader':<22}{'blocks MB/s':>12}{'entries MB/s':>14}{'ratio':>8}")
    for name, line in SHAPES.items():
        splitter = LineSplitter()
        per_read = line * (64 * 1024 // len(line))
        reads = max(1, min(TOTAL // len(per_read), 2_000_000 // per_read.count(b"\n")))
        body = b"".join(encode_output(splitter, per_read, "stdout",
                                      1_700_000_000_000_000_000 + i * 1_000_003)
                        for i in range(reads))
        with tempfile.NamedTemporaryFile(prefix="dy-bench-logs-") as f:
            f.write(body)
            f.flush()
            for label, q in (("", LogQuery()), (" -t", LogQuery(timestamps=True)),
                             (" --since", LogQuery(since_ns=1))):
                t0 = time.perf_counter()
                n = sum(len(c.data) for step in logblocks.history(f.name, q) for c in step)
                fast = time.perf_counter() - t0
                t0 = time.perf_counter()
                m = sum(len(e.data) + (31 if q.timestamps else 0) for e in read(f.name, q))
                slow = time.perf_counter() - t0
                if n != m:
                    raise SystemExit(f"{name}{label}: {n} bytes against {m}")
                print(f"{name + label:<22}{n / fast / 1e6:>12.1f}{m / slow / 1e6:>14.1f}"
                      f"{slow / fast:>7.1f}x")


def cli_rows() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"
                           / "daemon"))
    import daemon_harness as harness

    d = harness.new_daemon("dy-bench-logs-")
    try:
        d.start()
        d.make_busybox()
        print(f"{'docker logs':<22}{'bytes':>12}{'best s':>9}{'MB/s':>8}")
        for name, line in SHAPES.items():
            count = TOTAL // len(line) // 2  # within the default rotation's 2 x 10 MB
            d.docker("run", "--name", f"logs-{name}", "busybox", "sh", "-c",
                     f"yes {line.decode().strip()} | head -n {count}", timeout=300,
                     check=True)
            for flags in ([], ["-t"]):
                best, size = float("inf"), 0
                for _ in range(3):
                    t0 = time.perf_counter()
                    p = subprocess.run(["docker", "logs", *flags, f"logs-{name}"],
                                       env=d.env(), capture_output=True, timeout=300,
                                       check=True)
                    best = min(best, time.perf_counter() - t0)
                    size = len(p.stdout)
                label = f"{name} {' '.join(flags)}".strip()
                print(f"{label:<22}{size:>12}{best:>9.3f}{size / best / 1e6:>8.1f}")
    finally:
        d.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="reader,cli")
    rows = ap.parse_args().rows.split(",")
    if "reader" in rows:
        reader_rows()
    if "cli" in rows:
        if os.geteuid() != 0:
            print("cli: NOT MEASURED (needs root)")
        else:
            cli_rows()
    print(f"load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
