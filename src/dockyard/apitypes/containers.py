"""Containers as Docker's JSON: ``ContainerInspectResponse``, ``ContainerSummary``, the
state's human ``Status`` strings, ``ContainerWaitResponse``, ``ContainerCreateResponse``."""

from __future__ import annotations

import time
from typing import Any

from dockyard.apitypes.times import format_ns
from dockyard.apitypes.units import human_duration
from dockyard.daemon.containers.config import (
    BindMount,
    ContainerConfig,
    Healthcheck,
    HostConfig,
)
from dockyard.daemon.containers.model import (
    Container,
    CreateResult,
    Health,
    HealthStatus,
    PruneResult,
    State,
    Status,
    TopResult,
    WaitCondition,
    WaitResult,
)
from dockyard.errors import InvalidArgument

__all__ = ["Container", "CreateResult", "PruneResult", "TopResult", "WaitCondition",
           "WaitResult", "create_json", "human_duration", "inspect_json",
           "parse_wait_condition", "prune_json", "status_text", "summary_json", "top_json",
           "wait_json"]


def status_text(state: State, now_ns: int | None = None) -> str:
    """moby ``State.String()``: "Up 3 seconds", "Exited (0) 2 minutes ago", "Created"."""
    now = time.time_ns() if now_ns is None else now_ns
    if state.status in (Status.RUNNING, Status.PAUSED, Status.RESTARTING):
        up = human_duration((now - state.started_ns) / 1e9)
        if state.status is Status.PAUSED:
            return f"Up {up} (Paused)"
        if state.status is Status.RESTARTING:
            ago = human_duration((now - state.finished_ns) / 1e9)
            return f"Restarting ({state.exit_code}) {ago} ago"
        if state.health is not None:
            h = state.health.status
            return f"Up {up} ({'health: starting' if h is HealthStatus.STARTING else h.value})"
        return f"Up {up}"
    if state.status is Status.REMOVING:
        return "Removal In Progress"
    if state.status is Status.DEAD:
        return "Dead"
    if state.started_ns == 0:
        return "Created"
    if state.finished_ns == 0:
        return ""
    return f"Exited ({state.exit_code}) {human_duration((now - state.finished_ns) / 1e9)} ago"


def health_json(h: Health) -> dict[str, Any]:
    return {"Status": h.status.value, "FailingStreak": h.failing_streak,
            "Log": [{"Start": format_ns(r.start_ns), "End": format_ns(r.end_ns),
                     "ExitCode": r.exit_code, "Output": r.output} for r in h.log]}


def healthcheck_json(h: Healthcheck) -> dict[str, Any]:
    """Docker's ``HealthConfig`` (zero durations and retries left out, as Go's omitempty)."""
    out: dict[str, Any] = {"Test": list(h.test)}
    for key, value in (("Interval", h.interval), ("Timeout", h.timeout),
                       ("StartPeriod", h.start_period), ("StartInterval", h.start_interval),
                       ("Retries", h.retries)):
        if value:
            out[key] = value
    return out


def state_json(s: State) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Status": s.status.value,
        "Running": s.status in (Status.RUNNING, Status.PAUSED, Status.RESTARTING),
        "Paused": s.status is Status.PAUSED,
        "Restarting": s.status is Status.RESTARTING,
        "OOMKilled": s.oom_killed,
        "Dead": s.status is Status.DEAD,
        "Pid": s.pid,
        "ExitCode": s.exit_code,
        "Error": s.error,
        "StartedAt": format_ns(s.started_ns),
        "FinishedAt": format_ns(s.finished_ns),
    }
    if s.health is not None:
        out["Health"] = health_json(s.health)
    return out


def _set(items: tuple[str, ...]) -> dict[str, Any] | None:
    return {k: {} for k in items} if items else None


