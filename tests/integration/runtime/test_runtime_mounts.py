"""Mounts and devices: /dev contents, the device cgroup allow-list, tmpfs, bind options."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from dockyard.linux.syscalls import MNT_DETACH, MS_BIND, MS_SHARED, mount, umount2

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import Runtime

pytestmark = pytest.mark.root


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def add_mount(spec: dict[str, Any], destination: str, kind: str, source: str,
              options: list[str]) -> None:
    spec["mounts"].append({"destination": destination, "type": kind, "source": source,
                           "options": options})


# ---------------------------------------------------------------------------- /dev


DEFAULT_CHAR_DEVICES = {
    "/dev/null": "1:3", "/dev/zero": "1:5", "/dev/full": "1:7", "/dev/random": "1:8",
    "/dev/urandom": "1:9", "/dev/tty": "5:0",
}
DEFAULT_LINKS = {
    "/dev/ptmx": "pts/ptmx", "/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
    "/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2",
}


def test_default_device_nodes(oci_runtime: Runtime) -> None:
    script = "; ".join(f"stat -c '%n|%F|%t:%T|%a' {d}" for d in DEFAULT_CHAR_DEVICES)
    r = oci_runtime.run(oci_runtime.bundle(sh(script)))
    assert r.returncode == 0, r
    got = {f[0]: tuple(f[1:]) for f in (line.split("|") for line in r.stdout.splitlines())}
    want = {dev: ("character special file", devno, "666")
            for dev, devno in DEFAULT_CHAR_DEVICES.items()}
    assert got == want


def test_default_device_nodes_work(oci_runtime: Runtime) -> None:
    script = ("head -c 4 /dev/zero | od -An -tx1; head -c 16 /dev/urandom | wc -c; "
              "head -c 16 /dev/random | wc -c; echo gone > /dev/null; echo x > /dev/full")
    r = oci_runtime.run(oci_runtime.bundle(sh(script)))
    assert r.stdout.split() == ["00", "00", "00", "00", "16", "16"], r
    assert "No space left on device" in r.stderr, r.stderr


def test_default_dev_links(oci_runtime: Runtime) -> None:
    script = "; ".join(f"echo {link} $(readlink {link})" for link in DEFAULT_LINKS)
    r = oci_runtime.run(oci_runtime.bundle(sh(script)))
    assert r.returncode == 0, r
    got = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert got == DEFAULT_LINKS


def test_default_dev_filesystems(oci_runtime: Runtime) -> None:
    r = oci_runtime.run(oci_runtime.bundle(["cat", "/proc/self/mounts"]))
    assert r.returncode == 0, r
    table = {f[1]: (f[2], set(f[3].split(","))) for f in map(str.split, r.stdout.splitlines())}
    assert table["/dev"][0] == "tmpfs"
    assert table["/dev/pts"][0] == "devpts"
    assert {"mode=620", "ptmxmode=666"} <= table["/dev/pts"][1], table["/dev/pts"]
    assert table["/dev/mqueue"][0] == "mqueue"
    assert table["/dev/shm"][0] == "tmpfs"
    assert {"nosuid", "nodev", "noexec", "size=65536k"} <= table["/dev/shm"][1]
    assert table["/proc"][0] == "proc" and table["/sys"][0] == "sysfs"
    assert "ro" in table["/sys"][1]


def test_dev_shm_size_follows_spec(oci_runtime: Runtime) -> None:
    def edit(spec: dict[str, Any]) -> None:
        for m in spec["mounts"]:
            if m["destination"] == "/dev/shm":
                m["options"] = [o for o in m["options"] if not o.startswith("size=")]
                m["options"].append("size=1m")

    script = ("grep ' /dev/shm ' /proc/self/mounts; "
              "dd if=/dev/zero of=/dev/shm/big bs=1M count=2")
    r = oci_runtime.run(oci_runtime.bundle(sh(script), edit))
    assert "size=1024k" in r.stdout, r
    assert "No space left on device" in r.stderr, r.stderr


def test_dev_tty_and_ptmx_usable(oci_runtime: Runtime) -> None:
    """ptmx -> pts/ptmx opens a new pty in the container's own devpts instance."""
    r = oci_runtime.run(oci_runtime.bundle(sh("ls /dev/pts")))
    assert r.returncode == 0, r
    assert r.stdout.split() == ["ptmx"], "a new devpts instance has no host ptys"


