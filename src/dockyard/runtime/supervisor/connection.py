"""One client connection to the supervisor: JSON-line requests in, replies out.

A connection reads requests (with any descriptors sent alongside), hands each to the
dispatcher, and queues replies, written without blocking. ``upgrade`` turns it into an
:class:`~dockyard.runtime.supervisor.attach.Attachment`: the reply of the ``attach`` is the
last JSON it carries, and whatever the client sent after that request is the first stdin.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Mapping
from typing import Any

from dockyard import errors
from dockyard.runtime.supervisor.attach import Attachment
from dockyard.runtime.supervisor.loop import Loop
from dockyard.runtime.supervisor.protocol import (
    AttachArgs,
    LineReader,
    encode,
    error_reply,
    recv_with_fds,
)
from dockyard.runtime.supervisor.tasks import Task

log = logging.getLogger(__name__)

Dispatch = Callable[["Connection", dict[str, Any], list[int]], None]


class Connection:
    """A client of the supervisor's API socket."""

    __slots__ = ("_closed", "_closing", "_dispatch", "_loop", "_on_close", "_out", "_reader",
                 "_upgraded", "fd", "sock")

    def __init__(self, loop: Loop, sock: socket.socket, dispatch: Dispatch,
                 on_close: Callable[[Connection], None]) -> None:
        self._loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self._dispatch = dispatch
        self._on_close = on_close
        self._reader = LineReader()
        self._out = bytearray()
        self._closed = False
        self._closing = False
        self._upgraded = False
        sock.setblocking(False)
        loop.add_reader(self.fd, self._on_readable)

    @property
    def closed(self) -> bool:
        return self._closed or self._upgraded

    def _on_readable(self) -> None:
        try:
            data, fds = recv_with_fds(self.sock)
        except BlockingIOError:
            return
        except OSError as exc:
            log.debug("connection %d: %s", self.fd, exc)
            data, fds = b"", []
        if not data and not fds:
            self.close()
            return
        try:
            self._reader.feed(data, fds)
        except errors.InvalidArgument as exc:
            self.send(error_reply(None, exc))
            self._close_when_flushed()
            return
        while not self.closed:
            try:
                item = self._reader.next_message()
            except errors.InvalidArgument as exc:
                self.send(error_reply(None, exc))
                continue
            if item is None:
                break
            msg, msg_fds = item
            self._dispatch(self, msg, msg_fds)

    def send(self, reply: Mapping[str, Any]) -> None:
        """Queue one reply; a reply to a closed connection is dropped (its client left)."""
        if self.closed:
            return
        self._out += encode(reply)
        self._flush()

    def _flush(self) -> None:
        while self._out:
            try:
                n = self.sock.send(self._out)
            except BlockingIOError:
                self._loop.add_writer(self.fd, self._flush)
                return
            except OSError as exc:
                log.debug("connection %d: %s", self.fd, exc)
                self.close()
                return
            del self._out[:n]
        self._loop.remove_writer(self.fd)
        if self._closing:
            self.close()

    def _close_when_flushed(self) -> None:
        self._closing = True
        self._loop.remove_reader(self.fd)
        if not self._out:
            self.close()

    def upgrade(self, task: Task, args: AttachArgs, reply: Mapping[str, Any]) -> Attachment:
        """Send ``reply`` and make this socket the attached stream of ``task``."""
        self._upgraded = True
        self._loop.forget(self.fd)
        out = bytes(self._out) + encode(reply)
        self._out.clear()
        rest = self._reader.take_rest()
        self._reader.close_fds()
        self._on_close(self)
        return Attachment(self._loop, self.sock, task, args, initial_out=out, initial_in=rest)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self._upgraded:
            self._loop.forget(self.fd)
            self.sock.close()
        self._reader.close_fds()
        self._on_close(self)
