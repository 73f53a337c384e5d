"""Making a container's configuration at create: the image's config merged in as Docker
does (moby ``daemon/commit.go`` ``merge`` and ``daemon/create.go``), Docker's defaults
applied, and every value checked (``InvalidArgument`` naming the field).

Merge rules:

* ``Env``: the user's entries, then the image's whose name the user did not set;
* ``Labels``: the image's, overridden by the user's;
* ``Entrypoint``/``Cmd``: with no user entrypoint, the user's ``Cmd`` or else the image's,
  and the image's entrypoint unless the user cleared it (``--entrypoint ""``); a user
  entrypoint drops the image's ``Cmd``. Nothing to run → "No command specified";
* ``WorkingDir``, ``User``, ``StopSignal``, ``ExposedPorts``, ``Volumes``: the user's, else
  the image's;
* ``Healthcheck``: the user's, else the image's; an empty ``Test`` and zero durations or
  retries of the user's are the image's;
* ``Hostname``: the user's, else the first 12 characters of the id (the host's name with
  ``--network host``).
"""

from __future__ import annotations

import os
import posixpath
import re
import signal
import socket
from dataclasses import replace

from dockyard.daemon.containers import seccomp_profile
from dockyard.daemon.containers.config import (
    DEFAULT_SHM_SIZE,
    ContainerConfig,
    CreateRequest,
    Healthcheck,
    HostConfig,
    Resources,
)
from dockyard.daemon.containers.etcfiles import parse_extra_host
from dockyard.daemon.containers.model import Container
from dockyard.daemon.containers.spec import bounding_set
from dockyard.errors import InvalidArgument
from dockyard.linux.caps import CAPABILITIES
from dockyard.oci.manifest import ContainerConfig as ImageContainerConfig
from dockyard.oci.manifest import HealthConfig as ImageHealthConfig
from dockyard.runtime.supervisor.logs import LogOptions

MIN_MEMORY = 6 * 1024 * 1024
RESTART_POLICIES = ("", "no", "always", "unless-stopped", "on-failure")
NETWORK_MODES = ("default", "bridge", "none", "host")
NETWORK_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
LOG_DRIVERS = ("json-file", "none")
ULIMIT_NAMES = ("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
                "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack", "as")
MIN_DURATION_NS = 1_000_000
ON_FAILURE_LABEL = "dockyard.health-on-failure"
"""dockyard's ``--health-on-failure`` (Podman's), as a label the docker CLI passes on."""
ON_FAILURE_ACTIONS = ("none", "kill", "restart", "stop")
_NAMESPACED_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                       "kernel.shmall", "kernel.shmmax", "kernel.shmmni",
                       "kernel.shm_rmid_forced")


def _env_key(entry: str) -> str:
    return entry.partition("=")[0]


def merge_env(user: tuple[str, ...], image: tuple[str, ...]) -> tuple[str, ...]:
    if not user:
        return image
    keys = {_env_key(e) for e in user}
    return user + tuple(e for e in image if _env_key(e) not in keys)


def check_healthcheck(hc: Healthcheck | None) -> None:
    """moby's create checks of ``Config.Healthcheck``."""
    if hc is None:
        return
    for name, value in (("Interval", hc.interval), ("Timeout", hc.timeout),
                        ("StartPeriod", hc.start_period),
                        ("StartInterval", hc.start_interval)):
        if value < 0 or 0 < value < MIN_DURATION_NS:
            raise InvalidArgument(f"{name} in Healthcheck cannot be less than 1ms")
    if hc.retries < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")


def check_on_failure_label(labels: dict[str, str]) -> None:
    value = labels.get(ON_FAILURE_LABEL)
    if value is not None and value not in ON_FAILURE_ACTIONS:
        raise InvalidArgument(f"label {ON_FAILURE_LABEL}: invalid action {value!r} "
                              f"(one of {', '.join(ON_FAILURE_ACTIONS)})")


def merge_healthcheck(user: Healthcheck | None,
                      image: Healthcheck | None) -> Healthcheck | None:
    """moby's ``merge``: the image's when the user gives none; else the user's, its empty
    test and zero values taken from the image's."""
    if user is None or image is None:
        return user if user is not None else image
    return Healthcheck(test=user.test or image.test,
                       interval=user.interval or image.interval,
                       timeout=user.timeout or image.timeout,
                       start_period=user.start_period or image.start_period,
                       start_interval=user.start_interval or image.start_interval,
                       retries=user.retries or image.retries)


def image_healthcheck(h: ImageHealthConfig | None) -> Healthcheck | None:
    if h is None:
        return None
    return Healthcheck(test=h.test, interval=h.interval, timeout=h.timeout,
                       start_period=h.start_period, start_interval=h.start_interval,
                       retries=h.retries)


