"""The supervisor's operations, one method each, over its table of containers.

Each handler parses its arguments (``InvalidArgument`` on anything malformed), acts, and
returns the reply's ``result`` object, or :data:`Reply.DEFERRED` when the answer waits for
an exit (``wait``, a ``delete`` or ``shutdown`` that must first see containers die), or
:data:`Reply.SENT` when it answered itself (an ``attach`` that took the connection over).

A failed ``create`` or ``exec`` leaves nothing behind: descriptors closed, the runtime's
container deleted, the state directory entry removed, a log file it created unlinked.
"""

from __future__ import annotations

import enum
import logging
import os
import shutil
import signal
import socket
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from dockyard import errors
from dockyard.oci import jsoncodec
from dockyard.runtime.supervisor import clock, console
from dockyard.runtime.supervisor.attach import Attachment
from dockyard.runtime.supervisor.drivers import (
    InProcessDriver,
    RuntimeDriver,
    RuntimeStatus,
    Stdio,
    make_driver,
)
from dockyard.runtime.supervisor.logs import JsonFileWriter
from dockyard.runtime.supervisor.loop import Loop
from dockyard.runtime.supervisor.protocol import (
    PROTOCOL_VERSION,
    AttachArgs,
    CreateArgs,
    DeleteArgs,
    ExecArgs,
    KillArgs,
    Op,
    ResizeArgs,
    RuntimeSpec,
    ShutdownArgs,
    Status,
    TargetArgs,
    error_reply,
    ok_reply,
)
from dockyard.runtime.supervisor.records import ContainerRecord, StateDir
from dockyard.runtime.supervisor.tasks import Container, Exec, Task

if TYPE_CHECKING:
    from dockyard.runtime.pool import SparePool

log = logging.getLogger(__name__)

# For this long after a container was created or started, spares are not forked even when
# the loop is idle: a container's first moments (its exit if it is short, its first
# output) should not wait behind a fork of the zygote or a pre-faulting step.
YOUNG = 0.025
# The zygote's memory is pre-faulted after a refill (``dockyard.runtime.pool``) only when no
# container was created, started or exec'd in for this long: the ~19 ms of copying it costs
# would otherwise compete with containers made in a row, which it cannot speed up.
QUIET = 0.15


class Reply(enum.Enum):
    DEFERRED = "deferred"
    SENT = "sent"


Result = dict[str, Any] | Reply


class Channel(Protocol):
    """What a handler may do with the connection a request came on."""

    @property
    def closed(self) -> bool: ...

    def send(self, reply: Mapping[str, Any]) -> None: ...

    def upgrade(self, task: Task, args: AttachArgs, reply: Mapping[str, Any]) -> Attachment: ...


Handler = Callable[[Channel, Any, Mapping[str, Any], list[int]], Result]


