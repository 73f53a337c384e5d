"""Running containers: start, watch, process an exit, stop, kill.

Start (under the entry's lock)::

    mount the snapshot at <bundle>/rootfs → resolve the user in it → write config.json
    → supervisor create (the init waits before execve) → loopback up in its netns
      (all of it done already when ``prepare`` made the new container ready after its
      create, and the container is still the value it was prepared for)
    → hand over the attach sockets waiting for this start, then supervisor start (sent
      one after the other, answers awaited together), "running" recorded meanwhile
    → watch: one supervisor wait per running container

The exit (the watch's answer, under the lock): stop the health monitor, ask the restart
manager (``restart``) whether the policy restarts it, record "exited" (or "restarting",
with the restart count one higher) with the code and time, tell the supervisor to forget
it, unmount the rootfs, publish ``die``, answer ``next-exit``/``not-running`` waiters
(each exit answers them, as moby's ``SetRestarting`` does), then ``AutoRemove`` (which
leaves forgetting and unmounting to the removal's background cleanup: ``cleanup``) — or,
after the backoff delay, start it again (``start`` event; no ``restart`` event, as in
Docker). A start that fails unwinds what it did and records the error with Docker's exit
code (127: no such executable; 126: permission denied; else 128).

A stop or kill through the API marks the container manually stopped and cancels its
restart manager first (``restart``); a ``restarting`` container is then simply recorded
``exited``, without signalling anything.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from typing import Any, Protocol

from dockyard import errors
from dockyard.daemon.config import DaemonConfig
from dockyard.daemon.containers import netns
from dockyard.daemon.containers.create import NETWORK_MODES, parse_signal
from dockyard.daemon.containers.model import (
    Container,
    Health,
    HealthStatus,
    State,
    Status,
    WaitResult,
)
from dockyard.daemon.containers.prepare import Preparations
from dockyard.daemon.containers.restart import RestartManager, cancels_restart
from dockyard.daemon.containers.rootfs import RootfsManager
from dockyard.daemon.containers.spec import SpecInputs, build_spec
from dockyard.daemon.containers.store import ContainerStore
from dockyard.daemon.containers.table import Entry, PendingAttach, resolve_futures
from dockyard.daemon.containers.users import resolve_user
from dockyard.daemon.events import EventType, Publisher, container_attributes
from dockyard.daemon.layout import ExecRoot
from dockyard.daemon.supervision import AsyncSupervisor
from dockyard.daemon.times import parse_rfc3339
from dockyard.runtime.detachkeys import detach_sequence
from dockyard.runtime.supervisor.protocol import ContainerInfo, ExitStatus, RuntimeKind
from dockyard.runtime.supervisor.records import write_json_durably

log = logging.getLogger(__name__)

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
WATCH_RETRY = 1.0


def start_exit_code(message: str) -> int:
    """Docker's exit code for a start that failed with ``message``."""
    m = message.lower()
    if any(s in m for s in ("executable file not found", "no such file or directory",
                            "no such file or executable")):
        return 127
    if "permission denied" in m:
        return 126
    return 128


def container_env(c: Container, home: str, *, tty: bool | None = None) -> tuple[str, ...]:
    """moby's ``CreateDaemonEnvironment``: PATH, HOSTNAME, TERM (tty: the container's, or
    an exec's), then the config's entries replacing or appending, an entry without ``=``
    (``docker run -e NAME`` with NAME unset on the client) unsetting it
    (``ReplaceOrAppendEnvValues``); HOME from the user's passwd entry if unset."""
    env: dict[str, str] = {"PATH": DEFAULT_PATH, "HOSTNAME": f"HOSTNAME={c.config.hostname}"}
    if c.config.tty if tty is None else tty:
        env["TERM"] = "TERM=xterm"
    apply_env(env, c.config.env)
    env.setdefault("HOME", f"HOME={home}")
    return tuple(env.values())


def apply_env(env: dict[str, str], entries: Sequence[str]) -> None:
    """moby's ``ReplaceOrAppendEnvValues`` on ``env`` (name -> ``NAME=value``, in order):
    each ``NAME=value`` replaces or appends, a ``NAME`` alone unsets."""
    for entry in entries:
        key, eq, _ = entry.partition("=")
        if eq:
            env[key] = entry
        else:
            env.pop(key, None)


