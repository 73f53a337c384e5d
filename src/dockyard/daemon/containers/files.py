"""A container's files from outside: ``docker cp`` both ways (the archive endpoints),
``docker export`` and ``docker diff``.

Where the files are (``_RootHold``): a running container's rootfs is the overlay mounted at
``<exec-root>/bundles/<id>/rootfs`` while it runs; a descriptor of that mount is taken under
the container's lock (so its exit cannot unmount it between the check and the open) and
held for the whole operation (a later lazy unmount does not disturb an open descriptor).
A stopped container's snapshot is mounted there for the operation and unmounted after;
the container's lock is held throughout, so it cannot be started or removed meanwhile.

What is resolved how is ``archive.scoped``'s business: every path is resolved once by the
kernel inside that root (``openat2(RESOLVE_IN_ROOT)``), so a process in the container
swapping a path component for a symlink to ``/`` cannot lead the daemon out of the
container (moby's CVE-2018-15664); nothing of the container is ever executed or loaded
(CVE-2019-14271: no chroot, no libnss of the container). The tar work runs in worker
threads and streams: out through ``pipes.stream_from_thread``, in through
``pipes.blocking_reader``.

What the daemon sees is the container's root filesystem. The files the runtime mounts
over it (``/etc/hosts``, ``/etc/hostname``, ``/etc/resolv.conf``) are served from where
the daemon keeps them; a path in a bind or tmpfs mount is refused (501) rather than
answered from the directory under the mount, which the container does not see (Docker
mounts them into its view; so could a later version, in a private mount namespace).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import posixpath
import tempfile
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from typing import BinaryIO, cast

from dockyard import errors
from dockyard.archive import Change, ChangeKind, DiffMode, changes
from dockyard.archive.extract import extract
from dockyard.archive.livechanges import live_changes
from dockyard.archive.scoped import (
    PathStat,
    Resolved,
    container_abs_path,
    fd_path,
    resolve_dir,
    resolve_for_read,
    stat_resolved,
)
from dockyard.archive.treetar import write_path, write_root
from dockyard.daemon.containers.model import Container
from dockyard.daemon.containers.rootfs import RootfsManager
from dockyard.daemon.containers.runner import Runner
from dockyard.daemon.containers.table import Entry, Table
from dockyard.daemon.containers.users import resolve_user
from dockyard.daemon.layout import ExecRoot
from dockyard.daemon.pipes import AsyncSource, stream_from_thread
from dockyard.snapshots import Kind, Mount, layer_dirs
from dockyard.snapshots.mount import mount_all, mounted_under, unmount

log = logging.getLogger(__name__)

_ROOT = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


ETC_FILES = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")


def _in_mounts(c: Container, root: int, res: Resolved) -> Resolved:
    """``res``, or what the container sees there when a mount of its own covers it.

    The daemon works on the container's root filesystem; the files the runtime mounts
    over it (``/etc/hosts``, ``/etc/hostname``, ``/etc/resolv.conf``) are the daemon's
    own and are served from where the daemon keeps them. Bind mounts and tmpfs mounts are
    not reachable this way: a path in one is refused rather than answered from the
    directory under the mount (which the container does not see)."""
    try:
        where = fd_path(root, res.dir_fd)
        if where is None:
            return res
        inside = where if res.base == "." else posixpath.join(where, res.base)
        hc = c.host_config
        etc = dict(zip(ETC_FILES, (c.hosts_path, c.hostname_path, c.resolv_conf_path),
                       strict=True))
        taken = {b.destination for b in (*hc.binds, *hc.mounts)} | \
            {t.destination for t in hc.tmpfs}
        if inside in etc and inside not in taken and etc[inside] and \
                os.path.isfile(etc[inside]):
            host = etc[inside]
            fd = os.open(os.path.dirname(host), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            swapped = Resolved(fd, os.path.basename(host), res.abs_path)
            res.close()
            return swapped
        _refuse_mounts(c, inside, res.abs_path)
        return res
    except BaseException:
        res.close()
        raise


def _refuse_mounts(c: Container, inside: str, shown: str) -> None:
    """``NotImplementedByDockyard`` when ``inside`` is in a bind or tmpfs mount of ``c``."""
    hc = c.host_config
    for dest in {b.destination for b in (*hc.binds, *hc.mounts)} | \
            {t.destination for t in hc.tmpfs}:
        d = posixpath.normpath(dest)
        if inside == d or inside.startswith(d.rstrip("/") + "/"):
            raise errors.NotImplementedByDockyard(
                f"{shown} is in a mount of the container ({d}): dockyard's docker cp does "
                "not reach into bind or tmpfs mounts yet")


def _is_mount_point(path: str) -> bool:
    """Whether something is mounted at ``path`` (by the mount table: a bind mount of a
    directory of the same filesystem, as the native snapshotter makes, has the same
    device as its parent, which fools ``os.path.ismount``)."""
    return os.path.realpath(path) in mounted_under(path)


class _RootHold:
    """A descriptor of a container's root filesystem for the length of one operation."""

    def __init__(self, files: ContainerFiles, entry: Entry) -> None:
        self.files = files
        self.entry = entry
        self.fd = -1
        self.mounted = ""
        self.locked = False

    async def acquire(self) -> int:
        entry = self.entry
        await entry.lock.acquire()
        self.locked = True
        try:
            c = entry.container
            if entry.gone or entry.removing:
                raise errors.Conflict(f"container {c.id} is marked for removal")
            target = self.files.run.rootfs(c.id)
            if c.state.running:
                self.fd = await asyncio.to_thread(self._open_mounted, c, target)
                entry.lock.release()
                self.locked = False
            else:
                await asyncio.to_thread(self._mount, c.id, target)
                self.mounted = target
                self.fd = await asyncio.to_thread(os.open, target, _ROOT)
        except BaseException:
            await self.release()
            raise
        return self.fd

    def _open_mounted(self, c: Container, target: str) -> int:
        if not _is_mount_point(target):
            raise errors.Conflict(f"container {c.id} is {c.state.status.value}: its "
                                  "filesystem is not mounted")
        return os.open(target, _ROOT)

    def _mount(self, container_id: str, target: str) -> None:
        if _is_mount_point(target):
            self.files.rootfs.unmount(target)
        self.files.rootfs.mount(container_id, target)

    async def release(self) -> None:
        try:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1
            if self.mounted:
                target, self.mounted = self.mounted, ""
                await asyncio.to_thread(self.files.rootfs.unmount, target)
        finally:
            if self.locked:
                self.locked = False
                self.entry.lock.release()