# ---------------------------------------------------------------------------- device cgroup


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """(major, minor) of a loop block device over a 1 MiB file that starts with a marker.

    The host's root disk cannot be read even by the host in this sandbox, so a block
    device the host *can* read is what proves the device cgroup is the thing saying no.
    """
    image = tmp_path / "disk.img"
    with image.open("wb") as f:
        f.write(DISK_MARKER.ljust(1 << 20, b"\0"))
    losetup = shutil.which("losetup")
    assert losetup, "losetup is missing: apt-get install mount"
    dev = subprocess.run([losetup, "-f", "--show", str(image)], capture_output=True, text=True,
                         check=True).stdout.strip()
    try:
        with open(dev, "rb") as f:
            assert f.read(len(DISK_MARKER)) == DISK_MARKER, "the host cannot read its loop device"
        rdev = os.stat(dev).st_rdev
        yield os.major(rdev), os.minor(rdev)
    finally:
        subprocess.run([losetup, "-d", dev], check=True)


DISK_MARKER = b"dockyard-disk-marker"


def test_mknod_host_root_disk_allowed_but_reading_denied(
        oci_runtime: Runtime, host_root_disk: tuple[int, int]) -> None:
    """Docker's rules: `b *:* m` lets CAP_MKNOD create the node; opening the disk fails.

    (In this sandbox the host itself cannot read its root disk either: the loop-device
    tests below are the ones that prove the allow-list.)
    """
    major, minor = host_root_disk
    script = (f"mknod /dev/hostdisk b {major} {minor} && echo made; "
              "head -c 512 /dev/hostdisk | wc -c")
    r = oci_runtime.run(oci_runtime.bundle(sh(script)))
    assert r.stdout.split()[0] == "made", r
    assert "Operation not permitted" in r.stderr, r.stderr
    assert r.stdout.split()[1] == "0", r


def test_mknod_block_device_allowed_but_reading_denied(
        oci_runtime: Runtime, loop_device: tuple[int, int]) -> None:
    major, minor = loop_device
    script = (f"mknod /dev/disk b {major} {minor} && echo made; "
              f"head -c {len(DISK_MARKER)} /dev/disk; echo")
    r = oci_runtime.run(oci_runtime.bundle(sh(script)))
    assert r.stdout.split() == ["made"], r
    assert "Operation not permitted" in r.stderr, r.stderr


def test_reading_block_device_works_when_rules_allow_it(
        oci_runtime: Runtime, loop_device: tuple[int, int]) -> None:
    """The same node becomes readable with an `r` rule: the list is enforced as written."""
    major, minor = loop_device

    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["resources"]["devices"].append(
            {"allow": True, "type": "b", "major": major, "minor": minor, "access": "rm"})

    script = (f"mknod /dev/disk b {major} {minor} && head -c {len(DISK_MARKER)} /dev/disk; "
              "echo; echo x > /dev/disk")
    r = oci_runtime.run(oci_runtime.bundle(sh(script), edit))
    assert r.stdout == DISK_MARKER.decode() + "\n", r
    assert "Operation not permitted" in r.stderr, "no w in the rule: writing must fail"


def test_mknod_char_device_not_in_list_cannot_be_opened(oci_runtime: Runtime) -> None:
    """/dev/kmsg (1:11) is not in Docker's list: creating it works, opening it does not."""
    r = oci_runtime.run(oci_runtime.bundle(sh("mknod /dev/kmsg2 c 1 11 && cat /dev/kmsg2")))
    assert r.returncode != 0, r
    assert "Operation not permitted" in r.stderr, r.stderr


def test_mknod_denied_without_cap_mknod(oci_runtime: Runtime,
                                       host_root_disk: tuple[int, int]) -> None:
    major, minor = host_root_disk

    def edit(spec: dict[str, Any]) -> None:
        for caps in spec["process"]["capabilities"].values():
            if "CAP_MKNOD" in caps:
                caps.remove("CAP_MKNOD")

    r = oci_runtime.run(oci_runtime.bundle(sh(f"mknod /dev/hostdisk b {major} {minor}"), edit))
    assert r.returncode != 0, r
    assert "Operation not permitted" in r.stderr, r.stderr


def test_devices_list_inside_matches_spec(oci_runtime: Runtime) -> None:
    r = oci_runtime.run(oci_runtime.bundle(["cat", "/sys/fs/cgroup/devices/devices.list"]))
    assert r.returncode == 0, r
    rules = set(r.stdout.splitlines())
    for rule in ("c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
                 "c 1:9 rwm", "c 5:0 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm"):
        assert rule in rules, (rule, sorted(rules))
    assert "a *:* rwm" not in rules


