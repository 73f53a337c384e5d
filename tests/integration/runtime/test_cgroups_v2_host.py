"""The v2 manager on this host's real cgroup2 tree: ``/sys/fs/cgroup`` on a unified host,
``/sys/fs/cgroup/unified`` on a hybrid one (which has no resource controllers, but takes
eBPF device filters and has the v2 freezer, so both are tested for real).

Managers are built with ``controllers=()``, so no ancestor's ``cgroup.subtree_control`` is
changed; every test's cgroups and processes are removed by the ``env`` fixture.
"""

from __future__ import annotations

import errno
import os
import secrets
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from dockyard.errors import DockyardError
from dockyard.oci.runtime_spec import DeviceRule, PidsResources, Resources
from dockyard.runtime.cgroups import V2Manager, files, read_hierarchies, tree
from dockyard.runtime.cgroups.devices_bpf import attached_program_ids


def _cgroup2_mount() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        for h in read_hierarchies():
            if h.version == 2 and h.root == "/":
                return h.mountpoint
    except DockyardError:
        return None
    return None


MOUNT = _cgroup2_mount()
pytestmark = [pytest.mark.root,
              pytest.mark.skipif(MOUNT is None, reason="needs root and a cgroup2 mount")]


class Env:
    def __init__(self, mount: str) -> None:
        self.mount = mount
        self.prefix = f"/dockyard-test-{secrets.token_hex(4)}"
        self.procs: list[subprocess.Popen[bytes]] = []

    def manager(self, name: str = "c") -> V2Manager:
        return V2Manager(f"{self.prefix}/{name}", self.mount, controllers=())

    def python(self, m: V2Manager, code: str, **kw: Any) -> subprocess.Popen[bytes]:
        (procs,) = m.join_paths()

        def join() -> None:
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)

        p = subprocess.Popen([sys.executable, "-S", "-c", code], preexec_fn=join,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
        self.procs.append(p)
        return p

    def cleanup(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        top = os.path.join(self.mount, self.prefix.lstrip("/"))
        for sub, _, names in os.walk(top):
            if "cgroup.freeze" in names:
                files.write(os.path.join(sub, "cgroup.freeze"), "0")
        for pid in files.procs_recursive(top):  # started by this test in its own cgroup
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in self.procs:
            p.wait(timeout=30)
        tree.remove_trees([top], timeout=10)


@pytest.fixture
def env() -> Iterator[Env]:
    assert MOUNT is not None
    e = Env(MOUNT)
    try:
        yield e
    finally:
        e.cleanup()
    assert not os.path.exists(os.path.join(MOUNT, e.prefix.lstrip("/")))


def out(p: subprocess.Popen[bytes]) -> str:
    stdout, stderr = p.communicate(timeout=30)
    assert p.returncode == 0, stderr.decode()
    return stdout.decode()


PROBE = """\
for path in ("/dev/null", "/dev/zero"):
    try:
        open(path, "rb").close()
        print(path, "ok")
    except OSError as e:
        print(path, e.errno)
"""


def test_lifecycle(env: Env) -> None:
    m = env.manager()
    m.create(None)
    m.create(None)
    assert m.exists() and m.version == 2
    p = env.python(m, "import sys\nprint('up', flush=True)\nsys.stdin.read()",
                   stdin=subprocess.PIPE)
    assert p.stdout is not None and p.stdout.readline() == b"up\n"
    assert m.pids() == [p.pid]
    p.kill()
    m.destroy()
    assert not m.exists()


def test_device_filter_denies_and_is_replaced(env: Env) -> None:
    m = env.manager()
    rules = (DeviceRule(allow=False), DeviceRule(allow=True, type="c", major=1, minor=5))
    m.create(Resources(devices=rules))
    assert len(attached_program_ids(m.dir)) == 1
    assert out(env.python(m, PROBE)).splitlines() == [f"/dev/null {errno.EPERM}", "/dev/zero ok"]
    m.update(Resources(devices=(*rules, DeviceRule(allow=True, type="c", major=1, minor=3))))
    assert len(attached_program_ids(m.dir)) == 1  # replaced, not stacked
    assert out(env.python(m, PROBE)).splitlines() == ["/dev/null ok", "/dev/zero ok"]


def test_device_filter_read_only(env: Env) -> None:
    m = env.manager()
    m.create(Resources(devices=(DeviceRule(allow=False),
                                DeviceRule(allow=True, type="c", major=1, minor=3, access="r"))))
    code = ("import os\nos.close(os.open('/dev/null', os.O_RDONLY))\n"
            "try:\n    os.open('/dev/null', os.O_WRONLY)\nexcept OSError as e:\n"
            "    print(e.errno)\n")
    assert out(env.python(m, code)).strip() == str(errno.EPERM)


TICKER = "import time\nwhile True:\n    print('t', flush=True)\n    time.sleep(0.02)\n"


def test_freeze_thaw(env: Env) -> None:
    m = env.manager()
    m.create(None)
    p = env.python(m, TICKER)
    assert p.stdout is not None
    fd = p.stdout.fileno()
    assert select.select([fd], [], [], 10)[0]
    m.freeze()
    assert m.frozen()
    while select.select([fd], [], [], 0)[0]:
        os.read(fd, 65536)
    assert not select.select([fd], [], [], 0.3)[0], "a frozen process kept running"
    m.thaw()
    assert not m.frozen()
    assert select.select([fd], [], [], 5)[0], "the thawed process did not run again"


def test_stats_and_missing_controllers(env: Env) -> None:
    m = env.manager()
    m.create(None)
    code = "import time\nend = time.time() + 0.2\nwhile time.time() < end:\n    pass\n"
    out(env.python(m, code))
    s = m.stats()
    assert s.cpu.total_usage_ns > 50_000_000 and s.cpu.user_ns > 0
    if not os.path.exists(os.path.join(m.dir, "pids.max")):
        # a tree without the pids controller: a clear error naming the file
        with pytest.raises(DockyardError, match=r"pids\.max"):
            m.update(Resources(pids=PidsResources(limit=3)))
