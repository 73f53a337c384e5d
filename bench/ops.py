#!/usr/bin/env python3
"""Container operations beside a real dockerd, the docker CLI as the one client: files in
and out of a container (``docker cp``), ``docker commit`` (and, as rows are added, more).

Both engines are started side by side in the same run, as ``bench/daemon.py`` does
(``daemon_engines``: dockyardd from this tree, Debian's dockerd in a private mount
namespace, overlay2, busybox handed over by ``docker save | docker load`` with the image
ID checked). Their roots live under ``--workdir``: on a tmpfs (``/dev/shm/...``) the rows
compare the engines' own costs, on the slow and uneven disk of these machines they mostly
time file creation.

Rows (each one timed as the wall-clock time of the docker CLI command, or of the lean
client's request for the ``API:`` rows; the CLI is a floor under its rows, see below):

===========================  ==============================================================
``cp 100 MB dir in``         ``docker cp <dir> ctr:/tmp/in``: 2000 files of 20 KB in 20
                             directories plus six of 10 MB (random bytes), into a running
                             container; removed in the container after each sample
``cp 100 MB dir out``        ``docker cp ctr:/data <host dir>`` of the same tree; the host
                             copy is removed after each sample
``API: PUT 100 MB tar``      the engine's own side of ``cp in``: the same tree as one tar
                             made in advance (entries ``data/...``), ``PUT
                             /containers/ops-cp/archive?path=/tmp/api`` from a lean client
                             (``http.client`` on the unix socket, the file as the body with
                             a ``Content-Length``, sent in blocks of 1 MiB: http.client's
                             default 8 KiB blocks made the client's own CPU a large share
                             of both engines' figures); removed in the container after
                             each sample
``API: GET 100 MB dir``      the engine's own side of ``cp out``: ``GET
                             /containers/ops-cp/archive?path=/data``, the bytes read and
                             dropped
``commit 50 MB of changes``  ``docker commit`` of a running container whose layer holds
                             1000 files of 20 KB and three of 10 MB; a new container per
                             sample, the image and container removed after
``API: commit 50 MB``        the same through ``POST /commit?container=...&repo=...&tag=...``
                             (body ``null``, as the CLI sends) from the lean client
``stats --no-stream``        ``docker stats --no-stream ctr`` of a running container (the
                             CLI asks ``stream=false``: dockerd waits for a second sample
                             to fill ``precpu_stats``, moby#23188)
``stats one-shot API x20``   20 ``GET /containers/ctr/stats?stream=false&one-shot=true``
                             in a row on one connection each, raw HTTP on the engine's
                             socket (no CLI start-up in the figure): the one-shot latency
===========================  ==============================================================

Beside each wall-clock median, the engine's CPU time for the command: user + system
seconds of its processes (dockyardd and its supervisor; dockerd, containerd and the shims),
children they reaped included (dockerd's ``docker-untar``), sampled from ``/proc`` right
before and after. A busy machine stretches wall-clock times (a process waits for a CPU);
it barely moves CPU times, which makes that column the steadier comparison here.

The ``floor`` column is the same docker CLI command against ``ops_null.py``, a stub that
does no file work (it drops what ``PUT`` sends and ``GET``s a tar made in advance): the
CLI's own share (making or unpacking the tar on the host) that no engine can go below.
For the ``API:`` rows it is the lean client against the same stub (an aiohttp server:
its reading or sending is in the figure too).
When the floor alone is above the goal's share of dockerd's time, the verdict says so.

Samples are interleaved (one per engine per round, the order alternating) so that a busy
machine slows both columns alike; the load average is printed. Goal (issue 5): each row
at most 0.5x dockerd's time, marked ``met`` or ``MISSED``.

Rows are pluggable: ``ROWS`` is a list of ``Row`` (a label, a goal, and ``setup``/``once``/
``teardown`` callables over one engine); add one to it and it is run and reported with
the others. ``--rows cp-in,commit`` picks some.

Run as root: ``python3 bench/ops.py [-n 5] [--workdir /dev/shm/ops]``. Everything it
starts (both daemons, containerd, shims, containers, mounts, cgroups, temp dirs) is
stopped and removed at the end, also when it fails.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from daemon_engines import (
    Dockerd,
    Dockyardd,
    Engine,
    StubEngine,
    ensure_dockerd,
    log,
    unmount_under,
)

GOAL = 0.5


# --------------------------------------------------------------------------- data


def make_tree(root: Path, small: int, big: int, small_size: int = 20_000,
              big_size: int = 10 << 20) -> Path:
    """``small`` files of ``small_size`` bytes in directories of 100 and ``big`` of
    ``big_size``, random content (nothing compresses)."""
    root.mkdir(parents=True)
    for i in range(small):
        d = root / f"d{i // 100:02d}"
        d.mkdir(exist_ok=True)
        (d / f"f{i:05d}").write_bytes(os.urandom(small_size))
    for i in range(big):
        (root / f"big{i}").write_bytes(os.urandom(big_size))
    return root


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- rows


@dataclass
class Ctx:
    """What the rows share: the work dir, the data sets, the engines' state per row."""

    work: Path
    data100: Path
    data50: Path
    state: dict[str, dict[str, str]] = field(default_factory=dict)
    tar100: Path | None = None
    """``data100`` as one tar (entries ``data/...``), for the API rows' ``PUT``."""

    def of(self, e: Engine) -> dict[str, str]:
        return self.state.setdefault(e.name, {})