# ---------------------------------------------------------------------------- root and tmpfs


def test_readonly_root(oci_runtime: Runtime) -> None:
    r = oci_runtime.run(oci_runtime.bundle(sh("touch /x; touch /tmp/x; touch /dev/shm/ok")))
    assert r.returncode == 0, r
    assert r.stderr.count("Read-only file system") == 2, r.stderr


def test_writable_root_when_spec_says_so(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(sh("touch /created && ls /created"), copy_rootfs=True)
    r = oci_runtime.run(box)
    assert (r.returncode, r.stdout) == (0, "/created\n"), r
    assert (box.bundle / "rootfs" / "created").exists()


def test_tmpfs_mount_with_size(oci_runtime: Runtime) -> None:
    def edit(spec: dict[str, Any]) -> None:
        add_mount(spec, "/tmp", "tmpfs", "tmpfs", ["nosuid", "nodev", "size=1m", "mode=1777"])

    script = ("grep ' /tmp ' /proc/self/mounts; stat -c %a /tmp; "
              "dd if=/dev/zero of=/tmp/big bs=1M count=2")
    r = oci_runtime.run(oci_runtime.bundle(sh(script), edit))
    fields = r.stdout.split()
    assert fields[2] == "tmpfs", r
    assert {"nosuid", "nodev", "size=1024k"} <= set(fields[3].split(",")), fields
    assert fields[6] == "1777", r
    assert "No space left on device" in r.stderr, r.stderr


def test_tmpfs_over_existing_dir_takes_that_dirs_mode(oci_runtime: Runtime) -> None:
    """runc chmods a tmpfs mounted over an existing directory to that directory's mode,
    whatever `mode=` said: /tmp in the rootfs is 1777, so the tmpfs root is 1777."""
    def edit(spec: dict[str, Any]) -> None:
        add_mount(spec, "/tmp", "tmpfs", "tmpfs", ["mode=755"])
        add_mount(spec, "/mnt", "tmpfs", "tmpfs", ["mode=700"])

    r = oci_runtime.run(oci_runtime.bundle(sh("stat -c %a /tmp /mnt"), edit))
    assert (r.returncode, r.stdout.split()) == (0, ["1777", "755"]), r


# ---------------------------------------------------------------------------- bind mounts


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    """A host directory with a data file, a script and a device node to bind in."""
    d = tmp_path / "hostdir"
    d.mkdir()
    (d / "data").write_text("from the host\n")
    script = d / "hello.sh"
    script.write_text("#!/bin/sh\necho ran\n")
    script.chmod(0o755)
    os.mknod(d / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return d


def _bind(source: Path, options: list[str]) -> Any:
    def edit(spec: dict[str, Any]) -> None:
        add_mount(spec, "/mnt", "bind", str(source), options)
    return edit


def test_bind_mount_read_only(oci_runtime: Runtime, host_dir: Path) -> None:
    box = oci_runtime.bundle(sh("cat /mnt/data; touch /mnt/new"), _bind(host_dir, ["rbind", "ro"]))
    r = oci_runtime.run(box)
    assert r.stdout == "from the host\n", r
    assert "Read-only file system" in r.stderr, r.stderr
    assert not (host_dir / "new").exists()


def test_bind_mount_read_write_reaches_host(oci_runtime: Runtime, host_dir: Path) -> None:
    box = oci_runtime.bundle(sh("echo hi > /mnt/new"), _bind(host_dir, ["rbind", "rw"]))
    r = oci_runtime.run(box)
    assert r.returncode == 0, r
    assert (host_dir / "new").read_text() == "hi\n"


def test_bind_mount_noexec(oci_runtime: Runtime, host_dir: Path) -> None:
    ok = oci_runtime.run(oci_runtime.bundle(["/mnt/hello.sh"], _bind(host_dir, ["rbind"])))
    assert (ok.returncode, ok.stdout) == (0, "ran\n"), ok
    box = oci_runtime.bundle(sh("/mnt/hello.sh"), _bind(host_dir, ["rbind", "noexec"]))
    r = oci_runtime.run(box)
    assert r.returncode != 0 and "ran" not in r.stdout, r
    assert "Permission denied" in r.stderr, r.stderr


def test_bind_mount_nodev(oci_runtime: Runtime, host_dir: Path) -> None:
    ok = oci_runtime.run(oci_runtime.bundle(sh("echo x > /mnt/null"), _bind(host_dir, ["rbind"])))
    assert ok.returncode == 0, ok
    box = oci_runtime.bundle(sh("echo x > /mnt/null"), _bind(host_dir, ["rbind", "nodev"]))
    r = oci_runtime.run(box)
    assert r.returncode != 0, r
    assert "Permission denied" in r.stderr, r.stderr


def test_bind_mount_flags_in_mount_table(oci_runtime: Runtime, host_dir: Path) -> None:
    opts = ["rbind", "ro", "nosuid", "nodev", "noexec"]
    r = oci_runtime.run(oci_runtime.bundle(["grep", " /mnt ", "/proc/self/mountinfo"],
                                           _bind(host_dir, opts)))
    assert r.returncode == 0, r
    per_mount = set(r.stdout.split()[5].split(","))
    assert {"ro", "nosuid", "nodev", "noexec"} <= per_mount, per_mount


@pytest.fixture
def host_dir_with_submount(host_dir: Path) -> Iterator[Path]:
    sub = host_dir / "sub"
    sub.mkdir()
    mount("tmpfs", str(sub), "tmpfs", 0, "size=64k")
    try:
        (sub / "inner").write_text("submount\n")
        yield host_dir
    finally:
        umount2(str(sub), MNT_DETACH)


def test_rbind_carries_submounts_and_bind_does_not(oci_runtime: Runtime,
                                                   host_dir_with_submount: Path) -> None:
    src = host_dir_with_submount
    r = oci_runtime.run(oci_runtime.bundle(sh("cat /mnt/sub/inner"), _bind(src, ["rbind"])))
    assert (r.returncode, r.stdout) == (0, "submount\n"), r
    r = oci_runtime.run(oci_runtime.bundle(sh("ls -A /mnt/sub | wc -l"), _bind(src, ["bind"])))
    assert (r.returncode, r.stdout.strip()) == (0, "0"), r


@pytest.fixture
def shared_host_dir(runtime_guard: object, host_dir: Path) -> Iterator[Path]:
    """host_dir bind-mounted on itself and made shared, so host mounts under it propagate.

    (Depends on the runtime guard so that it is unmounted before the guard looks for
    leftover mounts.)
    """
    (host_dir / "sub").mkdir()
    mount(str(host_dir), str(host_dir), None, MS_BIND)
    try:
        mount(None, str(host_dir), None, MS_SHARED)
        yield host_dir
    finally:
        umount2(str(host_dir), MNT_DETACH)


@pytest.mark.parametrize(("propagation", "seen"), [("rslave", True), ("rprivate", False)])
def test_bind_propagation_of_host_mounts(oci_runtime: Runtime, shared_host_dir: Path,
                                         propagation: str, seen: bool) -> None:
    """A mount the host makes under a shared bind source after start reaches the container
    through an rslave bind and not through an rprivate one."""
    script = ("echo up; while [ ! -e /mnt/go ]; do sleep 0.02; done; "
              "echo entries: $(ls /mnt/sub); echo done")
    box = oci_runtime.bundle(sh(script), _bind(shared_host_dir, ["rbind", propagation]))
    oci_runtime.started(box, ready="up")
    sub = shared_host_dir / "sub"
    mount("tmpfs", str(sub), "tmpfs", 0, "size=64k")
    try:
        (sub / "marker").write_text("")
        (shared_host_dir / "go").write_text("")
        out = oci_runtime.wait_output(box, "done")
    finally:
        umount2(str(sub), MNT_DETACH)
    assert ("entries: marker" in out) is seen, out


def test_mount_propagation_does_not_reach_host(oci_runtime: Runtime, host_dir: Path) -> None:
    """A mount made inside the container (on a rw bind) must not appear on the host."""
    def edit(spec: dict[str, Any]) -> None:
        add_mount(spec, "/mnt", "bind", str(host_dir), ["rbind", "rw"])
        spec["process"]["capabilities"]["bounding"].append("CAP_SYS_ADMIN")
        spec["process"]["capabilities"]["effective"].append("CAP_SYS_ADMIN")
        spec["process"]["capabilities"]["permitted"].append("CAP_SYS_ADMIN")

    script = "mkdir -p /mnt/inner && mount -t tmpfs none /mnt/inner && grep -c inner /proc/mounts"
    r = oci_runtime.run(oci_runtime.bundle(sh(script), edit))
    assert (r.returncode, r.stdout.strip()) == (0, "1"), r
    assert not os.path.ismount(host_dir / "inner")
