"""A container as the daemon keeps it: its configuration and its state, one frozen value.

The service replaces the value (``dataclasses.replace``) at each transition and writes it
to ``container.json`` (``store``); nothing mutates a ``Container`` in place.

States, as Docker names them::

    created ──start──► running ──exit──► exited ──start──► running ...
       │                 │  ▲ │            │
       │                 │  │ └─exit, restart policy─► restarting (backoff)
       │                 │  └────────────────────────────┘ │
       └──────rm─────────┴──────rm -f──────┴───────────────┴──► removing ──► (gone)

A start that fails leaves the container ``created`` (if it never ran) or ``exited``, with
``error`` and an exit code of 127/126/128, as Docker does.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from dockyard.daemon.containers.config import ContainerConfig, HostConfig


class Status(enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"


class WaitCondition(enum.Enum):
    """``POST /containers/{id}/wait?condition=``."""

    NOT_RUNNING = "not-running"
    NEXT_EXIT = "next-exit"
    REMOVED = "removed"


class HealthStatus(enum.Enum):
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True, slots=True)
class HealthResult:
    """One probe: times in ns since the epoch, its exit code (-1: it could not run or
    timed out) and its output (at most 4096 bytes, then "...")."""

    start_ns: int
    end_ns: int
    exit_code: int
    output: str


@dataclass(frozen=True, slots=True)
class Health:
    """Docker's ``State.Health``: the status, the failing streak and the last 5 probes."""

    status: HealthStatus = HealthStatus.STARTING
    failing_streak: int = 0
    log: tuple[HealthResult, ...] = ()


@dataclass(frozen=True, slots=True)
class State:
    """Docker's ``ContainerState``; times in ns since the epoch, 0 for never."""

    status: Status = Status.CREATED
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    started_ns: int = 0
    finished_ns: int = 0
    oom_killed: bool = False
    health: Health | None = None
    """None: the container has no health check."""

    @property
    def running(self) -> bool:
        return self.status in (Status.RUNNING, Status.PAUSED, Status.RESTARTING)


@dataclass(frozen=True, slots=True)
class Container:
    """One container: identity, configuration (image merged in) and state."""

    id: str
    name: str
    """Without the leading ``/``."""
    created_ns: int
    image_id: str
    config: ContainerConfig
    host_config: HostConfig
    path: str
    args: tuple[str, ...]
    state: State = field(default_factory=State)
    restart_count: int = 0
    manually_stopped: bool = False
    """Docker's ``HasBeenManuallyStopped``: stopped or killed through the API since its
    last start by the user; an ``unless-stopped`` container then stays down."""
    driver: str = "overlay"
    log_path: str = ""
    hostname_path: str = ""
    hosts_path: str = ""
    resolv_conf_path: str = ""
    networks: tuple[str, ...] = ()
    platform: str = "linux"
    exec_ids: tuple[str, ...] = ()
    """The container's execs, filled in by lookups from the daemon's exec table (the
    records on disk keep none: execs do not outlive the daemon, as in moby)."""

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def network_name(self) -> str:
        """The network Docker reports: ``bridge`` for the default one."""
        mode = self.host_config.network_mode
        return "bridge" if mode in ("default", "bridge", "") else mode


@dataclass(frozen=True, slots=True)
class WaitResult:
    """The body of a wait's answer: ``{"StatusCode": n, "Error": {"Message": e} | null}``."""

    status_code: int
    error: str = ""


@dataclass(frozen=True, slots=True)
class CreateResult:
    id: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AttachOptions:
    """Which streams an attached client takes. ``detach_keys``: the sequence that ends
    the attachment (``detachKeys``, parsed); None for the default, ``ctrl-p,ctrl-q``."""

    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    detach_keys: bytes | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    stream: str
    """``stdout`` or ``stderr``."""
    data: bytes
    time_ns: int
    time_text: str


@dataclass(frozen=True, slots=True)
class LogChunk:
    """What ``docker logs`` shows of consecutive entries of one stream, joined: their
    messages (each after its timestamp when asked), ready to frame as one piece."""

    stream: str
    data: bytes


@dataclass(frozen=True, slots=True)
class LogQuery:
    stdout: bool = True
    stderr: bool = True
    follow: bool = False
    since_ns: int = 0
    until_ns: int = 0
    tail: int | None = None
    """The last N entries only (None: all)."""
    timestamps: bool = False

    def wants(self, e: LogEntry) -> bool:
        if e.stream == "stdout" and not self.stdout:
            return False
        if e.stream == "stderr" and not self.stderr:
            return False
        if self.since_ns and e.time_ns < self.since_ns:
            return False
        return not (self.until_ns and e.time_ns > self.until_ns)


@dataclass(frozen=True, slots=True)
class TopResult:
    """``docker top``: ps's column titles and one row per process of the container."""

    titles: tuple[str, ...]
    processes: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class PruneResult:
    """``POST /containers/prune``: what was removed and the disk space it freed."""

    deleted: tuple[str, ...]
    space_reclaimed: int


@dataclass(frozen=True, slots=True)
class ExecConfig:
    """``POST /containers/{id}/exec``: one more process to run in a running container.

    Empty ``user``/``working_dir`` mean the container's; ``env`` is added to (and replaces
    entries of) the container's environment. ``detach_keys`` is kept as given (checked at
    create; the sequence that ends an attached start's stream, with a tty).
    """

    cmd: tuple[str, ...]
    env: tuple[str, ...] = ()
    user: str = ""
    working_dir: str = ""
    tty: bool = False
    privileged: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    detach_keys: str = ""
    console_size: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class ExecStart:
    """``POST /exec/{id}/start``: detached, or streamed (raw with ``tty``, else framed)."""

    detach: bool = False
    tty: bool = False
    console_size: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class ExecView:
    """What ``GET /exec/{id}/json`` shows of an exec."""

    id: str
    container_id: str
    config: ExecConfig
    running: bool
    exit_code: int | None
    pid: int
