"""A cgroup namespace rooted at the container's cgroup, the cwd runc creates, and the
exec path's non-dumpable window (CVE-2019-5736 class)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from dockyard.linux import syscalls as sc
from dockyard.runtime import cgroups, spawn

if TYPE_CHECKING:
    from conftest import Runtime

pytestmark = pytest.mark.root

PR_GET_DUMPABLE = 3


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def test_cgroup_namespace_is_rooted_at_the_container(oci_runtime: Runtime) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["namespaces"].append({"type": "cgroup"})

    box = oci_runtime.bundle(sh("cat /proc/self/cgroup; ls /sys/fs/cgroup/pids"), edit)
    r = oci_runtime.run(box)
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    paths = [line.split(":", 2)[2] for line in lines if line.count(":") >= 2]
    assert paths and all(p == "/" for p in paths), r.stdout
    assert "pids.max" in r.stdout  # the container's own pids cgroup is the mount's root


def test_host_cgroup_namespace_shows_the_container_path(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(sh("grep pids /proc/self/cgroup"))
    r = oci_runtime.run(box)
    assert r.returncode == 0, r
    assert r.stdout.strip().endswith(box.cgroups_path), r.stdout


def test_missing_cwd_is_created(oci_runtime: Runtime) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["cwd"] = "/made/by/runtime"

    box = oci_runtime.bundle(["pwd"], edit, copy_rootfs=True)
    r = oci_runtime.run(box)
    assert (r.returncode, r.stdout.strip()) == (0, "/made/by/runtime"), r
    assert (box.bundle / "rootfs" / "made" / "by" / "runtime").is_dir()


def _dumpable_in_chain(dumpable: bool) -> int:
    """The PR_GET_DUMPABLE value seen by the second child of the launcher's fork chain."""
    r, w = os.pipe()

    def child(_sync_w: int) -> NoReturn:
        try:
            os.write(w, str(sc.prctl(PR_GET_DUMPABLE)).encode())
        finally:
            os._exit(0)

    pid, sync_r = spawn.fork_chain(cgroups.NO_JOIN, [], 0, spawn.INHERIT, child, dumpable, keep=(w,))
    os.close(w)
    try:
        value = int(os.read(r, 16))
    finally:
        os.close(r)
        os.close(sync_r)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass  # reparented to our subreaper, or already reaped elsewhere
    return value


def test_exec_chain_is_not_dumpable_until_execve() -> None:
    """exec's children run in the container's namespaces with host resources (the host's
    python3 as /proc/<pid>/exe) until execve: they must not be dumpable, so nothing in the
    container can ptrace them or open their exe."""
    assert _dumpable_in_chain(dumpable=False) == 0
    assert _dumpable_in_chain(dumpable=True) == 1


def test_loopback_is_up_in_a_new_network_namespace(oci_runtime: Runtime) -> None:
    r = oci_runtime.run(oci_runtime.bundle(["cat", "/sys/class/net/lo/flags"]))
    assert r.returncode == 0, r
    assert int(r.stdout.strip(), 16) & 0x1, r.stdout  # IFF_UP


def test_exec_errors_carry_the_words_docker_maps_to_126_and_127(oci_runtime: Runtime) -> None:
    cases = {"/nosuch": "no such file or directory", "nosuch": "executable file not found",
             "/etc/passwd": "permission denied", "/etc": "permission denied"}
    for program, words in cases.items():
        r = oci_runtime.run(oci_runtime.bundle([program]))
        assert r.returncode != 0 and words in r.stderr, (program, r)
