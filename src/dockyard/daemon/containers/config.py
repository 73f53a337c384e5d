"""What a container is made of: Docker's ``Config`` and ``HostConfig``, as frozen values.

These are the daemon's own values (Python names); ``dockyard.apitypes.create`` parses
Docker's JSON into them and ``dockyard.apitypes.containers`` renders them back. Only
fields dockyard honours exist here: the parser refuses the others when they are set.
Key/value collections are tuples of pairs, in the order given, so every value is
immutable and hashable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Pairs = tuple[tuple[str, str], ...]

DEFAULT_SHM_SIZE = 64 << 20
DEFAULT_STOP_TIMEOUT = 10


@dataclass(frozen=True, slots=True)
class Healthcheck:
    """Docker's ``HealthConfig``: the probe (``NONE``, ``CMD`` argv, ``CMD-SHELL`` text)
    and its timing, durations in nanoseconds (0: the default, or the image's)."""

    test: tuple[str, ...] = ()
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclass(frozen=True, slots=True)
class ContainerConfig:
    """Docker's ``Config``: what the container runs (the image's defaults merged in)."""

    image: str = ""
    hostname: str = ""
    domainname: str = ""
    user: str = ""
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    exposed_ports: tuple[str, ...] = ()
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    env: tuple[str, ...] = ()
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    args_escaped: bool = False
    volumes: tuple[str, ...] = ()
    working_dir: str = ""
    labels: Pairs = ()
    stop_signal: str = ""
    stop_timeout: int | None = None
    shell: tuple[str, ...] = ()
    on_build: tuple[str, ...] = ()
    healthcheck: Healthcheck | None = None


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """``no``, ``always``, ``unless-stopped``, ``on-failure`` (with a maximum retry count,
    0: no maximum); enforced by ``dockyard.daemon.containers.restart``."""

    name: str = "no"
    maximum_retry_count: int = 0


@dataclass(frozen=True, slots=True)
class LogConfig:
    type: str = "json-file"
    config: Pairs = ()


@dataclass(frozen=True, slots=True)
class Ulimit:
    name: str
    soft: int
    hard: int


@dataclass(frozen=True, slots=True)
class BindMount:
    """A host path bind-mounted into the container (``-v /src:/dst:ro``, ``--mount``)."""

    source: str
    destination: str
    read_only: bool = False
    propagation: str = "rprivate"
    spec: str = ""
    """As the user wrote it (``/src:/dst:ro``), for ``HostConfig.Binds``; empty for a
    ``--mount`` (reported in ``HostConfig.Mounts``)."""
    create_source: bool = True
    """``-v`` creates a missing source directory; ``--mount`` does not."""


@dataclass(frozen=True, slots=True)
class TmpfsMount:
    destination: str
    options: str = ""


@dataclass(frozen=True, slots=True)
class Resources:
    """Docker's ``Resources`` that map to the OCI spec's ``linux.resources`` (and rlimits)."""

    memory: int = 0
    memory_reservation: int = 0
    memory_swap: int = 0
    memory_swappiness: int | None = None
    nano_cpus: int = 0
    cpu_shares: int = 0
    cpu_period: int = 0
    cpu_quota: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    pids_limit: int | None = None
    oom_kill_disable: bool = False
    blkio_weight: int = 0
    ulimits: tuple[Ulimit, ...] = ()


@dataclass(frozen=True, slots=True)
class HostConfig:
    """Docker's ``HostConfig``: how the host runs the container."""

    binds: tuple[BindMount, ...] = ()
    mounts: tuple[BindMount, ...] = ()
    tmpfs: tuple[TmpfsMount, ...] = ()
    network_mode: str = "default"
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    auto_remove: bool = False
    log_config: LogConfig = field(default_factory=LogConfig)
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    readonly_rootfs: bool = False
    shm_size: int = DEFAULT_SHM_SIZE
    init: bool | None = None
    dns: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = ()
    group_add: tuple[str, ...] = ()
    oom_score_adj: int = 0
    console_size: tuple[int, int] = (0, 0)
    sysctls: Pairs = ()
    cgroupns_mode: str = "host"
    ipc_mode: str = "private"
    pid_mode: str = ""
    uts_mode: str = ""
    no_new_privileges: bool = False
    security_opt: tuple[str, ...] = ()
    annotations: Pairs = ()
    cgroup_parent: str = ""
    """The container's cgroup is ``<cgroup_parent>/<id>`` (empty: the daemon's parent)."""
    masked_paths: tuple[str, ...] | None = None
    """None: Docker's defaults."""
    readonly_paths: tuple[str, ...] | None = None
    resources: Resources = field(default_factory=Resources)


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """``POST /containers/create``: the user's config, before the image is merged in."""

    name: str
    config: ContainerConfig
    host_config: HostConfig
    networks: tuple[str, ...] = ()
    """The networks of ``NetworkingConfig.EndpointsConfig`` (empty: ``network_mode``)."""
    platform: str = ""
