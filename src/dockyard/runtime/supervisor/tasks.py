"""The processes the supervisor is the parent of: containers' inits and their execs.

Lifecycle of a :class:`Task` (a container's init or an exec'd process):

1. made after the driver has created the process, with the supervisor's ends of its stdio:
   pipe read ends for stdout/stderr (or the pty master), the stdin pipe's write end;
2. output is read as it comes, written to the log (containers only; Docker does not log
   execs) and fanned out to the attached clients; stdin bytes from attached clients are
   queued into a :class:`StdinSink`;
3. ``reaped(status)`` when ``waitpid`` returns the pid: the exit is *pending* while the
   remaining output is drained: until every output reaches end of file, or ``DRAIN_TIMEOUT``
   (a background process that outlived the init and kept the pipe must not hold the
   record back forever);
4. ``_finish``: the last partial line is logged, ``exit.json`` written (atomically: see
   ``records``), and only then are waiters answered, attached clients closed and
   ``on_stopped`` callbacks (a deferred ``delete``, a forced ``shutdown``) run.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from dockyard.runtime.supervisor import clock
from dockyard.runtime.supervisor.drivers import RuntimeDriver
from dockyard.runtime.supervisor.logs import JsonFileWriter, LineSplitter, encode_output
from dockyard.runtime.supervisor.loop import Loop, Timer
from dockyard.runtime.supervisor.protocol import (
    ContainerInfo,
    ExecInfo,
    ExitStatus,
    Status,
)
from dockyard.runtime.supervisor.records import ContainerRecord, ExitRecord, StateDir

if TYPE_CHECKING:
    from dockyard.runtime.supervisor.attach import Attachment

log = logging.getLogger(__name__)

DRAIN_TIMEOUT = 2.0
READ_SIZE = 65536
STDIN_HIGH_WATER = 1 << 20


class StdinSink:
    """Bytes on their way to a process's stdin, written without ever blocking the loop."""

    __slots__ = ("_closing", "_loop", "_owns_fd", "_pending", "fd", "on_drain")

    def __init__(self, loop: Loop, fd: int, *, owns_fd: bool) -> None:
        self._loop = loop
        self.fd = fd
        self._owns_fd = owns_fd  # False for a pty master, which the task closes itself
        self._pending = bytearray()
        self._closing = False
        self.on_drain: list[Callable[[], None]] = []
        os.set_blocking(fd, False)

    @property
    def full(self) -> bool:
        return len(self._pending) >= STDIN_HIGH_WATER

    def write(self, data: bytes) -> None:
        if self.fd < 0 or self._closing:
            return
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        while self._pending and self.fd >= 0:
            try:
                n = os.write(self.fd, self._pending)
            except BlockingIOError:
                self._loop.add_writer(self.fd, self._flush)
                return
            except OSError as exc:  # EPIPE: the process closed its stdin; EIO: pty gone
                log.debug("stdin of fd %d: %s; dropping %d bytes", self.fd, exc,
                          len(self._pending))
                self._pending.clear()
                break
            del self._pending[:n]
        if self.fd >= 0:
            self._loop.remove_writer(self.fd)
        if self._closing:
            self._close_now()
        callbacks, self.on_drain = self.on_drain, []
        for cb in callbacks:
            cb()

    def close(self) -> None:
        """End of input: close once what is queued has been written."""
        self._closing = True
        if not self._pending:
            self._close_now()

    def abort(self) -> None:
        """The process is gone: drop what is queued and close now."""
        self._pending.clear()
        self._closing = True
        self._close_now()

    def _close_now(self) -> None:
        if self.fd < 0:
            return
        self._loop.remove_writer(self.fd)
        if self._owns_fd:
            self._loop.forget(self.fd)
            os.close(self.fd)
        self.fd = -1


