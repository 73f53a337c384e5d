"""``SystemService``: what ``/version`` and ``/info`` report, measured on this host.

The values are plain frozen dataclasses; ``dockyard.apitypes.system`` gives them Docker's
wire shape. Counts come from the services that own them (containers, images) through the
narrow ``ContainerCounts``/``ImageCounts`` protocols.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import socket
import uuid
from typing import Protocol

from dockyard.daemon.config import DaemonConfig
from dockyard.daemon.registries import registry_info
from dockyard.daemon.systeminfo import ENGINE_VERSION, ContainerTotals, SystemInfo, VersionInfo
from dockyard.errors import FailedPrecondition
from dockyard.runtime.cgroups import cgroup_version
from dockyard.runtime.cgroups.mounts import fs_magic

log = logging.getLogger(__name__)



class ContainerCounts(Protocol):
    async def totals(self) -> ContainerTotals: ...


class ImageCounts(Protocol):
    def count(self) -> int: ...


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


def _os_release() -> tuple[str, str]:
    """(PRETTY_NAME, VERSION_ID) of /etc/os-release."""
    values: dict[str, str] = {}
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                if sep:
                    values[key] = value.strip().strip('"')
    except OSError as exc:
        log.debug("no /etc/os-release: %s", exc)
    return values.get("PRETTY_NAME", "Linux"), values.get("VERSION_ID", "")


def _mem_total() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError) as exc:
        log.warning("cannot read MemTotal: %s", exc)
    return 0


def _cgroup_file(controller: str, name: str) -> bool:
    return os.path.exists(os.path.join("/sys/fs/cgroup", controller, name))


_FS_NAMES = {0xEF53: "extfs", 0x58465342: "xfs", 0x9123683E: "btrfs", 0x01021994: "tmpfs",
             0x794C7630: "overlayfs", 0x2FC12FC1: "zfs", 0x6969: "nfs"}


def backing_filesystem(path: str) -> str:
    """The name Docker gives the filesystem under ``path`` (``extfs``, ``xfs``...)."""
    try:
        magic = fs_magic(path)
    except FailedPrecondition as exc:
        log.debug("%s", exc)
        return "unknown"
    return _FS_NAMES.get(magic, f"0x{magic:x}")


def engine_id(path: str) -> str:
    """The engine's persistent id (made once, kept in the data root)."""
    try:
        with open(path, encoding="ascii") as f:
            value = f.read().strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    value = str(uuid.uuid4())
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(value + "\n")
    os.rename(tmp, path)
    return value


class SystemService:
    """``/version`` and ``/info``."""

    def __init__(self, config: DaemonConfig, containers: ContainerCounts,
                 images: ImageCounts, engine: str) -> None:
        self.config = config
        self.containers = containers
        self.images = images
        self.engine_id = engine

    async def version(self) -> VersionInfo:
        return VersionInfo(ENGINE_VERSION, "linux", _arch(), platform.release(),
                           platform.python_version(), self.config.runtime, "1.0.2")

    async def info(self) -> SystemInfo:
        totals = await self.containers.totals()
        images = await asyncio.to_thread(self.images.count)
        version = cgroup_version()
        pretty, os_version = _os_release()
        v1 = version == 1
        return SystemInfo(
            engine_id=self.engine_id,
            name=socket.gethostname(),
            containers=totals,
            images=images,
            driver=self.config.snapshotter,
            driver_status=(("Backing Filesystem", backing_filesystem(self.config.data_root)),
                           ("Supports d_type", "true")),
            root_dir=self.config.data_root,
            exec_root=self.config.exec_root,
            cgroup_driver="cgroupfs",
            cgroup_version=version,
            kernel_version=platform.release(),
            operating_system=pretty,
            os_version=os_version,
            os_type="linux",
            architecture=platform.machine(),
            ncpu=os.cpu_count() or 1,
            mem_total=_mem_total(),
            runtime=self.config.runtime,
            init_path=self.config.init_path,
            server_version=ENGINE_VERSION,
            labels=self.config.labels,
            memory_limit=_cgroup_file("memory", "memory.limit_in_bytes") if v1 else True,
            swap_limit=_cgroup_file("memory", "memory.memsw.limit_in_bytes") if v1 else True,
            cpu_cfs_period=_cgroup_file("cpu", "cpu.cfs_period_us") if v1 else True,
            cpu_cfs_quota=_cgroup_file("cpu", "cpu.cfs_quota_us") if v1 else True,
            cpu_shares=_cgroup_file("cpu", "cpu.shares") if v1 else True,
            cpuset=_cgroup_file("cpuset", "cpuset.cpus") if v1 else True,
            pids_limit=_cgroup_file("pids", "pids.max") if v1 else True,
            oom_kill_disable=_cgroup_file("memory", "memory.oom_control") if v1 else False,
            registry=registry_info(self.config.registry),
        )
