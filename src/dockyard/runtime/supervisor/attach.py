"""Attached streams: a socket that receives a process's live output and feeds its stdin.

Lifecycle: an :class:`Attachment` is made by ``attach`` (or ``exec`` with ``attach``) on a
connection's socket, or on a socket handed over with SCM_RIGHTS. From then on the socket
carries no JSON: output is written to it (raw, or in Docker's multiplexed framing), and
bytes read from it go to the process's stdin when the attachment asked for stdin. When the
client half-closes, stdin is closed too if ``close_stdin`` was asked (Docker's StdinOnce).
When the process has exited and its last output has been sent, the supervisor closes the
socket. A client that reads slower than the process writes holds the process back, as
with dockerd (its broadcaster writes to each attached client in turn): once ``HIGH_WATER``
bytes are queued for it the task stops reading the process's output (the pipe fills, the
process blocks in ``write``) until the queue is under ``LOW_WATER`` again — a pipeline
like ``docker run img cat big | slow`` gets every byte. ``MAX_PENDING`` stays as a last
guard (a client is dropped past it). With ``detach_keys``, the
input is scanned for that sequence (:class:`~dockyard.runtime.detachkeys.EscapeScanner`):
a match closes this attachment and nothing else (Docker's ``ctrl-p ctrl-q``).
"""

from __future__ import annotations

import contextlib
import logging
import socket
from typing import TYPE_CHECKING

from dockyard.runtime.detachkeys import EscapeScanner
from dockyard.runtime.supervisor.loop import Loop
from dockyard.runtime.supervisor.protocol import AttachArgs, Framing, Stream, frame

if TYPE_CHECKING:
    from dockyard.runtime.supervisor.tasks import Task

log = logging.getLogger(__name__)

MAX_PENDING = 8 << 20
HIGH_WATER = 1 << 20
LOW_WATER = 256 << 10
_STREAMS = {"stdout": Stream.STDOUT, "stderr": Stream.STDERR}


class Attachment:
    """One attached client of one process (container init or exec)."""

    __slots__ = ("_closed", "_finishing", "_loop", "_out", "_reading", "_throttling",
                 "close_stdin", "fd", "framing", "scanner", "sock", "stdin", "streams", "task")

    def __init__(self, loop: Loop, sock: socket.socket, task: Task, args: AttachArgs, *,
                 initial_out: bytes = b"", initial_in: bytes = b"") -> None:
        self._loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.task = task
        self.stdin = args.stdin
        self.close_stdin = args.close_stdin
        self.scanner = EscapeScanner(args.detach_keys) \
            if args.detach_keys and args.stdin else None
        self.streams = frozenset(
            s for s, wanted in (("stdout", args.stdout), ("stderr", args.stderr)) if wanted)
        self.framing = args.framing or (Framing.RAW if task.tty else Framing.MULTIPLEXED)
        self._out = bytearray(initial_out)
        self._closed = False
        self._finishing = False
        self._reading = True
        self._throttling = False
        sock.setblocking(False)
        task.attachments.append(self)
        loop.add_reader(self.fd, self._on_readable)
        if self._out:
            self._flush()
        if initial_in and not self._closed:
            self._input(initial_in)

    # ---------------------------------------------------------------- output

    def deliver(self, stream: str, data: bytes) -> None:
        """Queue a chunk of the process's output for this client."""
        if self._closed or self._finishing or stream not in self.streams:
            return
        if self.framing is Framing.MULTIPLEXED:
            self._out += frame(_STREAMS[stream], data)
        else:
            self._out += data
        if len(self._out) > MAX_PENDING:
            log.warning("dropping attached client of %s: %d bytes unread",
                        self.task.label, len(self._out))
            self.close()
            return
        self._flush()
        if len(self._out) > HIGH_WATER and not self._throttling and not self._closed:
            self._throttling = True
            self.task.throttle(self)

    def _flush(self) -> None:
        while self._out:
            try:
                n = self.sock.send(self._out)
            except BlockingIOError:
                self._loop.add_writer(self.fd, self._flush)
                return
            except OSError as exc:  # the client went away: it detached
                log.debug("attached client of %s gone: %s", self.task.label, exc)
                self.close()
                return
            del self._out[:n]
            if self._throttling and len(self._out) < LOW_WATER:
                self._unthrottle()
        self._loop.remove_writer(self.fd)
        if self._finishing:
            self.close()

    def finish(self) -> None:
        """The process has exited and all of its output was delivered: close when flushed."""
        self._finishing = True
        if not self._out:
            self.close()

    # ---------------------------------------------------------------- input

    def _on_readable(self) -> None:
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as exc:
            log.debug("attached client of %s: %s", self.task.label, exc)
            data = b""
        if data:
            self._input(data)
            return
        # The client half-closed (end of its input) or went away.
        self._loop.remove_reader(self.fd)
        self._reading = False
        if self.stdin and self.close_stdin:
            self.task.close_stdin()
        if not self.streams:
            self.close()

    def _input(self, data: bytes) -> None:
        sink = self.task.stdin
        if not self.stdin or sink is None:
            return  # not asked for, or the process has no stdin: Docker drops it too
        detached = False
        if self.scanner is not None:
            data, detached = self.scanner.feed(data)
        if data:
            sink.write(data)
        if detached:
            log.debug("attached client of %s detached (escape sequence)", self.task.label)
            self.close()
            return
        if sink.full and self._reading:
            self._loop.remove_reader(self.fd)
            self._reading = False
            sink.on_drain.append(self.resume)

    def resume(self) -> None:
        """The stdin queue drained: read from the client again."""
        if not self._closed and not self._reading:
            self._reading = True
            self._loop.add_reader(self.fd, self._on_readable)

    # ---------------------------------------------------------------- end

    def _unthrottle(self) -> None:
        self._throttling = False
        self.task.unthrottle(self)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._throttling:
            self._unthrottle()
        self._loop.forget(self.fd)
        # ENOTCONN when the client is already gone: closing is all that is left to do.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        if self in self.task.attachments:
            self.task.attachments.remove(self)
