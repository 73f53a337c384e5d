"""Harness for the supervisor's integration tests (imported by ``test_supervisor*.py``).

``supervisor`` gives a test a running supervisor on a private, short state directory (unix
socket paths are limited to 107 bytes), a private runtime ``--root``, and a teardown that
cleans up for certain even when the test failed: a forced shutdown (kills and records every
container), then SIGKILL of the supervisor if it is still there, ``delete --force`` of
every container the test made in runc and in the in-process runtime, removal of the test
cgroups, and of the temporary directories. Containers get unique ids and a
``linux.cgroupsPath`` of ``/dockyard-test/<id>``.

This file holds no tests itself; pytest collects it and finds none. Test modules import
the fixtures by their function names (``supervisor_fixture``, ``any_supervisor_fixture``)
and use them by their fixture names (``supervisor``, ``any_supervisor``).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dockyard import errors
from dockyard.runtime.supervisor.client import (
    RuntimeKind,
    RuntimeSpec,
    SupervisorClient,
    spawn_supervisor,
)

T = TypeVar("T")
CGROUP_PARENT = "dockyard-test"
CGROUP_ROOT = Path("/sys/fs/cgroup")


def launcher_available() -> bool:
    try:
        from dockyard.runtime import launcher  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


# Every runtime the supervisor is tested with.
RUNTIME_KINDS = [
    pytest.param("runc", id="runc"),
    pytest.param("in-process", id="in-process"),
]


def wait_for(probe: Callable[[], T | None], timeout: float, what: str,
             interval: float = 0.01) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def clamp_rlimits(spec: dict[str, Any]) -> None:
    """No CAP_SYS_RESOURCE here: keep rlimits within our own hard limits."""
    for rl in spec.get("process", {}).get("rlimits", []) or []:
        kind = getattr(resource, rl["type"], None)
        if kind is None:
            continue
        _soft, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            rl["hard"] = min(int(rl["hard"]), hard)
            rl["soft"] = min(int(rl["soft"]), rl["hard"])


def read_log(path: Path) -> list[dict[str, Any]]:
    """Every complete json-file entry of a log (a last line being written is skipped)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in raw.split(b"\n")[:-1] if line]


def cgroup_dirs(cid: str) -> list[Path]:
    out = []
    for h in CGROUP_ROOT.iterdir():
        d = h / CGROUP_PARENT / cid
        if d.is_dir():
            out.append(d)
    return out


def clean_cgroups(cid: str) -> None:
    """Kill anything left in the test cgroups of ``cid`` and remove them."""
    remove_cgroup_dirs(cgroup_dirs(cid))


def remove_cgroup_dirs(dirs: list[Path]) -> None:
    """Kill anything left in the cgroup directories ``dirs`` and remove them, in order
    (children first)."""
    for d in dirs:
        freezer = d / "freezer.state"
        if freezer.exists():
            with contextlib.suppress(OSError):
                freezer.write_text("THAWED")
        with contextlib.suppress(OSError):
            for pid in (d / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + 10
    for d in dirs:
        while d.exists():
            try:
                d.rmdir()
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)


