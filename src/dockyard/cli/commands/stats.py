"""``stats``: containers' resource usage as docker's table, once (``--no-stream``) or
redrawn every half second.

One thread per container reads ``GET /containers/{id}/stats`` (a JSON stream, or one
answer with ``stream=0``) and keeps the latest sample; the main thread renders them. The
figures are the docker CLI's (``stats_helpers.go``): CPU % from the deltas between the
sample and its ``precpu_stats`` times the online CPUs, memory without the inactive file
cache, network and block I/O summed over interfaces and devices.
"""

from __future__ import annotations

import threading
import time

from dockyard.cli.args import BOOL, STRING, Flag, Spec
from dockyard.cli.commands.containers import cpath
from dockyard.cli.context import PROG, Context, StatusError, error_text
from dockyard.cli.format.rows import Row
from dockyard.errors import DockyardError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.client.http import Client

TABLE = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t" \
        "{{.BlockIO}}\t{{.PIDs}}"
HEADERS = {"Container": "CONTAINER", "Name": "NAME", "ID": "CONTAINER ID",
           "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %",
           "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}

STATS = Spec(f"{PROG} stats", f"{PROG} stats [OPTIONS] [CONTAINER...]",
             "Display a live stream of container(s) resource usage statistics", [
                 Flag("all", BOOL, "Show all containers (default shows just running)",
                      short="a"),
                 Flag("format", STRING, "Format output using a custom template:\n"
                      "'table':            Print output in table format with column "
                      "headers (default)\n"
                      "'table TEMPLATE':   Print output in table format using the given Go "
                      "template\n'json':             Print in JSON format\n"
                      "'TEMPLATE':         Print output using the given Go template"),
                 Flag("no-stream", BOOL, "Disable streaming stats and only pull the first "
                      "result"),
                 Flag("no-trunc", BOOL, "Do not truncate output"),
             ], aliases=[f"{PROG} container stats", f"{PROG} stats"])


def cpu_percent(s: dict[str, Any]) -> float:
    cpu = s.get("cpu_stats") or {}
    pre = s.get("precpu_stats") or {}
    cpu_delta = ((cpu.get("cpu_usage") or {}).get("total_usage") or 0) - \
        ((pre.get("cpu_usage") or {}).get("total_usage") or 0)
    system_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage")
                                           or [])
    if system_delta > 0 and cpu_delta > 0:
        return cpu_delta / system_delta * online * 100.0
    return 0.0


def memory_usage(s: dict[str, Any]) -> tuple[float, float]:
    """``(usage without the inactive file cache, limit)``, as docker computes them."""
    mem = s.get("memory_stats") or {}
    usage = mem.get("usage") or 0
    stats = mem.get("stats") or {}
    if "total_inactive_file" in stats:  # cgroup v1
        if stats["total_inactive_file"] < usage:
            usage -= stats["total_inactive_file"]
    elif stats.get("inactive_file", usage) < usage:
        usage -= stats["inactive_file"]
    return float(usage), float(mem.get("limit") or 0)


