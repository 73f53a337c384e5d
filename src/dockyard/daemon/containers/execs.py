"""Execs: one more process in a running container (``docker exec``).

Lifecycle of an exec (moby's ``daemon/exec.go``)::

    create ─► created ──start──► starting ──supervisor exec──► running ──exit──► exited
                                    └──────── the runtime refused (126/127) ────────┘

``create`` checks the container runs (not paused), keeps the configuration and begins
building the OCI process in a worker thread, so that it is ready when the client's
``start`` comes (a start after the container started again builds it anew): the
container's own ``process`` from its bundle's ``config.json``
(capabilities, rlimits, no-new-privileges; all capabilities when ``Privileged``), with the
command, the environment (the container's, then the exec's ``Env``), the working
directory and the user resolved in the container's rootfs as at create. The supervisor
runs it, streaming on the hijacked connection from the first byte (``exec_socket``), or
detached. A wait on the exec (one supervisor connection) records its exit, publishes
``exec_die`` and has the supervisor forget it.

The exit code is known before the stream closes: the supervisor records the exit, then
closes the attached streams. ``docker exec`` inspects the exec as soon as its stream ends,
possibly before this daemon's wait has been answered: ``inspect`` then asks the supervisor
(``exec_state``), which already knows.

Records live in memory until the container's next start or its removal (at most
``MAX_EXITED`` exited execs per container), and, once started, on disk too
(``execstore``): a restarted daemon reloads them and ``recover`` reconciles them with
the supervisor, which kept the processes running while the daemon was down — an exec
still running is waited for again, one that exited then gets its recorded code, one the
supervisor no longer knows is marked exited with 255 (its status is lost).
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

from dockyard import errors
from dockyard.daemon.containers.execstore import ExecRecord, ExecStore
from dockyard.daemon.containers.model import (
    Container,
    ExecConfig,
    ExecStart,
    ExecView,
    Status,
)
from dockyard.daemon.containers.runner import apply_env, container_env, start_exit_code
from dockyard.daemon.containers.spec import capabilities
from dockyard.daemon.containers.table import Entry, Table, new_id
from dockyard.daemon.containers.users import ExecUser, resolve_user
from dockyard.daemon.layout import ExecRoot
from dockyard.daemon.supervision import AsyncSupervisor
from dockyard.runtime.detachkeys import detach_sequence, parse_detach_keys
from dockyard.runtime.supervisor.client import Framing
from dockyard.runtime.supervisor.protocol import ContainerInfo, ExitStatus

log = logging.getLogger(__name__)

MAX_EXITED = 128
START_WAIT = 10.0
WAIT_RETRY = 1.0

# Publishes a container event: (container, action, extra attributes).
ContainerEvent = Callable[[Container, str, "dict[str, str] | None"], None]


class ExecStatus(enum.Enum):
    CREATED = "created"
    STARTING = "starting"
    RUNNING = "running"
    EXITED = "exited"


@dataclass(slots=True)
class ExecEntry:
    """One exec's mutable record (the loop's only: no locking)."""

    id: str
    container_id: str
    config: ExecConfig
    created_ns: int
    status: ExecStatus = ExecStatus.CREATED
    pid: int = 0
    exit_code: int | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)
    waiter: asyncio.Task[None] | None = None
    prepared: asyncio.Task[dict[str, Any]] | None = None
    """Its OCI process, built at create for the run then current (``prepared_for``, that
    run's start time): ready when the start comes, its error raised then."""
    prepared_for: int = 0
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once our own wait has learnt the exit code."""

    def record(self) -> ExecRecord:
        return ExecRecord(self.id, self.container_id, self.config, self.created_ns, self.pid,
                          self.exit_code if self.status is ExecStatus.EXITED else None)

    def view(self) -> ExecView:
        running = self.status in (ExecStatus.STARTING, ExecStatus.RUNNING) \
            and self.exit_code is None
        return ExecView(self.id, self.container_id, self.config, running, self.exit_code,
                        self.pid)


def exec_env(c: Container, cfg: ExecConfig, home: str) -> list[str]:
    """moby: the container's environment (``TERM`` for the exec's tty), then the exec's
    ``Env`` replacing or appending; an entry without ``=`` unsets that variable."""
    env: dict[str, str] = {e.partition("=")[0]: e for e in container_env(c, home, tty=cfg.tty)}
    apply_env(env, cfg.env)
    return list(env.values())


def exec_process(c: Container, cfg: ExecConfig, bundle: str, rootfs: str) -> dict[str, Any]:
    """The OCI ``process`` of an exec (blocking: reads the bundle and the rootfs)."""
    with open(os.path.join(bundle, "config.json"), encoding="utf-8") as f:
        base = json.load(f).get("process") or {}
    user: ExecUser = resolve_user(rootfs, cfg.user or c.config.user, c.host_config.group_add)
    process: dict[str, Any] = {
        "terminal": cfg.tty,
        "user": {"uid": user.uid, "gid": user.gid},
        "args": list(cfg.cmd),
        "env": exec_env(c, cfg, user.home),
        "cwd": cfg.working_dir or c.config.working_dir or "/",
        "noNewPrivileges": bool(base.get("noNewPrivileges", False)),
    }
    if user.additional_gids:
        process["user"]["additionalGids"] = list(user.additional_gids)
    if cfg.privileged:
        caps = capabilities(replace(c.host_config, privileged=True))
        process["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps,
                                   "inheritable": [], "ambient": []}
    elif "capabilities" in base:
        process["capabilities"] = base["capabilities"]
    for key in ("rlimits", "apparmorProfile", "oomScoreAdj", "selinuxLabel"):
        if key in base:
            process[key] = base[key]
    return process


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a failure seen that nobody may await (a prepared process of an exec never
    started; a supervisor's answer our own wait made useless)."""
    if not task.cancelled():
        task.exception()


