"""``ContainerService``: the container operations the Engine API serves.

Asynchronous at the edge; the blocking work (stores, mounts, files) runs in worker threads
(``asyncio.to_thread``), the supervisor is reached through ``AsyncSupervisor``. Running
containers are the ``Runner``'s business (start, exits, stop, kill); this module holds
create, remove, wait, lookups, list, logs, attach, and recovery at daemon start.

Recovery (live restore): every record is loaded; a container recorded as running is
looked up in the supervisor: still running → watched again; exited while the daemon was
down → its recorded exit is processed now (log complete, code as recorded); unknown to the
supervisor → exited with 255 (its status is lost); one recorded as restarting (the daemon
stopped during its backoff) → exited. Then what a crash left is cleaned: directories
without a record, tasks the supervisor holds for containers with no record, rootfs mounts
of containers that do not run, snapshots and leases of no container. Last, the containers
whose restart policy says so are started (``restart.start_at_daemon_start``), and the
health monitors of the running ones begin again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import shutil
import socket
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, replace

from dockyard import errors
from dockyard.daemon.config import DaemonConfig
from dockyard.daemon.containers import etcfiles, logblocks, top
from dockyard.daemon.containers import logs as logfiles
from dockyard.daemon.containers.cleanup import Cleanups
from dockyard.daemon.containers.config import CreateRequest
from dockyard.daemon.containers.create import make_container
from dockyard.daemon.containers.execs import ExecManager
from dockyard.daemon.containers.execstore import ExecStore
from dockyard.daemon.containers.filters import compile_filters, compile_prune_filters
from dockyard.daemon.containers.health import HealthMonitor
from dockyard.daemon.containers.model import (
    AttachOptions,
    Container,
    CreateResult,
    LogChunk,
    LogQuery,
    PruneResult,
    Status,
    TopResult,
    WaitCondition,
    WaitResult,
)
from dockyard.daemon.containers.names import validate_name
from dockyard.daemon.containers.restart import start_at_daemon_start
from dockyard.daemon.containers.rootfs import RootfsManager
from dockyard.daemon.containers.runner import Runner, remove_bundle
from dockyard.daemon.containers.store import ContainerStore
from dockyard.daemon.containers.table import (
    Entry,
    PendingAttach,
    Table,
    new_id,
    resolve_futures,
)
from dockyard.daemon.diskuse import container_sizes
from dockyard.daemon.events import EventType, Publisher
from dockyard.daemon.layout import DataRoot, ExecRoot
from dockyard.daemon.resourcetypes import ContainerSize
from dockyard.daemon.supervision import AsyncSupervisor
from dockyard.daemon.systeminfo import ContainerTotals
from dockyard.image import Image, ImageService
from dockyard.oci import reference
from dockyard.runtime import cgroups
from dockyard.runtime.supervisor.client import ContainerInfo
from dockyard.runtime.supervisor.protocol import ExitStatus
from dockyard.runtime.supervisor.protocol import Status as TaskStatus

log = logging.getLogger(__name__)

FOLLOW_INTERVAL = 0.1
CLOSE_CLEANUP_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class LogStream:
    tty: bool
    chunks: AsyncGenerator[LogChunk, None]
    """The entries the query wants, shown (``-t``) and joined by stream (``logblocks``)."""


class ContainerService:
    def __init__(self, config: DaemonConfig, data: DataRoot, run: ExecRoot,
                 supervisor: AsyncSupervisor, images: ImageService,
                 events: Publisher) -> None:
        self.config = config
        self.data = data
        self.run = run
        self.sv = supervisor
        self.images = images
        self.rootfs = RootfsManager(images, os.path.join(run.root, "initlayers"))
        self.store = ContainerStore(data)
        self.table = Table()
        self.runner = Runner(config, run, supervisor, self.rootfs, self.store, self._remove,
                             events)
        self.execs = ExecManager(self.table, run, supervisor, self.runner.event,
                                 ExecStore(data))
        self.health = HealthMonitor(self.execs, self.runner)
        self.runner.health = self.health
        self._pruning = False
        self.cleanups = Cleanups()
        self.blkio_weight = any(os.path.exists(f"/sys/fs/cgroup/blkio/{n}")
                                for n in ("blkio.weight", "blkio.bfq.weight"))

    # ------------------------------------------------------------------ lookups

    def _entry(self, ref: str) -> Entry:
        return self.table.find(ref)

    async def get(self, ref: str) -> Container:
        c = self._entry(ref).container
        execs = self.execs.live_ids_of(c.id)
        return replace(c, exec_ids=execs) if execs else c

    async def totals(self) -> ContainerTotals:
        states = [e.container.state.status for e in self.table.all()]
        running = sum(s in (Status.RUNNING, Status.RESTARTING) for s in states)
        paused = sum(s is Status.PAUSED for s in states)
        return ContainerTotals(len(states), running, paused, len(states) - running - paused)

    async def list(self, *, all: bool = False, limit: int = -1,
                   filters: Mapping[str, Sequence[str]] | None = None) -> list[Container]:
        """Newest first, as ``docker ps``; only running ones unless ``all`` (or a limit)."""
        match = compile_filters(filters or {}, lambda ref: self._entry(ref).container)
        out = sorted((e.container for e in self.table.all()), key=lambda c: c.created_ns,
                     reverse=True)
        if not all and limit <= 0 and not (filters or {}).get("status") \
                and not (filters or {}).get("exited"):
            out = [c for c in out if c.state.running]
        out = [c for c in out if match(c)]
        return out[:limit] if limit > 0 else out

    async def sizes(self, cs: Sequence[Container]) -> Sequence[ContainerSize]:
        """``SizeRw``/``SizeRootFs`` of each (``docker ps -s``, ``/system/df``; a
        container's logs count in its ``SizeRw``: see ``dockyard.daemon.diskuse``)."""
        return await asyncio.to_thread(container_sizes, cs, self.rootfs.usage,
                                       self.images.size)

    # ------------------------------------------------------------------ create

    async def create(self, req: CreateRequest) -> CreateResult:
        container_id = new_id()
        try:
            if req.name:
                name = validate_name(req.name)
                self.table.names.reserve(name, container_id)
            else:
                name = self.table.names.reserve_generated(container_id)
        except errors.DockyardError:
            # A missing image is reported first, as before the name (moby's order).
            await asyncio.to_thread(self._image, req.config.image)
            raise
        try:
            # One worker thread for the image, the checks and the files; it goes on
            # preparing the container's start (``prepare``) while the create is answered.
            c, image, adopt = await self.runner.prepared.make(
                container_id, functools.partial(self._make, req, container_id, name))
        except BaseException:
            self.table.names.release(name)
            raise
        entry = Entry(c)
        if adopt is not None:
            await entry.lock.acquire()  # a new entry's: free, taken without a wait
        self.table.add(entry)
        if adopt is not None:
            adopt(entry)
        self.runner.event(c, "create")
        warnings = []
        if image.config.config.volumes:
            warnings.append("the image's volumes are kept in the container's own layer: "
                            "dockyard has no volumes yet")
        log.debug("created container %s (%s) from %s", c.short_id, c.name, c.config.image)
        return CreateResult(c.id, tuple(warnings))

    def _make(self, req: CreateRequest, container_id: str, name: str
              ) -> tuple[Container, Image]:
        """The container of ``req`` made, its files and snapshot too (blocking)."""
        image = self._image(req.config.image)
        c = make_container(req, image.config.config, image_id=str(image.id),
                           container_id=container_id, name=name, created_ns=time.time_ns(),
                           driver=self.rootfs.driver,
                           swap_accounting=self.runner.swap_accounting,
                           blkio_weight=self.blkio_weight, init_path=self.config.init_path)
        c = replace(c, log_path=self.data.log(c.id),
                    hostname_path=self.data.etc_file(c.id, "hostname"),
                    hosts_path=self.data.etc_file(c.id, "hosts"),
                    resolv_conf_path=self.data.etc_file(c.id, "resolv.conf"))
        self._create_files(c, image)
        return c, image

    def _image(self, ref: str) -> Image:
        try:
            return self.images.get(ref)
        except errors.NotFound:
            shown = ref
            try:
                shown = reference.familiar_string(
                    reference.with_default_tag(reference.parse_normalized_named(ref)))
            except errors.InvalidArgument:
                pass
            raise errors.NotFound(f"No such image: {shown}") from None

    def _create_files(self, c: Container, image: Image) -> None:
        directory = self.data.container(c.id)
        os.makedirs(directory, mode=0o710)
        prepared = False
        try:
            hc = c.host_config
            etcfiles.write_file(c.hostname_path, c.config.hostname + "\n")
            etcfiles.write_file(c.hosts_path, etcfiles.hosts_file(hc))
            etcfiles.write_file(c.resolv_conf_path, etcfiles.resolv_conf(hc))
            self.rootfs.prepare(c.id, image)
            prepared = True
            self.store.save(c)
        except BaseException:
            if prepared:
                self.rootfs.remove(c.id)
            shutil.rmtree(directory, ignore_errors=True)
            raise

    # ------------------------------------------------------------------ lifecycle

    async def start(self, ref: str) -> bool:
        entry = self._entry(ref)
        if not entry.container.state.running:
            self.execs.forget_container(entry.id)  # the execs of its previous run
        return await self.runner.start(entry)

    async def stop(self, ref: str, *, timeout: int | None = None, signal: str = "") -> bool:
        return await self.runner.stop(self._entry(ref), timeout, signal)

    async def kill(self, ref: str, signal: str = "") -> None:
        await self.runner.kill(self._entry(ref), signal)

    async def restart(self, ref: str, *, timeout: int | None = None, signal: str = "") -> None:
        entry = self._entry(ref)
        await self.runner.stop(entry, timeout, signal)
        await self.runner.start(entry)
        self.runner.event(entry.container, "restart")

    async def rename(self, ref: str, new_name: str) -> None:
        entry = self._entry(ref)
        name = validate_name(new_name) if new_name else ""
        if not name:
            raise errors.InvalidArgument("Neither old nor new names may be empty")
        async with entry.lock:
            c = entry.container
            if name == c.name:
                raise errors.InvalidArgument(
                    "Renaming a container with the same name as its current name")
            self.table.names.reserve(name, c.id)
            try:
                await self.runner.save(entry, replace(c, name=name))
            except BaseException:
                self.table.names.release(name)
                raise
            self.table.names.release(c.name)
        self.runner.event(entry.container, "rename", {"oldName": "/" + c.name})
        log.info("renamed container %s: %s -> %s", c.short_id, c.name, name)

    async def resize(self, ref: str, height: int, width: int) -> None:
        c = self._entry(ref).container
        if not c.state.running:
            raise errors.Conflict(f"Container {c.id} is not running")
        await self.sv.resize(c.id, height, width)
        self.runner.event(c, "resize", {"height": str(height), "width": str(width)})

    async def pause(self, ref: str) -> None:
        await self.runner.pause(self._entry(ref))

    async def unpause(self, ref: str) -> None:
        await self.runner.unpause(self._entry(ref))

    async def top(self, ref: str, ps_args: str = "") -> TopResult:
        """``ps`` kept to the container's processes (its cgroup's pids)."""
        top.validate_ps_args(ps_args)
        c = self._entry(ref).container
        if not c.state.running:
            raise errors.Conflict(f"Container {c.id} is not running")
        if c.state.status is Status.RESTARTING:
            raise errors.Conflict(f"Container {c.id} is restarting, wait until the "
                                  "container is running")
        manager = cgroups.new_manager(self.runner.cgroup_path(c), c.id)
        pids = await asyncio.to_thread(manager.pids)
        result = await asyncio.to_thread(top.run_ps, ps_args, pids)
        self.runner.event(c, "top")
        return result

    async def prune(self, filters: Mapping[str, Sequence[str]]) -> PruneResult:
        """Remove every stopped container the filters select (moby ``ContainersPrune``);
        one prune at a time."""
        match = compile_prune_filters(filters)
        if self._pruning:
            raise errors.Conflict("a prune operation is already running")
        self._pruning = True
        try:
            deleted: list[str] = []
            space = 0
            for entry in self.table.all():
                c = entry.container
                if c.state.running or entry.removing or not match(c):
                    continue
                size = await asyncio.to_thread(self._layer_size, c.id)
                try:
                    await self.remove(c.id)
                except errors.DockyardError as exc:
                    log.warning("prune: cannot remove %s: %s", c.short_id, exc)
                    continue
                deleted.append(c.id)
                space += size
        finally:
            self._pruning = False
        self.runner.events.publish(EventType.CONTAINER, "prune", "",
                                   {"reclaimed": str(space)})
        return PruneResult(tuple(deleted), space)

    def _layer_size(self, container_id: str) -> int:
        try:
            return self.rootfs.usage(container_id)
        except (errors.NotFound, OSError) as exc:
            log.info("size of %s unknown: %s", container_id[:12], exc)
            return 0

    # ------------------------------------------------------------------ wait

    async def wait(self, ref: str, condition: WaitCondition) -> asyncio.Future[WaitResult]:
        """Register a wait now; the future is answered when the condition is met."""
        entry = self._entry(ref)
        fut: asyncio.Future[WaitResult] = asyncio.get_running_loop().create_future()
        c = entry.container
        if condition is WaitCondition.REMOVED:
            entry.removed_waiters.append(fut)
        elif condition is WaitCondition.NOT_RUNNING and not c.state.running:
            fut.set_result(WaitResult(c.state.exit_code))
        else:
            entry.exit_waiters.append(fut)
        return fut

    # ------------------------------------------------------------------ remove

    async def remove(self, ref: str, *, force: bool = False) -> None:
        entry = self._entry(ref)
        c = entry.container
        if entry.removing:
            raise errors.Conflict(f"removal of container {c.id} is already in progress")
        if c.state.running:
            if not force:
                if c.state.status is Status.PAUSED:
                    raise errors.Conflict(f"cannot remove container \"/{c.name}\": container "
                                          "is paused and must be unpaused first")
                raise errors.Conflict(
                    f"cannot remove container \"/{c.name}\": container is "
                    f"{c.state.status.value}: stop the container before removing or force "
                    "remove")
            entry.removing = True
            try:
                await self.runner.force_kill(entry)
            except BaseException:
                entry.removing = False
                raise
        entry.removing = True
        await self._remove(entry)

    async def _remove(self, entry: Entry) -> None:
        """Remove a container that does not run (also AutoRemove's way): gone from the
        API at once, its files, mount, snapshot (and the supervisor's exited task, when
        the exit left it) removed in the background (``cleanup``)."""
        entry.removing = True
        async with entry.lock:
            if entry.gone:
                return
            c = entry.container
            if c.state.running:
                entry.removing = False
                raise errors.Conflict(f"container {c.id} is running")
            removing = replace(c, state=replace(c.state, status=Status.REMOVING))
            entry.container = removing
            for p in entry.pending:
                p.sock.close()
            entry.pending.clear()
            unprepare = self.runner.prepared.drop(c.id)
            entry.gone = True
            self.table.discard(entry)
            self.runner.restarts.forget(c.id)
            self.health.stopped(c.id)
            self.execs.forget_container(c.id)
            self.runner.event(c, "destroy")
            result = WaitResult(c.state.exit_code)
            resolve_futures(entry.removed_waiters, result)
            resolve_futures(entry.exit_waiters, result)
            # The waiters' answers go out while the record says "removing" (before the
            # cleanup deletes it). A daemon that dies first finds the record as it was:
            # a ``docker rm`` was not answered yet. An AutoRemove right after the exit
            # (``task_left``) needs no such record: the record still says running and the
            # supervisor keeps the exit until the cleanup forgets it (first), so a
            # daemon that dies before the cleanup ends processes the exit again (or
            # finds the run lost) and removes the container then.
            if not entry.task_left:
                try:
                    await asyncio.to_thread(self.store.save, removing)
                except OSError as exc:
                    log.error("recording the removal of %s: %s", c.short_id, exc)
            self.cleanups.add(c.id, self._cleanup(c, forget_task=entry.task_left,
                                                  unprepare=unprepare))
        log.debug("removed container %s", c.short_id)

    async def settle(self) -> None:
        """Return once every removal's background cleanup has ended."""
        await self.cleanups.settle()

    async def _cleanup(self, c: Container, *, forget_task: bool, unprepare: bool) -> None:
        if unprepare:
            await self.runner.unmake_task(c.id)
        if forget_task:
            try:
                await self.sv.delete(c.id)
            except errors.NotFound:
                log.debug("the supervisor had forgotten %s already", c.short_id)
        await asyncio.to_thread(self._remove_files, c)
        log.debug("cleaned up after container %s", c.short_id)

    def _remove_files(self, c: Container) -> None:
        rootfs = self.run.rootfs(c.id)
        if self.rootfs.is_mounted(rootfs):
            self.rootfs.unmount(rootfs)
        remove_bundle(self.run, c.id)
        self.rootfs.remove(c.id)
        self.store.delete(c.id)

    # ------------------------------------------------------------------ streams

    async def attach(self, ref: str, sock: socket.socket, options: AttachOptions) -> None:
        """Take ``sock`` (a hijacked connection): streamed by the supervisor now if the
        container runs, else at its next start. The service owns the socket from here."""
        try:
            entry = self._entry(ref)
        except BaseException:
            sock.close()
            raise
        pending = PendingAttach(sock, options)
        self.runner.event(entry.container, "attach")
        async with entry.lock:
            c = entry.container
            if not c.state.running:
                entry.pending.append(pending)
                return
        await self.runner.hand_attach(c, pending)

    async def logs(self, ref: str, query: LogQuery) -> LogStream:
        entry = self._entry(ref)
        c = entry.container
        driver = c.host_config.log_config.type
        if driver != "json-file":
            raise errors.FailedPrecondition(
                f'configured logging driver does not support reading ("{driver}")')
        return LogStream(c.config.tty, self._log_chunks(entry, query))

    async def _log_chunks(self, entry: Entry,
                          q: LogQuery) -> AsyncGenerator[LogChunk, None]:
        """The log a block at a time: decoded, filtered and joined in a worker thread
        (``logblocks``); with ``follow``, what is appended until the run ends."""
        path = entry.container.log_path
        follower = await asyncio.to_thread(logfiles.Follower, path) if q.follow else None
        blocks = logblocks.History(path, q, follower.offset if follower is not None else None)
        try:
            while (chunks := await asyncio.to_thread(blocks.step)) is not None:
                for c in chunks:
                    yield c
            if follower is None:
                return
            while True:
                # A run ends the follow (also before a policy restart, as in Docker).
                running = entry.container.state.status in (Status.RUNNING, Status.PAUSED) \
                    and not entry.gone
                polled, stop = await asyncio.to_thread(logblocks.poll, follower, q)
                for c in polled:
                    yield c
                if stop or not running:
                    return
                if q.until_ns and time.time_ns() > q.until_ns:
                    return
                try:
                    await asyncio.wait_for(asyncio.shield(entry.exited.wait()),
                                           timeout=FOLLOW_INTERVAL)
                except TimeoutError:
                    pass
        finally:
            blocks.close()
            if follower is not None:
                follower.close()

    # ------------------------------------------------------------------ recovery

    async def recover(self) -> None:
        containers, broken = await asyncio.to_thread(self.store.load_all)
        for cid in broken:
            log.warning("removing %s: a create that did not finish", cid[:12])
            await asyncio.to_thread(self._remove_leftover, cid)
        tasks = {t.id: t for t in await self.sv.list()}
        known = {c.id for c in containers}
        for c in containers:
            entry = Entry(c)
            self.table.add(entry)
            if c.state.status is not Status.REMOVING:
                # (A removed container's name may have been taken since.)
                self.table.names.reserve(c.name, c.id)
            await self.execs.recover(c, tasks.get(c.id))  # before the container's exit
            await self._recover_one(entry, tasks.get(c.id))
        for cid, task in tasks.items():
            if cid not in known:
                log.warning("the supervisor holds %s, which has no record: discarding it", cid)
                await self._discard_unknown_task(cid, task.status)
        await asyncio.to_thread(self._clean_orphans, known)
        for entry in self.table.all():
            if not entry.gone and start_at_daemon_start(entry.container):
                log.info("starting %s (restart policy %s)", entry.container.short_id,
                         entry.container.host_config.restart_policy.name)
                try:
                    await self.runner.start(entry)
                except errors.DockyardError as exc:
                    log.warning("could not start %s: %s", entry.container.short_id, exc)

    async def _recover_one(self, entry: Entry, info: ContainerInfo | None) -> None:
        c = entry.container
        if c.state.status is Status.REMOVING:
            log.info("finishing the removal of %s", c.short_id)
            entry.container = replace(c, state=replace(c.state, status=Status.EXITED))
            if info is not None:
                await self._discard_unknown_task(c.id, info.status)
            await self._remove(entry)
            return
        if c.state.status is Status.RESTARTING:
            log.info("container %s was waiting to restart", c.short_id)
            c = replace(c, state=replace(c.state, status=Status.EXITED))
            await self.runner.save(entry, c)
        if not c.state.running:
            if info is not None:
                await self._discard_unknown_task(c.id, info.status)
            await asyncio.to_thread(self._unmount_if_mounted, c.id)
            entry.exited.set()
            return
        if info is None:
            log.warning("container %s was running but the supervisor lost it", c.short_id)
            await self.runner.process_exit(entry, ExitStatus(255, None, "", lost=True))
            return
        if info.exit is None and info.status is TaskStatus.CREATED:
            # Recorded running as its start was sent (``Runner``): the daemon died
            # before the supervisor started it.
            log.warning("container %s was being started when the daemon stopped: its run "
                        "is lost", c.short_id)
            await self._discard_unknown_task(c.id, info.status)
            await self.runner.process_exit(entry, ExitStatus(255, None, "", lost=True))
            return
        if info.exit is not None or info.status is TaskStatus.STOPPED:
            log.info("container %s exited while the daemon was down", c.short_id)
        else:
            log.info("container %s is still running (pid %d)", c.short_id, info.pid)
        self.runner.watch(entry, info.pid)
        if info.exit is None and info.status is not TaskStatus.STOPPED \
                and c.state.status is Status.RUNNING:
            entry.container = replace(c, state=replace(c.state,
                                                       health=self.health.initial(c)))
            self.health.started(entry)

    def _unmount_if_mounted(self, container_id: str) -> None:
        rootfs = self.run.rootfs(container_id)
        if self.rootfs.is_mounted(rootfs):
            log.info("unmounting the rootfs of stopped container %s", container_id[:12])
            self.rootfs.unmount(rootfs)

    async def _discard_unknown_task(self, cid: str, status: TaskStatus) -> None:
        try:
            if status in (TaskStatus.RUNNING, TaskStatus.CREATED, TaskStatus.UNKNOWN):
                await self.sv.kill(cid, 9, all=True)
                await asyncio.wait_for(self.sv.wait(cid), timeout=30)
            await self.sv.delete(cid)
        except (errors.DockyardError, TimeoutError) as exc:
            log.error("could not discard supervisor task %s: %s", cid, exc)

    def _remove_leftover(self, cid: str) -> None:
        self._unmount_if_mounted(cid)
        remove_bundle(self.run, cid)
        self.rootfs.remove(cid)
        self.store.delete(cid)

    def _clean_orphans(self, known: set[str]) -> None:
        for name in os.listdir(self.run.bundles):
            if name not in known:
                log.info("removing the bundle of unknown container %s", name[:12])
                self._unmount_if_mounted(name)
                remove_bundle(self.run, name)
        snaps, leases = self.rootfs.orphans(known)
        for key in snaps:
            log.info("removing the snapshot of unknown container %s", key[:12])
            self.rootfs.remove(key)
        for lease in leases:
            self.rootfs.release(lease.removeprefix("container-"))
        if snaps or leases:
            self.rootfs.collect()

    async def close(self) -> None:
        """Stop watching (the containers keep running: the supervisor has them)."""
        for entry in self.table.all():
            for p in entry.pending:
                p.sock.close()
            entry.pending.clear()
            if entry.watcher is not None:
                entry.watcher.cancel()
        self.runner.restarts.close()
        await self.runner.prepared.close(CLOSE_CLEANUP_TIMEOUT)
        self.health.close()
        self.execs.close()
        if not await self.cleanups.settle(CLOSE_CLEANUP_TIMEOUT):
            log.warning("%d removal(s) not cleaned up: the next start finishes them",
                        self.cleanups.pending)
        await asyncio.sleep(0)
        self.sv.close()