@dataclass
class Row:
    key: str
    label: str
    goal: float | None
    once: Callable[[Ctx, Engine, int], None]
    """One timed sample (``i``: the sample's number, for unique names)."""
    setup: Callable[[Ctx, Engine], None] = lambda ctx, e: None
    """Untimed, once per engine before the samples."""
    after: Callable[[Ctx, Engine, int], None] = lambda ctx, e, i: None
    """Untimed, after each sample (clean what it made)."""
    teardown: Callable[[Ctx, Engine], None] = lambda ctx, e: None
    floor: bool = False
    """Also time ``once`` against the no-work stub (``ops_null.py``): the CLI's own share."""


def _cp_setup(ctx: Ctx, e: Engine) -> None:
    e.docker("run", "-d", "--name", "ops-cp", "busybox", "sleep", "3600")
    e.docker("cp", str(ctx.data100), "ops-cp:/data")


def _cp_in(ctx: Ctx, e: Engine, i: int) -> None:
    e.docker("cp", str(ctx.data100), f"ops-cp:/tmp/in{i}")


def _cp_in_after(ctx: Ctx, e: Engine, i: int) -> None:
    e.docker("exec", "ops-cp", "rm", "-rf", f"/tmp/in{i}")


def _cp_out(ctx: Ctx, e: Engine, i: int) -> None:
    e.docker("cp", "ops-cp:/data", str(ctx.work / f"out-{e.name}-{i}"))


def _cp_out_after(ctx: Ctx, e: Engine, i: int) -> None:
    shutil.rmtree(ctx.work / f"out-{e.name}-{i}")


def _cp_teardown(ctx: Ctx, e: Engine) -> None:
    e.docker("rm", "-f", "ops-cp", check=False)


def _commit_prepare(ctx: Ctx, e: Engine, i: int) -> None:
    name = f"ops-commit-{i}"
    e.docker("run", "-d", "--name", name, "busybox", "sleep", "3600")
    e.docker("cp", str(ctx.data50), f"{name}:/changes")


def _commit(ctx: Ctx, e: Engine, i: int) -> None:
    out = e.docker("commit", f"ops-commit-{i}", f"ops-committed:{i}")
    ctx.of(e)["last"] = out.stdout.decode().strip()


def _commit_after(ctx: Ctx, e: Engine, i: int) -> None:
    e.docker("rm", "-f", f"ops-commit-{i}")
    e.docker("rmi", f"ops-committed:{i}")
    # The next sample's container is made now, untimed.
    _commit_prepare(ctx, e, i + 1)


def _commit_setup(ctx: Ctx, e: Engine) -> None:
    _commit_prepare(ctx, e, 0)


def _commit_teardown(ctx: Ctx, e: Engine) -> None:
    ids = e.docker("ps", "-aq", "--filter", "name=ops-commit-", check=False).stdout.split()
    if ids:
        e.docker("rm", "-f", *(i.decode() for i in ids), check=False)


def _stats_setup(ctx: Ctx, e: Engine) -> None:
    e.docker("run", "-d", "--name", "ops-stats", "--memory", "64m", "busybox", "sleep",
             "3600")