def oom_killed(cgroup_path: str) -> bool:
    """Whether the kernel's OOM killer struck in the container's memory cgroup."""
    for path, key in ((f"/sys/fs/cgroup/memory{cgroup_path}/memory.oom_control", "oom_kill"),
                      (f"/sys/fs/cgroup{cgroup_path}/memory.events", "oom_kill")):
        try:
            with open(path, encoding="ascii") as f:
                for line in f:
                    name, _, value = line.partition(" ")
                    if name == key and value.strip().isdigit():
                        return int(value) > 0
        except OSError:
            continue
    return False


class HealthHooks(Protocol):
    """What the runner tells the health monitor (``health.HealthMonitor``)."""

    def initial(self, c: Container) -> Health | None:
        """The health of ``c`` as a run of it begins (None: no health check)."""

    def started(self, entry: Entry) -> None:
        """Begin probing the running container."""

    def stopped(self, container_id: str) -> None:
        """Stop probing (exit, pause)."""


class NoHealth:
    def initial(self, c: Container) -> Health | None:
        return None

    def started(self, entry: Entry) -> None:
        return None

    def stopped(self, container_id: str) -> None:
        return None


def monitor_stopped(h: Health | None) -> Health | None:
    """moby's ``CloseMonitorChannel``: a health monitor that stops (exit, pause) leaves the
    status ``unhealthy`` "for compatibility reasons" (no event)."""
    return None if h is None else replace(h, status=HealthStatus.UNHEALTHY)