def merge_config(user: ContainerConfig, image: ImageContainerConfig) -> ContainerConfig:
    """The user's config with the image's defaults merged in (module docstring)."""
    cmd, entrypoint, args_escaped = user.cmd, user.entrypoint, user.args_escaped
    if not entrypoint:
        if not cmd:
            cmd, args_escaped = image.cmd, image.args_escaped
        if entrypoint is None:
            entrypoint = image.entrypoint
    labels = dict(image.labels)
    labels.update(dict(user.labels))
    return replace(
        user,
        env=merge_env(user.env, image.env),
        labels=tuple(labels.items()),
        cmd=cmd,
        entrypoint=entrypoint,
        args_escaped=args_escaped,
        working_dir=user.working_dir or image.working_dir,
        user=user.user or image.user,
        stop_signal=user.stop_signal or image.stop_signal,
        exposed_ports=tuple(dict.fromkeys(image.exposed_ports + user.exposed_ports)),
        volumes=tuple(dict.fromkeys(image.volumes + user.volumes)),
        shell=user.shell or image.shell,
        on_build=user.on_build or image.on_build,
        healthcheck=merge_healthcheck(user.healthcheck, image_healthcheck(image.healthcheck)),
    )


def command(cfg: ContainerConfig) -> tuple[str, tuple[str, ...]]:
    """``(Path, Args)``: the entrypoint followed by the command."""
    full = (*(cfg.entrypoint or ()), *(cfg.cmd or ()))
    if not full:
        raise InvalidArgument("No command specified")
    return full[0], tuple(full[1:])


def parse_signal(value: str, field: str) -> int:
    """A signal name (``TERM``, ``SIGTERM``) or number, as Docker's ``signal.ParseSignal``."""
    text = value.strip()
    if text.isdigit():
        num = int(text)
        if 0 < num < signal.NSIG:
            return num
        raise InvalidArgument(f"{field}: invalid signal: {value}")
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise InvalidArgument(f"{field}: invalid signal: {value}") from None


def normalize_cap(name: str, field: str, available: frozenset[str] | None = None) -> str:
    """``net_admin``/``CAP_NET_ADMIN`` → ``CAP_NET_ADMIN``; one the daemon itself lacks
    (``available``: its bounding set) cannot be granted and is refused."""
    cap = name.strip().upper()
    if cap == "ALL":
        return cap
    if not cap.startswith("CAP_"):
        cap = "CAP_" + cap
    if cap not in CAPABILITIES:
        raise InvalidArgument(f"{field}: unknown capability: {name!r}")
    if available is not None and cap not in available:
        raise InvalidArgument(f"{field}: {cap} is not in the daemon's bounding set on this "
                              "host: it cannot be granted")
    return cap


def _cpu_list(text: str) -> set[int]:
    """A cpuset list (``0-2,5``) as a set; ``ValueError`` if it is not one."""
    out: set[int] = set()
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(text)
        a, b = int(lo), int(hi) if sep else int(lo)
        if b < a or b > 4096:
            raise ValueError(text)
        out.update(range(a, b + 1))
    return out


def _online(path: str, fallback: str) -> tuple[str, set[int]]:
    """The host's online CPUs or memory nodes (``/sys/devices/system/...``): the list as
    the kernel writes it, and as a set."""
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
        return text, _cpu_list(text)
    except (OSError, ValueError):
        return fallback, _cpu_list(fallback)


def check_cpusets(cpus: str, mems: str) -> None:
    """moby's checks of ``CpusetCpus``/``CpusetMems`` (create and update, Docker's words):
    a list, of CPUs and memory nodes this host has online. The cgroup would refuse them
    only at the start, with the kernel's ERANGE."""
    for value, what in ((cpus, "cpus"), (mems, "mems")):
        if not value:
            continue
        try:
            wanted = _cpu_list(value)
        except ValueError:
            raise InvalidArgument(f"Invalid value {value} for cpuset {what}") from None
        if what == "cpus":
            text, online = _online("/sys/devices/system/cpu/online",
                                   f"0-{(os.cpu_count() or 1) - 1}")
            if wanted - online:
                raise InvalidArgument(f"Requested CPUs are not available - requested {value}, "
                                      f"available: {text}")
        else:
            text, online = _online("/sys/devices/system/node/online", "0")
            if wanted - online:
                raise InvalidArgument("Requested memory nodes are not available - requested "
                                      f"{value}, available: {text}")


