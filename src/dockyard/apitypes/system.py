"""``/version`` (``SystemVersion``) and ``/info`` (``SystemInfo``) as Docker's JSON."""

from __future__ import annotations

import time
from typing import Any

from dockyard.apitypes.distribution import registry_info_json
from dockyard.apitypes.times import format_ns
from dockyard.apitypes.version import API_VERSION, min_api_version
from dockyard.daemon.systeminfo import ENGINE_NAME, SystemInfo, VersionInfo


def version_json(v: VersionInfo) -> dict[str, Any]:
    details = {"ApiVersion": API_VERSION, "Arch": v.arch, "BuildTime": "",
               "Experimental": "false", "GitCommit": "", "GoVersion": f"python{v.python_version}",
               "KernelVersion": v.kernel_version, "MinAPIVersion": min_api_version(), "Os": v.os}
    return {
        "Platform": {"Name": ENGINE_NAME},
        "Components": [
            {"Name": "Engine", "Version": v.engine_version, "Details": details},
            {"Name": v.runtime, "Version": v.runtime_version, "Details": {"GitCommit": ""}},
        ],
        "Version": v.engine_version,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": min_api_version(),
        "GitCommit": "",
        "GoVersion": f"python{v.python_version}",
        "Os": v.os,
        "Arch": v.arch,
        "KernelVersion": v.kernel_version,
        "Experimental": False,
        "BuildTime": "",
    }


def info_json(i: SystemInfo) -> dict[str, Any]:
    warnings = []
    if not i.swap_limit:
        warnings.append("WARNING: No swap limit support")
    return {
        "ID": i.engine_id,
        "Containers": i.containers.total,
        "ContainersRunning": i.containers.running,
        "ContainersPaused": i.containers.paused,
        "ContainersStopped": i.containers.stopped,
        "Images": i.images,
        "Driver": i.driver,
        "DriverStatus": [list(kv) for kv in i.driver_status],
        "DockerRootDir": i.root_dir,
        "Plugins": {"Volume": [], "Network": ["host", "null"], "Authorization": None,
                    "Log": ["json-file", "none"]},
        "MemoryLimit": i.memory_limit,
        "SwapLimit": i.swap_limit,
        "KernelMemoryTCP": False,
        "CpuCfsPeriod": i.cpu_cfs_period,
        "CpuCfsQuota": i.cpu_cfs_quota,
        "CPUShares": i.cpu_shares,
        "CPUSet": i.cpuset,
        "PidsLimit": i.pids_limit,
        "OomKillDisable": i.oom_kill_disable,
        "IPv4Forwarding": False,
        "BridgeNfIptables": False,
        "BridgeNfIp6tables": False,
        "Debug": False,
        "NFd": 0,
        "NGoroutines": 0,
        "SystemTime": format_ns(time.time_ns()),
        "LoggingDriver": "json-file",
        "CgroupDriver": i.cgroup_driver,
        "CgroupVersion": str(i.cgroup_version),
        "NEventsListener": 0,
        "KernelVersion": i.kernel_version,
        "OperatingSystem": i.operating_system,
        "OSVersion": i.os_version,
        "OSType": i.os_type,
        "Architecture": i.architecture,
        "NCPU": i.ncpu,
        "MemTotal": i.mem_total,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": registry_info_json(i.registry),
        "GenericResources": None,
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": i.name,
        "Labels": list(i.labels),
        "ExperimentalBuild": False,
        "ServerVersion": i.server_version,
        "Runtimes": {i.runtime: {"path": i.runtime}},
        "DefaultRuntime": i.runtime,
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                  "ControlAvailable": False, "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": True,
        "Isolation": "",
        "InitBinary": i.init_path,
        "ContainerdCommit": {"ID": ""},
        "RuncCommit": {"ID": ""},
        "InitCommit": {"ID": ""},
        # dockyard's own default seccomp filter (daemon.containers.seccomp_profile).
        "SecurityOptions": ["name=seccomp,profile=builtin",
                            *(["name=cgroupns"] if i.cgroup_version == 2 else [])],
        "ProductLicense": "",
        "DefaultAddressPools": [],
        "Warnings": warnings or None,
        "CDISpecDirs": [],
    }


__all__ = ["SystemInfo", "VersionInfo", "info_json", "version_json"]