PUMP_CHUNK = 1 << 20
PUMP_DEPTH = 8


class PumpedBody(io.RawIOBase):
    """A request body for a worker thread, read ahead by the event loop in chunks of at
    least ``PUMP_CHUNK`` (``pipes.blocking_reader`` crosses threads once per socket read,
    64 KiB; this once per MiB, and reads the next chunks while the thread works).

    Lifecycle: made on the loop's thread (starts the pump), ``read`` from one worker
    thread, ``await stop()`` on the loop's thread when the worker is done."""

    def __init__(self, body: AsyncSource, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = loop
        self._queue: asyncio.Queue[bytes | BaseException] = asyncio.Queue(PUMP_DEPTH)
        self._buf = b""
        self._eof = False
        self._task = loop.create_task(self._pump(body))

    async def _pump(self, body: AsyncSource) -> None:
        pending: list[bytes] = []
        size = 0
        try:
            while True:
                data = await body.read(PUMP_CHUNK)
                if data:
                    pending.append(data)
                    size += len(data)
                if pending and (size >= PUMP_CHUNK or not data):
                    await self._queue.put(b"".join(pending))
                    pending, size = [], 0
                if not data:
                    await self._queue.put(b"")
                    return
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the client went away: the reader must not wait
            await self._queue.put(exc)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if not self._buf and not self._eof:
            item = asyncio.run_coroutine_threadsafe(self._queue.get(), self._loop).result()
            if isinstance(item, BaseException):
                self._eof = True
                raise OSError(f"reading the request body: {item}") from item
            if not item:
                self._eof = True
            self._buf = item
        if size is None or size < 0 or size >= len(self._buf):
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:size], self._buf[size:]
        return out

    async def stop(self) -> None:
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class ArchiveStream:
    """``GET /containers/{id}/archive`` and ``export``: the stat (for the header, known
    before any byte is sent) and the tar, made by a worker thread either as chunks for the
    event loop (``chunks``) or straight into a blocking sink (``write_to``: a file whose
    ``sendfile(fd, count)``, when present, carries file content without copying it
    through Python). ``close()`` must be called whether or not it was read."""

    def __init__(self, stat: PathStat | None, work: Callable[[BinaryIO], None],
                 hold: _RootHold, res: Resolved | None = None) -> None:
        self.stat = stat
        self._work = work
        self._hold = hold
        self._res = res
        self._chunks: AsyncGenerator[bytes, None] | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        self._chunks = stream_from_thread(self._work)
        async for chunk in self._chunks:
            yield chunk

    async def write_to(self, out: BinaryIO) -> None:
        await asyncio.to_thread(self._work, out)

    async def close(self) -> None:
        try:
            if self._chunks is not None:
                await self._chunks.aclose()
        finally:
            if self._res is not None:
                self._res.close()
            await self._hold.release()