def config_json(c: ContainerConfig) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Hostname": c.hostname,
        "Domainname": c.domainname,
        "User": c.user,
        "AttachStdin": c.attach_stdin,
        "AttachStdout": c.attach_stdout,
        "AttachStderr": c.attach_stderr,
        "Tty": c.tty,
        "OpenStdin": c.open_stdin,
        "StdinOnce": c.stdin_once,
        "Env": list(c.env) or None,
        "Cmd": None if c.cmd is None else list(c.cmd),
        "Image": c.image,
        "Volumes": _set(c.volumes),
        "WorkingDir": c.working_dir,
        "Entrypoint": None if c.entrypoint is None else list(c.entrypoint),
        "OnBuild": list(c.on_build) or None,
        "Labels": dict(c.labels),
    }
    if c.exposed_ports:
        out["ExposedPorts"] = _set(c.exposed_ports)
    if c.args_escaped:
        out["ArgsEscaped"] = True
    if c.stop_signal:
        out["StopSignal"] = c.stop_signal
    if c.stop_timeout is not None:
        out["StopTimeout"] = c.stop_timeout
    if c.shell:
        out["Shell"] = list(c.shell)
    if c.healthcheck is not None:
        out["Healthcheck"] = healthcheck_json(c.healthcheck)
    return out


def _mount_json(b: BindMount) -> dict[str, Any]:
    out: dict[str, Any] = {"Type": "bind", "Source": b.source, "Target": b.destination}
    if b.read_only:
        out["ReadOnly"] = True
    if b.propagation != "rprivate":
        out["BindOptions"] = {"Propagation": b.propagation}
    return out


def host_config_json(h: HostConfig) -> dict[str, Any]:
    r = h.resources
    mode = h.network_mode
    return {
        "Binds": [b.spec for b in h.binds] or None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": h.log_config.type, "Config": dict(h.log_config.config)},
        "NetworkMode": "bridge" if mode in ("default", "") else mode,
        "PortBindings": {},
        "RestartPolicy": {"Name": h.restart_policy.name,
                          "MaximumRetryCount": h.restart_policy.maximum_retry_count},
        "AutoRemove": h.auto_remove,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "ConsoleSize": list(h.console_size),
        "Annotations": dict(h.annotations) or None,
        "CapAdd": list(h.cap_add) or None,
        "CapDrop": list(h.cap_drop) or None,
        "CgroupnsMode": h.cgroupns_mode,
        "Dns": list(h.dns),
        "DnsOptions": list(h.dns_options),
        "DnsSearch": list(h.dns_search),
        "ExtraHosts": list(h.extra_hosts) or None,
        "GroupAdd": list(h.group_add) or None,
        "IpcMode": h.ipc_mode,
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": h.oom_score_adj,
        "PidMode": h.pid_mode,
        "Privileged": h.privileged,
        "PublishAllPorts": False,
        "ReadonlyRootfs": h.readonly_rootfs,
        "SecurityOpt": list(h.security_opt) or None,
        "Tmpfs": {t.destination: t.options for t in h.tmpfs} or None,
        "UTSMode": h.uts_mode,
        "UsernsMode": "",
        "ShmSize": h.shm_size,
        "Sysctls": dict(h.sysctls) or None,
        "Runtime": "runc",
        "Isolation": "",
        "CpuShares": r.cpu_shares,
        "Memory": r.memory,
        "NanoCpus": r.nano_cpus,
        "CgroupParent": h.cgroup_parent,
        "BlkioWeight": r.blkio_weight,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": r.cpu_period,
        "CpuQuota": r.cpu_quota,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": r.cpuset_cpus,
        "CpusetMems": r.cpuset_mems,
        "Devices": [],
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        "MemoryReservation": r.memory_reservation,
        "MemorySwap": r.memory_swap,
        "MemorySwappiness": r.memory_swappiness,
        "OomKillDisable": r.oom_kill_disable,
        "PidsLimit": r.pids_limit,
        "Ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in r.ulimits],
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "Mounts": [_mount_json(b) for b in h.mounts] or None,
        "Init": h.init,
        "MaskedPaths": None if h.masked_paths is None else list(h.masked_paths),
        "ReadonlyPaths": None if h.readonly_paths is None else list(h.readonly_paths),
    }


