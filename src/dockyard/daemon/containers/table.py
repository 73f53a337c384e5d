"""The daemon's in-memory table of containers: entries, names, lookups, waiters.

Everything here belongs to the event loop (no locking beyond each entry's
``asyncio.Lock``, which serialises a container's transitions: start, exit processing,
removal). An entry holds the current ``Container`` value, the futures of ``wait`` calls,
the attach sockets waiting for the next start, and the task watching the running process.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from dataclasses import dataclass, field

from dockyard.daemon.containers.model import AttachOptions, Container, WaitResult
from dockyard.daemon.containers.names import NameTable
from dockyard.errors import InvalidArgument, NotFound

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PendingAttach:
    """A hijacked connection waiting for the container's next start."""

    sock: socket.socket
    options: AttachOptions


@dataclass(slots=True)
class Entry:
    container: Container
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    exit_waiters: list[asyncio.Future[WaitResult]] = field(default_factory=list)
    removed_waiters: list[asyncio.Future[WaitResult]] = field(default_factory=list)
    pending: list[PendingAttach] = field(default_factory=list)
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the current run has ended and was processed (stop and rm -f wait on it)."""
    watcher: asyncio.Task[None] | None = None
    removing: bool = False
    gone: bool = False
    task_left: bool = False
    """The exit left the supervisor's exited task and the rootfs mount to the removal
    that follows at once (``AutoRemove``): its cleanup deals with them."""

    @property
    def id(self) -> str:
        return self.container.id


def resolve_futures(futures: list[asyncio.Future[WaitResult]], result: WaitResult) -> None:
    for fut in futures:
        if not fut.done():
            fut.set_result(result)
    futures.clear()


def new_id() -> str:
    """64 hex digits whose 12-digit short form is not all digits (Docker's rule: a short
    id must never read as a number)."""
    while True:
        value = secrets.token_hex(32)
        if not value[:12].isdigit():
            return value


class Table:
    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.names = NameTable()

    def add(self, entry: Entry) -> None:
        self.entries[entry.id] = entry

    def discard(self, entry: Entry) -> None:
        self.entries.pop(entry.id, None)
        if self.names.get(entry.container.name) == entry.id:
            self.names.release(entry.container.name)

    def find(self, ref: str) -> Entry:
        """By full id, by name (with or without ``/``), or by unique id prefix."""
        if not ref:
            raise NotFound("No such container: ")
        entry = self.entries.get(ref)
        if entry is not None:
            return entry
        owner = self.names.get(ref[1:] if ref.startswith("/") else ref)
        if owner is not None and owner in self.entries:
            return self.entries[owner]
        matches = [e for cid, e in self.entries.items() if cid.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

    def all(self) -> list[Entry]:
        return list(self.entries.values())