class ContainerFiles:
    """The archive, export and changes operations over the container table."""

    def __init__(self, table: Table, runner: Runner, rootfs: RootfsManager,
                 run: ExecRoot) -> None:
        self.table = table
        self.runner = runner
        self.rootfs = rootfs
        self.run = run

    @contextlib.asynccontextmanager
    async def _root(self, entry: Entry) -> AsyncIterator[int]:
        hold = _RootHold(self, entry)
        fd = await hold.acquire()
        try:
            yield fd
        finally:
            await hold.release()

    @staticmethod
    def _not_found(exc: errors.NotFound, ref: str, c: Container | None = None,
                   path: str = "") -> errors.DockyardError:
        if c is not None:
            try:
                inside = container_abs_path(path).removesuffix("/.").rstrip("/") or "/"
                _refuse_mounts(c, inside, path)
            except errors.NotImplementedByDockyard as refused:
                return refused
        return errors.NotFound(f"{exc} in container {ref}")

    # ------------------------------------------------------------------ archive

    async def stat_path(self, ref: str, path: str) -> PathStat:
        """``HEAD /containers/{id}/archive``."""
        entry = self.table.find(ref)
        c = entry.container
        async with self._root(entry) as root:
            def work() -> PathStat:
                with _in_mounts(c, root, resolve_for_read(root, path)) as res:
                    return stat_resolved(root, res)
            try:
                return await asyncio.to_thread(work)
            except errors.NotFound as exc:
                raise self._not_found(exc, ref, entry.container, path) from None

    async def get_archive(self, ref: str, path: str) -> ArchiveStream:
        """``GET /containers/{id}/archive``: resolved and stat'ed now (errors before any
        byte), archived as the stream is read."""
        entry = self.table.find(ref)
        hold = _RootHold(self, entry)
        root = await hold.acquire()
        try:
            def resolve() -> tuple[Resolved, PathStat]:
                res = _in_mounts(entry.container, root, resolve_for_read(root, path))
                try:
                    return res, stat_resolved(root, res)
                except BaseException:
                    res.close()
                    raise
            try:
                res, st = await asyncio.to_thread(resolve)
            except errors.NotFound as exc:
                raise self._not_found(exc, ref, entry.container, path) from None
        except BaseException:
            await hold.release()
            raise
        name = "." if res.name == "/" else res.name

        def work(out: BinaryIO) -> None:
            write_path(res.dir_fd, res.base, name, out)

        self.runner.event(entry.container, "archive-path")
        return ArchiveStream(st, work, hold, res)

    async def put_archive(self, ref: str, path: str, body: AsyncSource, *,
                          no_overwrite_dir_non_dir: bool = False,
                          copy_uid_gid: bool = False) -> None:
        """``PUT /containers/{id}/archive``: extract the tar body at ``path`` (a directory,
        its last symlink followed)."""
        entry = self.table.find(ref)
        c = entry.container
        if c.host_config.readonly_rootfs:
            raise errors.InvalidArgument("container rootfs is marked read-only")
        async with self._root(entry) as root:
            pumped = PumpedBody(body, asyncio.get_running_loop())

            def work() -> None:
                chown = None
                if copy_uid_gid and c.config.user:
                    user = resolve_user(f"/proc/self/fd/{root}", c.config.user)
                    chown = (user.uid, user.gid)
                with _in_mounts(c, root, resolve_dir(root, path)) as res:
                    extract(cast(BinaryIO, pumped), res.dir_fd,
                            no_overwrite_dir_non_dir=no_overwrite_dir_non_dir, chown=chown,
                            where=res.abs_path)
            try:
                await asyncio.to_thread(work)
            except errors.NotFound as exc:
                if str(exc).startswith("Could not find"):
                    raise self._not_found(exc, ref, entry.container, path) from None
                raise
            finally:
                await pumped.stop()
        self.runner.event(entry.container, "extract-to-dir")

    # ------------------------------------------------------------------ export

    async def export(self, ref: str) -> ArchiveStream:
        """``GET /containers/{id}/export``: the flattened filesystem as a tar stream."""
        entry = self.table.find(ref)
        hold = _RootHold(self, entry)
        root = await hold.acquire()
        self.runner.event(entry.container, "export")

        def work(out: BinaryIO) -> None:
            write_root(root, out)

        return ArchiveStream(None, work, hold)

    # ------------------------------------------------------------------ changes

    async def changes(self, ref: str) -> list[Change]:
        """``GET /containers/{id}/changes``: the container's layer against its image, less
        the mount points the runtime makes (``hide_mount_points``)."""
        entry = self.table.find(ref)
        return hide_mount_points(await asyncio.to_thread(self._changes, entry.container.id))

    def _changes(self, container_id: str) -> list[Change]:
        stores = self.rootfs.images.stores
        sn = stores.snapshotter
        info = sn.stat(container_id)
        if info.kind is not Kind.ACTIVE:
            raise errors.FailedPrecondition(f"the layer of {container_id} is not active")
        mounts = sn.mounts(container_id)
        if sn.diff_mode is DiffMode.OVERLAY and mounts and mounts[0].type == "overlay":
            dirs = layer_dirs(mounts)
            return live_changes(dirs.lowers, dirs.upper)
        view = None
        try:
            lower_mounts: list[Mount] = []
            if info.parent is not None:
                view = f"changes-view-{uuid.uuid4().hex}"
                lower_mounts = sn.view(view, info.parent)
            with contextlib.ExitStack() as stack:
                lower = stack.enter_context(_tree(lower_mounts, stores.tmp)) \
                    if lower_mounts else None
                upper = stack.enter_context(_tree(mounts, stores.tmp))
                return changes(lower, upper, mode=DiffMode.TREE)
        finally:
            if view is not None:
                sn.remove(view)