class Handlers:
    """The containers this supervisor is the parent of, and the operations on them."""

    def __init__(self, state: StateDir, loop: Loop, stop: Callable[[], None],
                 pool: SparePool | None = None) -> None:
        self.state = state
        self.loop = loop
        self._stop = stop
        self.pool = pool
        self._refill_pending = False
        self._young_until = 0.0  # monotonic time until which the last container is young
        self._last_work = 0.0  # monotonic time of the last create, start or exec
        self._sweep_pending = False
        self.containers: dict[str, Container] = {}
        self.by_pid: dict[int, Task] = {}
        self._drivers: dict[RuntimeSpec, RuntimeDriver] = {}
        self._consoles = 0
        self._stopping = False
        self.table: dict[Op, Handler] = {
            Op.PING: self.ping, Op.CREATE: self.create, Op.START: self.start,
            Op.KILL: self.kill, Op.STATE: self.state_of, Op.LIST: self.list_containers,
            Op.WAIT: self.wait, Op.DELETE: self.delete, Op.EXEC: self.exec,
            Op.ATTACH: self.attach, Op.RESIZE: self.resize, Op.SHUTDOWN: self.shutdown,
            Op.PAUSE: self.pause, Op.RESUME: self.resume,
        }

    # ---------------------------------------------------------------- lookups

    def driver(self, spec: RuntimeSpec) -> RuntimeDriver:
        d = self._drivers.get(spec)
        if d is None:
            d = self._drivers[spec] = make_driver(spec, self.pool, self.state.containers)
        return d

    def _container(self, cid: str) -> Container:
        c = self.containers.get(cid)
        if c is None:
            raise errors.NotFound(f"no such container: {cid}")
        return c

    def _task(self, cid: str, exec_id: str | None) -> Task:
        c = self._container(cid)
        if exec_id is None:
            return c
        e = c.execs.get(exec_id)
        if e is None:
            raise errors.NotFound(f"no such exec: {exec_id} in container {cid}")
        return e

    @property
    def active(self) -> list[Container]:
        return [c for c in self.containers.values() if c.active]

    def reaped(self, pid: int, status: int) -> None:
        task = self.by_pid.pop(pid, None)
        if task is None and self.pool is not None and self.pool.reaped(pid, status):
            log.info("spare %d died (status %d); the pool will be refilled", pid, status)
            self.refill_later()
            return
        if task is None:
            log.debug("reaped pid %d (an orphan or a discarded container)", pid)
            return
        task.reaped(status)

    # ---------------------------------------------------------------- operations

    def ping(self, ch: Channel, seq: Any, a: Mapping[str, Any], fds: list[int]) -> Result:
        return {"protocol": PROTOCOL_VERSION, "pid": os.getpid(), "state_dir": self.state.root,
                "containers": len(self.containers),
                "spares": self.pool.status() if self.pool is not None else None}

    # ---------------------------------------------------------------- spare pool

    def refill_later(self) -> None:
        """Fork the spares the pool lacks, one per idle moment of the loop: never while
        a request waits (see ``dockyard.runtime.pool``)."""
        if (self.pool is None or self._refill_pending or self._stopping
                or not self.pool.needs_fill()):
            return
        self._refill_pending = True
        self.loop.call_when_idle(self._refill)

    def _refill(self) -> None:
        self._refill_pending = False
        if self.pool is None or self._stopping:
            return
        young = self._young_until - time.monotonic()
        if young > 0 and any(c.exit is None for c in self.containers.values()):
            self._refill_pending = True
            self.loop.call_later(young, lambda: self.loop.call_when_idle(self._refill))
            return
        quiet = self._last_work + QUIET - time.monotonic()
        if quiet > 0 and not self.pool.short_of_spares():  # only pre-faulting is left
            self._refill_pending = True
            self.loop.call_later(quiet, lambda: self.loop.call_when_idle(self._refill))
            return
        try:
            self.pool.fill_one()
        except Exception:
            # Not retried until the next create: a fork that fails now will fail again.
            log.exception("could not fork a spare")
            return
        self.refill_later()

    def close_pool(self) -> None:
        """Kill every spare and remove its cgroups (shutdown)."""
        if self.pool is not None:
            self.pool.close()

    def create(self, ch: Channel, seq: Any, a: Mapping[str, Any], fds: list[int]) -> Result:
        args = CreateArgs.parse(a)
        if args.id in self.containers:
            raise errors.AlreadyExists(f"container {args.id} already exists")
        if self._stopping:
            raise errors.Unavailable("the supervisor is shutting down")
        config = check_bundle(args.bundle, args.tty)
        driver = self.driver(args.runtime)
        workdir = self.state.container(args.id)
        if os.path.lexists(workdir):
            raise errors.AlreadyExists(f"a record of container {args.id} exists: {workdir}")
        if not isinstance(driver, InProcessDriver):
            # The in-process driver needs no working directory: the record's write makes
            # it, while the init builds its rootfs.
            os.makedirs(workdir, mode=0o700)
        theirs: list[int] = []
        ours: list[int] = []
        mine = (-1, -1, -1)
        writer: JsonFileWriter | None = None
        log_existed = args.log_path is not None and os.path.lexists(args.log_path)
        created = False
        recorded: list[ContainerRecord] = []

        def record(pid: int) -> None:
            rec = ContainerRecord(args.id, args.bundle, args.runtime, pid, args.tty,
                                  args.stdin, args.log_path, args.log_options.to_config(),
                                  clock.now())
            self.state.write_container(rec)
            recorded[:] = [rec]

        try:
            if args.log_path is not None:
                writer = JsonFileWriter(args.log_path, args.log_options)
            if args.tty:
                null = _devnull()
                theirs.append(null)
                with console.ConsoleListener(self._console_path()) as listener:
                    pid = driver.create(args.id, args.bundle, Stdio(null, null, null),
                                        workdir=workdir, console_socket=listener.path)
                    created = True
                    master = listener.receive_master()
                ours.append(master)
                if args.console_size is not None:
                    console.set_size(master, *args.console_size)
            else:
                stdio, mine = _pipes(args.stdin)
                theirs += [stdio.stdin, stdio.stdout, stdio.stderr]
                ours += [fd for fd in mine if fd >= 0]
                if isinstance(driver, InProcessDriver):
                    # The record is written while the init builds its rootfs.
                    pid = driver.create(args.id, args.bundle, stdio, workdir=workdir,
                                        on_started=record, config=config)
                else:
                    pid = driver.create(args.id, args.bundle, stdio, workdir=workdir)
                created = True
            if not recorded or recorded[0].pid != pid:
                record(pid)
            rec = recorded[0]
            c = Container(self.loop, self.state, rec, driver, writer)
            if args.tty:
                c.hold_terminal(ours[0], stdin=args.stdin)
            else:
                c.hold_pipes(mine[0], mine[1], mine[2] if args.stdin else None)
            ours.clear()
        except BaseException:
            for fd in ours:
                os.close(fd)
            if writer is not None:
                writer.close()
                if not log_existed and args.log_path is not None:
                    os.unlink(args.log_path)
            if created:
                _discard(driver, args.id)
            self.state.remove_container(args.id)
            raise
        finally:
            for fd in set(theirs):
                os.close(fd)
        self.containers[args.id] = c
        self.by_pid[pid] = c
        log.info("created container %s (pid %d, %s)", args.id, pid, driver.name)
        self._last_work = time.monotonic()
        self._young_until = self._last_work + YOUNG
        self.refill_later()
        return {"container": c.info().to_wire()}

    def start(self, ch: Channel, seq: Any, a: Mapping[str, Any], fds: list[int]) -> Result:
        args = TargetArgs.parse(a)
        c = self._container(args.id)
        if c.status is not Status.CREATED or c.exit is not None:
            raise errors.Conflict(f"container {args.id} is {c.status.value}, not created")
        c.driver.start(args.id)
        self._last_work = time.monotonic()
        self._young_until = self._last_work + YOUNG
        if c.status is Status.CREATED:
            c.status = Status.RUNNING
        return {"container": c.info().to_wire()}

    def kill(self, ch: Channel, seq: Any, a: Mapping[str, Any], fds: list[int]) -> Result:
        args = KillArgs.parse(a)
        task = self._task(args.id, args.exec_id)
        if isinstance(task, Exec):
            if task.status is not Status.RUNNING:
                raise errors.Conflict(f"{task.label} is not running")
            # Safe from pid reuse: the process is our child and not reaped yet.
            os.kill(task.pid, args.signal)
            return {}
        c = self._container(args.id)
        if not c.active:
            raise errors.Conflict(f"container {args.id} is not running")
        c.driver.kill(args.id, args.signal, all_processes=args.all)
        return {}

    def state_of(self, ch: Channel, seq: Any, a: Mapping[str, Any], fds: list[int]) -> Result:
        args = TargetArgs.parse(a)
        task = self._task(args.id, args.exec_id)
        if isinstance(task, Exec):
            return {"exec": task.info().to_wire()}
        return {"container": self._container(args.id).info().to_wire()}

    def list_containers(self, ch: Channel, seq: Any, a: Mapping[str, Any], fds: list[int]) -> Result:
        return {"containers": [c.info().to_wire() for c in self.containers.values()]}

    def wait(self, ch: Channel, seq: Any, a: Mapping[str, Any], fds: list[int]) -> Result:
        args = TargetArgs.parse(a)
        task = self._task(args.id, args.exec_id)
        if task.exit is not None:
            return {"exit": task.exit.to_wire()}
        task.waiters.append(lambda ex: ch.send(ok_reply(seq, {"exit": ex.to_wire()})))
        return Reply.DEFERRED

    def delete(self, ch: Channel, seq: Any, a: Mapping[str, Any], fds: list[int]) -> Result:
        args = DeleteArgs.parse(a)
        if args.exec_id is not None:
            self._forget_exec(args.id, args.exec_id)
            return {}
        c = self._container(args.id)
        if c.exit is not None:
            self._forget(c)
            return {}
        if c.status is Status.RUNNING and not args.force:
            raise errors.Conflict(
                f"container {args.id} is running: stop it first, or delete with force")
        if c.status is Status.UNKNOWN and not args.force:
            raise errors.Conflict(f"container {args.id} may be running: delete with force")

        def then_forget() -> None:
            try:
                self._forget(c)
            except errors.DockyardError as exc:
                ch.send(error_reply(seq, exc))
                return
            ch.send(ok_reply(seq))

        c.on_stopped.append(then_forget)
        self._kill_for_good(c)
        return Reply.DEFERRED

    def _kill_for_good(self, c: Container) -> None:
        try:
            c.driver.kill(c.id, signal.SIGKILL, all_processes=True)
        except errors.Conflict:
            pass  # it died on its own in the meantime: the reap will finish the job
        except errors.NotFound:
            log.warning("%s: the runtime no longer knows it; signalling pid %d", c.label,
                        c.pid)
            os.kill(c.pid, signal.SIGKILL)

    def _forget(self, c: Container) -> None:
        """Delete a stopped container from the runtime, the state directory and memory."""
        try:
            c.driver.delete(c.id, force=True)
        except errors.NotFound:
            log.info("%s was already gone from the runtime", c.label)
        c.release()
        for e in c.execs.values():
            e.abandon()
            self.by_pid.pop(e.pid, None)
        self.by_pid.pop(c.pid, None)
        self.containers.pop(c.id, None)
        self.state.retire_container(c.id)
        # The retired directories (the record, the in-process runtime's state) go after
        # the reply, in this turn of the loop (timers of delay 0 run right after the
        # events): before any other request is read.
        if not self._sweep_pending:
            self._sweep_pending = True
            self.loop.call_later(0.0, self._remove_retired)
        log.info("deleted %s", c.label)

    def _remove_retired(self) -> None:
        self._sweep_pending = False
        try:
            self.state.remove_retired()
        except OSError as exc:
            log.warning("could not remove deleted containers' directories: %s", exc)

    def _forget_exec(self, cid: str, exec_id: str) -> None:
        """Forget an exited exec, memory and records (the daemon has its exit code)."""
        e = self._task(cid, exec_id)
        if not isinstance(e, Exec):
            raise errors.InvalidArgument("delete: exec_id names no exec")
        if e.exit is None:
            raise errors.Conflict(f"{e.label} is running")
        e.release()
        self._container(cid).execs.pop(exec_id, None)
        if self.by_pid.get(e.pid) is e:
            del self.by_pid[e.pid]
        _rmtree(self.state.exec_dir(cid, exec_id))

    def pause(self, ch: Channel, seq: Any, a: Mapping[str, Any], fds: list[int]) -> Result:
        c = self._running(TargetArgs.parse(a).id)
        c.driver.pause(c.id)
        return {}

    def resume(self, ch: Channel, seq: Any, a: Mapping[str, Any], fds: list[int]) -> Result:
        c = self._running(TargetArgs.parse(a).id)
        c.driver.resume(c.id)
        return {}

    def _running(self, cid: str) -> Container:
        c = self._container(cid)
        if c.status not in (Status.RUNNING, Status.UNKNOWN) or c.exit is not None:
            raise errors.Conflict(f"container {cid} is not running")
        return c

    def exec(self, ch: Channel, seq: Any, a: Mapping[str, Any], fds: list[int]) -> Result:
        args = ExecArgs.parse(a)
        if fds and (args.attach is None or len(fds) != 1):
            raise errors.InvalidArgument("exec takes one descriptor, and only with attach")
        c = self._running(args.id)
        if args.exec_id in c.execs:
            raise errors.AlreadyExists(f"exec {args.exec_id} exists in container {args.id}")
        workdir = self.state.exec_dir(args.id, args.exec_id)
        if os.path.lexists(workdir):
            raise errors.AlreadyExists(f"a record of exec {args.exec_id} exists: {workdir}")
        process = dict(args.process)
        if args.console_size is not None:
            # An exec runs at once: its size must be set by the runtime, before execve.
            process["consoleSize"] = {"height": args.console_size[0],
                                      "width": args.console_size[1]}
        os.makedirs(workdir, mode=0o700)
        theirs: list[int] = []
        ours: list[int] = []
        started = 0
        try:
            if args.tty:
                null = _devnull()
                theirs.append(null)
                with console.ConsoleListener(self._console_path()) as listener:
                    pid = started = c.driver.exec(args.id, process,
                                                  Stdio(null, null, null), workdir=workdir,
                                                  console_socket=listener.path)
                    master = listener.receive_master()
                ours.append(master)
                e = Exec(self.loop, self.state, c, args.exec_id, pid, tty=True)
                e.hold_terminal(master, stdin=args.stdin)
            else:
                stdio, mine = _pipes(args.stdin)
                theirs += [stdio.stdin, stdio.stdout, stdio.stderr]
                ours += [fd for fd in mine if fd >= 0]
                pid = c.driver.exec(args.id, process, stdio, workdir=workdir)
                e = Exec(self.loop, self.state, c, args.exec_id, pid, tty=False)
                e.hold_pipes(mine[0], mine[1], mine[2] if args.stdin else None)
            ours.clear()
        except BaseException:
            for fd in ours:
                os.close(fd)
            if started:
                # It runs but we could not take its terminal: end it. It is our child and
                # unregistered, so the loop reaps and discards it.
                os.kill(started, signal.SIGKILL)
            _rmtree(workdir)
            raise
        finally:
            for fd in set(theirs):
                os.close(fd)
        c.execs[args.exec_id] = e
        self.by_pid[pid] = e
        self._last_work = time.monotonic()
        log.debug("exec %s in %s: pid %d", args.exec_id, c.label, pid)  # (dockerd: debug too)
        result = {"exec": e.info().to_wire()}
        if args.attach is not None and fds:
            # The stream goes to the socket passed along (a hijacked HTTP connection),
            # attached before the loop reads the first byte of the exec's output.
            Attachment(self.loop, socket.socket(fileno=fds.pop()), e, args.attach)
            return result
        if args.attach is not None:
            ch.upgrade(e, args.attach, ok_reply(seq, result))
            return Reply.SENT
        return result

    def attach(self, ch: Channel, seq: Any, a: Mapping[str, Any], fds: list[int]) -> Result:
        args = AttachArgs.parse(a)
        task = self._task(args.id, args.exec_id)
        if task.exit is not None:
            raise errors.Conflict(f"{task.label} has exited: nothing to attach to")
        if args.stdin and task.stdin is None:
            raise errors.Conflict(f"{task.label} was not created with an open stdin")
        if not fds:
            ch.upgrade(task, args, ok_reply(seq))
            return Reply.SENT
        if len(fds) != 1:
            raise errors.InvalidArgument("attach takes at most one descriptor")
        sock = socket.socket(fileno=fds.pop())
        if sock.type != socket.SOCK_STREAM:
            sock.close()
            raise errors.InvalidArgument("the descriptor passed to attach is not a stream socket")
        Attachment(self.loop, sock, task, args)
        return {}

    def resize(self, ch: Channel, seq: Any, a: Mapping[str, Any], fds: list[int]) -> Result:
        args = ResizeArgs.parse(a)
        task = self._task(args.id, args.exec_id)
        if not task.tty or task.master < 0:
            raise errors.Conflict(f"{task.label} has no terminal")
        console.set_size(task.master, args.height, args.width)
        return {}

    def shutdown(self, ch: Channel, seq: Any, a: Mapping[str, Any], fds: list[int]) -> Result:
        args = ShutdownArgs.parse(a)
        active = self.active
        if active and not args.force:
            names = ", ".join(sorted(c.id for c in active))
            raise errors.Conflict(f"{len(active)} container(s) still run: {names}")
        self._stopping = True
        self.close_pool()
        remaining = set(c.id for c in active)

        def done(cid: str) -> Callable[[], None]:
            def cb() -> None:
                remaining.discard(cid)
                if not remaining:
                    ch.send(ok_reply(seq))
                    self._stop()
            return cb

        if not remaining:
            ch.send(ok_reply(seq))
            self._stop()
            return Reply.SENT
        for c in active:
            c.on_stopped.append(done(c.id))
            self._kill_for_good(c)
        return Reply.DEFERRED

    # ---------------------------------------------------------------- recovery

    def recover(self) -> None:
        """Load the containers an earlier supervisor recorded.

        Those with an exit record are stopped, as recorded. The others outlived their
        supervisor: they are not our children, so their exit status is lost; if still
        running they are watched with a pidfd and get exit code 255 (``lost``) when they
        end, as dockerd reports a container whose shim vanished.
        """
        try:
            self.state.remove_retired()  # what a crash left between a delete and its end
        except OSError as exc:
            log.warning("could not remove deleted containers' records: %s", exc)
        for rec, ex in self.state.recorded_containers():
            try:
                driver = self.driver(rec.runtime)
            except errors.DockyardError as exc:
                # Not fatal to the supervisor: the record stays on disk for a later one.
                log.error("cannot recover container %s: %s", rec.id, exc)
                continue
            c = Container(self.loop, self.state, rec, driver, None)
            self.containers[rec.id] = c
            if ex is not None:
                c.exit = ex.status
                c.status = Status.STOPPED
                continue
            try:
                st = c.driver.state(rec.id)
                alive = st.status is not RuntimeStatus.STOPPED and st.pid == rec.pid
            except errors.NotFound:
                alive = False
            pidfd = -1
            if alive:
                try:
                    pidfd = os.pidfd_open(rec.pid)
                except ProcessLookupError:
                    alive = False  # it ended between the runtime's answer and now
            if not alive:
                c.lost()
                continue
            c.status = Status.UNKNOWN
            self.loop.add_reader(pidfd, _on_pidfd(self.loop, pidfd, c))
            log.info("recovered %s (pid %d) without its stdio", c.label, rec.pid)

    def _console_path(self) -> str:
        self._consoles += 1
        return self.state.console_socket(self._consoles)

    def release_all(self) -> None:
        for c in self.containers.values():
            c.release()
        try:
            self.state.remove_retired()  # deletes whose removal had not run yet
        except OSError as exc:
            log.warning("could not remove deleted containers' records: %s", exc)