class Task:
    """A process whose parent the supervisor is; see the module docstring."""

    __slots__ = ("_drain_timer", "_loop", "_outputs", "_pending_exit", "_throttled",
                 "attachments", "exit", "master", "on_stopped", "pid", "state", "status",
                 "stdin", "tty", "waiters")

    def __init__(self, loop: Loop, state: StateDir, pid: int, *, tty: bool) -> None:
        self._loop = loop
        self.state = state
        self.pid = pid
        self.tty = tty
        self.status = Status.CREATED
        self.exit: ExitStatus | None = None
        self._pending_exit: ExitStatus | None = None
        self._drain_timer: Timer | None = None
        self._outputs: dict[int, str] = {}
        self._throttled: set[Attachment] = set()
        self.master = -1
        self.stdin: StdinSink | None = None
        self.attachments: list[Attachment] = []
        self.waiters: list[Callable[[ExitStatus], None]] = []
        self.on_stopped: list[Callable[[], None]] = []

    # Containers' exits are logged at INFO; execs' at DEBUG (one per probe of every health
    # check: the log would be mostly them, and each line costs the exit's path ~0.1 ms).
    exit_log_level = logging.INFO

    @property
    def label(self) -> str:
        raise NotImplementedError

    # ---------------------------------------------------------------- stdio

    def hold_pipes(self, stdout: int, stderr: int, stdin: int | None) -> None:
        """Take ownership of the supervisor's ends of the process's pipes."""
        for fd, stream in ((stdout, "stdout"), (stderr, "stderr")):
            self._watch(fd, stream)
        if stdin is not None:
            self.stdin = StdinSink(self._loop, stdin, owns_fd=True)

    def hold_terminal(self, master: int, *, stdin: bool) -> None:
        """Take ownership of the pty master: output is "stdout", input goes to the master."""
        self.master = master
        self._watch(master, "stdout")
        if stdin:
            self.stdin = StdinSink(self._loop, master, owns_fd=False)

    def _watch(self, fd: int, stream: str) -> None:
        os.set_blocking(fd, False)
        self._outputs[fd] = stream
        if not self._throttled:
            self._loop.add_reader(fd, functools.partial(self._read, fd))

    def throttle(self, a: Attachment) -> None:
        """An attached client has too much output queued: stop reading the process's
        output until it catches up (``unthrottle``); see ``attach``."""
        if not self._throttled:
            for fd in self._outputs:
                self._loop.remove_reader(fd)
        self._throttled.add(a)

    def unthrottle(self, a: Attachment) -> None:
        self._throttled.discard(a)
        if not self._throttled:
            for fd in self._outputs:
                self._loop.add_reader(fd, functools.partial(self._read, fd))

    def _read(self, fd: int, budget: int = 1) -> None:
        stream = self._outputs.get(fd)
        for _ in range(budget):
            if stream is None:
                return
            try:
                data = os.read(fd, READ_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno != errno.EIO:  # EIO is a pty's end of file
                    log.warning("%s: reading %s: %s", self.label, stream, exc)
                data = b""
            if not data:
                self._close_output(fd)
                return
            self.handle_output(stream, data)

    def _close_output(self, fd: int) -> None:
        self._outputs.pop(fd, None)
        self._loop.forget(fd)
        if fd != self.master:
            os.close(fd)
        if self._pending_exit is not None and not self._outputs:
            self._finish()

    def handle_output(self, stream: str, data: bytes) -> None:
        """A chunk of output: log it (containers) and send it to the attached clients."""
        for a in list(self.attachments):
            a.deliver(stream, data)

    def close_stdin(self) -> None:
        if self.stdin is not None and not self.tty:
            self.stdin.close()

    # ---------------------------------------------------------------- exit

    def reaped(self, wait_status: int) -> None:
        """``waitpid`` returned our pid: drain what is left, then record the exit."""
        if self._pending_exit is not None or self.exit is not None:
            return
        self._pending_exit = ExitStatus.from_wait_status(wait_status, clock.now())
        self._end()

    def lost(self) -> None:
        """The process ended but was not our child (an earlier supervisor's): code 255."""
        if self._pending_exit is not None or self.exit is not None:
            return
        self._pending_exit = ExitStatus(255, None, clock.now(), lost=True)
        self._end()

    def _end(self) -> None:
        for fd in list(self._outputs):
            self._read(fd, budget=64)
        if not self._outputs:
            self._finish()
        else:
            self._drain_timer = self._loop.call_later(DRAIN_TIMEOUT, self._drain_deadline)

    def _drain_deadline(self) -> None:
        for fd in list(self._outputs):
            self._read(fd, budget=64)
        for fd in list(self._outputs):
            log.warning("%s: output still open %.0fs after exit; closing it",
                        self.label, DRAIN_TIMEOUT)
            self._outputs.pop(fd, None)
            self._loop.forget(fd)
            if fd != self.master:
                os.close(fd)
        if self.exit is None:
            self._finish()

    def _finish(self) -> None:
        ex = self._pending_exit
        if ex is None or self.exit is not None:
            return
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        try:
            self.flush_log()
            self.record_exit(ex)
        except OSError:
            # The status is still known in memory and will be answered; only durability
            # is lost, which the log says loudly.
            log.exception("%s: could not record exit %d durably", self.label, ex.exit_code)
        self.exit = ex
        self.status = Status.STOPPED
        log.log(self.exit_log_level, "%s exited: %d%s", self.label, ex.exit_code,
                 f" (signal {ex.signal})" if ex.signal else "")
        if self.stdin is not None:
            self.stdin.abort()
        if self.master >= 0:
            self._loop.forget(self.master)
            os.close(self.master)
            self.master = -1
        for a in list(self.attachments):
            a.finish()
        waiters, self.waiters = self.waiters, []
        for w in waiters:
            w(ex)
        callbacks, self.on_stopped = self.on_stopped, []
        for cb in callbacks:
            cb()

    def abandon(self) -> None:
        """The task is forgotten before its exit was known (its container was deleted):
        answer its waiters with a lost status (255) so that none waits forever."""
        if self.exit is not None:
            return
        lost = ExitStatus(255, None, clock.now(), lost=True)
        waiters, self.waiters = self.waiters, []
        for w in waiters:
            w(lost)

    def flush_log(self) -> None:
        """Write out the log's last partial lines (containers); nothing for execs."""

    def record_exit(self, ex: ExitStatus) -> None:
        raise NotImplementedError

    def release(self) -> None:
        """Close everything still held (the task is forgotten or the supervisor stops)."""
        if self._drain_timer is not None:
            self._drain_timer.cancel()
        for a in list(self.attachments):
            a.close()
        if self.stdin is not None:
            self.stdin.abort()
        for fd in list(self._outputs):
            self._outputs.pop(fd)
            self._loop.forget(fd)
            if fd != self.master:
                os.close(fd)
        if self.master >= 0:
            self._loop.forget(self.master)
            os.close(self.master)
            self.master = -1


class Exec(Task):
    """A process started in a running container with ``exec``; not logged, only attached."""

    __slots__ = ("container", "exec_id")

    exit_log_level = logging.DEBUG

    def __init__(self, loop: Loop, state: StateDir, container: Container, exec_id: str,
                 pid: int, *, tty: bool) -> None:
        super().__init__(loop, state, pid, tty=tty)
        self.container = container
        self.exec_id = exec_id
        self.status = Status.RUNNING

    @property
    def label(self) -> str:
        return f"exec {self.exec_id} of {self.container.id}"

    def record_exit(self, ex: ExitStatus) -> None:
        self.state.write_exit(ExitRecord(self.container.id, self.exec_id, self.pid, ex))

    def info(self) -> ExecInfo:
        return ExecInfo(self.container.id, self.exec_id, self.status, self.pid, self.tty,
                        self.exit)


class Container(Task):
    """A container's init, its log, its driver and its execs."""

    __slots__ = ("_log_failed", "_splitters", "driver", "execs", "id", "log", "record")

    def __init__(self, loop: Loop, state: StateDir, record: ContainerRecord,
                 driver: RuntimeDriver, log_writer: JsonFileWriter | None) -> None:
        super().__init__(loop, state, record.pid, tty=record.tty)
        self.id = record.id
        self.record = record
        self.driver = driver
        self.log = log_writer
        self._splitters: dict[str, LineSplitter] = {}
        self._log_failed = False
        self.execs: dict[str, Exec] = {}

    @property
    def label(self) -> str:
        return f"container {self.id}"

    @property
    def active(self) -> bool:
        return self.status in (Status.CREATED, Status.RUNNING, Status.UNKNOWN)

    def handle_output(self, stream: str, data: bytes) -> None:
        if self.log is not None:
            splitter = self._splitters.get(stream)
            if splitter is None:
                splitter = self._splitters[stream] = LineSplitter()
            try:
                self.log.write_encoded(encode_output(splitter, data, stream, time.time_ns()))
            except OSError as exc:
                self._log_error(exc)
        super().handle_output(stream, data)

    def _log(self, stream: str, message: bytes, partial: bool, now: int) -> None:
        if self.log is None:
            return
        try:
            self.log.write(stream, message, partial, now)
        except OSError as exc:
            self._log_error(exc)

    def _log_error(self, exc: OSError) -> None:
        # Keep the container and its attached clients going; say it once.
        if not self._log_failed and self.log is not None:
            log.error("%s: writing log %s: %s", self.label, self.log.path, exc)
            self._log_failed = True

    def flush_log(self) -> None:
        if self.log is None:
            return
        now = time.time_ns()
        for stream, splitter in self._splitters.items():
            for message, partial in splitter.flush():
                self._log(stream, message, partial, now)

    def record_exit(self, ex: ExitStatus) -> None:
        self.state.write_exit(ExitRecord(self.id, None, self.pid, ex))

    def release(self) -> None:
        for ex in self.execs.values():
            ex.release()
        super().release()
        if self.log is not None:
            self.log.close()

    def info(self) -> ContainerInfo:
        r = self.record
        return ContainerInfo(r.id, self.status, self.pid, r.bundle, r.runtime, r.tty, r.stdin,
                             r.log_path, r.created_at, self.exit,
                             tuple(e.info() for e in self.execs.values()))
