"""The body of ``POST /containers/create`` (``ContainerConfig`` + ``HostConfig`` +
``NetworkingConfig``) parsed into the daemon's ``CreateRequest``.

Each field is either read into the request or, when dockyard does not honour it, refused
with a 400 naming it if it holds anything but its zero value (``reader.Obj.finish``).
Types are checked here; values (sizes, signals, names, modes) are checked by the daemon
(``dockyard.daemon.containers.create``).
"""

from __future__ import annotations

from typing import Any

from dockyard.apitypes.reader import Obj
from dockyard.daemon.containers.config import (
    BindMount,
    ContainerConfig,
    CreateRequest,
    Healthcheck,
    HostConfig,
    LogConfig,
    Resources,
    RestartPolicy,
    TmpfsMount,
    Ulimit,
)
from dockyard.errors import InvalidArgument

MAX_ITEMS = 4096
PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
_NO_NEW_PRIVS = ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true")
_NO_NEW_PRIVS_OFF = ("no-new-privileges:false", "no-new-privileges=false")
# Options accepted as they are: no AppArmor profile is applied (so "unconfined" is what
# runs) and SELinux labels do not exist here. seccomp=unconfined|builtin|<a profile's
# JSON> is read from the stored SecurityOpt when the spec is made
# (``daemon.containers.seccomp_profile``).
_NO_OP_SECURITY = ("apparmor=unconfined", "apparmor:unconfined", "label=disable",
                   "label:disable")

__all__ = ["CreateRequest", "parse_bind", "parse_create"]


