"""The cgroup manager on this host's real v1 (hybrid) hierarchies, with real processes.

Every test works under a unique ``/dockyard-test-<random>`` cgroup; the ``env`` fixture
kills the processes it started (by pid: only processes inside that cgroup, which only the
test put there), thaws, and removes the whole test tree from every hierarchy, even when
the test fails.
"""

from __future__ import annotations

import errno
import os
import secrets
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dockyard.errors import Conflict, DockyardError, FailedPrecondition
from dockyard.oci.runtime_spec import (
    CPUResources,
    DeviceRule,
    MemoryResources,
    PidsResources,
    Resources,
)
from dockyard.runtime.cgroups import (
    CgroupManager,
    cgroup_version,
    files,
    new_manager,
    read_hierarchies,
    tree,
)


def _host_is_v1() -> bool:
    try:
        return os.geteuid() == 0 and cgroup_version() == 1
    except DockyardError:
        return False


pytestmark = [pytest.mark.root,
              pytest.mark.skipif(not _host_is_v1(), reason="needs root on a cgroup v1 host")]

MiB = 1 << 20


class Env:
    """A unique test prefix, and the processes started in it."""

    def __init__(self) -> None:
        self.prefix = f"/dockyard-test-{secrets.token_hex(4)}"
        self.procs: list[subprocess.Popen[bytes]] = []

    def manager(self, name: str = "c") -> CgroupManager:
        return new_manager(f"{self.prefix}/{name}", "unused")

    def spawn(self, m: CgroupManager, argv: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside ``m``: the child joins with nothing but os.open/os.write
        on ``join_paths()``, as the runtime's forked child does, before it execs."""
        paths = m.join_paths()

        def join() -> None:
            pid = str(os.getpid()).encode()
            for p in paths:
                fd = os.open(p, os.O_WRONLY)
                try:
                    os.write(fd, pid)
                finally:
                    os.close(fd)

        p = subprocess.Popen(argv, preexec_fn=join, **kw)
        self.procs.append(p)
        return p

    def python(self, m: CgroupManager, code: str, **kw: Any) -> subprocess.Popen[bytes]:
        return self.spawn(m, [sys.executable, "-S", "-c", code], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, **kw)

    def cleanup(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            p.wait(timeout=30)
        dirs = [h.dir_for(self.prefix) for h in read_hierarchies()]
        for d in dirs:
            for sub, _, names in os.walk(d):
                if "freezer.state" in names:
                    files.write(os.path.join(sub, "freezer.state"), "THAWED")
        leftovers = set()
        for d in dirs:
            leftovers.update(files.procs_recursive(d))
        for pid in leftovers:  # started by this test inside its own cgroup
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        tree.remove_trees(dirs, timeout=10)


@pytest.fixture
def env() -> Iterator[Env]:
    e = Env()
    try:
        yield e
    finally:
        e.cleanup()
    assert not any(os.path.exists(h.dir_for(e.prefix)) for h in read_hierarchies())


def read(m: CgroupManager, controller: str, name: str) -> str:
    for d, bind_name in m.v1_binds():
        if controller in bind_name.split(","):
            with open(os.path.join(d, name)) as f:
                return f.read().strip()
    raise AssertionError(f"no {controller} hierarchy")


def out(p: subprocess.Popen[bytes], timeout: float = 30) -> str:
    stdout, stderr = p.communicate(timeout=timeout)
    assert p.returncode == 0, stderr.decode()
    return stdout.decode()


# --------------------------------------------------------------------------- lifecycle


def test_create_join_destroy_leaves_nothing(env: Env) -> None:
    m = env.manager("a")
    m.create(None)
    m.create(None)  # idempotent on an existing empty cgroup
    assert m.exists()
    hierarchies = read_hierarchies()
    for h in hierarchies:
        assert os.path.isdir(h.dir_for(m.path)), h
    p = env.spawn(m, ["sleep", "30"])
    time.sleep(0.1)
    assert m.pids() == [p.pid]
    with open(f"/proc/{p.pid}/cgroup") as f:
        lines = f.read().splitlines()
    for h in hierarchies:  # every hierarchy, the hybrid cgroup2 tree too ("0::/...")
        assert any(line.endswith(":" + m.path) for line in lines
                   if line.split(":")[1] == h.key), (h, lines)
    with pytest.raises(Conflict):
        m.create(None)
    with pytest.raises(FailedPrecondition, match=str(p.pid)):
        m.destroy(timeout=0.2)
    p.kill()  # not yet reaped: destroy must wait it out
    m.destroy()
    p.wait()
    assert not m.exists()
    assert not any(os.path.exists(h.dir_for(m.path)) for h in hierarchies)
    m.destroy()  # already gone: fine


def test_add_pid(env: Env) -> None:
    m = env.manager()
    m.create(None)
    p = subprocess.Popen(["sleep", "30"])
    env.procs.append(p)
    m.add_pid(p.pid)
    assert m.pids() == [p.pid]


def test_v1_binds_are_real_directories(env: Env) -> None:
    m = env.manager()
    m.create(None)
    names = {name for _, name in m.v1_binds()}
    assert {"memory", "devices", "freezer", "pids", "systemd"} <= names
    for host_dir, name in m.v1_binds():
        assert os.path.isdir(host_dir) and os.path.isdir(f"/sys/fs/cgroup/{name}")
    for link, target in m.v1_symlinks():
        assert link in target.split(",")


# --------------------------------------------------------------------------- limits


HOG = "a = []\nwhile True:\n    a.append(b'x' * (1 << 20))\n"


def test_memory_limit_oom_kills_hog(env: Env) -> None:
    m = env.manager()
    m.create(Resources(memory=MemoryResources(limit=32 * MiB, swap=32 * MiB)))
    assert read(m, "memory", "memory.limit_in_bytes") == str(32 * MiB)
    before = m.oom_kill_count()
    p = env.python(m, HOG)
    p.communicate(timeout=60)
    assert p.returncode == -signal.SIGKILL
    assert m.oom_kill_count() > before
    s = m.stats()
    assert s.memory.limit == 32 * MiB
    assert s.memory.max_usage > 16 * MiB


def test_memory_update_order_and_refusal(env: Env) -> None:
    m = env.manager()
    m.create(Resources(memory=MemoryResources(limit=64 * MiB, swap=64 * MiB)))
    m.update(Resources(memory=MemoryResources(limit=128 * MiB, swap=256 * MiB)))  # raise
    assert read(m, "memory", "memory.memsw.limit_in_bytes") == str(256 * MiB)
    m.update(Resources(memory=MemoryResources(limit=48 * MiB, swap=48 * MiB)))  # lower
    assert read(m, "memory", "memory.limit_in_bytes") == str(48 * MiB)
    assert read(m, "memory", "memory.memsw.limit_in_bytes") == str(48 * MiB)
    p = env.python(m, "import sys\nx = b'x' * (24 << 20)\nprint('ready', flush=True)\n"
                      "sys.stdin.read()", stdin=subprocess.PIPE)
    assert p.stdout is not None and p.stdout.readline() == b"ready\n"
    with pytest.raises(FailedPrecondition, match="current usage"):
        m.update(Resources(memory=MemoryResources(limit=4 * MiB, swap=48 * MiB)))
    assert p.poll() is None  # refused, not OOM-killed
    m.update(Resources(memory=MemoryResources(limit=-1)))
    assert int(read(m, "memory", "memory.limit_in_bytes")) > 1 << 60
    assert int(read(m, "memory", "memory.memsw.limit_in_bytes")) > 1 << 60


FORKER = """\
import os, time
kids, err = [], None
for _ in range(10):
    try:
        pid = os.fork()
    except OSError as e:
        err = e.errno
        break
    if pid == 0:
        time.sleep(5)
        os._exit(0)
    kids.append(pid)
for k in kids:
    os.kill(k, 9)
    os.waitpid(k, 0)
print(len(kids), err)
"""


def test_pids_limit_makes_fork_fail(env: Env) -> None:
    m = env.manager()
    m.create(Resources(pids=PidsResources(limit=4)))
    assert out(env.python(m, FORKER)).split() == ["3", str(errno.EAGAIN)]
    m.update(Resources(pids=PidsResources(limit=0)))  # <= 0: no limit
    assert read(m, "pids", "pids.max") == "max"
    assert out(env.python(m, FORKER)).split() == ["10", "None"]


def test_cpu_settings(env: Env) -> None:
    m = env.manager()
    m.create(Resources(cpu=CPUResources(shares=512, quota=20000, period=100000)))
    assert read(m, "cpu", "cpu.shares") == "512"
    assert read(m, "cpu", "cpu.cfs_quota_us") == "20000"
    m.update(Resources(cpu=CPUResources(quota=-1, period=50000)))
    assert read(m, "cpu", "cpu.cfs_period_us") == "50000"
    assert read(m, "cpu", "cpu.cfs_quota_us") == "-1"


def test_cpuset_copied_into_every_new_level(env: Env) -> None:
    with open("/sys/fs/cgroup/cpuset/cpuset.cpus") as f:
        root_cpus = f.read().strip()
    m = env.manager("x/y")
    m.create(None)
    base = next(d for d, name in m.v1_binds() if name == "cpuset")
    for d in (base, os.path.dirname(base), os.path.dirname(os.path.dirname(base))):
        with open(os.path.join(d, "cpuset.cpus")) as f:
            assert f.read().strip() == root_cpus, d
        with open(os.path.join(d, "cpuset.mems")) as f:
            assert f.read().strip(), d
    p = env.spawn(m, ["sleep", "30"])  # joining an empty cpuset would fail (ENOSPC)
    time.sleep(0.1)
    assert m.pids() == [p.pid]
    pinned = env.manager("x/z")
    pinned.create(Resources(cpu=CPUResources(cpus="0")))
    assert read(pinned, "cpuset", "cpuset.cpus") == "0"


# --------------------------------------------------------------------------- freezer


TICKER = "import time\nwhile True:\n    print('t', flush=True)\n    time.sleep(0.02)\n"


def drain(fd: int) -> bytes:
    data = b""
    while select.select([fd], [], [], 0)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return data


def test_freeze_thaw(env: Env) -> None:
    m = env.manager()
    m.create(None)
    p = env.python(m, TICKER)
    assert p.stdout is not None
    fd = p.stdout.fileno()
    assert select.select([fd], [], [], 10)[0]
    assert not m.frozen()
    m.freeze()
    assert m.frozen()
    assert read(m, "freezer", "freezer.state") == "FROZEN"
    drain(fd)
    assert not select.select([fd], [], [], 0.3)[0], "a frozen process kept running"
    m.thaw()
    assert not m.frozen()
    assert select.select([fd], [], [], 5)[0], "the thawed process did not run again"
    assert drain(fd)


# --------------------------------------------------------------------------- devices


PROBE = """\
for path in ("/dev/null", "/dev/zero"):
    try:
        open(path, "rb").close()
        print(path, "ok")
    except OSError as e:
        print(path, e.errno)
"""


def test_devices_deny_and_allow(env: Env) -> None:
    m = env.manager()
    rules = (DeviceRule(allow=False), DeviceRule(allow=True, type="c", major=1, minor=5))
    m.create(Resources(devices=rules))
    assert read(m, "devices", "devices.list") == "c 1:5 rwm"
    assert out(env.python(m, PROBE)).splitlines() == [f"/dev/null {errno.EPERM}", "/dev/zero ok"]
    m.update(Resources(devices=(*rules, DeviceRule(allow=True, type="c", major=1, minor=3,
                                                   access="rw"))))
    assert sorted(read(m, "devices", "devices.list").splitlines()) == ["c 1:3 rw", "c 1:5 rwm"]
    assert out(env.python(m, PROBE)).splitlines() == ["/dev/null ok", "/dev/zero ok"]


# --------------------------------------------------------------------------- stats


BUSY = """\
import sys, time
x = b'x' * (20 << 20)
end = time.time() + 0.3
while time.time() < end:
    pass
print('ready', flush=True)
sys.stdin.read()
"""


def test_stats_are_real(env: Env) -> None:
    m = env.manager()
    m.create(Resources(pids=PidsResources(limit=50)))
    p = env.python(m, BUSY, stdin=subprocess.PIPE)
    assert p.stdout is not None and p.stdout.readline() == b"ready\n"
    s = m.stats()
    assert s.cpu.total_usage_ns >= 100_000_000
    assert s.cpu.user_ns > 0 and sum(s.cpu.per_cpu_ns) > 0
    assert s.memory.usage >= 20 * MiB and s.memory.stat.get("rss", 0) > 0
    assert s.pids.current == 1 and s.pids.limit == 50
    assert m.oom_kill_count() == 0
