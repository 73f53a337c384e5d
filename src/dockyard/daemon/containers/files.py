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

What the daemon sees is the container's root filesystem, and what it mounts there itself:
a path in a bind mount is resolved in the mount's source (with that source as the root
of the lookup), ``/etc/hosts``, ``/etc/hostname`` and ``/etc/resolv.conf`` are the
daemon's own files, a read-only bind refuses writes ("mounted volume is marked
read-only"). A tmpfs mount lives only in the container's mount namespace: a path in one
is refused (501) rather than answered from the directory under the mount. Archiving a
directory that holds bind mounts or those ``/etc`` files archives what is mounted there
(the bind's source, the daemon's file), as dockerd does; a tmpfs mount point under it is
archived as the root filesystem's (empty) directory.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import logging
import os
import posixpath
import threading
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from stat import S_ISDIR
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
from dockyard.daemon.containers.config import BindMount
from dockyard.daemon.containers.model import Container
from dockyard.daemon.containers.rootfs import RootfsManager
from dockyard.daemon.containers.runner import Runner
from dockyard.daemon.containers.table import Entry, Table
from dockyard.daemon.containers.users import resolve_user
from dockyard.daemon.layout import ExecRoot
from dockyard.daemon.pipes import AsyncSource, stream_from_thread
from dockyard.snapshots import Kind, Mount, layer_dirs
from dockyard.snapshots.diffs import mounted_tree
from dockyard.snapshots.mount import mounted_under

log = logging.getLogger(__name__)

_ROOT = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


ETC_FILES = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")


def _under(inside: str, dest: str) -> bool:
    d = posixpath.normpath(dest)
    return inside == d or inside.startswith(d.rstrip("/") + "/")


def _bind_of(c: Container, inside: str) -> tuple[str, BindMount] | None:
    """The bind mount of ``c`` holding the container path ``inside`` (the deepest)."""
    hits = [(posixpath.normpath(b.destination), b)
            for b in (*c.host_config.binds, *c.host_config.mounts)
            if _under(inside, b.destination)]
    return max(hits, key=lambda h: len(h[0])) if hits else None


def _refuse_tmpfs(c: Container, inside: str, shown: str) -> None:
    for t in c.host_config.tmpfs:
        if _under(inside, t.destination):
            raise errors.NotImplementedByDockyard(
                f"{shown} is in a tmpfs mount of the container ({t.destination}): "
                "dockyard's docker cp does not reach into tmpfs mounts yet")


def _lexical(abs_path: str) -> str:
    return abs_path.removesuffix("/.").rstrip("/") or "/"


