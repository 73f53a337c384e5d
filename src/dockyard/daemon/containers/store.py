"""Container records on disk: ``<data-root>/containers/<id>/container.json``.

A record is ``{"schema": 1, "container": <Container as a document>}`` written whole to a
temporary name and renamed over the old one, so a daemon that dies mid-write leaves the
old record or the new one, never half of one. Records are not fsynced: an fsync costs
every create, start, exit and removal milliseconds (tens on a busy ext4 disk, where it
waits for the journal's commit), and after a machine crash nothing runs anyway (a
container recorded running is found lost and recorded exited with 255). The one thing a
machine crash can leave that a daemon crash cannot is an empty record (a new file whose
data never reached the disk): like a directory without a record, it is a create that did
not finish, and ``load_all`` reports it for removal.

A save converts only the fields that changed since the container's last save (the
config and host config are the same objects from one save to the next: a start or an
exit changes the state only), ~0.5 ms of a worker thread's time on each.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import shutil
from typing import Any

from dockyard.daemon.containers.model import Container
from dockyard.daemon.layout import CONTAINER_ID_RE, DataRoot
from dockyard.daemon.records import from_doc, to_doc
from dockyard.errors import DockyardError, FailedPrecondition

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_CACHED = frozenset({"config", "host_config", "networks"})


class ContainerStore:
    """Reads and writes container records (blocking; called from worker threads)."""

    def __init__(self, data: DataRoot) -> None:
        self.data = data
        self._parts: dict[str, dict[str, tuple[object, Any]]] = {}
        """Per container, the documents of its last saved fields (``_doc``)."""

    def _doc(self, c: Container) -> dict[str, Any]:
        """``to_doc(c)``, reusing the documents of the fields that are the very objects
        last saved (the values are immutable): a start or an exit changes the state only,
        and the config and host config need not be converted again."""
        last = self._parts.get(c.id, {})
        parts: dict[str, tuple[object, Any]] = {}
        doc: dict[str, Any] = {}
        for f in dataclasses.fields(c):
            value = getattr(c, f.name)
            seen = last.get(f.name)
            part = seen[1] if seen is not None and seen[0] is value else to_doc(value)
            if f.name in _CACHED:
                parts[f.name] = (value, part)
            doc[f.name] = part
        self._parts[c.id] = parts
        return doc

    def save(self, c: Container) -> None:
        path = self.data.record(c.id)
        os.makedirs(os.path.dirname(path), mode=0o710, exist_ok=True)
        tmp = path + ".tmp"
        doc = self._doc(c)
        doc.pop("exec_ids", None)  # live state of the daemon, not of the record
        raw = json.dumps({"schema": SCHEMA_VERSION, "container": doc},
                         separators=(",", ":")).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.rename(tmp, path)

    def load(self, container_id: str) -> Container:
        path = self.data.record(container_id)
        with open(path, "rb") as f:
            doc = json.load(f)
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_VERSION:
            raise FailedPrecondition(f"{path}: not a schema {SCHEMA_VERSION} record")
        c = from_doc(Container, doc.get("container"))
        if c.id != container_id:
            raise FailedPrecondition(f"{path}: holds container {c.id}")
        return c

    def load_all(self) -> tuple[list[Container], list[str]]:
        """Every readable record, and the ids of directories holding none (leftovers)."""
        good: list[Container] = []
        broken: list[str] = []
        for name in sorted(os.listdir(self.data.containers)):
            if not CONTAINER_ID_RE.match(name):
                log.warning("ignoring %s in %s", name, self.data.containers)
                continue
            try:
                if os.path.getsize(self.data.record(name)) == 0:
                    broken.append(name)  # written, never synced: a machine crash
                    continue
                good.append(self.load(name))
            except FileNotFoundError:
                broken.append(name)
            except (OSError, ValueError, DockyardError) as exc:
                log.error("container %s: unreadable record, left alone: %s", name, exc)
        return good, broken

    def delete(self, container_id: str) -> None:
        self._parts.pop(container_id, None)
        path = self.data.container(container_id)
        for attempt in range(3):
            try:
                shutil.rmtree(path)
                return
            except FileNotFoundError:
                return
            except OSError as exc:
                # An exec record written as the removal began (a health probe's, say)
                # can land in a directory being emptied: once more.
                if exc.errno != errno.ENOTEMPTY or attempt == 2:
                    raise
