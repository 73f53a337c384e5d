"""dockyard-runtime's create without namespaces joined by path: the init is cloned by
the runtime itself into its namespaces and cgroups (spawn.start_direct, one fork); where
the kernel refuses that clone, the fork chain (child1, then the init) does it as before."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Runtime, RuntimeGuard

pytestmark = pytest.mark.root

# The runtime's CLI, with spawn's two ways of starting the init counted on stderr, and
# (argv[1] == "refuse") clone3 with namespace flags refused as an old kernel would.
_WRAPPER = """
import errno, os, sys
from dockyard.linux import syscalls
from dockyard.runtime import cli, spawn
refuse = sys.argv.pop(1) == "refuse"
real_clone3, real_direct, real_chain = syscalls.clone3, spawn.start_direct, spawn.start_chain
def clone3(flags=0, cgroup_fd=0):
    if refuse and flags & syscalls.CLONE_NEWPID:
        raise OSError(errno.EINVAL, "clone3: refused by the test")
    return real_clone3(flags, cgroup_fd)
def direct(*a, **k):
    started = real_direct(*a, **k)
    os.write(2, b"direct:" + (b"none" if started is None else b"started") + b"\\n")
    return started
def chain(*a, **k):
    os.write(2, b"chain\\n")
    return real_chain(*a, **k)
syscalls.clone3, spawn.start_direct, spawn.start_chain = clone3, direct, chain
cli.run()
"""

_PROBE = ["sh", "-c", "echo pid=$$; grep -c /dockyard-test/ /proc/self/cgroup; "
          "ls /proc/self/fd | wc -l"]


def _runtime(guard: RuntimeGuard, mode: str) -> Runtime:
    rt = guard.add("dockyard")
    rt.argv = [sys.executable, "-c", _WRAPPER, mode]
    return rt


def _check(out: str, cgroup_lines: int) -> None:
    lines = out.split()
    assert lines[0] == "pid=1"  # PID 1 of its own pid namespace
    assert int(lines[1]) == cgroup_lines  # in the container's cgroup in every hierarchy
    assert int(lines[2]) == 4  # 0, 1, 2 and ls's own directory: nothing of ours leaked


def _hierarchies() -> int:
    with open("/proc/self/cgroup") as f:
        return len(f.read().splitlines())


def test_run_clones_the_init_directly(runtime_guard: RuntimeGuard) -> None:
    rt = _runtime(runtime_guard, "allow")
    box = rt.bundle(_PROBE)
    r = rt.run(box)
    assert r.returncode == 0, r.stderr
    assert "direct:started" in r.stderr and "chain" not in r.stderr
    _check(r.stdout, _hierarchies())


def test_a_refused_clone_falls_back_to_the_chain(runtime_guard: RuntimeGuard) -> None:
    rt = _runtime(runtime_guard, "refuse")
    box = rt.bundle(_PROBE)
    r = rt.run(box)
    assert r.returncode == 0, r.stderr
    assert "direct:none" in r.stderr and "chain" in r.stderr
    _check(r.stdout, _hierarchies())


def test_namespaces_joined_by_path_take_the_chain(runtime_guard: RuntimeGuard) -> None:
    rt = _runtime(runtime_guard, "allow")

    def share_uts(spec: dict[str, Any]) -> None:
        for ns in spec["linux"]["namespaces"]:
            if ns["type"] == "uts":
                ns["path"] = "/proc/self/ns/uts"
        spec["hostname"] = ""

    box = rt.bundle(_PROBE, share_uts)
    r = rt.run(box)
    assert r.returncode == 0, r.stderr
    assert "chain" in r.stderr and "direct" not in r.stderr
    _check(r.stdout, _hierarchies())