def _on_pidfd(loop: Loop, pidfd: int, c: Container) -> Callable[[], None]:
    def cb() -> None:
        loop.forget(pidfd)
        os.close(pidfd)
        c.lost()
    return cb


def check_bundle(bundle: str, tty: bool) -> dict[str, Any]:
    """Refuse early, with a clear message, what the runtime would refuse obscurely; the
    bundle's ``config.json`` as read (the in-process driver parses its spec from it
    rather than reading the file a second time)."""
    if not os.path.isdir(bundle):
        raise errors.InvalidArgument(f"bundle {bundle}: not a directory")
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise errors.InvalidArgument(f"bundle {bundle} has no config.json") from None
    try:
        spec = jsoncodec.loads(raw)  # UTF-8 only, as ``load_spec`` reads it
    except (UnicodeDecodeError, ValueError) as exc:
        raise errors.InvalidArgument(f"{path}: malformed JSON: {exc}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("process"), dict):
        raise errors.InvalidArgument(f"{path}: no process object")
    terminal = spec["process"].get("terminal", False)
    if bool(terminal) != tty:
        raise errors.InvalidArgument(
            f"tty={str(tty).lower()} but {path} has process.terminal={str(terminal).lower()}")
    return spec


def _devnull() -> int:
    return os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)


def _pipes(stdin: bool) -> tuple[Stdio, tuple[int, int, int]]:
    """(the process's ends, our ends: stdout read, stderr read, stdin write or -1)."""
    made: list[int] = []
    try:
        out_r, out_w = os.pipe()
        made += [out_r, out_w]
        err_r, err_w = os.pipe()
        made += [err_r, err_w]
        if stdin:
            in_r, in_w = os.pipe()
            made += [in_r, in_w]
        else:
            in_r, in_w = _devnull(), -1
            made.append(in_r)
    except BaseException:
        for fd in made:
            os.close(fd)
        raise
    return Stdio(in_r, out_w, err_w), (out_r, err_r, in_w)


def _discard(driver: RuntimeDriver, cid: str) -> None:
    try:
        driver.delete(cid, force=True)
    except errors.DockyardError:
        log.exception("could not delete half-created container %s", cid)


def _rmtree(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path)
