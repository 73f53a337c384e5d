"""Isolation: PID 1, hostname, processes, mounts, network, masked and read-only paths.

Each test runs the same bundle (Docker's defaults) under runc and dockyard-runtime.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

from dockyard.runtime.specgen import MASKED_PATHS, READONLY_PATHS

if TYPE_CHECKING:
    from conftest import Runtime

pytestmark = pytest.mark.root


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def test_init_is_pid_1(oci_runtime: Runtime) -> None:
    script = 'echo "pid=$$"; tr "\\0" "|" < /proc/1/cmdline; echo'
    box = oci_runtime.bundle(sh(script))
    r = oci_runtime.run(box)
    assert r.returncode == 0, r
    assert r.stdout.splitlines() == ["pid=1", f"sh|-c|{script}|"]


def test_pid1_ignores_sigkill_sent_from_inside(oci_runtime: Runtime) -> None:
    """The kernel protects a PID namespace's init from signals it has no handler for."""
    box = oci_runtime.bundle(sh("kill -9 $$; echo survived"))
    r = oci_runtime.run(box)
    assert (r.returncode, r.stdout) == (0, "survived\n"), r


def test_hostname_comes_from_spec(oci_runtime: Runtime) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["hostname"] = "box-under-test"

    box = oci_runtime.bundle(sh("hostname; cat /proc/sys/kernel/hostname"), edit)
    r = oci_runtime.run(box)
    assert r.returncode == 0, r
    assert r.stdout.split() == ["box-under-test", "box-under-test"]
    assert os.uname().nodename != "box-under-test"


def test_host_processes_are_invisible(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["ps", "-o", "pid,comm"])
    r = oci_runtime.run(box)
    assert r.returncode == 0, r
    rows = [line.split() for line in r.stdout.splitlines()[1:]]
    # `ps` is PID 1 itself: nothing else exists in the container's PID namespace
    assert rows == [["1", "ps"]], r.stdout


