"""The engines ``bench/daemon.py`` compares, and the process, memory, cgroup and mount
helpers it measures and cleans up with.

``Dockyardd`` is this tree's daemon on temp roots with its own cgroup parent; ``Dockerd`` is
Debian's dockerd (with the containerd it starts) in a private mount namespace with a fresh
tmpfs on ``/run``. Each knows its engine processes (for PSS) and how to stop everything it
started: containers, daemons, the supervisor or the shims, cgroups, mounts.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
CGROUP_ROOT = Path("/sys/fs/cgroup")
IDLE_ARG = "31536001"  # ``sleep IDLE_ARG``: how the payloads are told from the engines
CLI_TIMEOUT = 120
SPARES = "supervisor forks (spares)"


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


class StubEngine(Engine):
    """A no-work Engine API stub of bench/ (``script``: ``daemon_null.py``,
    ``ops_null.py``), the docker CLI's floor: started on the engine's socket with the
    stub's own arguments, stopped with SIGTERM."""

    script = ""

    def start_stub(self, *args: str) -> None:
        self.setup_env()
        self.log_file = self.root / "null.log"
        script = Path(__file__).resolve().parent / self.script
        with open(self.log_file, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, str(script), str(self.sock), *args],
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while not self.sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.script} did not start: {self.tail()}")
            time.sleep(0.05)
        self.version = "no-work stub"

    def engine_pids(self) -> list[int]:
        return [self.proc.pid] if self.proc is not None else []

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


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


@dataclass(frozen=True)
class Usage:
    """Memory of some processes, KiB: PSS (shared pages split among their users) and USS
    (private pages only: what the processes alone hold), and how many processes."""

    pss: int = 0
    uss: int = 0
    n: int = 0

    def plus(self, other: Usage) -> Usage:
        return Usage(self.pss + other.pss, self.uss + other.uss, self.n + other.n)


def usage_of(pid: int) -> Usage:
    """One process's memory; nothing for a process that has gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return Usage()
    fields = {}
    for line in text.splitlines()[1:]:
        name, _, rest = line.partition(":")
        fields[name] = int(rest.split()[0])
    return Usage(fields.get("Pss", 0),
                 fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0), 1)


def kind_of(pid: int, roles: dict[int, str]) -> str:
    """What a process is, for the breakdown: its role, else its program's name."""
    if pid in roles:
        return roles[pid]
    words = cmdline(pid).split()
    return os.path.basename(words[0]) if words else "?"


def usage_by_kind(pids: list[int], roles: dict[int, str]) -> dict[str, Usage]:
    out: dict[str, Usage] = {}
    for pid in pids:
        kind = kind_of(pid, roles)
        out[kind] = out.get(kind, Usage()).plus(usage_of(pid))
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