class Runner:
    def __init__(self, config: DaemonConfig, run: ExecRoot, supervisor: AsyncSupervisor,
                 rootfs: RootfsManager, store: ContainerStore,
                 remove: Callable[[Entry], Coroutine[Any, Any, None]],
                 events: Publisher) -> None:
        self.config = config
        self.events = events
        self.run = run
        self.sv = supervisor
        self.rootfs = rootfs
        self.store = store
        self._auto_remove = remove
        self._tasks: set[asyncio.Task[None]] = set()
        self.restarts = RestartManager()
        self.health: HealthHooks = NoHealth()
        self.swap_accounting = os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
        self.prepared = Preparations(self)
        rootfs.before_mount = self.prepared.before_mount

    def event(self, c: Container, action: str,
              extra: dict[str, str] | None = None) -> None:
        """Publish a container event with Docker's attributes (name, image, labels)."""
        self.events.publish(EventType.CONTAINER, action, c.id,
                            container_attributes(c.name, c.config.image,
                                                 dict(c.config.labels), extra))

    async def save(self, entry: Entry, c: Container) -> None:
        await asyncio.to_thread(self.store.save, c)
        entry.container = c

    def cgroup_path(self, c: Container) -> str:
        parent = c.host_config.cgroup_parent or self.config.cgroup_parent
        return f"/{parent.strip('/')}/{c.id}"

    # ------------------------------------------------------------------ start

    async def start(self, entry: Entry) -> bool:
        """Start the container; False if it runs already (Docker's 304)."""
        async with entry.lock:
            c = entry.container
            if entry.removing or entry.gone:
                raise errors.Conflict(f"container {c.id} is marked for removal and cannot be "
                                      "started")
            if c.state.status in (Status.RUNNING, Status.PAUSED, Status.RESTARTING):
                return False
            # A start by the user: a fresh restart manager, count and manual stop reset.
            self.restarts.reset(c.id)
            await self._start_locked(entry, replace(c, restart_count=0, manually_stopped=False))
        return True

    async def _start_locked(self, entry: Entry, c: Container) -> None:
        """Start ``c`` (the entry's container, maybe with changed fields), under the lock."""
        try:
            running = await self._create_and_start(entry, c)
        except errors.DockyardError as exc:
            message = f"failed to create task for container: {exc}"
            code = start_exit_code(message)
            await self._start_failed(entry, c, message, code)
            if code in (126, 127):
                raise errors.InvalidArgument(message) from exc
            raise type(exc)(message) from exc
        entry.container = running
        entry.exited = asyncio.Event()
        entry.watcher = asyncio.create_task(self._watch(entry, running.state.pid))
        self.event(running, "start")
        self.health.started(entry)

    def _write_bundle(self, c: Container) -> str:
        """Mount the rootfs and write config.json (blocking)."""
        if c.host_config.network_mode not in NETWORK_MODES:
            # Docker creates such a container and fails its start, as here.
            raise errors.NotFound(f"network {c.host_config.network_mode} not found")
        bundle = self.run.bundle(c.id)
        rootfs = self.run.rootfs(c.id)
        os.makedirs(rootfs, mode=0o755, exist_ok=True)
        if self.rootfs.is_mounted(rootfs):
            self.rootfs.unmount(rootfs)
        self.rootfs.mount(c.id, rootfs)
        try:
            for b in (*c.host_config.binds, *c.host_config.mounts):
                if b.create_source and not os.path.exists(b.source):
                    os.makedirs(b.source, mode=0o755, exist_ok=True)
            user = resolve_user(rootfs, c.config.user, c.host_config.group_add)
            inputs = SpecInputs(user=user, env=container_env(c, user.home),
                                cgroup_parent=self.config.cgroup_parent,
                                init_path=self.config.init_path,
                                swap_accounting=self.swap_accounting,
                                hostname=c.config.hostname)
            spec = build_spec(c, inputs)
            write_json_durably(os.path.join(bundle, "config.json"), spec, sync=False)
        except BaseException:
            self.rootfs.unmount(rootfs)
            raise
        return bundle

    async def _create_and_start(self, entry: Entry, c: Container) -> Container:
        """The task made (or the one ``prepare`` made), the attach sockets handed over,
        the task started and ``c`` recorded running; the running container."""
        if entry.task_left:  # an AutoRemove that failed: what it left is ours again
            await self._forget_run(c)
            entry.task_left = False
        created: list[ContainerInfo] = []
        saving: asyncio.Future[None] | None = None
        try:
            info = await self.prepared.take(entry, c)
            if info is None:
                info = await asyncio.to_thread(self.make_task, c, created)
            else:
                created.append(info)
            running = replace(c, state=State(Status.RUNNING, pid=info.pid,
                                             started_ns=time.time_ns(),
                                             health=self.health.initial(c)))
            # The attach sockets, then the start: requests on the one supervisor channel,
            # written in the order their tasks are made (its send lock is FIFO) and
            # handled in that order, without waiting for each answer in turn: the
            # supervisor streams to the sockets from the process's first byte. The
            # record says running meanwhile (a daemon that dies before the start is
            # answered finds it running and the task still created: recovery discards
            # the task and records the run lost). The record's write (a worker thread)
            # begins once the start request is written: it overlaps the supervisor's
            # handling instead of taking the GIL from the requests' writes.
            pending, entry.pending = entry.pending, []
            attaches = [asyncio.ensure_future(self.hand_attach(c, p)) for p in pending]

            def save() -> None:
                nonlocal saving
                saving = asyncio.ensure_future(asyncio.to_thread(self.store.save, running))

            starting = asyncio.ensure_future(self.sv.start(c.id, on_sent=save))
            try:
                await starting
            finally:
                if attaches:
                    await asyncio.gather(*attaches)  # each logs its own failure
            if saving is None:  # (the start was answered: its request was written)
                raise errors.Internal(f"container {c.id}: running state not recorded")
            await saving
            return running
        except BaseException:
            if saving is not None:
                # Written before the failed start's record (``_start_failed``).
                await asyncio.gather(saving, return_exceptions=True)
            if created:
                await self._discard_task(c.id)
                await asyncio.to_thread(self.rootfs.unmount, self.run.rootfs(c.id))
            raise

    def make_task(self, c: Container, created: list[ContainerInfo]) -> ContainerInfo:
        """The bundle (rootfs mounted, config.json), the supervisor's create (the init
        waits before execve; appended to ``created``), and loopback up in its network
        namespace: blocking, in one worker thread. Unmounts what it mounted if the
        create fails."""
        bundle = self._write_bundle(c)
        cfg = c.config
        size = c.host_config.console_size
        try:
            info = self.sv.create_blocking(
                c.id, bundle,
                log_path=c.log_path if c.host_config.log_config.type == "json-file" else None,
                log_options=dict(c.host_config.log_config.config), tty=cfg.tty,
                stdin=cfg.open_stdin, console_size=size if size[0] and size[1] else None)
        except BaseException:
            self.rootfs.unmount(self.run.rootfs(c.id))
            raise
        created.append(info)
        if c.host_config.network_mode != "host" and self.sv.runtime.kind is not \
                RuntimeKind.IN_PROCESS:
            # Our runtime's init brings lo up in a new network namespace itself (and a
            # joined one is already up); runc and crun leave that to the engine.
            netns.loopback_up(info.pid)
        return info

    async def unmake_task(self, container_id: str) -> None:
        """Undo ``make_task`` of a container that was never started: its task killed
        and forgotten, its rootfs unmounted (a preparation torn down)."""
        await self._discard_task(container_id)
        rootfs = self.run.rootfs(container_id)
        await asyncio.to_thread(self._unmount_if_mounted, rootfs)

    def _unmount_if_mounted(self, rootfs: str) -> None:
        if self.rootfs.is_mounted(rootfs):
            self.rootfs.unmount(rootfs)

    async def _discard_task(self, container_id: str) -> None:
        """Kill and forget a half-started container in the supervisor."""
        try:
            await self.sv.kill(container_id, signal.SIGKILL, all=True)
        except errors.DockyardError as exc:
            log.debug("kill of half-started %s: %s", container_id[:12], exc)
        try:
            await asyncio.wait_for(self.sv.wait(container_id), timeout=30)
            await self.sv.delete(container_id)
        except (errors.DockyardError, TimeoutError) as exc:
            log.error("could not discard half-started %s: %s", container_id[:12], exc)

    async def hand_attach(self, c: Container, p: PendingAttach) -> None:
        """Give an attach socket to the supervisor, which streams on it from now on."""
        try:
            await self.sv.attach_socket(
                p.sock, c.id, stdin=p.options.stdin and c.config.open_stdin,
                stdout=p.options.stdout, stderr=p.options.stderr,
                close_stdin=c.config.stdin_once,
                detach_keys=detach_sequence(p.options.detach_keys, tty=c.config.tty))
        except errors.DockyardError as exc:
            log.info("attach to %s ended: %s", c.short_id, exc)
        finally:
            p.sock.close()

    async def _start_failed(self, entry: Entry, c: Container, message: str,
                            code: int) -> None:
        state = replace(c.state, error=message, exit_code=code, pid=0)
        await self.save(entry, replace(c, state=state))
        for p in entry.pending:
            p.sock.close()
        entry.pending.clear()
        if c.host_config.auto_remove:
            # After this start releases the lock: the removal takes it.
            self.background(self._auto_remove(entry))

    def background(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task kept until done (its failure is logged)."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    # ------------------------------------------------------------------ exit

    def watch(self, entry: Entry, pid: int) -> None:
        entry.watcher = asyncio.create_task(self._watch(entry, pid))

    async def _watch(self, entry: Entry, pid: int) -> None:
        cid = entry.id
        while True:
            try:
                status = await self.sv.wait(cid)
                break
            except errors.NotFound:
                log.warning("the supervisor does not know running container %s: lost",
                            cid[:12])
                status = ExitStatus(255, None, "", lost=True)
                break
            except (errors.Unavailable, OSError) as exc:
                log.error("waiting for %s: %s; retrying", cid[:12], exc)
                await asyncio.sleep(WATCH_RETRY)
        try:
            await self.process_exit(entry, status)
        except Exception:
            log.exception("processing the exit of %s failed", cid[:12])
            raise

    async def process_exit(self, entry: Entry, status: ExitStatus) -> None:
        async with entry.lock:
            c = entry.container
            if c.state.status not in (Status.RUNNING, Status.PAUSED):
                return
            self.health.stopped(c.id)
            finished = _parse_exit_time(status.exited_at)
            oom = status.signal == signal.SIGKILL and await asyncio.to_thread(
                oom_killed, self.cgroup_path(c))
            delay = None if entry.removing else self.restarts.decide(
                c, status.exit_code, finished - c.state.started_ns)
            state = replace(c.state, status=Status.EXITED if delay is None
                            else Status.RESTARTING, pid=0, exit_code=status.exit_code,
                            finished_ns=finished, oom_killed=oom, error="",
                            health=monitor_stopped(c.state.health))
            ended = replace(c, state=state, restart_count=c.restart_count
                            + (delay is not None))
            auto_remove = delay is None and c.host_config.auto_remove and not entry.removing
            if auto_remove:
                # The removal below records it (``removing``, with this exit) and answers
                # its waiters at once, leaving forgetting the task and unmounting to its
                # background cleanup. (A daemon that dies before finds the record running
                # and the task exited: it processes this exit again.)
                entry.container = ended
                entry.task_left = True
            else:
                await self.save(entry, ended)
                await self._forget_run(c)
            entry.watcher = None
            if oom:
                self.event(c, "oom")
            duration = max(0, finished - c.state.started_ns) // 1_000_000_000
            self.event(c, "die", {"exitCode": str(status.exit_code),
                                  "execDuration": str(duration)})
            entry.exited.set()
            resolve_futures(entry.exit_waiters, WaitResult(status.exit_code))
            log.debug("container %s exited with %d", c.short_id, status.exit_code)
            if delay is not None:
                log.info("restarting container %s in %d ms (restart %d)", c.short_id,
                         delay // 1_000_000, entry.container.restart_count)
                task = asyncio.create_task(self._restart_later(entry, delay))
                self.restarts.set_pending(c.id, task)
                return
        if auto_remove:
            await self._auto_remove(entry)

    async def _forget_run(self, c: Container) -> None:
        """The supervisor forgets the exited task; the rootfs is unmounted."""
        try:
            await self.sv.delete(c.id)
        except errors.NotFound:
            log.debug("the supervisor had forgotten %s already", c.short_id)
        await asyncio.to_thread(self.rootfs.unmount, self.run.rootfs(c.id))

    async def _restart_later(self, entry: Entry, delay_ns: int) -> None:
        """The restart policy's start, after the backoff delay, unless cancelled since."""
        await asyncio.sleep(delay_ns / 1e9)
        task = asyncio.current_task()
        async with entry.lock:
            if task is not None:
                self.restarts.clear_pending(entry.id, task)
            c = entry.container
            if (c.state.status is not Status.RESTARTING or entry.removing or entry.gone
                    or self.restarts.cancelled(c.id)):
                return
            try:
                await self._start_locked(entry, c)
            except errors.DockyardError as exc:
                # moby: the container is stopped with the exit status of its last run.
                log.warning("restart of container %s failed: %s", c.short_id, exc)
                failed = entry.container
                await self.save(entry, replace(failed, state=replace(
                    failed.state, status=Status.EXITED, exit_code=c.state.exit_code)))

    async def settle_restarting(self, entry: Entry) -> bool:
        """Record a ``restarting`` container ``exited`` (its restart was cancelled); True
        if it was restarting."""
        async with entry.lock:
            c = entry.container
            if c.state.status is not Status.RESTARTING:
                return False
            await self.save(entry, replace(c, state=replace(c.state, status=Status.EXITED)))
            log.info("container %s: pending restart cancelled", c.short_id)
            return True

    async def _mark_stopped(self, entry: Entry, *, cancel: bool) -> None:
        """moby's ``killWithSignal`` bookkeeping: ``HasBeenManuallyStopped`` recorded, and
        (``cancel``) the restart manager cancelled."""
        if cancel:
            self.restarts.cancel(entry.id)
        async with entry.lock:
            c = entry.container
            if not c.manually_stopped and not entry.gone:
                await self.save(entry, replace(c, manually_stopped=True))

    # ------------------------------------------------------------------ pause

    async def pause(self, entry: Entry) -> None:
        """Freeze the container's processes (the supervisor's ``pause``: the cgroup
        freezer, or ``runc pause``); Docker's 409s when it does not run or is paused."""
        async with entry.lock:
            c = entry.container
            if c.state.status is Status.PAUSED:
                raise errors.Conflict(f"container {c.id} is already paused")
            if c.state.status is Status.RESTARTING:
                raise errors.Conflict(f"Container {c.id} is restarting, wait until the "
                                      "container is running")
            if c.state.status is not Status.RUNNING:
                raise errors.Conflict(f"Container {c.id} is not running")
            await self.sv.pause(c.id)
            self.health.stopped(c.id)
            await self.save(entry, replace(c, state=replace(
                c.state, status=Status.PAUSED, health=monitor_stopped(c.state.health))))
            self.event(entry.container, "pause")

    async def unpause(self, entry: Entry) -> None:
        async with entry.lock:
            c = entry.container
            if c.state.status is not Status.PAUSED:
                raise errors.Conflict(f"Container {c.id} is not paused")
            await self.sv.resume(c.id)
            await self.save(entry, replace(c, state=replace(c.state, status=Status.RUNNING)))
            self.event(entry.container, "unpause")
            self.health.started(entry)

    # ------------------------------------------------------------------ signals

    async def kill(self, entry: Entry, sig: str) -> None:
        c = entry.container
        signum = parse_signal(sig or "KILL", "signal")
        if not c.state.running:
            raise errors.Conflict(f"Cannot kill container: {entry.container.name}: Container "
                                  f"{c.id} is not running")
        own = parse_signal(c.config.stop_signal, "signal") if c.config.stop_signal else None
        cancel = cancels_restart(signum, own)
        await self._mark_stopped(entry, cancel=cancel)
        if entry.container.state.status is Status.RESTARTING:
            # moby: nothing to signal; the cancelled restart manager keeps it down.
            if cancel:
                await self.settle_restarting(entry)
            return
        try:
            await self.sv.kill(c.id, signum, all=signum == signal.SIGKILL)
        except errors.Conflict as exc:
            raise errors.Conflict(f"Cannot kill container: {c.name}: {exc}") from None
        self.event(c, "kill", {"signal": str(signum)})

    async def stop(self, entry: Entry, timeout: int | None, sig: str) -> bool:
        """Stop signal, then SIGKILL after ``timeout`` seconds (-1: wait forever); False if
        the container was not running (Docker's 304)."""
        c = entry.container
        if not c.state.running:
            return False
        signum = parse_signal(sig or c.config.stop_signal or "TERM", "signal")
        wait = timeout if timeout is not None else (
            c.config.stop_timeout if c.config.stop_timeout is not None else 10)
        await self._mark_stopped(entry, cancel=True)
        if not await self.settle_restarting(entry) and entry.container.state.running:
            await self._terminate(entry, signum, wait)
        self.event(entry.container, "stop")
        return True

    async def _terminate(self, entry: Entry, signum: int, wait: int) -> None:
        """Send ``signum``, wait ``wait`` seconds (-1: forever) for the exit, then SIGKILL."""
        c = entry.container
        exited = entry.exited
        if signum != signal.SIGKILL:
            try:
                await self.sv.kill(c.id, signum)
                self.event(c, "kill", {"signal": str(signum)})
            except errors.Conflict:
                pass  # it is exiting on its own
            try:
                await asyncio.wait_for(exited.wait(), timeout=None if wait < 0 else wait)
            except TimeoutError:
                log.info("container %s did not stop within %ds: killing it", c.short_id, wait)
                await self._kill_and_wait(entry)
        else:
            await self._kill_and_wait(entry)

    async def force_kill(self, entry: Entry) -> None:
        """SIGKILL every process of the container and wait for the exit to be processed
        (``rm -f``); a restarting container's pending restart is cancelled instead."""
        self.restarts.cancel(entry.id)
        if await self.settle_restarting(entry):
            return
        await self._kill_and_wait(entry)

    async def restart_unhealthy(self, entry: Entry) -> None:
        """The ``restart`` health-on-failure action: stop as ``docker stop`` would (stop
        signal, then SIGKILL after the stop timeout) and have the exit restart it,
        whatever the restart policy (the restart count grows)."""
        c = entry.container
        if c.state.status is not Status.RUNNING:
            return
        self.restarts.force(c.id)
        wait = c.config.stop_timeout if c.config.stop_timeout is not None else 10
        await self._terminate(entry, parse_signal(c.config.stop_signal or "TERM", "signal"),
                              wait)

    async def _kill_and_wait(self, entry: Entry) -> None:
        exited = entry.exited
        try:
            await self.sv.kill(entry.id, signal.SIGKILL, all=True)
            self.event(entry.container, "kill", {"signal": str(int(signal.SIGKILL))})
        except errors.Conflict:
            pass
        await exited.wait()


def _parse_exit_time(text: str) -> int:
    try:
        return parse_rfc3339(text)
    except errors.InvalidArgument:
        return time.time_ns()  # a lost exit has no time: now is the best we know


def remove_bundle(run: ExecRoot, container_id: str) -> None:
    bundle = run.bundle(container_id)
    if os.path.isdir(bundle):
        shutil.rmtree(bundle)