def _check_resources(r: Resources, *, swap_accounting: bool, blkio_weight: bool) -> None:
    if r.memory and r.memory < MIN_MEMORY:
        raise InvalidArgument("HostConfig.Memory: minimum memory limit allowed is 6MB")
    if r.memory_reservation and r.memory_reservation < MIN_MEMORY:
        raise InvalidArgument("HostConfig.MemoryReservation: minimum memory reservation "
                              "allowed is 6MB")
    if r.memory and r.memory_reservation and r.memory < r.memory_reservation:
        raise InvalidArgument("Minimum memory limit can not be less than memory reservation "
                              "limit, see usage")
    if r.memory_swap > 0:
        if not r.memory:
            raise InvalidArgument("You should always set the Memory limit when using "
                                  "Memoryswap limit, see usage")
        if r.memory_swap < r.memory:
            raise InvalidArgument("Minimum memoryswap limit should be larger than memory "
                                  "limit, see usage")
        if not swap_accounting:
            raise InvalidArgument("HostConfig.MemorySwap: this kernel does not account swap "
                                  "(memory.memsw): a swap limit cannot be applied")
    if r.memory_swappiness is not None and not 0 <= r.memory_swappiness <= 100:
        raise InvalidArgument(f"Invalid value: {r.memory_swappiness}, valid memory swappiness "
                              "range is 0-100")
    if r.nano_cpus and (r.cpu_quota or r.cpu_period):
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be "
                              "set" if r.cpu_period else "Conflicting options: Nano CPUs and "
                              "CPU Quota cannot both be set")
    ncpu = os.cpu_count() or 1
    if r.nano_cpus < 0 or r.nano_cpus > ncpu * 1_000_000_000:
        raise InvalidArgument(f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only "
                              f"{ncpu} CPUs available")
    if r.nano_cpus and r.nano_cpus < 10_000_000:
        raise InvalidArgument("Range of CPUs is from 0.01: NanoCpus too small")
    if r.cpu_period and not 1000 <= r.cpu_period <= 1_000_000:
        raise InvalidArgument("CPU cfs period can not be less than 1ms (i.e. 1000) or larger "
                              "than 1s (i.e. 1000000)")
    if r.cpu_quota and r.cpu_quota > 0 and r.cpu_quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if r.cpu_shares < 0:
        raise InvalidArgument("HostConfig.CpuShares: must not be negative")
    check_cpusets(r.cpuset_cpus, r.cpuset_mems)
    if r.blkio_weight:
        if not 10 <= r.blkio_weight <= 1000:
            raise InvalidArgument("Range of blkio weight is from 10 to 1000")
        if not blkio_weight:
            raise InvalidArgument("HostConfig.BlkioWeight: this kernel has no blkio.weight "
                                  "(no CFQ/BFQ weight control): it cannot be applied")
    for u in r.ulimits:
        if u.name not in ULIMIT_NAMES:
            raise InvalidArgument(f"HostConfig.Ulimits: invalid ulimit type: {u.name}")
        if u.soft > u.hard:
            raise InvalidArgument(f"HostConfig.Ulimits: ulimit soft limit must be less than "
                                  f"or equal to hard limit: {u.soft} > {u.hard}")