def _resolve(c: Container, root: int, path: str, *, write: bool) -> Resolved:
    """``path`` resolved as the container sees it: in its root filesystem, in the source of
    a bind mount for a path in one (resolved there with the source as its root: a link in
    it cannot leave it either), in the daemon's own file for ``/etc/hosts`` and the like."""
    abs_path = container_abs_path(path)
    inside = _lexical(abs_path)
    _refuse_tmpfs(c, inside, abs_path)
    hit = _bind_of(c, inside)
    if hit is not None:
        return _resolve_in_bind(hit, abs_path[len(hit[0]):], abs_path, write=write)
    res = resolve_dir(root, path) if write else resolve_for_read(root, path)
    try:
        where = fd_path(root, res.dir_fd)
        if where is None:
            return res
        found = where if res.base == "." else posixpath.join(where, res.base)
        _refuse_tmpfs(c, found, abs_path)
        hit = _bind_of(c, found)
        if hit is not None:  # a link led into a bind mount: resolve the rest in its source
            rest = found[len(hit[0]):] + ("/" if abs_path.endswith("/") else "")
            moved = _resolve_in_bind(hit, rest, abs_path, write=write)
            res.close()
            return moved
        etc = dict(zip(ETC_FILES, (c.hosts_path, c.hostname_path, c.resolv_conf_path),
                       strict=True))
        host = etc.get(found, "")
        if not write and host and os.path.isfile(host):
            fd = os.open(os.path.dirname(host), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            res.close()
            return Resolved(fd, os.path.basename(host), abs_path)
        return res
    except BaseException:
        res.close()
        raise


def _mounts_under(c: Container, root: int, res: Resolved, name: str) -> dict[str, str]:
    """Entry name -> host path of what is mounted on each mount point strictly under the
    archived directory ``res`` (bind sources, the daemon's ``/etc`` files): what the
    container sees there, as dockerd archives it. Nothing for an object archived from a
    bind's source (its own mounts are not followed)."""
    if res.scope_prefix:
        return {}
    where = fd_path(root, res.dir_fd)
    if where is None:
        return {}
    found = where if res.base == "." else posixpath.join(where, res.base)
    targets = {posixpath.normpath(b.destination): b.source
               for b in (*c.host_config.binds, *c.host_config.mounts)}
    for path, host in zip(ETC_FILES, (c.hosts_path, c.hostname_path, c.resolv_conf_path),
                          strict=True):
        if host:
            targets.setdefault(path, host)
    prefix = found.rstrip("/") + "/"
    return {name.rstrip("/") + "/" + dest[len(prefix):]: host
            for dest, host in targets.items() if dest.startswith(prefix)}


@contextlib.contextmanager
def _opened_mounts(mounts: dict[str, str]) -> Iterator[dict[str, tuple[int, str]]]:
    """``(parent descriptor, name)`` of each host path of ``mounts`` that exists."""
    opened: dict[str, tuple[int, str]] = {}
    try:
        for arc, host in mounts.items():
            parent, base = os.path.split(os.path.normpath(host))
            if not base or not os.path.lexists(host):
                continue
            fd = os.open(parent or "/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            opened[arc] = (fd, base)
        yield opened
    finally:
        for fd, _ in opened.values():
            os.close(fd)


def _resolve_in_bind(hit: tuple[str, BindMount], rest: str, abs_path: str, *,
                     write: bool) -> Resolved:
    dest, bind = hit
    if write and bind.read_only:
        raise errors.InvalidArgument("mounted volume is marked read-only")
    source = bind.source
    if not os.path.isdir(source):  # a bound file
        if rest.strip("/"):
            raise errors.NotFound(f"Could not find the file {abs_path}")
        if write:
            raise errors.InvalidArgument("extraction point is not a directory")
        fd = os.open(os.path.dirname(source), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        return Resolved(fd, os.path.basename(source), abs_path)
    scope = os.open(source, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        inner = rest or "/"
        res = resolve_dir(scope, inner) if write else resolve_for_read(scope, inner)
    except BaseException:
        os.close(scope)
        raise
    res.rescope(scope, dest, abs_path)
    return res


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
PUMP_LOW = 2
"""A pump waiting for room is woken when the queue is down to this many batches: one
wake-up of the loop per few batches, not one per batch."""


class PumpedBody(io.RawIOBase):
    """A request body for a worker thread, read ahead by the event loop in batches of at
    least ``PUMP_CHUNK`` (``pipes.blocking_reader`` crosses threads once per socket read,
    64 KiB; this once per MiB, and reads the next batches while the thread works). A batch
    is the list of the socket reads' own bytes, never joined: no byte is copied on the
    way (``read`` hands them out one by one).

    The batches wait in a deque under a lock the worker takes without the loop: a read
    wakes the loop only when the pump waits for room (``PUMP_DEPTH`` batches queued) and
    the queue is down to ``PUMP_LOW``; the loop's wake-up and the worker's wait for the
    GIL after it are not paid per batch.

    Lifecycle: made on the loop's thread (starts the pump), ``read`` from one worker
    thread, ``await stop()`` on the loop's thread when the worker is done."""

    def __init__(self, body: AsyncSource, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = loop
        self._cond = threading.Condition()
        self._batches: collections.deque[list[bytes] | BaseException] = collections.deque()
        self._room = asyncio.Event()
        self._pump_waits = False
        self._pieces: collections.deque[bytes] = collections.deque()
        self._eof = False
        self._task = loop.create_task(self._pump(body))

    async def _put(self, item: list[bytes] | BaseException) -> None:
        while True:
            with self._cond:
                if len(self._batches) < PUMP_DEPTH or isinstance(item, BaseException):
                    self._batches.append(item)
                    self._cond.notify()
                    return
                self._room.clear()
                self._pump_waits = True
            await self._room.wait()

    async def _pump(self, body: AsyncSource) -> None:
        # aiohttp's readany hands over one buffered read as it is; read(n) joins (copies)
        # whatever is buffered up to n.
        readany = getattr(body, "readany", None)
        pending: list[bytes] = []
        size = 0
        try:
            while True:
                data = await (readany() if readany is not None else body.read(PUMP_CHUNK))
                if data:
                    pending.append(data)
                    size += len(data)
                if pending and (size >= PUMP_CHUNK or not data):
                    await self._put(pending)
                    pending, size = [], 0
                if not data:
                    await self._put([])
                    return
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the client went away: the reader must not wait
            await self._put(exc)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if not self._pieces and not self._eof:
            with self._cond:
                while not self._batches:
                    self._cond.wait()
                item = self._batches.popleft()
                wake = self._pump_waits and len(self._batches) <= PUMP_LOW
                if wake:
                    self._pump_waits = False
            if wake:
                self._loop.call_soon_threadsafe(self._room.set)
            if isinstance(item, BaseException):
                self._eof = True
                raise OSError(f"reading the request body: {item}") from item
            if not item:
                self._eof = True
            self._pieces.extend(item)
        if not self._pieces:
            return b""
        out = self._pieces.popleft()
        if size is not None and 0 <= size < len(out):
            self._pieces.appendleft(out[size:])
            out = out[:size]
        return out

    async def stop(self) -> None:
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with self._cond:  # a reader still waiting (it should not be) gets an error
            self._batches.append(ConnectionError("the request was cancelled"))
            self._cond.notify()


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
    def _not_found(exc: errors.NotFound, ref: str) -> errors.NotFound:
        return errors.NotFound(f"{exc} in container {ref}")

    # ------------------------------------------------------------------ archive

    async def stat_path(self, ref: str, path: str) -> PathStat:
        """``HEAD /containers/{id}/archive``."""
        entry = self.table.find(ref)
        c = entry.container
        async with self._root(entry) as root:
            def work() -> PathStat:
                with _resolve(c, root, path, write=False) as res:
                    return stat_resolved(root, res)
            try:
                return await asyncio.to_thread(work)
            except errors.NotFound as exc:
                raise self._not_found(exc, ref) from None

    async def get_archive(self, ref: str, path: str) -> ArchiveStream:
        """``GET /containers/{id}/archive``: resolved and stat'ed now (errors before any
        byte), archived as the stream is read."""
        entry = self.table.find(ref)
        hold = _RootHold(self, entry)
        root = await hold.acquire()
        try:
            def resolve() -> tuple[Resolved, PathStat, dict[str, str]]:
                res = _resolve(entry.container, root, path, write=False)
                try:
                    st = stat_resolved(root, res)
                    mounts = _mounts_under(entry.container, root, res, res.name) \
                        if S_ISDIR(st.mode) else {}
                    return res, st, mounts
                except BaseException:
                    res.close()
                    raise
            try:
                res, st, mounts = await asyncio.to_thread(resolve)
            except errors.NotFound as exc:
                raise self._not_found(exc, ref) from None
        except BaseException:
            await hold.release()
            raise
        # Docker's rebase name: the last element, "/" for the root (its entries are
        # "/", "/bin", ...: the docker CLI maps them onto the destination by that name).
        name = res.name

        def work(out: BinaryIO) -> None:
            with _opened_mounts(mounts) as opened:
                write_path(res.dir_fd, res.base, name, out, mounts=opened)

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
                with _resolve(c, root, path, write=True) as res:
                    extract(cast(BinaryIO, pumped), res.dir_fd,
                            no_overwrite_dir_non_dir=no_overwrite_dir_non_dir, chown=chown,
                            where=res.abs_path)
            try:
                await asyncio.to_thread(work)
            except errors.NotFound as exc:
                if str(exc).startswith("Could not find"):
                    raise self._not_found(exc, ref) from None
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
                lower = stack.enter_context(mounted_tree(lower_mounts, stores.tmp)) \
                    if lower_mounts else None
                upper = stack.enter_context(mounted_tree(mounts, stores.tmp))
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
