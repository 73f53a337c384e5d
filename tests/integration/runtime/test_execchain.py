"""The exec chain's single fork (``dockyard.runtime.execchain``): the child is born in the
target's pid namespace and joins the others, while the caller keeps (or gets back) its own
pid namespace for its later children, its dumpability and its signal mask, also when the
fork fails.

The chain runs in a fresh single-threaded Python process (as in the supervisor); the
target is ``unshare --pid --mount --fork sleep`` (its own pid and mount namespaces).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

SCRIPT = r"""
import json, os, signal, sys
from dockyard.linux import syscalls as sc
from dockyard.runtime import execchain, init
from dockyard.runtime.cgroups.manager import NO_JOIN
from dockyard.runtime.spawn import Stdio, read_all

target, bad = int(sys.argv[1]), sys.argv[2] == "bad"
pidns = os.open(f"/proc/{target}/ns/pid", os.O_RDONLY)
mntns = os.open(f"/proc/{target}/ns/mnt", os.O_RDONLY)
join = [(mntns, sc.CLONE_NEWNS)]
if bad:  # a mount namespace given as the pid one: setns refuses it
    pidns = os.open(f"/proc/{target}/ns/mnt", os.O_RDONLY)
out_r, out_w = os.pipe()

def child(sync_w):
    try:
        init.reset_signals()
        os.execv("/bin/sh", ["sh", "-c",
                 "echo $$; readlink /proc/self/ns/pid /proc/self/ns/mnt"])
    except BaseException as e:
        init.report_error(sync_w, e)

signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])
before = {"pidns_children": os.readlink("/proc/self/ns/pid_for_children"),
          "dumpable": sc.prctl(3), "mask": sorted(signal.pthread_sigmask(signal.SIG_BLOCK, []))}
result = {"before": before}
try:
    pid, sync_r = execchain.start(NO_JOIN, pidns, join, Stdio(None, out_w, None), child)
except OSError as e:
    result["error"] = e.errno
else:
    os.close(out_w)
    result["sync"] = read_all(sync_r).decode()
    result["out"] = read_all(out_r).decode().split()
    result["status"] = os.waitpid(pid, 0)[1]  # our own child
result["after"] = {"pidns_children": os.readlink("/proc/self/ns/pid_for_children"),
                   "dumpable": sc.prctl(3),
                   "mask": sorted(signal.pthread_sigmask(signal.SIG_BLOCK, []))}
print(json.dumps(result))
"""


@pytest.fixture
def target() -> Iterator[int]:
    """A process alone in new pid and mount namespaces: the pid of ``sleep`` (pid 1 there)."""
    p = subprocess.Popen(["unshare", "--pid", "--mount", "--fork", "sleep", "60"])
    try:
        deadline = time.monotonic() + 10
        inner = 0
        while not inner:
            with contextlib.suppress(FileNotFoundError):
                with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                    children = f.read().split()
                inner = int(children[0]) if children else 0
            if not inner:
                if time.monotonic() > deadline:
                    pytest.fail("unshare did not fork its child")
                time.sleep(0.01)
        yield inner
    finally:
        p.kill()
        p.wait(timeout=10)


def run_chain(target: int, mode: str = "good") -> dict[str, object]:
    p = subprocess.run([sys.executable, "-c", SCRIPT, str(target), mode], capture_output=True,
                       text=True, timeout=60, check=False)
    assert p.returncode == 0, p.stderr
    doc: dict[str, object] = json.loads(p.stdout)
    return doc


def test_child_is_born_in_the_target_pid_namespace(target: int) -> None:
    r = run_chain(target)
    assert r["sync"] == ""  # exec'd: the sync pipe closed without an error
    out = r["out"]
    assert isinstance(out, list)
    assert out[0] == "2"  # the second process of the target's pid namespace (sleep is 1)
    assert out[1] == os.readlink(f"/proc/{target}/ns/pid")
    assert out[2] == os.readlink(f"/proc/{target}/ns/mnt")
    assert r["status"] == 0
    # The caller is back as it was: its children in its own pid namespace, dumpable, mask.
    assert r["after"] == r["before"]
    before = r["before"]
    assert isinstance(before, dict)
    assert before["pidns_children"] == os.readlink("/proc/self/ns/pid")
    assert before["dumpable"] == 1
    assert before["mask"] == [int(signal.SIGUSR2)]


def test_the_caller_is_restored_when_the_fork_fails(target: int) -> None:
    r = run_chain(target, "bad")
    assert r["error"] is not None
    assert r["after"] == r["before"]


STOPPED = r"""
import os, signal, sys
from dockyard import errors
from dockyard.runtime import execchain
from dockyard.runtime.cgroups.manager import NO_JOIN
from dockyard.runtime.spawn import INHERIT

def child(sync_w):
    os.kill(os.getpid(), signal.SIGSTOP)  # as a process in the container could
    os._exit(0)

pid, sync_r = execchain.start(NO_JOIN, -1, [], INHERIT, child)
try:
    execchain.read_sync(sync_r, pid, timeout=0.3)
except errors.FailedPrecondition as e:
    print("refused:", e)
_, status = os.waitpid(pid, 0)
print("killed" if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL else status)
"""


def test_a_child_stopped_on_its_way_is_killed_not_waited_for() -> None:
    p = subprocess.run([sys.executable, "-c", STOPPED], capture_output=True, text=True,
                       timeout=60, check=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [
        "refused: the exec'd process did not start within 0.3s: killed", "killed"], p.stdout