def test_proc_lists_only_container_pids(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(sh("ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\\n' ' '"))
    r = oci_runtime.run(box)
    assert r.returncode == 0, r
    pids = [int(p) for p in r.stdout.split()]
    # sh is 1, then the pipeline's four processes (numbers vary with the runtime's own
    # short-lived helpers): the host's hundreds of processes are not there
    assert pids[0] == 1 and len(pids) <= 5, pids


def test_host_mounts_are_invisible(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["cat", "/proc/self/mountinfo"])
    spec = box.config()
    r = oci_runtime.run(box)
    assert r.returncode == 0, r
    points = {line.split(" - ")[0].split()[4] for line in r.stdout.splitlines()}
    allowed = {"/", *(m["destination"] for m in spec["mounts"]), *MASKED_PATHS,
               *READONLY_PATHS}
    unexpected = {p for p in points
                  if p not in allowed and not p.startswith("/sys/fs/cgroup/")}
    assert not unexpected, f"mounts not in the spec visible inside: {sorted(unexpected)}"
    for host_only in ("/work", "/tmp", "/run", "/home", str(box.bundle)):
        assert host_only not in points


def test_only_loopback_interface(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(sh("ls /sys/class/net; echo --; ip -o link"))
    r = oci_runtime.run(box)
    assert r.returncode == 0, r
    listing, links = r.stdout.split("--\n")
    assert listing.split() == ["lo"]
    assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]


def test_private_ipc_and_uts_namespaces(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(sh("for n in pid net ipc uts mnt; do readlink /proc/self/ns/$n; done"))
    r = oci_runtime.run(box)
    assert r.returncode == 0, r
    inside = r.stdout.split()
    host = [os.readlink(f"/proc/self/ns/{n}") for n in ("pid", "net", "ipc", "uts", "mnt")]
    assert len(inside) == 5
    for mine, theirs in zip(inside, host, strict=True):
        assert mine != theirs, f"{mine} is the host's namespace"


def test_proc_kcore_is_masked(oci_runtime: Runtime) -> None:
    """/proc/kcore reads empty. This machine's kernel has no /proc/kcore at all (then it must
    stay absent); test_masked_files_read_empty proves the masking on files that exist."""
    box = oci_runtime.bundle(sh("wc -c < /proc/kcore; stat -c '%t:%T' /proc/kcore"))
    r = oci_runtime.run(box)
    if os.path.exists("/proc/kcore"):
        assert r.returncode == 0, r
        assert r.stdout.split() == ["0", "1:3"], "masked: /dev/null bind-mounted over it"
    else:
        assert r.returncode != 0 and "No such file" in r.stderr, r


def _host_masked(kind: str) -> list[str]:
    test = os.path.isdir if kind == "dir" else os.path.isfile
    return [p for p in MASKED_PATHS if test(p)]


def test_masked_files_read_empty(oci_runtime: Runtime) -> None:
    files = _host_masked("file")
    assert files, f"none of the masked paths {MASKED_PATHS} is a file on this host"
    script = "; ".join(f"echo $(wc -c < {f}) $(stat -c '%t:%T' {f})" for f in files)
    r = oci_runtime.run(oci_runtime.bundle(sh(script)))
    assert r.returncode == 0, r
    assert r.stdout.splitlines() == ["0 1:3"] * len(files), r.stdout


def test_masked_directories_are_empty_and_read_only(oci_runtime: Runtime) -> None:
    dirs = _host_masked("dir")
    assert dirs, f"none of the masked paths {MASKED_PATHS} is a directory on this host"
    script = "; ".join(f"echo $(ls -A {d} | wc -l); touch {d}/x" for d in dirs)
    r = oci_runtime.run(oci_runtime.bundle(sh(script)))
    assert r.stdout.split() == ["0"] * len(dirs), r
    assert r.stderr.count("Read-only file system") == len(dirs), r.stderr


def test_proc_sys_is_read_only(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(sh("echo evil > /proc/sys/kernel/hostname"))
    r = oci_runtime.run(box)
    assert r.returncode != 0, r
    assert "Read-only file system" in r.stderr, r.stderr


def test_sysctl_write_fails_read_only(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["sysctl", "-w", "kernel.domainname=evil"])
    r = oci_runtime.run(box)
    assert r.returncode != 0, r
    assert "Read-only file system" in r.stderr, r.stderr


def test_proc_irq_is_read_only(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(sh("cat /proc/irq/default_smp_affinity > /dev/null && "
                                "echo 1 > /proc/irq/default_smp_affinity"))
    r = oci_runtime.run(box)
    assert r.returncode != 0, r
    assert "Read-only file system" in r.stderr, r.stderr


def test_sys_is_read_only(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(sh("echo 1 > /sys/kernel/mm/ksm/run"))
    r = oci_runtime.run(box)
    assert r.returncode != 0, r
    assert "Read-only file system" in r.stderr, r.stderr


def test_cgroup_fs_mounted_with_read_only_controller_dirs(oci_runtime: Runtime) -> None:
    """On v1: a tmpfs at /sys/fs/cgroup with one read-only cgroup mount per controller.

    runc 1.1.5 leaves the tmpfs itself writable on this hybrid host (mkdir succeeds in it),
    so only the controller mounts are held read-only here.
    """
    box = oci_runtime.bundle(sh("grep ' /sys/fs/cgroup' /proc/self/mounts; echo --; "
                                "ls /sys/fs/cgroup; mkdir /sys/fs/cgroup/memory/x"))
    r = oci_runtime.run(box)
    assert r.returncode != 0, "mkdir in the container's memory cgroup must fail"
    assert "Read-only file system" in r.stderr, r.stderr
    mounts, listing = r.stdout.split("--\n")
    table = {f[1]: (f[2], set(f[3].split(","))) for f in map(str.split, mounts.splitlines())}
    assert table["/sys/fs/cgroup"][0] == "tmpfs", table
    for controller in ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio",
                       "pids"):
        assert controller in listing.split()
        fstype, opts = table[f"/sys/fs/cgroup/{controller}"]
        assert fstype == "cgroup" and "ro" in opts, (controller, fstype, opts)


def test_cgroup_fs_shows_own_cgroup_at_its_root(oci_runtime: Runtime) -> None:
    """Without a cgroup namespace, runc binds the container's own cgroup dir per controller."""
    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["resources"]["pids"] = {"limit": 77}

    box = oci_runtime.bundle(["cat", "/sys/fs/cgroup/pids/pids.max"], edit)
    r = oci_runtime.run(box)
    assert (r.returncode, r.stdout.strip()) == (0, "77"), r


def test_joins_existing_namespaces_by_path(oci_runtime: Runtime) -> None:
    """A second container given the first's net and uts namespace paths shares them."""
    def first_edit(spec: dict[str, Any]) -> None:
        spec["hostname"] = "shared-uts"

    first = oci_runtime.bundle(sh("echo up; exec sleep 100"), first_edit)
    pid = oci_runtime.started(first, ready="up")

    def second_edit(spec: dict[str, Any]) -> None:
        spec.pop("hostname", None)
        for ns in spec["linux"]["namespaces"]:
            if ns["type"] in ("network", "uts"):
                ns["path"] = f"/proc/{pid}/ns/{'net' if ns['type'] == 'network' else 'uts'}"

    second = oci_runtime.bundle(sh("hostname; readlink /proc/self/ns/net; readlink /proc/self/ns/pid"),
                                second_edit)
    r = oci_runtime.run(second)
    assert r.returncode == 0, r
    hostname, net, pidns = r.stdout.split()
    assert hostname == "shared-uts"
    assert net == os.readlink(f"/proc/{pid}/ns/net")
    assert pidns != os.readlink(f"/proc/{pid}/ns/pid"), "pid was not asked to be shared"


def test_no_inherited_file_descriptors(oci_runtime: Runtime) -> None:
    """Only stdio reaches the container process (`ls` itself holds fd 3 on the directory)."""
    r = oci_runtime.run(oci_runtime.bundle(["ls", "/proc/self/fd"]))
    assert (r.returncode, r.stdout.split()) == (0, ["0", "1", "2", "3"]), r


def test_no_inherited_file_descriptors_in_exec(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(sh("echo up; exec sleep 100"))
    oci_runtime.started(box, ready="up")
    r = oci_runtime.exec(box.id, "ls", "/proc/self/fd")
    assert (r.returncode, r.stdout.split()) == (0, ["0", "1", "2", "3"]), r
    r = oci_runtime.exec(box.id, "ls", "/proc/1/fd")
    assert (r.returncode, r.stdout.split()) == (0, ["0", "1", "2"]), r
