"""Harness of the runtime integration suite: every test runs once per OCI runtime.

``oci_runtime`` is parametrized over ``runc`` (the reference) and ``dockyard``
(``dockyard-runtime``), so one test body holds both to the same observable results.
Each test gets a private ``--root`` state directory, containers with unique ids and a
``linux.cgroupsPath`` of ``/dockyard-test/<id>``, and a teardown that cleans up for
certain, even after a failure, and then *reports* what the runtime left behind:

1. ``<runtime> --root R delete --force ID`` for every id the test made;
2. every process still in a test cgroup (any hierarchy) is thawed and SIGKILLed;
3. the test cgroups are removed from every hierarchy under /sys/fs/cgroup, leaf first;
4. the test process is a child subreaper while the test runs, so anything the runtime
   orphaned is re-parented to it (a thread reaps the container processes among them as
   they die, as containerd's shim does); what is still alive at the end is killed;
5. no mount may remain under the test's temp dir or the shared rootfs (host mount table);
6. no state directory entry may remain for a deleted id.

Whatever steps 2-6 had to clean is a bug of the runtime's ``delete --force`` and fails
the test at teardown with a list. The runtime's stdio is the container's (runc's
"pass-through" mode): foreground runs capture it with pipes, detached containers write
to files beside the bundle so no pipe stays open after the runtime exits.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import json
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dockyard.linux.syscalls import MNT_DETACH, PR_SET_CHILD_SUBREAPER, prctl, umount2

RUNTIME_NAMES = ("runc", "dockyard")
CGROUP_PARENT = "dockyard-test"
CGROUP_MOUNT = Path("/sys/fs/cgroup")
CALL_TIMEOUT = 30.0
POLL_INTERVAL = 0.01

T = TypeVar("T")
SpecEdit = Callable[[dict[str, Any]], None]


# --------------------------------------------------------------------------- polling


def wait_for(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(POLL_INTERVAL)


# --------------------------------------------------------------------------- host facts


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


@dataclass(frozen=True, slots=True)
class MountInfo:
    """One line of /proc/<pid>/mountinfo, the fields the tests look at."""

    mount_point: str
    fstype: str
    source: str
    mount_options: frozenset[str]
    super_options: frozenset[str]
    major_minor: str


def read_mountinfo(pid: int | str = "self") -> list[MountInfo]:
    """Parse /proc/<pid>/mountinfo (host mount namespace by default)."""
    out: list[MountInfo] = []
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        lf, rf = left.split(), right.split()
        out.append(MountInfo(
            mount_point=_unescape(lf[4]), fstype=rf[0], source=_unescape(rf[1]),
            mount_options=frozenset(lf[5].split(",")),
            super_options=frozenset(rf[2].split(",")) if len(rf) > 2 else frozenset(),
            major_minor=lf[2],
        ))
    return out


def cgroup_hierarchies() -> list[Path]:
    """Every cgroup (v1) and cgroup2 mount under /sys/fs/cgroup, or the root itself on v2."""
    found = [Path(m.mount_point) for m in read_mountinfo()
             if m.fstype in ("cgroup", "cgroup2")
             and (m.mount_point == str(CGROUP_MOUNT)
                  or m.mount_point.startswith(f"{CGROUP_MOUNT}/"))]
    return sorted(set(found))


def cgroup_dir(hierarchy: str | Path, cid: str) -> Path:
    """The directory of a test container's cgroup in one hierarchy (``memory``, ``pids``...)."""
    base = hierarchy if isinstance(hierarchy, Path) else CGROUP_MOUNT / hierarchy
    return base / CGROUP_PARENT / cid


def existing_cgroup_dirs(cid: str) -> list[Path]:
    return [d for d in (cgroup_dir(h, cid) for h in cgroup_hierarchies()) if d.is_dir()]


def cgroup_pids(directory: Path) -> set[int]:
    """Pids in a cgroup directory and all its descendants."""
    pids: set[int] = set()
    for dirpath, _dirs, _files in os.walk(directory):
        with contextlib.suppress(OSError):
            pids.update(int(p) for p in Path(dirpath, "cgroup.procs").read_text().split())
    return pids


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, ppid) of a process, or None when it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def process_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def children_of(parent: int) -> set[int]:
    kids: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = proc_stat(int(entry.name))
            if st is not None and st[1] == parent:
                kids.add(int(entry.name))
    return kids


