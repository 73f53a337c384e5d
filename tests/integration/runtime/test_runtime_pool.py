"""The spare pool (``dockyard.runtime.pool``): creates through a spare, on real cgroups.

In-process tests make this process the zygote (a ``SparePool`` of the launcher) and compare
a container created through a spare with one created by the normal path: the same cgroup
in every hierarchy (``/proc/<pid>/cgroup``), the same resources, the same device rules
(mknod allowed, reading a block device denied). Supervisor tests check the pool's life in
the supervisor: it refills when idle, falls back for another parent, leaves nothing after
a shutdown, and a supervisor killed with SIGKILL has its stale spares cleaned by the next.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.errors import DockyardError
from dockyard.linux.syscalls import PR_SET_CHILD_SUBREAPER, prctl
from dockyard.runtime import launcher
from dockyard.runtime.pool import SPARE_PREFIX, SparePool

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_supervisor_support import (
    CGROUP_PARENT,
    CGROUP_ROOT,
    Harness,
    clamp_rlimits,
    clean_cgroups,
    harness,
    pid_alive,
    remove_cgroup_dirs,
    wait_for,
)

pytestmark = [pytest.mark.root]

PARENT = f"/{CGROUP_PARENT}"
MEMORY_LIMIT = 96 << 20
PIDS_LIMIT = 42
DISK_MARKER = b"dockyard-pool-marker"


def hierarchies() -> list[Path]:
    return sorted(p for p in CGROUP_ROOT.iterdir() if p.is_dir())


def spare_dirs(parent: str = PARENT) -> list[Path]:
    out = []
    for h in hierarchies():
        base = h / parent.strip("/")
        if base.is_dir():
            out += [d for d in base.iterdir() if d.name.startswith(SPARE_PREFIX)]
    return out


def spare_pids(dirs: list[Path]) -> set[int]:
    pids: set[int] = set()
    for d in dirs:
        with contextlib.suppress(OSError):
            pids.update(int(p) for p in (d / "cgroup.procs").read_text().split())
    return pids


def cgroup_lines(pid: int, cid: str) -> list[str]:
    """/proc/<pid>/cgroup with the container id made generic."""
    return sorted(line.replace(cid, "<id>")
                  for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines())


@contextlib.contextmanager
def subreaper() -> Iterator[None]:
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    try:
        yield
    finally:
        prctl(PR_SET_CHILD_SUBREAPER, 0)


class Zygote:
    """This process as the zygote: a pool, a state root, containers cleaned up for sure."""

    def __init__(self, tmp_path: Path, make_bundle: Callable[..., Path], size: int) -> None:
        self.root = tmp_path / "root"
        self.root.mkdir()
        self.make_bundle = make_bundle
        self.pool: SparePool = launcher.make_pool(size)
        self.ids: list[str] = []

    def fill(self, parent: str = PARENT) -> None:
        self.pool.want(parent)
        while self.pool.fill_one():
            pass
        wait_for(lambda: self.pool.ready_count(parent) >= self.pool.size, 10,
                 "the spares to be ready")

    def bundle(self, args: list[str], edit: Callable[[dict[str, Any]], None] | None = None,
               parent: str = PARENT) -> tuple[str, Path]:
        cid = f"pool-{secrets.token_hex(4)}"
        self.ids.append(cid)

        def full(spec: dict[str, Any]) -> None:
            spec["linux"]["cgroupsPath"] = f"{parent}/{cid}"
            spec["linux"]["resources"]["memory"] = {"limit": MEMORY_LIMIT}
            spec["linux"]["resources"]["pids"] = {"limit": PIDS_LIMIT}
            clamp_rlimits(spec)
            if edit is not None:
                edit(spec)

        return cid, self.make_bundle(args, edit=full, name=f"b-{cid}")

    def create(self, args: list[str], *, use_pool: bool,
               edit: Callable[[dict[str, Any]], None] | None = None,
               parent: str = PARENT) -> tuple[str, int, int]:
        """create with stdout and stderr on one pipe; (id, pid, read end)."""
        cid, bundle = self.bundle(args, edit, parent)
        r, w = os.pipe()
        try:
            st = launcher.create(str(self.root), cid, str(bundle),
                                 stdio=launcher.Stdio(None, w, w),
                                 pool=self.pool if use_pool else None)
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(w)
        return cid, st.pid, r

    def run(self, cid: str, pid: int, r: int) -> str:
        """start, read the output to its end, reap, delete."""
        try:
            launcher.start(str(self.root), cid)
            out = b""
            while chunk := os.read(r, 65536):
                out += chunk
        finally:
            os.close(r)
        os.waitpid(pid, 0)
        launcher.delete(str(self.root), cid)
        return out.decode()

    def cleanup(self) -> None:
        self.pool.close()
        for cid in self.ids:
            with contextlib.suppress(Exception):
                launcher.delete(str(self.root), cid, force=True)
            clean_cgroups(cid)
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break


@pytest.fixture
def zygote(tmp_path: Path, make_bundle: Callable[..., Path]) -> Iterator[Zygote]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    z = Zygote(tmp_path, make_bundle, 2)
    if not z.pool.enabled:
        pytest.skip("no spare pool on a cgroup v2 host (cgroup2 cannot rename)")
    with subreaper():
        try:
            yield z
        finally:
            z.cleanup()
    assert not spare_dirs(), "spare cgroups left after the pool was closed"


# ---------------------------------------------------------------------------- in-process


def test_spare_gives_the_same_cgroups_and_resources_as_the_normal_path(zygote: Zygote) -> None:
    zygote.fill()
    pooled, pooled_pid, pooled_r = zygote.create(["cat", "/proc/self/cgroup"], use_pool=True)
    assert zygote.pool.served == 1
    normal, normal_pid, normal_r = zygote.create(["cat", "/proc/self/cgroup"], use_pool=False)
    # The init, before start, on the host's view: exactly /dockyard-test/<id> everywhere.
    assert cgroup_lines(pooled_pid, pooled) == cgroup_lines(normal_pid, normal)
    for line in cgroup_lines(pooled_pid, pooled):
        assert line.endswith(f"{PARENT}/<id>"), line
    for h in hierarchies():
        d_pooled, d_normal = h / CGROUP_PARENT / pooled, h / CGROUP_PARENT / normal
        assert d_pooled.is_dir() and d_normal.is_dir(), h
        for knob in ("memory.limit_in_bytes", "pids.max", "devices.list", "cpuset.cpus",
                     "cpuset.mems"):
            if (d_normal / knob).exists():
                assert (d_pooled / knob).read_text() == (d_normal / knob).read_text(), knob
    assert (CGROUP_ROOT / "memory" / CGROUP_PARENT / pooled / "memory.limit_in_bytes"
            ).read_text().strip() == str(MEMORY_LIMIT)
    assert (CGROUP_ROOT / "pids" / CGROUP_PARENT / pooled / "pids.max"
            ).read_text().strip() == str(PIDS_LIMIT)
    # And as the container sees itself (no cgroup namespace: the host's paths).
    assert sorted(zygote.run(pooled, pooled_pid, pooled_r).replace(pooled, "<id>").split()) \
        == sorted(zygote.run(normal, normal_pid, normal_r).replace(normal, "<id>").split())


def test_spare_inherits_nothing(zygote: Zygote) -> None:
    """The container's descriptors are its stdio only; the spare's signals default."""
    zygote.fill()
    spares = spare_pids(spare_dirs())
    assert len(spares) == 2
    for spare in spares:
        fds = {int(n): os.readlink(f"/proc/{spare}/fd/{n}") for n in os.listdir(f"/proc/{spare}/fd")}
        assert [fds[n] for n in (0, 1, 2)] == ["/dev/null"] * 3, fds
        assert [t for n, t in fds.items() if n > 2 and not t.startswith("socket:")] == [], fds
        assert len(fds) == 4, fds
        status = Path(f"/proc/{spare}/status").read_text()
        caught = int(next(ln for ln in status.splitlines() if ln.startswith("SigCgt:")).split()[1], 16)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            assert not caught & (1 << (sig - 1)), f"spare catches {sig.name}"
    cid, pid, r = zygote.create(["ls", "/proc/self/fd"], use_pool=True)
    assert zygote.pool.served == 1
    assert zygote.run(cid, pid, r).split() == ["0", "1", "2", "3"]  # 3: ls's own directory


def test_resources_refused_for_a_spare_leave_nothing(zygote: Zygote) -> None:
    """A spare's cgroup gets the resources while the spare forks the init: when the kernel
    refuses them (a CPU that is not there), that init is killed and nothing is left."""
    def absent_cpu(spec: dict[str, Any]) -> None:
        spec["linux"]["resources"]["cpu"] = {"cpus": str((os.cpu_count() or 1) + 1000)}

    zygote.fill()
    with pytest.raises(DockyardError, match=r"cpuset\.cpus"):
        zygote.create(["true"], use_pool=True, edit=absent_cpu)
    assert zygote.pool.served == 1
    cid = zygote.ids[-1]
    assert not (zygote.root / cid).exists()
    # Removed: so no process was left in them (an rmdir of a busy cgroup fails).
    assert [h for h in hierarchies() if (h / CGROUP_PARENT / cid).exists()] == []


def test_spare_namespaces_as_the_spec_says(zygote: Zygote) -> None:
    """A spare makes its network, IPC, UTS and PID namespaces ahead of its job: a spec
    asking for new ones gets fresh ones, one leaving them out gets the zygote's, one
    naming a path gets that namespace, as a freshly forked child would."""
    kinds = ("net", "ipc", "uts", "pid")

    def links(pid: int, names: tuple[str, ...] = kinds) -> dict[str, str]:
        return {k: os.readlink(f"/proc/{pid}/ns/{n}") for k, n in zip(kinds, names, strict=True)}

    zygote.fill()
    mine = links(os.getpid())
    cid, pid, r = zygote.create(["true"], use_pool=True)
    assert zygote.pool.served == 1
    fresh = links(pid)
    assert all(fresh[k] != mine[k] for k in kinds), (fresh, mine)
    zygote.run(cid, pid, r)

    # A process with a network namespace of its own and a PID namespace for its children
    # (whose PID 1, dying with it, makes that namespace joinable).
    code = ("import os, signal, sys; from dockyard.linux import syscalls as sc; "
            "sc.unshare(sc.CLONE_NEWNET | sc.CLONE_NEWPID)\n"
            "if os.fork() == 0:\n"
            "    sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL); signal.pause(); os._exit(0)\n"
            "print('ready', flush=True); sys.stdin.read()")
    other = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline() == "ready\n"
        theirs = links(other.pid, ("net", "ipc", "uts", "pid_for_children"))
        assert theirs["net"] != mine["net"] and theirs["pid"] != mine["pid"]

        def join_and_share(spec: dict[str, Any]) -> None:
            spec.pop("hostname", None)
            spec["linux"]["namespaces"] = [
                {"type": "mount"},
                {"type": "network", "path": f"/proc/{other.pid}/ns/net"},
                {"type": "pid", "path": f"/proc/{other.pid}/ns/pid_for_children"}]

        zygote.fill()
        cid, pid, r = zygote.create(["true"], use_pool=True, edit=join_and_share)
        assert zygote.pool.served == 2
        got = links(pid)
        assert got == {"net": theirs["net"], "ipc": mine["ipc"], "uts": mine["uts"],
                       "pid": theirs["pid"]}, (got, mine, theirs)
        zygote.run(cid, pid, r)
    finally:
        other.kill()
        other.communicate(timeout=10)


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[tuple[int, int]]:
    image = tmp_path / "disk.img"
    with image.open("wb") as f:
        f.write(DISK_MARKER.ljust(1 << 20, b"\0"))
    losetup = shutil.which("losetup")
    assert losetup, "losetup is missing: apt-get install mount"
    dev = subprocess.run([losetup, "-f", "--show", str(image)], capture_output=True, text=True,
                         check=True).stdout.strip()
    try:
        rdev = os.stat(dev).st_rdev
        yield os.major(rdev), os.minor(rdev)
    finally:
        subprocess.run([losetup, "-d", dev], check=True)


def test_spare_container_gets_the_device_rules(zygote: Zygote,
                                               loop_device: tuple[int, int]) -> None:
    """Docker's rules on a renamed spare cgroup: mknod allowed, reading the disk denied;
    and an added read rule makes the same node readable (the list is the one applied)."""
    major, minor = loop_device
    script = (f"mknod /dev/disk b {major} {minor} && echo made; "
              f"head -c {len(DISK_MARKER)} /dev/disk; echo")
    zygote.fill()
    cid, pid, r = zygote.create(["sh", "-c", script], use_pool=True)
    out = zygote.run(cid, pid, r)
    assert out.split()[0] == "made", out
    assert "Operation not permitted" in out, out
    assert DISK_MARKER.decode() not in out

    def allow(spec: dict[str, Any]) -> None:
        spec["linux"]["resources"]["devices"].append(
            {"allow": True, "type": "b", "major": major, "minor": minor, "access": "r"})

    zygote.fill()
    cid, pid, r = zygote.create(["sh", "-c", script], use_pool=True, edit=allow)
    assert zygote.pool.served == 2
    out = zygote.run(cid, pid, r)
    assert out.split() == ["made", DISK_MARKER.decode()], out


def test_memory_limit_kills_a_hog_in_a_spare_container(zygote: Zygote) -> None:
    def small(spec: dict[str, Any]) -> None:
        spec["linux"]["resources"]["memory"] = {"limit": 16 << 20, "swap": 16 << 20}

    zygote.fill()
    cid, pid, r = zygote.create(["sh", "-c", "x=0123456789; while true; do x=$x$x; done"],
                                use_pool=True, edit=small)
    assert zygote.pool.served == 1
    launcher.start(str(zygote.root), cid)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert launcher.exit_status(status) == 137
    launcher.delete(str(zygote.root), cid)


def test_fallbacks(zygote: Zygote) -> None:
    """A pids limit below 2, dead spares, another parent: the normal path, same result."""
    def one_pid(spec: dict[str, Any]) -> None:
        spec["linux"]["resources"]["pids"] = {"limit": 1}

    zygote.fill()
    cid, pid, r = zygote.create(["true"], use_pool=True, edit=one_pid)
    assert (zygote.pool.served, zygote.pool.fallbacks) == (0, 1)
    zygote.run(cid, pid, r)

    for spare in spare_pids(spare_dirs()):
        os.kill(spare, signal.SIGKILL)
    wait_for(lambda: zygote.pool.ready_count(PARENT) == 0, 10, "the pool to see its spares die")
    assert not spare_dirs(), "the dead spares' cgroups were not removed"
    cid, pid, r = zygote.create(["cat", "/proc/self/cgroup"], use_pool=True)
    assert (zygote.pool.served, zygote.pool.fallbacks) == (0, 2)
    assert f"{PARENT}/{cid}" in zygote.run(cid, pid, r)

    zygote.fill()
    other = f"{PARENT}/other-{secrets.token_hex(2)}"
    cid, pid, r = zygote.create(["true"], use_pool=True, parent=other)
    assert (zygote.pool.served, zygote.pool.fallbacks) == (0, 3)
    assert {line.rsplit(":", 1)[1] for line in cgroup_lines(pid, cid)} == {f"{other}/<id>"}
    zygote.run(cid, pid, r)
    zygote.pool.close()  # before any spare is made for the other parent
    for h in hierarchies():
        with contextlib.suppress(OSError):
            (h / other.strip("/")).rmdir()


# ---------------------------------------------------------------------------- supervisor


def spares_ready(h: Harness, parent: str = PARENT) -> int:
    time.sleep(0.05)  # a ping is activity: the loop refills only when idle
    with h.client() as c:
        spares = c.ping()["spares"]
    assert spares is not None and spares["enabled"], spares
    return int(spares["ready"].get(parent, 0))


def pool_status(h: Harness) -> dict[str, Any]:
    with h.client() as c:
        status: dict[str, Any] = c.ping()["spares"]
    return status


def run_one(h: Harness, args: list[str] | None = None) -> str:
    with h.client() as c:
        cid = h.create(c, args or ["true"])
        c.start(cid)
        assert c.wait(cid).exit_code == 0
        c.delete(cid)
    return cid


@pytest.fixture
def inproc_supervisor(make_bundle: Callable[..., Path]) -> Iterator[Harness]:
    with harness(make_bundle, kind="in-process") as h:
        yield h


def test_supervisor_refills_its_pool(inproc_supervisor: Harness) -> None:
    h = inproc_supervisor
    assert pool_status(h)["ready"] == {}
    run_one(h)  # the first create of a parent registers it: the normal path
    assert pool_status(h)["fallbacks"] == 1
    wait_for(lambda: spares_ready(h) == 2, 10, "the pool to fill")
    with h.client() as c:
        cid = h.create(c, ["cat", "/proc/self/cgroup"])
        assert pool_status(h)["served"] == 1
        c.start(cid)
        assert c.wait(cid).exit_code == 0
        c.delete(cid)
    logged = "".join(e["log"] for e in _read_log(h.log_path(cid)))
    assert logged.count(f":{PARENT}/{cid}\n") == len(hierarchies()), logged
    wait_for(lambda: spares_ready(h) == 2, 10, "the pool to refill")
    assert len(spare_pids(spare_dirs())) >= 2


def _read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines() if line]


def test_no_spare_left_after_shutdown(inproc_supervisor: Harness) -> None:
    h = inproc_supervisor
    run_one(h)
    wait_for(lambda: spares_ready(h) == 2, 10, "the pool to fill")
    ours = [d for d in spare_dirs() if d.name.startswith(f"{SPARE_PREFIX}{h.pid}-")]
    pids = spare_pids(ours)
    assert len(pids) == 2 and ours
    with h.client() as c:
        c.shutdown()
    wait_for(lambda: not pid_alive(h.pid), 10, "the supervisor to stop")
    assert not any(pid_alive(p) for p in pids), "a spare outlived its supervisor"
    assert not [d for d in ours if d.exists()], "spare cgroups left after shutdown"


def test_stale_spares_cleaned_after_a_sigkill(inproc_supervisor: Harness) -> None:
    from dockyard.runtime.supervisor.client import spawn_supervisor

    h = inproc_supervisor
    run_one(h)
    wait_for(lambda: spares_ready(h) == 2, 10, "the pool to fill")
    ours = [d for d in spare_dirs() if d.name.startswith(f"{SPARE_PREFIX}{h.pid}-")]
    pids = spare_pids(ours)
    assert len(pids) == 2
    os.kill(h.pid, signal.SIGKILL)
    # PR_SET_PDEATHSIG: the spares die with their supervisor; their cgroups stay, stale.
    wait_for(lambda: not any(pid_alive(p) for p in pids), 10, "the spares to die")
    assert all(d.exists() for d in ours)
    time.sleep(0.1)
    h.pid = spawn_supervisor(str(h.state))
    wait_for(lambda: not any(d.exists() for d in ours), 10, "the stale spares to go")
    # The new supervisor remembers the parent and fills its own spares for it.
    wait_for(lambda: spares_ready(h) == 2, 10, "the new pool to fill")
    run_one(h)
    assert pool_status(h)["served"] == 1


def test_a_recorded_parent_whose_cgroup_is_gone_is_forgotten(
        inproc_supervisor: Harness) -> None:
    """A supervisor wants again, at start, only the recorded parents that still have a
    cgroup: one removed meanwhile gets no spares (nor cgroups made again) and leaves the
    record, while the one still there is filled as before."""
    from dockyard.runtime.supervisor.client import spawn_supervisor

    h = inproc_supervisor
    run_one(h)
    wait_for(lambda: spares_ready(h) == 2, 10, "the pool to fill")
    gone = f"/dockyard-test-gone-{secrets.token_hex(4)}"
    record = h.state / "spare-parents"
    with h.client() as c:
        c.shutdown()
    wait_for(lambda: not pid_alive(h.pid), 10, "the supervisor to stop")
    assert record.read_text().splitlines() == [PARENT]
    record.write_text(f"{PARENT}\n{gone}\n{PARENT}\n")
    try:
        h.pid = spawn_supervisor(str(h.state))
        wait_for(lambda: spares_ready(h) == 2, 10, "the new pool to fill")
        assert gone not in pool_status(h)["ready"]
        assert not [p for p in hierarchies() if (p / gone.strip("/")).exists()], \
            "cgroups made for a forgotten parent"
        assert record.read_text().splitlines() == [PARENT]
    finally:
        with contextlib.suppress(DockyardError, OSError), h.client() as c:
            c.shutdown()  # first: a pool that wants ``gone`` would refill it
        wait_for(lambda: not pid_alive(h.pid), 10, "the supervisor to stop")
        _remove_parent(gone)


def _remove_parent(parent: str) -> None:
    """What a pool that did not forget ``parent`` made of it: its spares killed, its
    cgroups removed."""
    dirs = [p / parent.strip("/") for p in hierarchies()]
    remove_cgroup_dirs([s for d in dirs if d.is_dir() for s in d.iterdir() if s.is_dir()]
                       + [d for d in dirs if d.is_dir()])