def _stats_no_stream(ctx: Ctx, e: Engine, i: int) -> None:
    out = e.docker("stats", "--no-stream", "--format", "{{.MemUsage}}", "ops-stats")
    if not out.stdout.decode().strip().endswith("/ 64MiB"):
        raise RuntimeError(f"docker stats printed {out.stdout!r}")


ONE_SHOTS = 20


def _stats_one_shot(ctx: Ctx, e: Engine, i: int) -> None:
    for _ in range(ONE_SHOTS):
        conn = UnixHTTPConnection(str(e.sock))
        try:
            conn.request("GET", "/containers/ops-stats/stats?stream=false&one-shot=true")
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        if resp.status != 200 or b'"memory_stats"' not in body:
            raise RuntimeError(f"one-shot stats: {resp.status} {body[:200]!r}")


def _stats_teardown(ctx: Ctx, e: Engine) -> None:
    e.docker("rm", "-f", "ops-stats", check=False)


# API rows: the same work as the CLI rows, asked of the engine directly by a lean client
# (http.client on the unix socket), so that the figure is the engine's own work, not the
# docker CLI's tar making or unpacking on the host.

PUT_BLOCK = 1 << 20
"""How much of the body the lean client's ``http.client`` sends per write."""


def _api_put_archive(e: Engine, container: str, path: str, tar: Path) -> None:
    conn = UnixHTTPConnection(str(e.sock), timeout=600)
    conn.blocksize = PUT_BLOCK
    try:
        with open(tar, "rb") as f:
            conn.request("PUT", f"/containers/{container}/archive?path={path}", body=f,
                         headers={"Content-Type": "application/x-tar",
                                  "Content-Length": str(tar.stat().st_size)})
            resp = conn.getresponse()
            body = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        raise RuntimeError(f"PUT archive: {resp.status} {body[:200]!r}")


def _api_get_archive(e: Engine, container: str, path: str) -> int:
    """The archive's bytes, read and dropped; how many there were."""
    conn = UnixHTTPConnection(str(e.sock), timeout=600)
    total = 0
    try:
        conn.request("GET", f"/containers/{container}/archive?path={path}")
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"GET archive: {resp.status} {resp.read()[:200]!r}")
        while chunk := resp.read(1 << 20):
            total += len(chunk)
    finally:
        conn.close()
    return total


def _api_cp_in_setup(ctx: Ctx, e: Engine) -> None:
    e.docker("exec", "ops-cp", "mkdir", "-p", "/tmp/api")


def _api_cp_in(ctx: Ctx, e: Engine, i: int) -> None:
    if ctx.tar100 is None:
        raise RuntimeError("no prepared tar")
    _api_put_archive(e, "ops-cp", "/tmp/api", ctx.tar100)


def _api_cp_in_after(ctx: Ctx, e: Engine, i: int) -> None:
    e.docker("exec", "ops-cp", "rm", "-rf", "/tmp/api/data")


def _api_cp_out(ctx: Ctx, e: Engine, i: int) -> None:
    got = _api_get_archive(e, "ops-cp", "/data")
    if got < 100_000_000:
        raise RuntimeError(f"GET archive: only {got} bytes")