def check_host_config(hc: HostConfig, *, swap_accounting: bool, blkio_weight: bool,
                      init_path: str) -> HostConfig:
    """Docker's checks of a host config; returns it normalised (capabilities, shm size)."""
    rp = hc.restart_policy
    if rp.name not in RESTART_POLICIES:
        raise InvalidArgument(f"invalid restart policy '{rp.name}'")
    if rp.maximum_retry_count and rp.name != "on-failure":
        raise InvalidArgument("invalid restart policy: maximum retry count can only be used "
                              "with 'on-failure'")
    if rp.maximum_retry_count < 0:
        raise InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
    if hc.auto_remove and rp.name not in ("", "no"):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    mode = hc.network_mode or "default"
    if mode.startswith("container:"):
        raise InvalidArgument("HostConfig.NetworkMode: container:<name> networking is not "
                              "supported by dockyard yet")
    if mode not in NETWORK_MODES and not NETWORK_NAME_RE.match(mode):
        raise InvalidArgument(f"HostConfig.NetworkMode: invalid network name {mode!r}")
    if hc.log_config.type not in LOG_DRIVERS:
        raise InvalidArgument(f"HostConfig.LogConfig.Type: logging driver "
                              f"{hc.log_config.type!r} is not supported (json-file, none)")
    if hc.log_config.type == "json-file":
        LogOptions.from_config(dict(hc.log_config.config))
    elif hc.log_config.config:
        raise InvalidArgument("HostConfig.LogConfig.Config: the none driver takes no options")
    if hc.shm_size < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    for b in (*hc.binds, *hc.mounts):
        if not posixpath.isabs(b.destination) or b.destination == "/":
            raise InvalidArgument(f"invalid mount config: destination {b.destination!r} must "
                                  "be an absolute path other than /")
        if not posixpath.isabs(b.source):
            raise InvalidArgument(f"invalid mount config: source {b.source!r} is not an "
                                  "absolute path (named volumes are not supported yet)")
        if not b.create_source and not os.path.exists(b.source):
            raise InvalidArgument(f"invalid mount config for type \"bind\": bind source path "
                                  f"does not exist: {b.source}")
    dests = [b.destination for b in (*hc.binds, *hc.mounts)] + [t.destination for t in hc.tmpfs]
    dup = {d for d in dests if dests.count(d) > 1}
    if dup:
        raise InvalidArgument(f"Duplicate mount point: {sorted(dup)[0]}")
    for t in hc.tmpfs:
        if not posixpath.isabs(t.destination):
            raise InvalidArgument(f"HostConfig.Tmpfs: {t.destination!r} is not absolute")
    for entry in hc.extra_hosts:
        parse_extra_host(entry)
    for key, _value in hc.sysctls:
        if not (key in _NAMESPACED_SYSCTLS or key.startswith(("fs.mqueue.", "net."))):
            raise InvalidArgument(f"sysctl '{key}' is not allowed")
        if key.startswith("net.") and mode == "host":
            raise InvalidArgument(f"sysctl '{key}' not allowed in host network namespace")
    if not -1000 <= hc.oom_score_adj <= 1000:
        raise InvalidArgument(f"Invalid value {hc.oom_score_adj}, range for oom score adj is "
                              "[-1000, 1000]")
    if hc.init and not os.path.isfile(init_path):
        raise InvalidArgument(f"HostConfig.Init: the init binary {init_path} is missing on "
                              "this host")
    _check_resources(hc.resources, swap_accounting=swap_accounting, blkio_weight=blkio_weight)
    profile = seccomp_profile.chosen(hc.security_opt)
    if profile not in (None, "unconfined", "builtin"):
        try:  # decoded now, so that a bad profile is a 400 of the create, not of the start
            seccomp_profile.from_docker_profile(profile or "", ())
        except InvalidArgument as exc:
            raise InvalidArgument(f"HostConfig.SecurityOpt: {exc}") from None
    return replace(
        hc,
        network_mode=mode,
        cap_add=tuple(normalize_cap(c, "HostConfig.CapAdd", bounding_set())
                      for c in hc.cap_add),
        cap_drop=tuple(normalize_cap(c, "HostConfig.CapDrop") for c in hc.cap_drop),
        shm_size=hc.shm_size or DEFAULT_SHM_SIZE,
    )


def check_config(cfg: ContainerConfig) -> None:
    if cfg.working_dir and not posixpath.isabs(cfg.working_dir):
        raise InvalidArgument(f"the working directory '{cfg.working_dir}' is invalid, it "
                              "needs to be an absolute path")
    if cfg.stop_signal:
        parse_signal(cfg.stop_signal, "Config.StopSignal")
    if cfg.stop_timeout is not None and cfg.stop_timeout < -1:
        raise InvalidArgument("Config.StopTimeout: must be -1 (wait forever) or more")
    for e in cfg.env:
        if not _env_key(e):
            raise InvalidArgument(f"invalid environment variable: {e!r}")
    if cfg.hostname and (len(cfg.hostname) > 63 or "/" in cfg.hostname):
        raise InvalidArgument(f"invalid hostname format: {cfg.hostname}")
    check_healthcheck(cfg.healthcheck)
    check_on_failure_label(dict(cfg.labels))


def make_container(req: CreateRequest, image_config: ImageContainerConfig, *, image_id: str,
                   container_id: str, name: str, created_ns: int, driver: str,
                   swap_accounting: bool, blkio_weight: bool, init_path: str) -> Container:
    """The new container (state ``created``); paths of its files are filled in by the
    service."""
    hc = check_host_config(req.host_config, swap_accounting=swap_accounting,
                           blkio_weight=blkio_weight, init_path=init_path)
    cfg = merge_config(req.config, image_config)
    check_config(cfg)
    if not cfg.hostname:
        cfg = replace(cfg, hostname=socket.gethostname() if hc.network_mode == "host"
                      else container_id[:12])
    path, args = command(cfg)
    return Container(id=container_id, name=name, created_ns=created_ns, image_id=image_id,
                     config=cfg, host_config=hc, path=path, args=args, driver=driver,
                     networks=req.networks)