def mounts_json(h: HostConfig) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for b in (*h.binds, *h.mounts):
        out.append({"Type": "bind", "Source": b.source, "Destination": b.destination,
                    "Mode": "ro" if b.read_only and b.spec else "",
                    "RW": not b.read_only, "Propagation": b.propagation})
    for t in h.tmpfs:
        out.append({"Type": "tmpfs", "Source": "", "Destination": t.destination,
                    "Mode": t.options, "RW": "ro" not in t.options.split(","),
                    "Propagation": ""})
    return out


def _endpoint() -> dict[str, Any]:
    return {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "",
            "DriverOpts": None, "GwPriority": 0, "NetworkID": "", "EndpointID": "",
            "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": None}


def network_settings_json(c: Container, *, summary: bool = False) -> dict[str, Any]:
    networks = {c.network_name: _endpoint()}
    if summary:
        return {"Networks": networks}
    return {
        "Bridge": "", "SandboxID": "", "SandboxKey": "",
        "Ports": {}, "HairpinMode": False, "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0, "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None, "EndpointID": "", "Gateway": "",
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "", "IPPrefixLen": 0,
        "IPv6Gateway": "", "MacAddress": "", "Networks": networks,
    }


def inspect_json(c: Container, size: tuple[int, int] | None = None) -> dict[str, Any]:
    """``ContainerInspect``; with ``size`` (``?size=1``: ``SizeRw``, ``SizeRootFs``) those
    two fields after ``GraphDriver``, where moby's ``ContainerJSONBase`` has them."""
    out = {
        "Id": c.id,
        "Created": format_ns(c.created_ns),
        "Path": c.path,
        "Args": list(c.args),
        "State": state_json(c.state),
        "Image": c.image_id,
        "ResolvConfPath": c.resolv_conf_path,
        "HostnamePath": c.hostname_path,
        "HostsPath": c.hosts_path,
        "LogPath": c.log_path if c.host_config.log_config.type == "json-file" else "",
        "Name": "/" + c.name,
        "RestartCount": c.restart_count,
        "Driver": c.driver,
        "Platform": c.platform,
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": list(c.exec_ids) or None,
        "HostConfig": host_config_json(c.host_config),
        "GraphDriver": {"Name": c.driver, "Data": None},
    }
    if size is not None:
        out["SizeRw"], out["SizeRootFs"] = size
    out["Mounts"] = mounts_json(c.host_config)
    out["Config"] = config_json(c.config)
    out["NetworkSettings"] = network_settings_json(c)
    return out


def summary_json(c: Container, now_ns: int | None = None) -> dict[str, Any]:
    # moby's view.go: arguments holding a space are shown in single quotes.
    args = [f"'{a}'" if " " in a else a for a in c.args]
    command = f"{c.path} {' '.join(args)}" if args else c.path
    return {
        "Id": c.id,
        "Names": ["/" + c.name],
        "Image": c.config.image,
        "ImageID": c.image_id,
        "Command": command,
        "Created": c.created_ns // 1_000_000_000,
        "Ports": [],
        "Labels": dict(c.config.labels),
        "State": c.state.status.value,
        "Status": status_text(c.state, now_ns),
        "HostConfig": {"NetworkMode": host_config_json(c.host_config)["NetworkMode"]},
        "NetworkSettings": network_settings_json(c, summary=True),
        "Mounts": mounts_json(c.host_config),
    }


def parse_wait_condition(text: str) -> WaitCondition:
    if not text:
        return WaitCondition.NOT_RUNNING
    try:
        return WaitCondition(text)
    except ValueError:
        raise InvalidArgument(f'invalid condition: "{text}"') from None


def wait_json(r: WaitResult) -> dict[str, Any]:
    return {"StatusCode": r.status_code,
            "Error": {"Message": r.error} if r.error else None}


def create_json(r: CreateResult) -> dict[str, Any]:
    return {"Id": r.id, "Warnings": list(r.warnings)}


def top_json(r: TopResult) -> dict[str, Any]:
    return {"Titles": list(r.titles), "Processes": [list(p) for p in r.processes]}


def prune_json(r: PruneResult) -> dict[str, Any]:
    """moby's ``ContainerPruneReport``: ``ContainersDeleted`` is null when none were."""
    return {"ContainersDeleted": list(r.deleted) or None, "SpaceReclaimed": r.space_reclaimed}