def io_totals(s: dict[str, Any]) -> tuple[int, int, int, int]:
    """``(net rx, net tx, block read, block write)`` in bytes."""
    rx = tx = 0
    for net in (s.get("networks") or {}).values():
        rx += net.get("rx_bytes") or 0
        tx += net.get("tx_bytes") or 0
    read = write = 0
    for entry in (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = str(entry.get("op", "")).lower()
        if op == "read":
            read += entry.get("value") or 0
        elif op == "write":
            write += entry.get("value") or 0
    return rx, tx, read, write


def stats_row(container: str, s: dict[str, Any] | None, *, trunc: bool) -> Row:
    """docker's ``statsContext`` for one container (``--`` while no sample arrived)."""
    from dockyard.cli.format.human import bytes_size, human_size, truncate_id

    if not s:
        cid = truncate_id(container) if trunc else container
        return Row({"Container": container, "Name": "--", "ID": cid, "CPUPerc": "--",
                    "MemUsage": "-- / --", "MemPerc": "--", "NetIO": "--", "BlockIO": "--",
                    "PIDs": "--"})
    usage, limit = memory_usage(s)
    rx, tx, read, write = io_totals(s)
    name = str(s.get("name") or "")
    ident = str(s.get("id") or container)
    return Row({
        "Container": container,
        "Name": name[1:] if len(name) > 1 else "--",
        "ID": truncate_id(ident) if trunc else ident,
        "CPUPerc": f"{cpu_percent(s):.2f}%",
        "MemUsage": f"{bytes_size(usage)} / {bytes_size(limit)}",
        "MemPerc": f"{(usage / limit * 100.0) if limit else 0.0:.2f}%",
        "NetIO": f"{human_size(rx, 3)} / {human_size(tx, 3)}",
        "BlockIO": f"{human_size(read, 3)} / {human_size(write, 3)}",
        "PIDs": str((s.get("pids_stats") or {}).get("current") or 0),
    })


class Collector:
    """The latest sample of each container, filled by one thread per container."""

    def __init__(self, client: Client, *, stream: bool) -> None:
        self.client = client
        self.stream = stream
        self.lock = threading.Lock()
        self.samples: dict[str, dict[str, Any]] = {}
        self.errors: dict[str, str] = {}
        self.threads: dict[str, threading.Thread] = {}
        self.ended: set[str] = set()  # streams the daemon closed (the container stopped)

    def add(self, container: str) -> None:
        with self.lock:
            if container in self.threads and container not in self.ended:
                return
            self.ended.discard(container)
        t = threading.Thread(target=self._collect, args=(container,), daemon=True)
        self.threads[container] = t
        t.start()

    def _collect(self, container: str) -> None:
        try:
            resp = self.client.get(cpath(container, "stats"), {"stream": self.stream})
            with resp:
                if not self.stream:
                    sample = resp.json()
                    with self.lock:
                        self.samples[container] = sample
                    return
                for sample in resp.iter_json():
                    with self.lock:
                        self.samples[container] = sample
            with self.lock:
                self.ended.add(container)
        except DockyardError as exc:
            with self.lock:
                self.errors[container] = error_text(exc)

    def wait(self) -> None:
        for t in list(self.threads.values()):
            t.join()


def stats(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(STATS, argv)
    fmt = opts.text("format") or "table"
    if fmt == "table":
        fmt = TABLE
    trunc = not opts.flag("no-trunc")
    client = ctx.client()
    named = list(opts.args)
    stream = not opts.flag("no-stream")
    collector = Collector(client, stream=stream)

    def containers() -> list[str]:
        if named:
            return named
        listed = client.get("/containers/json", {"all": opts.flag("all")}).json() or []
        return [str(c.get("Id")) for c in listed]

    for c in containers():
        collector.add(c)
    if not stream:
        collector.wait()
        if not named or len(collector.errors) < len(named):
            ctx.out.write(_render(fmt, collector, list(collector.threads), trunc=trunc))
        return _fail_on_errors(collector, named)
    try:
        while True:
            time.sleep(0.5)
            if not named:
                for c in containers():
                    collector.add(c)
            with collector.lock:
                gone = [c for c in collector.errors if c in collector.threads]
            if named and gone and len(gone) == len(named):
                return _fail_on_errors(collector, named)
            with collector.lock:
                shown = [c for c in collector.threads if c not in collector.errors
                         and (named or opts.flag("all") or c not in collector.ended)]
            text = _render(fmt, collector, shown, trunc=trunc)
            screen = "\033[H" + "".join(f"{line}\033[K\n" for line in text.splitlines())
            ctx.out.write(screen + "\033[J")
            ctx.out.flush()
    except KeyboardInterrupt:
        return 0


def _render(fmt: str, collector: Collector, order: list[str], *, trunc: bool) -> str:
    from dockyard.cli.format.table import render_rows
    from dockyard.cli.format.template import TemplateError

    with collector.lock:
        rows = [stats_row(c, collector.samples.get(c), trunc=trunc) for c in order
                if c not in collector.errors]
    try:
        return render_rows(fmt, rows, HEADERS)
    except TemplateError as err:
        raise StatusError(str(err), 1) from None


def _fail_on_errors(collector: Collector, named: list[str]) -> int:
    if collector.errors and named:
        raise StatusError("\n".join(collector.errors[c] for c in named
                                    if c in collector.errors), 1)
    return 0
