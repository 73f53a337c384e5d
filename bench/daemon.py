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
``ps -q``                        the floor: one CLI call that does nearly nothing
``run --rm busybox true``        one container, create → attach → wait → start → exit → rm
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
Goals (issue 4): run at most 0.25x dockerd's, exec at most 0.3x, idle cost under 0.5 MiB
per container; each goal is marked ``met`` or ``MISSED``. The memory row is printed twice
for dockyardd: with every engine process, and without the supervisor's spare pool (a fixed
number of pre-forked zygote children whatever the number of containers, whose PSS follows
its refill history rather than the containers); the goal is judged on the second, and the
per-process breakdown under the table shows both. A row an engine cannot do yet is
printed as NOT MEASURED with the reason.

Run as root: ``python3 bench/daemon.py [-n 20] [--rounds 3] [--idle 30]``. Everything it
starts (both daemons, containerd, shims, containers, mounts, cgroups, temp dirs) is
stopped and removed at the end, also when it fails.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
CGROUP_ROOT = Path("/sys/fs/cgroup")
IDLE_ARG = "31536001"  # ``sleep IDLE_ARG``: how the payloads are told from the engines
GOALS = {"run": 0.25, "exec": 0.3}
IDLE_GOAL_MIB = 0.5
CLI_TIMEOUT = 120
SETTLE_KIB = 256
SPARES = "supervisor forks (spares)"
SETTLE_TIMEOUT = 60.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- engines