def _check_can_exec(c: Container, ref: str | None = None) -> None:
    """moby's checks (``getActiveContainer``); ``ref``: the name the client gave, which
    moby's create names a paused container by (its start, by the ID)."""
    if c.state.status is Status.PAUSED:
        raise errors.Conflict(f"Container {ref or c.id} is paused, unpause the container "
                              "before exec")
    if c.state.status is Status.RESTARTING:
        raise errors.Conflict(f"Container {c.id} is restarting, wait until the container is "
                              "running")
    if c.state.status is not Status.RUNNING:
        raise errors.Conflict(f"Container {c.id} is not running")


def _action(verb: str, cfg: ExecConfig) -> str:
    """moby's ``exec_create: <entrypoint> <args>`` (a space even without arguments)."""
    return f"{verb}: {cfg.cmd[0]} {' '.join(cfg.cmd[1:])}"


class ExecManager:
    """The exec endpoints' backend (``api.execs.ExecBackend``)."""

    def __init__(self, table: Table, run: ExecRoot, supervisor: AsyncSupervisor,
                 event: ContainerEvent, store: ExecStore | None = None) -> None:
        self.table = table
        self.run = run
        self.sv = supervisor
        self._event = event
        self.store = store
        self.execs: dict[str, ExecEntry] = {}
        self.by_container: dict[str, list[str]] = {}

    def _exec(self, exec_id: str) -> ExecEntry:
        e = self.execs.get(exec_id)
        if e is None:
            raise errors.NotFound(f"No such exec instance: {exec_id}")
        return e

    def ids_of(self, container_id: str) -> tuple[str, ...]:
        """Every exec of the container the daemon still knows, exited ones too."""
        return tuple(self.by_container.get(container_id, ()))

    def live_ids_of(self, container_id: str) -> tuple[str, ...]:
        """Inspect's ``ExecIDs``: the execs not exited yet (moby drops an exec from the
        container's list when it exits; it stays inspectable by its own id)."""
        return tuple(i for i in self.by_container.get(container_id, ())
                     if (e := self.execs.get(i)) is not None
                     and e.status is not ExecStatus.EXITED)

    # ------------------------------------------------------------------ create

    async def exec_create(self, ref: str, config: ExecConfig) -> str:
        c = self.table.find(ref).container
        _check_can_exec(c, ref)
        e = ExecEntry(new_id(), c.id, config, time.time_ns())
        # Built now, while the client reads this answer and sends the start.
        e.prepared = asyncio.create_task(asyncio.to_thread(
            exec_process, c, config, self.run.bundle(c.id), self.run.rootfs(c.id)))
        e.prepared.add_done_callback(_retrieve)
        e.prepared_for = c.state.started_ns
        self.execs[e.id] = e
        ids = self.by_container.setdefault(c.id, [])
        ids.append(e.id)
        self._trim(ids)
        self._event(c, _action("exec_create", config), {"execID": e.id})
        return e.id

    def _trim(self, ids: list[str]) -> None:
        exited = [i for i in ids if self.execs[i].status is ExecStatus.EXITED]
        for i in exited[:max(0, len(exited) - MAX_EXITED)]:
            ids.remove(i)
            e = self.execs.pop(i)
            if self.store is not None:
                self.store.delete(e.container_id, e.id)

    # ------------------------------------------------------------------ start

    def _running_container(self, e: ExecEntry) -> Entry:
        entry = self.table.entries.get(e.container_id)
        if entry is None or entry.gone:
            raise errors.Conflict(f"Container {e.container_id} is not running")
        _check_can_exec(entry.container)
        return entry

    async def exec_start(self, exec_id: str, start: ExecStart,
                         sock: socket.socket | None) -> None:
        """Start the exec: streaming on ``sock`` (a hijacked connection, closed here once
        the supervisor has its own descriptor of it; left open on an error, for the
        caller to say it there) or detached (``sock`` None). Raises if it could not
        start; its exit code is then recorded (127 no such executable, 126 otherwise)."""
        e = self._exec(exec_id)
        if e.status is ExecStatus.EXITED or e.exit_code is not None:  # (known by inspect)
            raise errors.Conflict(f"Error: Exec command {e.id} has already run")
        if e.status is not ExecStatus.CREATED:
            raise errors.Conflict(f"Error: Exec command {e.id} is already running")
        c = self._running_container(e).container
        e.status = ExecStatus.STARTING
        cfg = e.config
        self._event(c, _action("exec_start", cfg), {"execID": e.id})
        size = (start.console_size or cfg.console_size) if cfg.tty else None
        prepared, e.prepared = e.prepared, None
        try:
            if prepared is not None and e.prepared_for == c.state.started_ns:
                process = await prepared
            else:  # (the container was started again since the exec's create)
                process = await asyncio.to_thread(exec_process, c, cfg, self.run.bundle(c.id),
                                                  self.run.rootfs(c.id))
        except (errors.DockyardError, OSError) as exc:
            self._start_failed(e, c, exc, record=False)
        try:
            if sock is None:
                info = await self.sv.exec(c.id, e.id, process, console_size=size)
            else:
                keys = parse_detach_keys(cfg.detach_keys) if cfg.detach_keys else None
                info = await self.sv.exec_socket(
                    sock, c.id, e.id, process, stdin=cfg.attach_stdin,
                    stdout=cfg.attach_stdout, stderr=cfg.attach_stderr, console_size=size,
                    framing=Framing.RAW if start.tty else Framing.MULTIPLEXED,
                    detach_keys=detach_sequence(keys, tty=cfg.tty))
        except (errors.DockyardError, OSError) as exc:
            self._start_failed(e, c, exc, record=True)
        if sock is not None:
            # The supervisor streams on its own descriptor and closes it after the exit
            # is recorded: ours must not keep the connection open past that.
            sock.close()
        e.pid = info.pid
        if e.exit_code is None:
            e.status = ExecStatus.RUNNING
        e.started.set()
        # Recorded once the supervisor has started it (with its pid), before its exit can
        # be: in the loop, a small write without fsync (see execstore), cheaper than a
        # worker thread's round trip, and after the start, off its path.
        self._persist(e.record())
        e.waiter = asyncio.create_task(self._wait(e))

    def _start_failed(self, e: ExecEntry, c: Container, exc: errors.DockyardError | OSError,
                      *, record: bool) -> NoReturn:
        """The exec could not start: its exit code (127 no such executable, 126 otherwise)
        kept, recorded if the supervisor was asked (``record``); the error raised."""
        code = start_exit_code(str(exc))
        e.exit_code = 126 if code == 128 else code
        e.status = ExecStatus.EXITED
        e.started.set()
        log.info("exec %s in %s failed to start: %s", e.id[:12], c.short_id, exc)
        if record:
            self._persist(e.record())
        if isinstance(exc, errors.DockyardError):
            raise exc
        raise errors.FailedPrecondition(str(exc)) from exc

    def _persist(self, rec: ExecRecord) -> None:
        """Write the record (blocking, but small and not fsynced: see ``execstore``)."""
        if self.store is None:
            return
        try:
            self.store.save(rec)
        except FileNotFoundError as exc:
            if rec.container_id in self.table.entries:
                log.error("could not record exec %s: %s", rec.id[:12], exc)
            else:  # its container was removed meanwhile
                log.debug("exec %s of a removed container not recorded", rec.id[:12])
        except OSError as exc:
            log.error("could not record exec %s: %s", rec.id[:12], exc)

    async def _wait(self, e: ExecEntry) -> None:
        while True:
            try:
                status = await self.sv.wait(e.container_id, e.id)
                break
            except errors.NotFound:
                status = ExitStatus(255, None, "", lost=True)
                break
            except (errors.Unavailable, OSError) as exc:
                log.error("waiting for exec %s: %s; retrying", e.id[:12], exc)
                await asyncio.sleep(WAIT_RETRY)
            except errors.DockyardError as exc:  # nobody awaits this task: say it here
                log.warning("waiting for exec %s: %s; its exit is lost", e.id[:12], exc)
                status = ExitStatus(255, None, "", lost=True)
                break
        await self._exited(e, status)

    async def _exited(self, e: ExecEntry, status: ExitStatus, *, forget: bool = True) -> None:
        """Record the exit (memory, disk), publish ``exec_die``, let the supervisor forget."""
        if e.exit_code is None:
            e.exit_code = status.exit_code
        e.status = ExecStatus.EXITED
        e.ended.set()
        e.waiter = None
        self._persist(e.record())
        entry = self.table.entries.get(e.container_id)
        if entry is not None:
            self._event(entry.container, "exec_die",
                        {"execID": e.id, "exitCode": str(e.exit_code)})
        if forget:
            await self._forget_in_supervisor(e.container_id, e.id)

    async def _forget_in_supervisor(self, container_id: str, exec_id: str) -> None:
        try:
            await self.sv.delete_exec(container_id, exec_id)
        except errors.NotFound:
            log.debug("the supervisor had forgotten exec %s already", exec_id[:12])
        except (errors.DockyardError, OSError) as exc:
            log.warning("could not have the supervisor forget exec %s: %s", exec_id[:12], exc)

    # ------------------------------------------------------------------ recovery

    async def recover(self, c: Container, task: ContainerInfo | None) -> None:
        """After a daemon restart: reload ``c``'s exec records and reconcile them with the
        supervisor's view of the container (``task``; None when it holds none). Call it
        once per container, after the container is in the table."""
        if self.store is None:
            return
        records = await asyncio.to_thread(self.store.load, c.id)
        known = {i.exec_id: i for i in (task.execs if task is not None else ())}
        ids = self.by_container.setdefault(c.id, [])
        settled: set[str] = set()  # the supervisor's execs dealt with here
        for rec in records:
            e = ExecEntry(rec.id, c.id, rec.config, rec.created_ns, ExecStatus.RUNNING,
                          rec.pid, rec.exit_code)
            e.started.set()
            self.execs[e.id] = e
            ids.append(e.id)
            info = known.get(e.id)
            if rec.exit_code is not None:
                e.status = ExecStatus.EXITED
                continue
            settled.add(e.id)
            if info is not None and info.exit is None:
                log.info("exec %s in %s is still running (pid %d)", e.id[:12], c.short_id,
                         info.pid)
                e.pid = info.pid
                e.waiter = asyncio.create_task(self._wait(e))
            elif info is not None and info.exit is not None:
                log.info("exec %s in %s exited while the daemon was down", e.id[:12],
                         c.short_id)
                e.pid = info.pid
                await self._exited(e, info.exit)
            else:
                log.warning("exec %s in %s was running but the supervisor lost it",
                            e.id[:12], c.short_id)
                await self._exited(e, ExitStatus(255, None, "", lost=True), forget=False)
        for info in known.values():
            # Exits the supervisor still holds and nobody will wait for: forget them.
            if info.exit is not None and info.exec_id not in settled:
                await self._forget_in_supervisor(c.id, info.exec_id)
        self._trim(ids)

    # ------------------------------------------------------------------ inspect, resize

    async def exec_inspect(self, exec_id: str) -> ExecView:
        e = self._exec(exec_id)
        if e.status in (ExecStatus.STARTING, ExecStatus.RUNNING) and e.exit_code is None:
            # Its stream may have ended before our wait (or even the supervisor's reply to
            # the start) was processed here: the supervisor knows. Whichever answers
            # first, the supervisor or our wait (its reply is on its way), says it.
            asked = asyncio.ensure_future(self.sv.exec_state(e.container_id, e.id))
            learnt = asyncio.ensure_future(e.ended.wait())
            try:
                await asyncio.wait({asked, learnt}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                learnt.cancel()
                if not asked.done():
                    # Also when this inspect is cancelled (a health probe's, by the
                    # container's removal): the late answer may be an error nobody reads.
                    asked.add_done_callback(_retrieve)
            if not asked.done():
                return e.view()
            try:
                info = asked.result()
            except errors.NotFound:
                log.debug("exec %s already forgotten by the supervisor", e.id[:12])
            except (errors.DockyardError, OSError) as exc:
                log.warning("exec state of %s: %s", e.id[:12], exc)
            else:
                if info.exit is not None and e.exit_code is None:
                    e.exit_code = info.exit.exit_code
        return e.view()

    async def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        e = self._exec(exec_id)
        try:
            await asyncio.wait_for(e.started.wait(), START_WAIT)
        except TimeoutError:
            raise errors.Unavailable("timeout waiting for exec session ready") from None
        if e.status is not ExecStatus.RUNNING or e.exit_code is not None:
            raise errors.Conflict(f"exec {e.id} is not running")
        await self.sv.resize_exec(e.container_id, e.id, height, width)

    # ------------------------------------------------------------------ cleanup

    def forget_container(self, container_id: str) -> None:
        """Drop the records of a container's execs (its next start, or its removal)."""
        for i in self.by_container.pop(container_id, []):
            e = self.execs.pop(i, None)
            if e is not None and e.waiter is not None:
                e.waiter.cancel()
        if self.store is not None:
            self.store.delete_all(container_id)

    def close(self) -> None:
        for e in self.execs.values():
            if e.waiter is not None:
                e.waiter.cancel()