@dataclass
class Harness:
    """A supervisor for one test, and what the test made with it."""

    state: Path
    work: Path
    runc_root: Path
    inproc_root: Path
    make_bundle: Callable[..., Path]
    pid: int = 0
    ids: list[str] = field(default_factory=list)
    clients: list[SupervisorClient] = field(default_factory=list)
    kind: str = "runc"

    def client(self) -> SupervisorClient:
        c = SupervisorClient.for_state(str(self.state), timeout=60)
        self.clients.append(c)
        return c

    def runtime(self, kind: str | None = None) -> RuntimeSpec:
        kind = kind or self.kind
        if kind == "runc":
            return RuntimeSpec(RuntimeKind.OCI_CLI, root=str(self.runc_root), binary="runc")
        return RuntimeSpec(RuntimeKind.IN_PROCESS, root=str(self.inproc_root))

    def new_id(self, label: str = "sv") -> str:
        cid = f"{label}-{secrets.token_hex(4)}"
        self.ids.append(cid)
        return cid

    def bundle(self, args: list[str], *, tty: bool = False,
               edit: Callable[[dict[str, Any]], None] | None = None,
               label: str = "sv") -> tuple[str, Path]:
        cid = self.new_id(label)

        def full(spec: dict[str, Any]) -> None:
            spec["linux"]["cgroupsPath"] = f"/{CGROUP_PARENT}/{cid}"
            spec["process"]["terminal"] = tty
            if tty:
                spec["process"]["env"].append("TERM=xterm")
            clamp_rlimits(spec)
            if edit is not None:
                edit(spec)

        return cid, self.make_bundle(args, edit=full, name=f"bundle-{cid}")

    def log_path(self, cid: str) -> Path:
        return self.work / "logs" / f"{cid}-json.log"

    def create(self, client: SupervisorClient, args: list[str], *, tty: bool = False,
               stdin: bool = False, log_options: dict[str, str] | None = None,
               label: str = "sv", **kw: Any) -> str:
        cid, bundle = self.bundle(args, tty=tty, label=label)
        client.create(cid, str(bundle), self.runtime(), log_path=str(self.log_path(cid)),
                      log_options=log_options, tty=tty, stdin=stdin, **kw)
        return cid

    def cleanup(self) -> None:
        for c in self.clients:
            c.close()
        pid = self.pid or _read_pid(self.state / "supervisor.pid")
        if pid and pid_alive(pid):
            try:
                with SupervisorClient.for_state(str(self.state), timeout=30) as c:
                    c.shutdown(force=True)
            except (errors.DockyardError, OSError):
                pass  # it is killed below either way
            deadline = time.monotonic() + 10
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        for cid in self.ids:
            subprocess.run(["runc", "--root", str(self.runc_root), "delete", "--force", cid],
                           capture_output=True, timeout=30, check=False)
            if launcher_available() and (self.inproc_root / cid).exists():
                from dockyard.runtime import launcher

                with contextlib.suppress(errors.DockyardError, OSError):
                    launcher.delete(str(self.inproc_root), cid, force=True)
            clean_cgroups(cid)
        for h in CGROUP_ROOT.iterdir():
            with contextlib.suppress(OSError):
                (h / CGROUP_PARENT).rmdir()


def _read_pid(path: Path) -> int:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return 0
    return int(text) if text.isdigit() else 0


@contextlib.contextmanager
def harness(make_bundle: Callable[..., Path], *, start: bool = True,
            kind: str = "runc") -> Iterator[Harness]:
    if os.geteuid() != 0:
        pytest.skip("the supervisor's integration tests need root")
    top = Path(tempfile.mkdtemp(prefix="dy-sv-", dir="/tmp"))
    h = Harness(state=top / "st", work=top / "w", runc_root=top / "runc",
                inproc_root=top / "dy", make_bundle=make_bundle, kind=kind)
    for d in (h.work, h.runc_root, h.inproc_root):
        d.mkdir()
    try:
        if start:
            h.pid = spawn_supervisor(str(h.state))
        yield h
    finally:
        try:
            h.cleanup()
        finally:
            shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(name="supervisor")
def supervisor_fixture(make_bundle: Callable[..., Path]) -> Iterator[Harness]:
    """A running supervisor (runc driver) for one test, cleaned up for certain."""
    with harness(make_bundle) as h:
        yield h


@pytest.fixture(name="any_supervisor", params=RUNTIME_KINDS)
def any_supervisor_fixture(request: pytest.FixtureRequest,
                   make_bundle: Callable[..., Path]) -> Iterator[Harness]:
    """A running supervisor whose containers use each runtime driver in turn."""
    with harness(make_bundle, kind=str(request.param)) as h:
        yield h