@dataclass
class Engine:
    """One daemon the CLI talks to."""

    name: str
    root: Path
    proc: subprocess.Popen[bytes] | None = None
    cgroup_parent: str = ""
    version: str = ""
    log_file: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def sock(self) -> Path:
        return self.root / "engine.sock"

    def setup_env(self) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        self.env["DOCKER_HOST"] = f"unix://{self.sock}"
        self.env["DOCKER_CONFIG"] = str(self.root / "cli-config")

    def docker(self, *args: str, check: bool = True, stdin: bytes | None = None,
               timeout: int = CLI_TIMEOUT) -> subprocess.CompletedProcess[bytes]:
        p = subprocess.run(["timeout", "-k", "5", str(timeout), DOCKER, *args], input=stdin,
                           capture_output=True, env=self.env, check=False)
        if check and p.returncode != 0:
            raise RuntimeError(f"{self.name}: docker {' '.join(args)} exited {p.returncode}: "
                               f"{p.stderr.decode(errors='replace').strip()}")
        return p

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.docker("version", check=False, timeout=10).returncode != 0:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}: {self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start: {self.tail()}")
            time.sleep(0.2)

    def tail(self) -> str:
        if self.log_file is None or not self.log_file.exists():
            return ""
        return self.log_file.read_text(errors="replace")[-3000:]

    def engine_pids(self) -> list[int]:
        raise NotImplementedError

    def roles(self) -> dict[int, str]:
        """Names for the breakdown of the engine's memory."""
        return {}


class Dockyardd(Engine):
    def start(self) -> None:
        self.cgroup_parent = f"/dockyard-bench-daemon-{secrets.token_hex(3)}"
        self.log_file = self.root / "dockyardd.log"
        self.setup_env()
        argv = [sys.executable, "-m", "dockyard.entrypoints.dockyardd",
                "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "run"),
                "-H", f"unix://{self.sock}", "--cgroup-parent", self.cgroup_parent]
        with open(self.log_file, "wb") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready(60)
        self.version = "dockyardd (this tree)"

    def make_busybox(self) -> None:
        script = Path(sys.executable).parent / "dockyard-base-image"
        argv = [str(script)] if script.exists() else [
            sys.executable, "-m", "dockyard.entrypoints.base_image"]
        subprocess.run([*argv, "-H", f"unix://{self.sock}", "-q", "busybox"], check=True,
                       capture_output=True, timeout=300)

    def supervisor_pid(self) -> int | None:
        try:
            text = (self.root / "run" / "supervisor" / "supervisor.pid").read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def engine_pids(self) -> list[int]:
        roots = [p for p in (self.proc.pid if self.proc else None, self.supervisor_pid()) if p]
        return [p for p in descendants(roots) if not is_payload(p)]

    def roles(self) -> dict[int, str]:
        out = {p: SPARES for p in self.engine_pids()
               if "dockyard.runtime.supervisor" in cmdline(p)}
        if self.proc is not None:
            out[self.proc.pid] = "dockyardd"
        sv = self.supervisor_pid()
        if sv is not None:
            out[sv] = "supervisor"
        return out

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Live restore keeps the supervisor and its containers: stop them for good.
        state = self.root / "run" / "supervisor"
        pid = self.supervisor_pid()
        if (state / "supervisor.sock").exists():
            from dockyard.errors import DockyardError
            from dockyard.runtime.supervisor.client import SupervisorClient
            try:
                with SupervisorClient.for_state(str(state), timeout=30) as sv:
                    sv.shutdown(force=True)
            except (OSError, DockyardError) as exc:
                log(f"dockyardd: supervisor shutdown: {exc}")
        if pid is not None:
            wait_gone([pid], 10)
            kill_pids([pid])
        kill_cgroup_tree(self.cgroup_parent)
        unmount_under(self.root)


class Dockerd(Engine):
    def start(self, storage_driver: str) -> None:
        self.cgroup_parent = f"/dockerd-bench-{secrets.token_hex(3)}"
        self.log_file = self.root / "dockerd.log"
        self.setup_env()
        argv = ["dockerd", "--data-root", str(self.root / "data"),
                "--exec-root", str(self.root / "exec"), "--pidfile", str(self.root / "pid"),
                "-H", f"unix://{self.sock}", "--iptables=false", "--ip-masq=false",
                "--ip-forward=false", "--bridge=none", f"--storage-driver={storage_driver}",
                "--cgroup-parent", self.cgroup_parent]
        # A private mount namespace with a fresh /run: nothing of this dockerd or its
        # containerd lands in the host's /run.
        wrapped = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   'mount -t tmpfs -o mode=755 tmpfs /run && exec "$@"', "sh", *argv]
        with open(self.log_file, "wb") as out:
            self.proc = subprocess.Popen(wrapped, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready(90)
        v = self.docker("version", "--format", "{{.Server.Version}}").stdout.decode().strip()
        self.version = f"dockerd {v}"

    def shim_pids(self) -> list[int]:
        """This dockerd's containerd shims (they leave its process tree)."""
        address = str(self.root / "exec" / "containerd")
        return [p for p in all_pids() if "containerd-shim" in cmdline(p)
                and address in cmdline(p)]

    def engine_pids(self) -> list[int]:
        roots = [self.proc.pid] if self.proc else []
        return [p for p in descendants(roots + self.shim_pids()) if not is_payload(p)]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(RuntimeError):
                ids = self.docker("ps", "-aq", check=False, timeout=30).stdout.decode().split()
                if ids:
                    self.docker("rm", "-f", *ids, check=False, timeout=120)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(45)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shims = self.shim_pids()
        kill_pids(descendants(shims))
        kill_cgroup_tree(self.cgroup_parent)


# --------------------------------------------------------------------------- processes


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def children_map() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for pid in all_pids():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out.setdefault(ppid, []).append(pid)
    return out


def descendants(roots: list[int]) -> list[int]:
    kids = children_map()
    out: list[int] = []
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid in out:
            continue
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def is_payload(pid: int) -> bool:
    return cmdline(pid).split() == ["sleep", IDLE_ARG]


def pss_of(pid: int) -> int:
    """KiB; 0 for a process that has gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def kind_of(pid: int, roles: dict[int, str]) -> str:
    """What a process is, for the breakdown: its role, else its program's name."""
    if pid in roles:
        return roles[pid]
    words = cmdline(pid).split()
    return os.path.basename(words[0]) if words else "?"


def pss_by_kind(pids: list[int], roles: dict[int, str]) -> dict[str, tuple[int, int]]:
    """KiB and process count per kind of process."""
    out: dict[str, tuple[int, int]] = {}
    for pid in pids:
        kib, n = out.get(kind_of(pid, roles), (0, 0))
        out[kind_of(pid, roles)] = (kib + pss_of(pid), n + 1)
    return out


def wait_gone(pids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{p}").exists() for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


def kill_pids(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_gone(pids, 10)


def kill_cgroup_tree(parent: str) -> None:
    """Kill what is left in the cgroups under ``parent`` (thawed first), remove them."""
    if not parent:
        return
    rel = parent.strip("/")
    dirs: list[Path] = []
    for hierarchy in CGROUP_ROOT.iterdir():
        top = hierarchy / rel
        if top.is_dir():
            dirs += sorted((p for p in top.rglob("*") if p.is_dir()),
                           key=lambda p: len(p.parts), reverse=True)
            dirs.append(top)
    for d in dirs:
        if (d / "freezer.state").exists():
            with contextlib.suppress(OSError):
                (d / "freezer.state").write_text("THAWED")
    for _ in range(50):
        pids: set[int] = set()
        for d in dirs:
            with contextlib.suppress(OSError):
                pids.update(int(x) for x in (d / "cgroup.procs").read_text().split())
        if not pids:
            break
        kill_pids(sorted(pids))
    for d in dirs:
        with contextlib.suppress(OSError):
            d.rmdir()


def unmount_under(root: Path) -> None:
    prefix = os.path.realpath(root).rstrip("/") + "/"
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        points = [ln.split()[4] for ln in f]
    for mp in sorted((m for m in points if (m + "/").startswith(prefix)), key=len,
                     reverse=True):
        subprocess.run(["umount", "-l", mp], check=False, capture_output=True)


def ensure_dockerd() -> str | None:
    """``None`` if dockerd is there (installed with apt when missing), else why not."""
    if shutil.which("dockerd"):
        return None
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log("installing docker.io with apt (dockerd is missing)")
    # No service may start during the install: policy-rc.d says so while it runs.
    policy = Path("/usr/sbin/policy-rc.d")
    had_policy = policy.exists()
    if not had_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                        "docker.io"], env=env, capture_output=True, check=False)
    finally:
        if not had_policy:
            policy.unlink()
    return None if shutil.which("dockerd") else "docker.io could not be installed"


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
    before: dict[str, tuple[int, int]] = field(default_factory=dict)
    after: dict[str, tuple[int, int]] = field(default_factory=dict)
    n: int = 0
    note: str = ""

    @property
    def before_kib(self) -> int:
        return sum(kib for kib, _ in self.before.values())

    @property
    def after_kib(self) -> int:
        return sum(kib for kib, _ in self.after.values())

    @property
    def per_container_mib(self) -> float:
        return (self.after_kib - self.before_kib) / self.n / 1024 if self.n else float("nan")

    def per_container_without(self, kind: str) -> float:
        """The same, leaving out one kind of process (a fixed-size pool)."""
        b = self.before_kib - self.before.get(kind, (0, 0))[0]
        a = self.after_kib - self.after.get(kind, (0, 0))[0]
        return (a - b) / self.n / 1024 if self.n else float("nan")

    def breakdown(self) -> str:
        """``kind: MiB idle -> MiB with n (processes)`` for each kind of process."""
        parts = []
        for kind in sorted(set(self.before) | set(self.after)):
            b, nb = self.before.get(kind, (0, 0))
            a, na = self.after.get(kind, (0, 0))
            parts.append(f"{kind} {b / 1024:.1f}->{a / 1024:.1f} MiB ({nb}->{na})")
        return "; ".join(parts)


def settled(e: Engine, timeout: float = SETTLE_TIMEOUT) -> dict[str, tuple[int, int]]:
    """The engine's memory once it stopped moving: readings a second apart until two agree
    within ``SETTLE_KIB`` (spare pools refill and pre-fault their memory for a while after
    a burst of starts), or the last one after ``timeout``."""
    last = pss_by_kind(e.engine_pids(), e.roles())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = pss_by_kind(e.engine_pids(), e.roles())
        total = sum(k for k, _ in now.values())
        if abs(total - sum(k for k, _ in last.values())) <= SETTLE_KIB:
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


# --------------------------------------------------------------------------- report


def fmt_ms(v: float | None) -> str:
    return "—" if v is None else f"{v * 1e3:.0f} ms"


def latency_line(label: str, s: Samples, ours: str, ref: str, goal: float | None,
                 per: int = 1) -> str:
    m_o, m_r = s.median(ours), s.median(ref)
    cols = []
    for name in (ours, ref):
        med, p90 = s.median(name), s.p90(name)
        if med is None:
            cols.append(f"{'NOT MEASURED':>19}")
        else:
            cols.append(f"{fmt_ms(med / per):>9} {fmt_ms((p90 or 0) / per):>9}")
    ratio = f"{m_o / m_r:.2f}x" if m_o is not None and m_r else "—"
    verdict = ""
    if goal is not None and m_o is not None and m_r:
        verdict = f"<={goal:g}x {'met' if m_o / m_r <= goal else 'MISSED'}"
    line = f"{label:<32} {cols[0]}  {cols[1]}  {ratio:>6}  {verdict}"
    for name in (ours, ref):
        if name in s.notes:
            line += f"\n{'':<34}{name}: {s.notes[name]}"
    return line


def report(rows: dict[str, Samples], idle: dict[str, IdleCost], engines: list[Engine],
           args: argparse.Namespace, loads: list[tuple[float, float, float]],
           image_id: str) -> str:
    ours, ref = engines[0].name, engines[1].name
    out = [f"dockyardd vs dockerd, the docker CLI ({cli_version()}) as the client; "
           f"{args.runs} samples per latency row, {args.rounds} rounds of the batch rows, "
           "interleaved",
           f"engines: {engines[0].version} | {engines[1].version} "
           f"({args.dockerd_storage}, containerd {tool_version('containerd')}, "
           f"runc {tool_version('runc')})",
           f"busybox {image_id[:19]} in both", "",
           f"{'row':<32} {ours + ' median':>9} {'p90':>9}  {ref + ' med':>9} {'p90':>9}  "
           f"{'ratio':>6}  goal", "-" * 100]
    labels = {"floor": ("ps -q (the CLI's own floor)", None, 1),
              "run": ("run --rm busybox true", GOALS["run"], 1),
              "exec": ("exec bench-exec true", GOALS["exec"], 1),
              "seq": (f"{args.sequential} x create/start/wait/rm", None, 1),
              "seq1": ("  per container", None, args.sequential),
              "par": (f"{args.parallel} parallel run --rm (wall)", None, 1)}
    for key, (label, goal, per) in labels.items():
        samples = rows.get("seq" if key == "seq1" else key)
        if samples is not None:
            out.append(latency_line(label, samples, ours, ref, goal, per))
    o, r = idle.get(ours), idle.get(ref)
    if o is not None and r is not None:
        def cell(c: IdleCost) -> str:
            return f"{'NOT MEASURED':>19}" if c.note else f"{c.per_container_mib:>8.2f} MiB" \
                f"{'':>7}"
        ratio = "—" if o.note or r.note or r.per_container_mib <= 0 else \
            f"{o.per_container_mib / r.per_container_mib:.2f}x"
        out.append(f"{'idle PSS per sleep container':<32} {cell(o)}  {cell(r)}  {ratio:>6}")
        if not o.note and SPARES in o.before:
            # The spare pool is a fixed number of zygote forks whatever the number of
            # containers; its PSS moves with its refill history (spares of one refill
            # share their pages, of two refills do not), not with the containers.
            lean = o.per_container_without(SPARES)
            verdict = f"<{IDLE_GOAL_MIB} MiB {'met' if lean < IDLE_GOAL_MIB else 'MISSED'}"
            out.append(f"{'  without the spare pool':<32} {lean:>8.2f} MiB{'':>7}  "
                       f"{'':>19}  {'':>6}  {verdict}")
        for name, c in ((ours, o), (ref, r)):
            if c.note:
                out.append(f"{'':<34}{name}: {c.note}")
            else:
                out.append(f"{'':<34}{name}: engine PSS {c.before_kib / 1024:.1f} MiB idle, "
                           f"{c.after_kib / 1024:.1f} MiB with {c.n} containers")
                out.append(f"{'':<36}{c.breakdown()}")
    out.append("")
    out.append("load average (1/5/15 min): " + ", then ".join(
        f"{a:.2f} {b:.2f} {c:.2f}" for a, b, c in loads) + f" on {os.cpu_count()} CPUs")
    if max(x[0] for x in loads) > (os.cpu_count() or 1) * 0.5:
        out.append("WARNING: the machine was busy; compare the columns, not absolute figures")
    return "\n".join(out)


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
def engines_up(work: Path, storage: str) -> Iterator[tuple[Dockyardd, Dockerd]]:
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
        ref.start(storage)
        yield ours, ref


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("-n", "--runs", type=int, default=20, help="samples per latency row")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the batch rows")
    ap.add_argument("--sequential", type=int, default=30)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--idle", type=int, default=30, help="idle containers for the PSS row")
    ap.add_argument("--dockerd-storage", default="overlay2")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/daemon.py needs root (daemons, namespaces, cgroups)", file=sys.stderr)
        return 2
    missing = ensure_dockerd()
    if missing:
        print(f"bench/daemon.py: {missing}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-daemon-", dir="/tmp"))
    try:
        with engines_up(work, args.dockerd_storage) as (ours, ref):
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
            rows: dict[str, Samples] = {}
            log(f"ps -q x {args.runs}")
            rows["floor"] = Samples()
            interleave(engines, args.runs, cli_floor, rows["floor"])
            log(f"run --rm busybox true x {args.runs}")
            rows["run"] = Samples()
            interleave(engines, args.runs, run_true, rows["run"])
            log(f"exec x {args.runs}")
            rows["exec"] = Samples()
            for e in engines:
                e.docker("run", "-d", "--name", "bench-exec", "busybox", "sleep", "600")
            interleave(engines, args.runs, exec_true, rows["exec"])
            for e in engines:
                e.docker("rm", "-f", "bench-exec")
            log(f"{args.sequential} sequential x {args.rounds}")
            rows["seq"] = Samples()
            interleave(engines, args.rounds, sequential(args.sequential), rows["seq"],
                       warmup=0)
            log(f"{args.parallel} parallel x {args.rounds}")
            rows["par"] = Samples()
            interleave(engines, args.rounds, parallel(args.parallel), rows["par"])
            loads.append(os.getloadavg())
            idle = {}
            for e in engines:
                log(f"idle PSS with {args.idle} containers: {e.name}")
                idle[e.name] = idle_cost(e, args.idle)
            loads.append(os.getloadavg())
            print(report(rows, idle, engines, args, loads, image_id))
    finally:
        unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
