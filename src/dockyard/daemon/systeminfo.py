"""What ``/version`` and ``/info`` report, as values (``SystemService`` measures them)."""

from __future__ import annotations

from dataclasses import dataclass

ENGINE_VERSION = "28.2.2-dockyard"
"""What ``/version`` calls the engine: the docker version whose API we follow, marked."""
ENGINE_NAME = "dockyard"
LOOPBACK_CIDRS = ("::1/128", "127.0.0.0/8")
"""Always insecure (plain HTTP allowed), as Docker's."""


@dataclass(frozen=True, slots=True)
class RegistryInfo:
    """``/info``'s ``RegistryConfig`` (``daemon.registries.registry_info`` makes it)."""

    insecure_cidrs: tuple[str, ...] = LOOPBACK_CIDRS
    insecure_hosts: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VersionInfo:
    engine_version: str
    os: str
    arch: str
    kernel_version: str
    python_version: str
    runtime: str
    runtime_version: str


@dataclass(frozen=True, slots=True)
class ContainerTotals:
    total: int
    running: int
    paused: int
    stopped: int


@dataclass(frozen=True, slots=True)
class SystemInfo:
    engine_id: str
    name: str
    containers: ContainerTotals
    images: int
    driver: str
    driver_status: tuple[tuple[str, str], ...]
    root_dir: str
    exec_root: str
    cgroup_driver: str
    cgroup_version: int
    kernel_version: str
    operating_system: str
    os_version: str
    os_type: str
    architecture: str
    ncpu: int
    mem_total: int
    runtime: str
    init_path: str
    server_version: str
    labels: tuple[str, ...]
    memory_limit: bool
    swap_limit: bool
    cpu_cfs_period: bool
    cpu_cfs_quota: bool
    cpu_shares: bool
    cpuset: bool
    pids_limit: bool
    oom_kill_disable: bool
    registry: RegistryInfo = RegistryInfo()
    """``RegistryConfig``: insecure registries, mirrors."""