def descendants_of(ancestor: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = proc_stat(int(entry.name))
            if st is not None:
                parents[int(entry.name)] = st[1]
    found: set[int] = set()
    frontier = {ancestor}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def in_other_pid_namespace(pid: int) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    except OSError:
        return False


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _rmdir_tree(directory: Path, deadline: float) -> bool:
    """rmdir a cgroup directory and its children, leaf first, retrying while EBUSY."""
    for dirpath, dirnames, _files in os.walk(directory, topdown=False):
        for name in dirnames:
            _rmdir_tree(Path(dirpath, name), deadline)
    while True:
        try:
            directory.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError as e:
            if e.errno not in (errno.EBUSY, errno.ENOTEMPTY) or time.monotonic() > deadline:
                return False
            time.sleep(POLL_INTERVAL)


# --------------------------------------------------------------------------- runtimes


def runtime_argv(name: str) -> list[str]:
    """The command line that starts runtime ``name``; fails the test if it is not installed."""
    if name == "runc":
        path = shutil.which("runc")
        if path is None:
            pytest.fail("runc is not installed: apt-get install runc")
        return [path]
    if name == "dockyard":
        if importlib.util.find_spec("dockyard.runtime.cli") is None:
            pytest.fail("dockyard-runtime is not there: module dockyard.runtime.cli not found")
        script = Path(sysconfig.get_path("scripts")) / "dockyard-runtime"
        if script.is_file():
            return [str(script)]
        return [sys.executable, "-m", "dockyard.runtime.cli"]
    raise ValueError(f"unknown runtime {name!r}")


@dataclass(frozen=True, slots=True)
class Box:
    """One container-to-be: its id, its bundle, and where its detached stdio goes."""

    id: str
    bundle: Path
    out: Path
    err: Path

    @property
    def cgroups_path(self) -> str:
        return f"/{CGROUP_PARENT}/{self.id}"

    def config(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads((self.bundle / "config.json").read_text())
        return result

    def output(self) -> str:
        """What the detached container wrote to stdout so far."""
        try:
            return self.out.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def errors(self) -> str:
        try:
            return self.err.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def _clamp_rlimits(spec: dict[str, Any]) -> None:
    """Keep rlimits within this host's hard limits.

    The test sandbox has no CAP_SYS_RESOURCE, so an rlimit above the caller's hard limit
    (default_spec's RLIMIT_NOFILE 1048576) cannot be set by any runtime: runc fails with
    "error setting rlimit type 7: operation not permitted".
    """
    for rl in spec.get("process", {}).get("rlimits", []) or []:
        kind = getattr(resource, rl["type"], None)
        if kind is None:
            continue
        _soft, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            rl["hard"] = min(int(rl["hard"]), hard)
            rl["soft"] = min(int(rl["soft"]), rl["hard"])


def fmt(result: subprocess.CompletedProcess[str]) -> str:
    """A CompletedProcess as text for assertion messages."""
    cmd = " ".join(str(a) for a in result.args)
    return f"$ {cmd}\n-> exit {result.returncode}\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}"


class Runtime:
    """One OCI runtime under test, with a private state root and certain cleanup."""

    def __init__(self, name: str, argv: Sequence[str], root: Path, workdir: Path,
                 make_bundle: Callable[..., Path], label: str) -> None:
        self.name = name
        self.argv = list(argv)
        self.root = root
        self.workdir = workdir
        self._make_bundle = make_bundle
        self._label = re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-")[:24] or "c"
        self.ids: list[str] = []

    def __repr__(self) -> str:
        return f"Runtime({self.name})"

    # ---- raw calls

    def cli(self, *args: str, timeout: float = CALL_TIMEOUT, input: str | None = None,
            ) -> subprocess.CompletedProcess[str]:
        """Run ``<runtime> --root R args...`` in the foreground, capturing its stdio."""
        return subprocess.run(
            [*self.argv, "--root", str(self.root), *args],
            input=input, stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True, text=True, timeout=timeout,
        )

    def cli_to_files(self, out: Path, err: Path, *args: str, timeout: float = CALL_TIMEOUT,
                     ) -> subprocess.CompletedProcess[str]:
        """Run a call whose children outlive it (create, run -d, exec -d): stdio to files."""
        with out.open("ab") as fo, err.open("ab") as fe:
            start_out, start_err = fo.tell(), fe.tell()
            proc = subprocess.run([*self.argv, "--root", str(self.root), *args],
                                  stdin=subprocess.DEVNULL, stdout=fo, stderr=fe,
                                  timeout=timeout)
        return subprocess.CompletedProcess(
            proc.args, proc.returncode,
            out.read_bytes()[start_out:].decode(errors="replace"),
            err.read_bytes()[start_err:].decode(errors="replace"))

    def popen(self, out: Path, err: Path, *args: str) -> subprocess.Popen[bytes]:
        """Start a call in the background (a foreground ``run`` to signal, say)."""
        with out.open("ab") as fo, err.open("ab") as fe:
            return subprocess.Popen([*self.argv, "--root", str(self.root), *args],
                                    stdin=subprocess.DEVNULL, stdout=fo, stderr=fe)

    # ---- bundles and ids

    def new_id(self) -> str:
        """A unique container id, registered for cleanup."""
        cid = f"{self._label}-{secrets.token_hex(4)}"
        self.ids.append(cid)
        return cid

    def bundle(self, args: list[str], edit: SpecEdit | None = None, *,
               copy_rootfs: bool = False) -> Box:
        """A bundle running ``args`` with Docker's defaults, its own id and cgroupsPath."""
        cid = self.new_id()

        def full_edit(spec: dict[str, Any]) -> None:
            spec["linux"]["cgroupsPath"] = f"/{CGROUP_PARENT}/{cid}"
            _clamp_rlimits(spec)
            if edit is not None:
                edit(spec)

        path = self._make_bundle(args, edit=full_edit, name=f"bundle-{cid}",
                                 copy_rootfs=copy_rootfs)
        return Box(cid, path, self.workdir / f"{cid}.out", self.workdir / f"{cid}.err")

    # ---- commands

    def run(self, box: Box, *flags: str, timeout: float = CALL_TIMEOUT,
            ) -> subprocess.CompletedProcess[str]:
        """``run`` in the foreground: the container's output and exit status come back."""
        return self.cli("run", "--bundle", str(box.bundle), *flags, box.id, timeout=timeout)

    def run_detached(self, box: Box, *flags: str) -> subprocess.CompletedProcess[str]:
        return self.cli_to_files(box.out, box.err, "run", "-d", "--bundle", str(box.bundle),
                                 *flags, box.id)

    def create(self, box: Box, *flags: str) -> subprocess.CompletedProcess[str]:
        return self.cli_to_files(box.out, box.err, "create", "--bundle", str(box.bundle),
                                 *flags, box.id)

    def start(self, cid: str) -> subprocess.CompletedProcess[str]:
        return self.cli("start", cid)

    def kill(self, cid: str, sig: str | None = None, *flags: str,
             ) -> subprocess.CompletedProcess[str]:
        return self.cli("kill", *flags, cid, *([sig] if sig is not None else []))

    def delete(self, cid: str, force: bool = False) -> subprocess.CompletedProcess[str]:
        return self.cli("delete", *(["--force"] if force else []), cid)

    def exec(self, cid: str, *args: str, flags: Sequence[str] = (),
             timeout: float = CALL_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """``exec``; with ``-d`` the process's stdio goes to ``<workdir>/<cid>.exec.out/err``
        (a detached process would hold capture pipes open)."""
        if "-d" in flags or "--detach" in flags:
            return self.cli_to_files(self.workdir / f"{cid}.exec.out",
                                     self.workdir / f"{cid}.exec.err",
                                     "exec", *flags, cid, *args, timeout=timeout)
        return self.cli("exec", *flags, cid, *args, timeout=timeout)

    def state(self, cid: str) -> dict[str, Any]:
        r = self.cli("state", cid)
        assert r.returncode == 0, fmt(r)
        doc: dict[str, Any] = json.loads(r.stdout)
        return doc

    def wait_status(self, cid: str, status: str, timeout: float = 10.0) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            doc = self.state(cid)
            return doc if doc.get("status") == status else None
        return wait_for(probe, timeout, f"{self.name} container {cid} to be {status}")

    # ---- host-side views, for tests (they cannot import this conftest reliably)

    @staticmethod
    def cgroup_dir(controller: str, cid: str) -> Path:
        """/sys/fs/cgroup/<controller>/dockyard-test/<cid>."""
        return cgroup_dir(controller, cid)

    @staticmethod
    def existing_cgroup_dirs(cid: str) -> list[Path]:
        """The container's cgroup directories that exist, in every hierarchy."""
        return existing_cgroup_dirs(cid)

    @staticmethod
    def wait_for(probe: Callable[[], T | None], timeout: float, what: str) -> T:
        return wait_for(probe, timeout, what)

    @staticmethod
    def wait_output(box: Box, text: str, timeout: float = 10.0) -> str:
        return wait_output(box, text, timeout)

    @staticmethod
    def container_processes() -> list[int]:
        """Live processes descending from the test (it adopts orphans) that sit in another
        PID namespace: after a failed create, or a delete, there must be none."""
        return [pid for pid in descendants_of(os.getpid())
                if process_alive(pid) and in_other_pid_namespace(pid)]

    @staticmethod
    def mounts_under(path: Path) -> list[str]:
        """Host mount points at or under ``path``."""
        return _mounts_under([path])

    # ---- composite helpers

    def started(self, box: Box, *flags: str, ready: str | None = None) -> int:
        """create + start; wait for ``ready`` on stdout if given; returns the init's pid."""
        r = self.create(box, *flags)
        assert r.returncode == 0, fmt(r) + "\ncontainer stderr: " + box.errors()
        pid = int(self.state(box.id)["pid"])
        r = self.start(box.id)
        assert r.returncode == 0, fmt(r)
        if ready is not None:
            wait_output(box, ready)
        return pid

    # ---- cleanup

    def cleanup(self) -> list[str]:
        """Delete every container, then clean and list whatever the runtime left behind."""
        problems: list[str] = []
        for cid in self.ids:
            try:
                r = self.cli("delete", "--force", cid)
                if r.returncode != 0 and "not exist" not in r.stderr + r.stdout:
                    problems.append(f"`delete --force {cid}` failed:\n{fmt(r)}")
            except subprocess.TimeoutExpired:
                problems.append(f"`delete --force {cid}` hung for {CALL_TIMEOUT}s")
        for cid in self.ids:
            problems += _clean_cgroups(cid)
            state_dir = self.root / cid
            if os.path.lexists(state_dir):
                problems.append(f"state dir {state_dir} left behind after delete --force")
                shutil.rmtree(state_dir, ignore_errors=True)
        return problems


def wait_output(box: Box, text: str, timeout: float = 10.0) -> str:
    """Wait until the detached container's stdout contains ``text``; returns the output."""
    return wait_for(lambda: box.output() if text in box.output() else None, timeout,
                    f"{text!r} on the stdout of {box.id} (so far: {box.output()!r}, "
                    f"stderr: {box.errors()!r})")


def _clean_cgroups(cid: str) -> list[str]:
    problems: list[str] = []
    dirs = existing_cgroup_dirs(cid)
    if not dirs:
        return problems
    for d in dirs:
        if (d / "freezer.state").exists():
            with contextlib.suppress(OSError):
                (d / "freezer.state").write_text("THAWED")
    leftover: set[int] = set()
    for d in dirs:
        leftover |= cgroup_pids(d)
    for pid in leftover:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if leftover:
        problems.append(f"processes {sorted(leftover)} still in the cgroups of {cid}")
    deadline = time.monotonic() + 10.0
    for d in dirs:
        while cgroup_pids(d) and time.monotonic() < deadline:
            for pid in cgroup_pids(d):
                _reap(pid)
            time.sleep(POLL_INTERVAL)
        if not _rmdir_tree(d, deadline):
            problems.append(f"cannot remove cgroup {d}")
    problems.append(f"cgroup dirs left behind for {cid}: {[str(d) for d in dirs]}")
    return problems


def _set_subreaper(on: bool) -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0)


def _pid_namespace_depth(pid: int) -> int:
    """How many PID namespaces ``pid`` is visible in (1: ours only); works for zombies."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return len(line.split()) - 1
    except OSError:
        pass
    return 1


class OrphanReaper(threading.Thread):
    """Reaps the container processes re-parented to the test (the child subreaper).

    A container's init waits, when it dies, until every process of its PID namespace has
    been reaped, and an ``exec``'d process whose runtime exited is re-parented to us: like
    containerd's shim, we must reap them promptly or the container never stops. Only
    children living in another PID namespace are reaped here, so the exit statuses of the
    runtime CLIs (our own subprocesses) are never stolen from ``subprocess``.
    """

    def __init__(self) -> None:
        super().__init__(name="orphan-reaper", daemon=True)
        self._stop_event = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._stop_event.wait(0.02):
            try:
                peek = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                continue
            if peek is None:
                continue
            for pid in children_of(me):
                st = proc_stat(pid)
                if st is not None and st[0] == "Z" and _pid_namespace_depth(pid) > 1:
                    _reap(pid)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _mounts_under(paths: Sequence[Path]) -> list[str]:
    roots = [str(p.resolve()) for p in paths]
    return [m.mount_point for m in read_mountinfo()
            if any(m.mount_point == r or m.mount_point.startswith(r + "/") for r in roots)]


def _clean_orphans(before: set[int]) -> list[str]:
    """Kill and reap what the runtimes orphaned to us; report container processes."""
    problems: list[str] = []
    deadline = time.monotonic() + 10.0
    for pid in sorted(children_of(os.getpid()) - before):
        st = proc_stat(pid)
        if st is None:
            continue
        if st[0] not in ("Z", "X"):
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace") if Path(f"/proc/{pid}/cmdline").exists() else "?"
            if in_other_pid_namespace(pid):
                problems.append(f"container process {pid} ({cmd.strip()}) still alive")
            else:
                warnings.warn(f"killed leftover runtime process {pid} ({cmd.strip()})",
                              stacklevel=1)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        while True:
            try:
                done, _status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done or time.monotonic() > deadline:
                break
            time.sleep(POLL_INTERVAL)
    return problems


def _remove_parent_cgroups() -> None:
    for h in cgroup_hierarchies():
        with contextlib.suppress(OSError):
            (h / CGROUP_PARENT).rmdir()


# --------------------------------------------------------------------------- fixtures


class RuntimeGuard:
    """The runtimes a test made, cleaned up together once the test is over."""

    def __init__(self, tmp_path: Path, make_bundle: Callable[..., Path], watch: Sequence[Path],
                 label: str) -> None:
        self.tmp_path = tmp_path
        self.make_bundle = make_bundle
        self.watch = list(watch)
        self.label = label
        self.runtimes: list[Runtime] = []

    def add(self, name: str, label: str | None = None, suffix: str = "") -> Runtime:
        if os.geteuid() != 0:
            pytest.fail("the runtime integration tests need root (namespaces, cgroups, mounts)")
        root = self.tmp_path / f"state-{name}{suffix}"
        root.mkdir()
        rt = Runtime(name, runtime_argv(name), root, self.tmp_path, self.make_bundle,
                     label or self.label)
        self.runtimes.append(rt)
        return rt

    def cleanup(self, orphans_before: set[int]) -> list[str]:
        problems: list[str] = []
        for rt in self.runtimes:
            problems += [f"[{rt.name}] {p}" for p in rt.cleanup()]
        problems += _clean_orphans(orphans_before)
        for mp in sorted(_mounts_under(self.watch), key=len, reverse=True):
            problems.append(f"mount left on the host: {mp}")
            with contextlib.suppress(OSError):
                umount2(mp, MNT_DETACH)
        return problems


@pytest.fixture
def runtime_guard(request: pytest.FixtureRequest, tmp_path: Path,
                  make_bundle: Callable[..., Path], busybox_rootfs: Path,
                  ) -> Iterator[RuntimeGuard]:
    """Makes the test a child subreaper and cleans up after every runtime it used."""
    guard = RuntimeGuard(tmp_path, make_bundle, [tmp_path, busybox_rootfs],
                         request.node.originalname.removeprefix("test_"))
    before = children_of(os.getpid())
    _set_subreaper(True)
    reaper = OrphanReaper()
    reaper.start()
    try:
        yield guard
    finally:
        try:
            problems = guard.cleanup(before)
        finally:
            reaper.stop()
            _set_subreaper(False)
    if problems:
        pytest.fail("left behind after the test:\n  " + "\n  ".join(problems))


@pytest.fixture(scope="session", autouse=True)
def _remove_cgroup_parent_at_exit() -> Iterator[None]:
    """rmdir /sys/fs/cgroup/*/dockyard-test once, at the end of the session (if empty).

    Not after each test: another test run on the machine may be creating a container
    under it at that moment (a runtime that makes the parent, then the child, fails).
    """
    yield
    _remove_parent_cgroups()


@pytest.fixture(params=RUNTIME_NAMES)
def oci_runtime(request: pytest.FixtureRequest, runtime_guard: RuntimeGuard) -> Runtime:
    """The runtime under test (runc, then dockyard-runtime), cleaned up for certain."""
    return runtime_guard.add(str(request.param))


@pytest.fixture
def runc_reference(runtime_guard: RuntimeGuard) -> Runtime:
    """runc with its own state root, to run the same bundle as the runtime under test."""
    return runtime_guard.add("runc", label="ref", suffix="-ref")


@pytest.fixture(scope="session")
def host_root_disk() -> tuple[int, int]:
    """(major, minor) of the block device holding the host's root filesystem."""
    dev = os.stat("/").st_dev
    candidates = [(os.major(dev), os.minor(dev))]
    for m in read_mountinfo():
        if m.mount_point == "/":
            fields = m.major_minor.split(":")
            candidates.append((int(fields[0]), int(fields[1])))
    for major, minor in candidates:
        if major != 0 and Path(f"/sys/dev/block/{major}:{minor}").exists():
            return major, minor
    pytest.fail(f"cannot find the host's root block device (candidates {candidates}); "
                "the device-cgroup tests need / on a real block device")