def _api_commit(ctx: Ctx, e: Engine, i: int) -> None:
    conn = UnixHTTPConnection(str(e.sock), timeout=600)
    try:
        conn.request("POST", f"/commit?container=ops-commit-{i}&repo=ops-committed&tag={i}",
                     body=b"null", headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    if resp.status != 201:
        raise RuntimeError(f"POST /commit: {resp.status} {body[:200]!r}")


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 to an engine's unix socket."""

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


ROWS: list[Row] = [
    Row("cp-in", "cp 100 MB dir in", GOAL, _cp_in, _cp_setup, _cp_in_after, floor=True),
    Row("cp-in-api", "API: PUT 100 MB tar", GOAL, _api_cp_in, _api_cp_in_setup,
        _api_cp_in_after, floor=True),
    Row("cp-out-api", "API: GET 100 MB dir", GOAL, _api_cp_out, floor=True),
    Row("cp-out", "cp 100 MB dir out", GOAL, _cp_out, lambda ctx, e: None, _cp_out_after,
        _cp_teardown, floor=True),
    Row("commit", "commit 50 MB of changes", GOAL, _commit, _commit_setup, _commit_after,
        _commit_teardown),
    Row("commit-api", "API: commit 50 MB", GOAL, _api_commit, _commit_setup, _commit_after,
        _commit_teardown),
    Row("stats", "stats --no-stream", GOAL, _stats_no_stream, _stats_setup),
    Row("stats-api", f"stats one-shot API x{ONE_SHOTS}", GOAL, _stats_one_shot,
        teardown=_stats_teardown),
]
"""The rows, in order. ``cp-in-api``, ``cp-out-api`` and ``cp-out`` use the container
``cp-in`` made (``cp-out`` removes it);
``stats-api`` the one ``stats`` made (and removes it)."""


# --------------------------------------------------------------------------- running


@dataclass
class Samples:
    values: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def median(self, engine: str, of: str = "wall") -> float | None:
        v = (self.values if of == "wall" else self.cpu).get(engine)
        return statistics.median(v) if v and engine not in self.notes else None


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_times(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system, with reaped children's) of each process."""
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = sum(int(x) for x in fields[11:15]) / _TICK
    return out


def engine_cpu(e: Engine) -> dict[int, float]:
    return cpu_times(e.engine_pids())


def run_row(row: Row, ctx: Ctx, engines: list[Engine], runs: int, warmup: int,
            null: Engine | None = None) -> Samples:
    s = Samples()
    for e in engines:
        try:
            row.setup(ctx, e)
        except RuntimeError as exc:
            s.notes[e.name] = str(exc).splitlines()[0][:160]
    every = engines + ([null] if null is not None and row.floor else [])
    for i in range(warmup + runs):
        order = every if i % 2 == 0 else list(reversed(every))
        for e in order:
            if e.name in s.notes:
                continue
            try:
                before = engine_cpu(e)
                t0 = time.perf_counter()
                row.once(ctx, e, i)
                seconds = time.perf_counter() - t0
                after = engine_cpu(e)
                if e is null:
                    with contextlib.suppress(RuntimeError):
                        row.after(ctx, e, i)  # host-side cleaning only
                else:
                    row.after(ctx, e, i)
            except RuntimeError as exc:
                s.notes[e.name] = str(exc).splitlines()[0][:160]
                continue
            if i >= warmup:
                s.values.setdefault(e.name, []).append(seconds)
                s.cpu.setdefault(e.name, []).append(
                    sum(v - before.get(p, 0.0) for p, v in after.items()))
    for e in engines:
        with contextlib.suppress(RuntimeError):
            row.teardown(ctx, e)
    return s


class NullEngine(StubEngine):
    """``ops_null.py``: the docker CLI against a server that does no file work."""

    script = "ops_null.py"

    def start(self, tar: Path) -> None:
        self.start_stub(str(tar))


def report_line(row: Row, s: Samples, ours: str, ref: str, null: str) -> str:
    cells = []
    for name in (ours, ref):
        med, cpu = s.median(name), s.median(name, "cpu")
        vals = s.values.get(name, [])
        cells.append(f"{'NOT MEASURED':>27}" if med is None or cpu is None else
                     f"{med:>6.2f} s {min(vals):>5.2f}-{max(vals):<5.2f} {cpu:>5.2f} s")
    m_o, m_r, m_n = s.median(ours), s.median(ref), s.median(null)
    c_o, c_r = s.median(ours, "cpu"), s.median(ref, "cpu")
    floor = f"{m_n:>6.2f} s" if m_n is not None else f"{'—':>8}"
    ratio = f"{m_o / m_r:.2f}x" if m_o is not None and m_r else "—"
    cpu_ratio = f"{c_o / c_r:.2f}x" if c_o is not None and c_r else "—"
    verdict = ""
    if row.goal is not None and m_o is not None and m_r:
        verdict = f"<={row.goal:g}x {'met' if m_o / m_r <= row.goal else 'MISSED'}"
        if m_n is not None and m_n / m_r > row.goal:
            verdict += f" (floor {m_n / m_r:.2f}x)"
    line = (f"{row.label:<24} {cells[0]}  {cells[1]}  {floor}  {ratio:>6} {cpu_ratio:>6}  "
            f"{verdict}")
    for name in (ours, ref, null):
        if name in s.notes:
            line += f"\n{'':<26}{name}: {s.notes[name]}"
    return line


@contextlib.contextmanager
def engines_up(work: Path) -> Iterator[tuple[Dockyardd, Dockerd]]:
    ours = Dockyardd("dockyardd", work / "dockyardd")
    ref = Dockerd("dockerd", work / "dockerd")
    ours.root.mkdir()
    ref.root.mkdir()
    with contextlib.ExitStack() as stack:
        stack.callback(ref.stop)
        stack.callback(ours.stop)
        log("starting dockyardd")
        ours.start()
        log("starting dockerd")
        ref.start("overlay2")
        yield ours, ref


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("-n", "--runs", type=int, default=5, help="samples per row")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--workdir", default="/tmp",
                    help="where the engines' roots and the data go (a tmpfs: /dev/shm)")
    ap.add_argument("--rows", default="", help="comma-separated row keys (default: all)")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/ops.py needs root (daemons, namespaces, cgroups)", file=sys.stderr)
        return 2
    missing = ensure_dockerd()
    if missing:
        print(f"bench/ops.py: {missing}", file=sys.stderr)
        return 2
    wanted = [r for r in ROWS if not args.rows or r.key in args.rows.split(",")]
    if any(r.key in ("cp-out", "cp-in-api", "cp-out-api") for r in wanted) and \
            not any(r.key == "cp-in" for r in wanted):
        wanted.insert(0, Row("cp-setup", "", None, lambda ctx, e, i: None, _cp_setup))
    if any(r.key == "stats-api" for r in wanted) and not any(r.key == "stats"
                                                            for r in wanted):
        wanted.insert(0, Row("stats-setup", "", None, lambda ctx, e, i: None, _stats_setup))
    os.makedirs(args.workdir, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-ops-", dir=args.workdir))
    try:
        log("making the data sets")
        ctx = Ctx(work, make_tree(work / "data100", 2000, 6),
                  make_tree(work / "data50", 1000, 3))
        sizes = tree_bytes(ctx.data100) / 1e6, tree_bytes(ctx.data50) / 1e6
        with engines_up(work) as (ours, ref):
            loads = [os.getloadavg()]
            log("making busybox in dockyardd, loading it into dockerd")
            ours.make_busybox()
            ref.docker("load", stdin=ours.docker("save", "busybox").stdout)
            ids = {e.name: e.docker("image", "inspect", "-f", "{{.Id}}", "busybox"
                                    ).stdout.decode().strip() for e in (ours, ref)}
            if ids[ours.name] != ids[ref.name]:
                raise RuntimeError(f"dockerd loaded busybox as {ids[ref.name]}")
            engines: list[Engine] = [ours, ref]
            null = NullEngine("floor", work / "null")
            null.root.mkdir()
            tar = work / "data100.tar"
            subprocess.run(["tar", "-C", str(work), "-cf", str(tar),
                            "--transform", "s,^data100,data,", "data100"], check=True)
            ctx.tar100 = tar
            null.start(tar)
            try:
                results: list[tuple[Row, Samples]] = []
                for row in wanted:
                    log(f"{row.key} x {args.runs}")
                    results.append((row, run_row(row, ctx, engines, args.runs, args.warmup,
                                                 null)))
                    loads.append(os.getloadavg())
            finally:
                null.stop()
            out = [f"dockyardd vs dockerd, the docker CLI as the client; {args.runs} samples "
                   f"per row (+{args.warmup} warm-up), interleaved; work dir {work} "
                   f"(data {sizes[0]:.0f} MB and {sizes[1]:.0f} MB)",
                   f"engines: {ours.version} | {ref.version} (overlay2)", "",
                   f"{'':<24} {'dockyardd: wall median, min-max, cpu':>37}  "
                   f"{'dockerd: the same':>27}  {'floor':>8}  {'wall':>6} {'cpu':>6}",
                   f"{'row':<24} {'':>27}  {'':>27}  {'':>8}  {'ratio':>6} {'ratio':>6}  "
                   "goal", "-" * 120]
            out += [report_line(row, s, ours.name, ref.name, null.name) for row, s in results
                    if row.label]
            out.append("")
            out.append("load average (1/5/15 min): " + ", then ".join(
                f"{a:.2f} {b:.2f} {c:.2f}" for a, b, c in loads) +
                f" on {os.cpu_count()} CPUs")
            if max(x[0] for x in loads) > (os.cpu_count() or 1) * 0.5:
                out.append("WARNING: the machine was busy; compare the columns, not "
                           "absolute figures")
            print("\n".join(out))
    finally:
        unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