MOUNT_POINTS = frozenset({"/dev/pts", "/dev/shm", "/dev/console", "/proc", "/sys",
                          "/.dockerenv", "/etc/resolv.conf", "/etc/hosts", "/etc/hostname",
                          "/etc/mtab"})
"""What moby's init layer holds (the runtime's mount points): never a container's change."""


def hide_mount_points(found: list[Change]) -> list[Change]:
    """``found`` without the mount points, nor the directories that show as modified only
    because a mount point was made in them (Docker keeps both in its init layer)."""
    hidden = [c for c in found if c.path in MOUNT_POINTS]
    if not hidden:
        return found
    kept = [c for c in found if c.path not in MOUNT_POINTS]
    parents = {posixpath.dirname(c.path) for c in hidden}
    out = []
    for c in kept:
        if c.kind is ChangeKind.MODIFIED and c.path in parents and not any(
                o.path.startswith(c.path.rstrip("/") + "/") for o in kept):
            continue
        out.append(c)
    return out


@contextlib.contextmanager
def _tree(mounts: Sequence[Mount], scratch: str) -> Iterator[str]:
    if len(mounts) == 1 and mounts[0].type == "bind" and not mounts[0].target:
        yield mounts[0].source
        return
    where = tempfile.mkdtemp(prefix="changes-", dir=scratch)
    try:
        mount_all(mounts, where)
        try:
            yield where
        finally:
            unmount(where)
    finally:
        os.rmdir(where)
