"""Health checks (moby ``daemon/health.go``): a probe run as an exec in the container every
interval, its results in ``State.Health``, ``health_status: <status>`` events.

Lifecycle of a container's monitor::

    start / unpause / daemon start ──► monitor task: sleep(interval) ─► probe ─► record ─┐
                                             ▲────────────────────────────────────────────┘
    exit / pause ──► task cancelled (the status stays as it was; a start resets it)

A start (by the user, a restart policy, or a daemon start finding it running) sets the
status to ``starting`` and the failing streak to 0, keeping the log. A probe is an exec
(``exec_create``/``exec_start``/``exec_die`` events, as Docker's): ``CMD`` runs its
argv, ``CMD-SHELL`` its text with the container's shell (``/bin/sh -c``); its stdout and
stderr are kept up to 4096 bytes (then "..."). Exit 0 is healthy (streak 0); any other
exit, or a probe that could not start or outlived its timeout (exit -1), adds one to the
streak — except while the container has never been healthy and is within its start
period — and ``retries`` failures in a row (3 by default) make it ``unhealthy``. The last
5 results are kept. Between probes the monitor waits ``interval`` (30 s by default),
``start_interval`` (5 s) while still starting within the start period.

Beyond Docker, as Podman's ``--health-on-failure``: the label
``dockyard.health-on-failure`` = ``none`` (default), ``kill`` (SIGKILL; the restart
policy then decides), ``restart`` (stop as ``docker stop`` does, then start again,
whatever the restart policy; the restart count grows) or ``stop`` (a ``docker stop``)
is applied each time the container turns unhealthy.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import struct
import time
from dataclasses import replace

from dockyard import errors
from dockyard.daemon.containers.config import Healthcheck
from dockyard.daemon.containers.create import ON_FAILURE_LABEL
from dockyard.daemon.containers.execs import ExecManager
from dockyard.daemon.containers.model import (
    Container,
    ExecConfig,
    ExecStart,
    Health,
    HealthResult,
    HealthStatus,
    Status,
)
from dockyard.daemon.containers.runner import Runner
from dockyard.daemon.containers.table import Entry

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_NS = 30_000_000_000
DEFAULT_TIMEOUT_NS = 30_000_000_000
DEFAULT_START_INTERVAL_NS = 5_000_000_000
DEFAULT_RETRIES = 3
MAX_OUTPUT = 4096
MAX_LOG = 5
EXEC_START_TIMEOUT = 30.0
_HEADER = struct.Struct(">BxxxI")


def probe_command(c: Container) -> tuple[str, ...] | None:
    """The probe's argv, or None when the container has no (usable) health check."""
    hc = c.config.healthcheck
    if hc is None or not hc.test:
        return None
    kind, rest = hc.test[0], hc.test[1:]
    if kind == "CMD" and rest:
        return rest
    if kind == "CMD-SHELL" and rest:
        return (*(c.config.shell or ("/bin/sh", "-c")), " ".join(rest))
    if kind not in ("NONE", "CMD", "CMD-SHELL"):
        log.warning("unknown health check type %r in container %s", kind, c.short_id)
    return None


def record_result(health: Health, result: HealthResult, hc: Healthcheck,
                  started_ns: int) -> Health:
    """moby's ``handleProbeResult``: the health after one more probe."""
    log_entries = (*health.log, result)[-MAX_LOG:]
    if result.exit_code == 0:
        return Health(HealthStatus.HEALTHY, 0, log_entries)
    if health.status is HealthStatus.STARTING \
            and result.start_ns - started_ns < hc.start_period:
        return Health(health.status, health.failing_streak, log_entries)
    streak = health.failing_streak + 1
    retries = hc.retries if hc.retries > 0 else DEFAULT_RETRIES
    status = HealthStatus.UNHEALTHY if streak >= retries else health.status
    return Health(status, streak, log_entries)


def next_interval(hc: Healthcheck, health: Health | None, started_ns: int,
                  now_ns: int) -> int:
    """How long to wait before the next probe (ns)."""
    interval = hc.interval or DEFAULT_INTERVAL_NS
    if now_ns - started_ns >= hc.start_period:
        return interval
    if health is not None and health.status is HealthStatus.STARTING:
        return hc.start_interval or DEFAULT_START_INTERVAL_NS
    return interval


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String`` for the durations a health check has."""
    if ns < 1_000_000_000:
        if ns % 1_000_000 == 0:
            return f"{ns // 1_000_000}ms"
        return f"{ns / 1_000_000:g}ms"
    seconds = ns / 1e9
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.9f}".rstrip("0").rstrip(".") + "s"
    if minutes or hours:
        text = f"{int(minutes)}m{text}"
    if hours:
        text = f"{int(hours)}h{text}"
    return text


class ProbeOutput:
    """The probe's stdout and stderr from the multiplexed stream, kept up to 4096 bytes."""

    def __init__(self) -> None:
        self._pending = b""
        self._kept = bytearray()
        self.truncated = False

    def feed(self, data: bytes) -> None:
        self._pending += data
        while len(self._pending) >= _HEADER.size:
            _, size = _HEADER.unpack_from(self._pending)
            if len(self._pending) < _HEADER.size + size:
                return
            payload = self._pending[_HEADER.size:_HEADER.size + size]
            self._pending = self._pending[_HEADER.size + size:]
            room = MAX_OUTPUT - len(self._kept)
            self._kept += payload[:max(room, 0)]
            if len(payload) > room:
                self.truncated = True

    def text(self) -> str:
        out = self._kept.decode("utf-8", errors="replace")
        return out + "..." if self.truncated else out


