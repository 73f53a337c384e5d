"""A real ``dockyardd`` for tests: temp socket, temp data and exec roots, its own cgroup
parent, the offline busybox image, and a cleanup that leaves nothing behind even when the
test failed.

``Daemon.cleanup()`` (run by the fixtures in a ``finally``), in order:

1. SIGKILL the daemon if it still runs;
2. ``shutdown --force`` the supervisor (it kills every container and records the exits),
   then SIGKILL it if it has not gone within 10 s;
3. kill whatever is left in the test's cgroups (thawed first), remove them leaf first;
4. unmount everything under the test's root (rootfs overlays), deepest first;
5. remove the root.

``leftovers()`` lists what a clean shutdown should not have left (mounts, cgroups,
processes in them, supervisor records, bundles, snapshots of containers), so tests can
assert "nothing left after rm".

This module holds no tests. Test modules load it by path (``load_harness``), because the
test directories are not packages.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CGROUP_ROOT = Path("/sys/fs/cgroup")
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
START_TIMEOUT = 30.0
RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")
"""The start of a record of the daemon's log (``LOG_FORMAT`` of ``dockyardd``)."""


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def wait_for(probe: Any, timeout: float, what: str, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def mounts_under(path: str) -> list[str]:
    root = os.path.realpath(path).rstrip("/") + "/"
    out = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if (mp + "/").startswith(root):
                out.append(mp)
    return sorted(out, key=len, reverse=True)


@dataclass
class Daemon:
    root: Path
    cgroup_parent: str
    proc: subprocess.Popen[bytes] | None = None
    log_file: Any = None
    starts: int = 0
    extra_args: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ paths

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def exec_root(self) -> Path:
        return self.root / "run"

    @property
    def socket(self) -> Path:
        return self.root / "d.sock"

    @property
    def log_path(self) -> Path:
        return self.root / "daemon.log"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["DOCKER_HOST"] = self.host
        env["DOCKER_CONFIG"] = str(self.root / "docker-config")
        return env

    # ------------------------------------------------------------------ lifecycle

    def make_busybox(self) -> str:
        from dockyard.image import ImageService

        with ImageService.open(str(self.data_root)) as images:
            return str(images.make_busybox().id)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "dockyard.entrypoints.dockyardd",
                "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
                "-H", self.host, "--cgroup-parent", self.cgroup_parent, "--log-level",
                "debug", *self.extra_args]

    def start(self, wait: bool = True) -> None:
        self.log_file = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop/cleanup)
        self.log_file.write(f"---- start {self.starts}\n".encode())
        self.log_file.flush()
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=self.log_file, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.starts += 1
        if wait:
            wait_for(self._ready, START_TIMEOUT, f"dockyardd on {self.socket}\n{self.tail()}")

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"dockyardd exited with {self.proc.returncode}:\n"
                                 f"{self.tail()}")
        try:
            return self.request("GET", "/_ping", timeout=2).status == 200
        except OSError:
            return False

    def tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def errors(self) -> list[str]:
        """The daemon's ERROR records, each with the traceback lines that follow it (a
        clean run has none; the whole traceback, for a failure that does not come back)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        out: list[str] = []
        inside = False
        for ln in lines:
            if " ERROR " in ln or ln.startswith("Traceback"):
                inside = True
            elif RECORD.match(ln):  # the next log record
                inside = False
            if inside:
                out.append(ln)
        return out

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        """Signal the daemon and wait for it; its exit status."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None
        return code

    def supervisor_pid(self) -> int | None:
        try:
            text = (self.exec_root / "supervisor" / "supervisor.pid").read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    # ------------------------------------------------------------------ clients

    def request(self, method: str, path: str, body: Any = None, *,
                headers: Mapping[str, str] | None = None, timeout: float = 30.0,
                raw: bytes | None = None) -> Response:
        conn = UnixHTTPConnection(str(self.socket), timeout)
        try:
            hdrs = dict(headers or {})
            data = raw
            if body is not None:
                data = json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return Response(resp.status, dict(resp.getheaders()), resp.read())
        finally:
            conn.close()

    def docker(self, *args: str, input: bytes | None = None, timeout: float = 60.0,
               check: bool = False) -> subprocess.CompletedProcess[str]:
        """The real docker CLI against this daemon, under ``timeout``."""
        proc = subprocess.run(["timeout", "-k", "5", str(int(timeout)), DOCKER, *args],
                              input=input.decode() if input is not None else None,
                              capture_output=True, text=True, env=self.env(), check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}:\n"
                                 f"{proc.stdout}\n{proc.stderr}\n--- daemon log:\n"
                                 f"{self.tail()}")
        return proc

    # ------------------------------------------------------------------ cleanup

    def cgroup_dirs(self) -> list[Path]:
        rel = self.cgroup_parent.strip("/")
        out = []
        for h in CGROUP_ROOT.iterdir():
            d = h / rel
            if d.is_dir():
                out.extend(sorted((p for p in d.rglob("*") if p.is_dir()),
                                  key=lambda p: len(p.parts), reverse=True))
                out.append(d)
        return out

    def cgroup_pids(self, *, spares: bool = True) -> set[int]:
        pids: set[int] = set()
        for d in self.cgroup_dirs():
            if not spares and d.name.startswith(".spare-"):
                continue
            with contextlib.suppress(OSError):
                pids.update(int(x) for x in (d / "cgroup.procs").read_text().split())
        return pids

    def settle(self, timeout: float = 30.0) -> None:
        """Wait (a running daemon) until the background cleanup of every removed container
        has ended (``POST /dockyard/containers/settle``)."""
        if self.proc is not None and self.proc.poll() is None:
            resp = self.request("POST", "/dockyard/containers/settle", timeout=timeout)
            assert resp.status == 204, (resp.status, resp.body)

    def leftovers(self) -> list[str]:
        """What a clean removal of every container should not leave behind (once the
        daemon's background cleanups have ended)."""
        self.settle()
        self._supervisor_settled()
        out = [f"mount {m}" for m in mounts_under(str(self.root))]
        # The parent itself stays, and the supervisor's spare cgroups (its pool of
        # pre-placed processes, ".spare-<pid>-<rand>") live as long as the supervisor.
        out += [f"cgroup {d}" for d in self.cgroup_dirs()
                if d.name != self.cgroup_parent.strip("/").rsplit("/", 1)[-1]
                and not d.name.startswith(".spare-")]
        out += [f"process {p} in a container cgroup" for p in self.cgroup_pids(spares=False)]
        for sub in ("run/supervisor/containers", "run/bundles", "data/containers"):
            d = self.root / sub
            if d.is_dir():
                out += [f"{sub}/{name}" for name in os.listdir(d)]
        return out

    def cleanup(self) -> None:
        if self.proc is not None:
            self.stop(signal.SIGKILL)
        self._stop_supervisor()
        self._clean_cgroups()
        for mp in mounts_under(str(self.root)):
            subprocess.run(["umount", "-l", mp], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def _supervisor_settled(self) -> None:
        """The supervisor removes a deleted container's record right after its reply,
        before it answers anything else: one answered ping proves it done."""
        from dockyard.errors import DockyardError
        from dockyard.runtime.supervisor.client import SupervisorClient

        state = self.exec_root / "supervisor"
        if (state / "supervisor.sock").exists():
            with contextlib.suppress(OSError, DockyardError), \
                    SupervisorClient.for_state(str(state), timeout=30) as sv:
                sv.ping()  # none there (stopped): nothing pending either

    def _stop_supervisor(self) -> None:
        from dockyard.errors import DockyardError
        from dockyard.runtime.supervisor.client import SupervisorClient

        state = self.exec_root / "supervisor"
        pid = self.supervisor_pid()
        if (state / "supervisor.sock").exists():
            with contextlib.suppress(OSError, DockyardError), \
                    SupervisorClient.for_state(str(state), timeout=30) as sv:
                sv.shutdown(force=True)
        if pid is not None:
            deadline = time.monotonic() + 10
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def _clean_cgroups(self) -> None:
        for d in self.cgroup_dirs():
            freezer = d / "freezer.state"
            if freezer.exists():
                with contextlib.suppress(OSError):
                    freezer.write_text("THAWED")
        for _ in range(50):
            pids = self.cgroup_pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        for d in self.cgroup_dirs():
            with contextlib.suppress(OSError):
                d.rmdir()


def new_daemon(prefix: str = "dyd-") -> Daemon:
    """A daemon (not started) with the busybox image in its data root."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    d = Daemon(root, f"/dockyard-it-{secrets.token_hex(4)}")
    try:
        d.make_busybox()
    except BaseException:
        d.cleanup()
        raise
    return d
