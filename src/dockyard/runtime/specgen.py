"""Default OCI ``config.json`` documents, as ``runc spec`` writes them, with Docker's defaults.

``default_spec`` is what ``dockyard-runtime spec`` prints and what tests start from: the
namespaces, mounts, masked/read-only paths, capabilities and device allow-list a
``docker run`` container gets (moby ``oci/defaults.go``).
"""

from __future__ import annotations

from typing import Any

from dockyard.linux.caps import DOCKER_DEFAULT_CAPS

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# moby oci/defaults.go
MASKED_PATHS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)


def _dev(kind: str, major: int | None, minor: int | None, access: str) -> dict[str, Any]:
    rule: dict[str, Any] = {"allow": True, "type": kind, "access": access}
    if major is not None:
        rule["major"] = major
    if minor is not None:
        rule["minor"] = minor
    return rule


# Docker's default device cgroup rules: deny everything, then mknod of any node (but no
# read/write of it), and read/write of the harmless character devices.
DEFAULT_DEVICE_RULES: tuple[dict[str, Any], ...] = (
    {"allow": False, "access": "rwm"},
    _dev("c", None, None, "m"),
    _dev("b", None, None, "m"),
    _dev("c", 1, 3, "rwm"),  # /dev/null
    _dev("c", 1, 8, "rwm"),  # /dev/random
    _dev("c", 1, 7, "rwm"),  # /dev/full
    _dev("c", 5, 0, "rwm"),  # /dev/tty
    _dev("c", 1, 5, "rwm"),  # /dev/zero
    _dev("c", 1, 9, "rwm"),  # /dev/urandom
    _dev("c", 136, None, "rwm"),  # /dev/pts/*
    _dev("c", 5, 2, "rwm"),  # /dev/ptmx
    _dev("c", 10, 200, "rwm"),  # /dev/net/tun
)


def default_mounts(shm_size: int = 64 << 20) -> list[dict[str, Any]]:
    """The filesystems every container gets (runc spec's list, Docker's /dev/shm size)."""
    return [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"]},
    ]


def _nofile() -> dict[str, Any]:
    """Docker's containers get 1048576 open files; never more than we may grant."""
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = 1048576 if hard == resource.RLIM_INFINITY else min(1048576, hard)
    return {"type": "RLIMIT_NOFILE", "hard": limit, "soft": limit}


def default_spec(
    args: list[str] | None = None,
    *,
    rootfs: str = "rootfs",
    terminal: bool = False,
    hostname: str = "dockyard",
    cgroups_path: str = "",
) -> dict[str, Any]:
    """A complete config.json document with Docker's defaults for ``args``."""
    caps = list(DOCKER_DEFAULT_CAPS)
    linux: dict[str, Any] = {
        "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
        "maskedPaths": list(MASKED_PATHS),
        "readonlyPaths": list(READONLY_PATHS),
        "resources": {"devices": [dict(r) for r in DEFAULT_DEVICE_RULES]},
    }
    if cgroups_path:
        linux["cgroupsPath"] = cgroups_path
    env = [DEFAULT_PATH]
    if terminal:
        env.append("TERM=xterm")
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": terminal,
            "user": {"uid": 0, "gid": 0},
            "args": list(args) if args else ["sh"],
            "env": env,
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps,
                "inheritable": [], "ambient": [],
            },
            "rlimits": [_nofile()],
            "noNewPrivileges": False,
        },
        "root": {"path": rootfs, "readonly": False},
        "hostname": hostname,
        "mounts": default_mounts(),
        "linux": linux,
    }