class HealthMonitor:
    """The daemon's health monitors (``runner.HealthHooks``), one task per container."""

    def __init__(self, execs: ExecManager, runner: Runner) -> None:
        self.execs = execs
        self.runner = runner
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def initial(self, c: Container) -> Health | None:
        if probe_command(c) is None:
            return None
        previous = c.state.health
        return Health(HealthStatus.STARTING, 0, previous.log if previous else ())

    def started(self, entry: Entry) -> None:
        c = entry.container
        if probe_command(c) is None or c.state.status is not Status.RUNNING:
            return
        self.stopped(c.id)
        self._tasks[c.id] = asyncio.create_task(self._monitor(entry))

    def stopped(self, container_id: str) -> None:
        task = self._tasks.pop(container_id, None)
        if task is not None:
            task.cancel()

    def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()

    async def _monitor(self, entry: Entry) -> None:
        c = entry.container
        hc = c.config.healthcheck
        cmd = probe_command(c)
        if hc is None or cmd is None:
            return
        try:
            while True:
                health = entry.container.state.health
                delay = next_interval(hc, health, c.state.started_ns, time.time_ns())
                await asyncio.sleep(delay / 1e9)
                result = await self._probe(entry, cmd, hc.timeout or DEFAULT_TIMEOUT_NS)
                await self._record(entry, result, hc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the health monitor of %s failed", c.short_id)

    async def _probe(self, entry: Entry, cmd: tuple[str, ...], timeout_ns: int) -> HealthResult:
        start = time.time_ns()
        try:
            exec_id = await self.execs.exec_create(entry.id, ExecConfig(
                cmd=cmd, attach_stdout=True, attach_stderr=True))
            ours, theirs = socket.socketpair()
            try:
                try:
                    await asyncio.wait_for(self.execs.exec_start(exec_id, ExecStart(), theirs),
                                           EXEC_START_TIMEOUT)
                finally:
                    theirs.close()
                output = ProbeOutput()
                try:
                    await asyncio.wait_for(self._read(ours, output), timeout_ns / 1e9)
                except TimeoutError:
                    return await self._timed_out(entry, exec_id, ours, output, start,
                                                 timeout_ns)
            finally:
                ours.close()
            view = await self.execs.exec_inspect(exec_id)
            code = view.exit_code if view.exit_code is not None else -1
            return HealthResult(start, time.time_ns(), code, output.text())
        except TimeoutError:
            return HealthResult(start, time.time_ns(), -1, "timed out starting health check "
                                f"for container {entry.id}")
        except (errors.DockyardError, OSError) as exc:
            log.info("health check of %s could not run: %s", entry.id[:12], exc)
            return HealthResult(start, time.time_ns(), -1, str(exc))

    async def _timed_out(self, entry: Entry, exec_id: str, sock: socket.socket,
                         output: ProbeOutput, start: int, timeout_ns: int) -> HealthResult:
        try:
            await self.execs.sv.kill_exec(entry.id, exec_id, signal.SIGKILL)
        except errors.DockyardError as exc:
            log.debug("kill of probe %s: %s", exec_id[:12], exc)
        try:  # wait for it to go, so that dying probes do not pile up
            await asyncio.wait_for(self._read(sock, output), 5.0)
        except TimeoutError:
            log.warning("health probe %s of %s outlived SIGKILL", exec_id[:12],
                        entry.id[:12])
        text = output.text()
        message = f"Health check exceeded timeout ({go_duration(timeout_ns)})"
        return HealthResult(start, time.time_ns(), -1,
                            f"{message}: {text}" if text else message)

    @staticmethod
    async def _read(sock: socket.socket, output: ProbeOutput) -> None:
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        while True:
            data = await loop.sock_recv(sock, 65536)
            if not data:
                return
            output.feed(data)

    async def _record(self, entry: Entry, result: HealthResult, hc: Healthcheck) -> None:
        async with entry.lock:
            c = entry.container
            old = c.state.health
            if c.state.status is not Status.RUNNING or old is None or entry.gone:
                return
            new = record_result(old, result, hc, c.state.started_ns)
            # In memory only, as moby's CommitInMemory: the next save keeps it.
            entry.container = replace(c, state=replace(c.state, health=new))
        if new.status is not old.status:
            self.runner.event(entry.container, f"health_status: {new.status.value}")
            log.info("container %s is %s", c.short_id, new.status.value)
            if new.status is HealthStatus.UNHEALTHY:
                action = dict(c.config.labels).get(ON_FAILURE_LABEL, "none")
                if action != "none":
                    # Its own task: the exit it causes cancels this monitor.
                    self.runner.background(self._act(entry, action))

    async def _act(self, entry: Entry, action: str) -> None:
        c = entry.container
        if entry.gone or entry.removing or c.state.status is not Status.RUNNING:
            return
        log.info("container %s is unhealthy: %s (%s)", c.short_id, action, ON_FAILURE_LABEL)
        if action == "restart":
            await self.runner.restart_unhealthy(entry)
        elif action == "stop":
            await self.runner.stop(entry, None, "")
        elif action == "kill":
            try:
                await self.execs.sv.kill(c.id, signal.SIGKILL, all=True)
            except errors.Conflict:
                return
            self.runner.event(c, "kill", {"signal": str(int(signal.SIGKILL))})