def parse_bind(spec: str) -> BindMount:
    """``-v /src:/dst[:ro|rw|z|Z|<propagation>,...]``."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise InvalidArgument(f"HostConfig.Binds: invalid volume specification: '{spec}'")
    source, dest = parts[0], parts[1]
    read_only = False
    propagation = "rprivate"
    if len(parts) == 3:
        for opt in parts[2].split(","):
            if opt in ("ro", "rw"):
                read_only = opt == "ro"
            elif opt in PROPAGATIONS:
                propagation = opt
            elif opt in ("z", "Z"):
                continue  # SELinux relabelling: no SELinux on this host, nothing to do
            else:
                raise InvalidArgument(f"HostConfig.Binds: invalid mode: {opt} in '{spec}'")
    if not source.startswith("/"):
        raise InvalidArgument(f"HostConfig.Binds: '{spec}': named volumes are not supported "
                              "by dockyard yet (use an absolute host path)")
    return BindMount(source, dest, read_only, propagation, spec, create_source=True)


def _mounts(hc: Obj) -> tuple[tuple[BindMount, ...], tuple[TmpfsMount, ...]]:
    binds: list[BindMount] = []
    tmpfs: list[TmpfsMount] = []
    for m in hc.items("Mounts")[:MAX_ITEMS]:
        kind = m.string("Type")
        target = m.string("Target")
        read_only = m.boolean("ReadOnly")
        m.string("Consistency")
        if kind == "bind":
            bo = m.child("BindOptions")
            propagation = "rprivate"
            if bo is not None:
                propagation = bo.string("Propagation") or "rprivate"
                if propagation not in PROPAGATIONS:
                    raise InvalidArgument(f"{bo.path}.Propagation: invalid propagation "
                                          f"{propagation!r}")
                bo.finish()
            binds.append(BindMount(m.string("Source"), target, read_only, propagation, "",
                                   create_source=False))
        elif kind == "tmpfs":
            opts: list[str] = []
            to = m.child("TmpfsOptions")
            if to is not None:
                size = to.integer("SizeBytes", lo=0)
                mode = to.integer("Mode", lo=0, hi=0o7777)
                if size:
                    opts.append(f"size={size}")
                if mode:
                    opts.append(f"mode={mode:o}")
                to.finish()
            if read_only:
                opts.append("ro")
            if m.string("Source"):
                raise InvalidArgument(f"{m.path}.Source: must not be set for tmpfs")
            tmpfs.append(TmpfsMount(target, ",".join(opts)))
        else:
            raise InvalidArgument(f"{m.path}.Type: mount type {kind!r} is not supported by "
                                  "dockyard yet (bind, tmpfs)")
        m.finish()
    return tuple(binds), tuple(tmpfs)


def _security(opts: tuple[str, ...]) -> bool:
    """no_new_privileges from ``SecurityOpt``; anything dockyard cannot honour is refused."""
    nnp = False
    for opt in opts:
        if opt in _NO_NEW_PRIVS:
            nnp = True
        elif opt in _NO_NEW_PRIVS_OFF:
            nnp = False
        elif opt.startswith(("seccomp=", "seccomp:")):
            pass  # decoded and checked with the host config (create.check_host_config)
        elif opt not in _NO_OP_SECURITY:
            raise InvalidArgument(f"HostConfig.SecurityOpt: {opt!r} is not supported by "
                                  "dockyard")
    return nnp


def _resources(hc: Obj) -> Resources:
    ulimits = []
    for u in hc.items("Ulimits")[:MAX_ITEMS]:
        ulimits.append(Ulimit(u.string("Name"), u.integer("Soft"), u.integer("Hard")))
        u.finish()
    swappiness = hc.opt_integer("MemorySwappiness")
    pids = hc.opt_integer("PidsLimit")
    for key in ("BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps",
                "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuRealtimePeriod",
                "CpuRealtimeRuntime", "Devices", "DeviceCgroupRules", "DeviceRequests",
                "KernelMemory", "KernelMemoryTCP", "CpuCount", "CpuPercent", "IOMaximumIOps",
                "IOMaximumBandwidth"):
        hc.refuse_unless_zero(key)
    return Resources(
        memory=hc.integer("Memory", lo=0),
        memory_reservation=hc.integer("MemoryReservation", lo=0),
        memory_swap=hc.integer("MemorySwap", lo=-1),
        memory_swappiness=None if swappiness is None or swappiness == -1 else swappiness,
        nano_cpus=hc.integer("NanoCpus", lo=0),
        cpu_shares=hc.integer("CpuShares"),
        cpu_period=hc.integer("CpuPeriod", lo=0),
        cpu_quota=hc.integer("CpuQuota", lo=-1),
        cpuset_cpus=hc.string("CpusetCpus"),
        cpuset_mems=hc.string("CpusetMems"),
        pids_limit=None if pids is None or pids <= 0 else pids,
        oom_kill_disable=bool(hc.opt_boolean("OomKillDisable")),
        blkio_weight=hc.integer("BlkioWeight", lo=0, hi=1000),
        ulimits=tuple(ulimits),
    )


def _mode(hc: Obj, key: str, allowed: tuple[str, ...]) -> str:
    value = hc.string(key)
    if value not in allowed:
        raise InvalidArgument(f"HostConfig.{key}: {value!r} is not supported by dockyard "
                              f"(supported: {', '.join(repr(a) for a in allowed)})")
    return value


def parse_host_config(hc: Obj, network_disabled: bool) -> HostConfig:
    log = hc.child("LogConfig")
    log_config = LogConfig()
    if log is not None:
        log_config = LogConfig(log.string("Type") or "json-file", log.string_map("Config"))
        log.finish()
    restart = hc.child("RestartPolicy")
    policy = RestartPolicy()
    if restart is not None:
        policy = RestartPolicy(restart.string("Name") or "no",
                               restart.integer("MaximumRetryCount"))
        restart.finish()
    binds = tuple(parse_bind(b) for b in hc.strings("Binds")[:MAX_ITEMS])
    mounts, tmpfs_mounts = _mounts(hc)
    tmpfs = tmpfs_mounts + tuple(TmpfsMount(k, v) for k, v in hc.string_map("Tmpfs"))
    console = (0, 0)
    cs = hc.raw("ConsoleSize")
    if cs is not None:
        if (not isinstance(cs, list) or len(cs) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 65536
                           for x in cs)):
            raise InvalidArgument("HostConfig.ConsoleSize: expected [height, width]")
        console = (cs[0], cs[1])
    network_mode = hc.string("NetworkMode") or "default"
    if network_disabled:
        network_mode = "none"
    for key, why in (("PortBindings", "port publishing needs bridge networking"),
                     ("PublishAllPorts", "port publishing needs bridge networking"),
                     ("Links", "links need bridge networking"),
                     ("VolumeDriver", "no volume drivers yet"),
                     ("VolumesFrom", "no volumes yet"),
                     ("StorageOpt", ""), ("Cgroup", ""), ("UsernsMode", ""),
                     ("Isolation", "")):
        if key == "Isolation" and hc.doc.get(key) == "default":
            hc.raw(key)
            continue
        hc.refuse_unless_zero(key, why)
    runtime = hc.string("Runtime")
    if runtime:
        raise InvalidArgument("HostConfig.Runtime: per-container runtimes are not supported "
                              "by dockyard (the daemon's --runtime is used)")
    hc.string("ContainerIDFile")  # a client-side option: nothing for the daemon to do
    masked = hc.opt_strings("MaskedPaths")
    readonly = hc.opt_strings("ReadonlyPaths")
    out = HostConfig(
        binds=binds,
        mounts=mounts,
        tmpfs=tmpfs,
        network_mode=network_mode,
        restart_policy=policy,
        auto_remove=hc.boolean("AutoRemove"),
        log_config=log_config,
        cap_add=hc.strings("CapAdd"),
        cap_drop=hc.strings("CapDrop"),
        privileged=hc.boolean("Privileged"),
        readonly_rootfs=hc.boolean("ReadonlyRootfs"),
        shm_size=hc.integer("ShmSize", lo=0),
        init=hc.opt_boolean("Init"),
        dns=hc.strings("Dns"),
        dns_options=hc.strings("DnsOptions"),
        dns_search=hc.strings("DnsSearch"),
        extra_hosts=hc.strings("ExtraHosts"),
        group_add=hc.strings("GroupAdd"),
        oom_score_adj=hc.integer("OomScoreAdj"),
        console_size=console,
        sysctls=hc.string_map("Sysctls"),
        cgroupns_mode=_mode(hc, "CgroupnsMode", ("", "host", "private")) or "host",
        ipc_mode=(_mode(hc, "IpcMode", ("", "private", "shareable", "host")) or "private")
        .replace("shareable", "private"),
        pid_mode=_mode(hc, "PidMode", ("", "host")),
        uts_mode=_mode(hc, "UTSMode", ("", "host")),
        no_new_privileges=_security(hc.strings("SecurityOpt")),
        security_opt=hc.strings("SecurityOpt"),
        annotations=hc.string_map("Annotations"),
        cgroup_parent=hc.string("CgroupParent"),
        masked_paths=masked,
        readonly_paths=readonly,
        resources=_resources(hc),
    )
    hc.finish()
    return out


def parse_config(cfg: Obj) -> tuple[ContainerConfig, bool]:
    """The ``Config`` part (the body's top level), and ``NetworkDisabled``."""
    healthcheck = _healthcheck(cfg)
    cfg.refuse_unless_zero("MacAddress", "needs bridge networking")
    timeout = cfg.opt_integer("StopTimeout")
    image = cfg.string("Image")
    if not image:
        raise InvalidArgument("Config.Image: an image is required")
    config = ContainerConfig(
        image=image,
        hostname=cfg.string("Hostname"),
        domainname=cfg.string("Domainname"),
        user=cfg.string("User"),
        attach_stdin=cfg.boolean("AttachStdin"),
        attach_stdout=cfg.boolean("AttachStdout"),
        attach_stderr=cfg.boolean("AttachStderr"),
        exposed_ports=cfg.key_set("ExposedPorts"),
        tty=cfg.boolean("Tty"),
        open_stdin=cfg.boolean("OpenStdin"),
        stdin_once=cfg.boolean("StdinOnce"),
        env=cfg.strings("Env"),
        cmd=cfg.opt_strings("Cmd", allow_string=True),
        entrypoint=_entrypoint(cfg.opt_strings("Entrypoint", allow_string=True)),
        args_escaped=cfg.boolean("ArgsEscaped"),
        volumes=cfg.key_set("Volumes"),
        working_dir=cfg.string("WorkingDir"),
        labels=cfg.string_map("Labels"),
        stop_signal=cfg.string("StopSignal"),
        stop_timeout=timeout,
        shell=cfg.strings("Shell"),
        on_build=cfg.strings("OnBuild"),
        healthcheck=healthcheck,
    )
    return config, cfg.boolean("NetworkDisabled")


def _healthcheck(cfg: Obj) -> Healthcheck | None:
    """``Config.Healthcheck`` (durations in ns; the values are checked by the daemon)."""
    health = cfg.child("Healthcheck")
    if health is None:
        return None
    out = Healthcheck(test=health.strings("Test"),
                      interval=health.integer("Interval"),
                      timeout=health.integer("Timeout"),
                      start_period=health.integer("StartPeriod"),
                      start_interval=health.integer("StartInterval"),
                      retries=health.integer("Retries"))
    health.finish()
    return out


def _entrypoint(value: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """``--entrypoint ""`` arrives as ``[""]``: an explicitly empty entrypoint."""
    if value == ("",):
        return ()
    return value


def _networks(body: Obj) -> tuple[str, ...]:
    nc = body.child("NetworkingConfig")
    if nc is None:
        return ()
    names: list[str] = []
    endpoints = nc.child("EndpointsConfig")
    if endpoints is not None:
        for name in endpoints.doc:
            ep = endpoints.child(name)
            if ep is not None:
                ep.finish(ignore=("NetworkID", "EndpointID", "Gateway", "IPAddress",
                                  "IPPrefixLen", "IPv6Gateway", "GlobalIPv6Address",
                                  "GlobalIPv6PrefixLen", "DNSNames"))
            names.append(name)
        endpoints.finish()
    nc.finish()
    if len(names) > 1:
        raise InvalidArgument("Container cannot be created with multiple network endpoints: "
                              + ", ".join(names))
    return tuple(names)


def parse_create(doc: Any, name: str = "", platform: str = "") -> CreateRequest:
    """The create request, from the decoded body and the ``name``/``platform`` query."""
    body = Obj(doc, "")
    config, network_disabled = parse_config(body)
    hc_obj = body.child("HostConfig")
    host_config = parse_host_config(hc_obj if hc_obj is not None else Obj({}, "HostConfig"),
                                    network_disabled)
    networks = _networks(body)
    if networks and host_config.network_mode in ("default", "bridge") and networks[0] not in (
            "default", "bridge"):
        raise InvalidArgument(f"network {networks[0]} not found")
    body.finish()
    if platform and platform not in ("linux", "linux/amd64", "linux/arm64"):
        raise InvalidArgument(f"platform {platform!r} is not supported")
    return CreateRequest(name=name, config=config, host_config=host_config,
                         networks=networks, platform=platform)
