"""Exec records on disk, so that a restarted daemon still knows the execs it started.

moby keeps execs in memory only: after a daemon restart an exec still running in a
live-restored container is unknown (``GET /exec/{id}/json`` is a 404, its exit is never
recorded). dockyard records every started exec under its container's directory and, on
recovery, reconciles the records with the supervisor (which kept the processes running
and recorded their exits while the daemon was down): see ``ExecManager.recover``.

Layout (schema 1), in the data root::

    <data-root>/containers/<container-id>/
    └── execs/                         made at the first exec start, removed with the
        │                              container or at its next start
        └── <exec-id>.json             {"schema": 1, "exec": <ExecRecord as a document>}

An ``ExecRecord`` (``dockyard.daemon.records`` documents: field names as keys)::

    {"id": "<64 hex>", "container_id": "<64 hex>",
     "config": {<ExecConfig: cmd, env, user, working_dir, tty, privileged, attach_*,
                 detach_keys, console_size>},
     "created_ns": 1732000000000000000,
     "pid": 0,                         host pid once known, 0 before
     "exit_code": null}                null: started and not known to have exited

A record is written once the supervisor has started the exec (with its pid: a daemon
killed in that very instant leaves that exec unrecorded, as moby leaves them all), or
failed to (with its exit code), and rewritten once with its exit code. The daemon writes
them from its event loop: a write this small, not fsynced, costs less than a worker
thread's round trip. Execs created but never started
are not recorded (they die with the daemon, as in moby). Each write goes to a
temporary name and is renamed into place: a daemon that dies mid-write leaves the old
record or the new one. Records are not fsynced (an exec start must stay cheap): after a
machine crash nothing runs anyway, and a record that lost its exit is then reported
exited with 255 (its status is lost) by the recovery.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass

from dockyard.daemon.containers.model import ExecConfig
from dockyard.daemon.layout import CONTAINER_ID_RE, DataRoot
from dockyard.daemon.records import from_doc, to_doc
from dockyard.errors import DockyardError, FailedPrecondition, InvalidArgument

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
EXECS_DIR = "execs"


@dataclass(frozen=True, slots=True)
class ExecRecord:
    """One started exec, as recorded (see the module docstring)."""

    id: str
    container_id: str
    config: ExecConfig
    created_ns: int
    pid: int = 0
    exit_code: int | None = None


class ExecStore:
    """Reads and writes exec records (blocking: ``load`` from a worker thread; ``save``
    and ``delete`` are small enough for the event loop)."""

    def __init__(self, data: DataRoot) -> None:
        self.data = data

    def directory(self, container_id: str) -> str:
        return os.path.join(self.data.container(container_id), EXECS_DIR)

    def path(self, container_id: str, exec_id: str) -> str:
        if not CONTAINER_ID_RE.match(exec_id):
            raise InvalidArgument(f"not an exec id: {exec_id!r}")
        return os.path.join(self.directory(container_id), exec_id + ".json")

    def save(self, rec: ExecRecord) -> None:
        """Write the record (``FileNotFoundError`` if the container's directory is gone:
        it was removed meanwhile, and is not made again)."""
        path = self.path(rec.container_id, rec.id)
        try:
            os.mkdir(os.path.dirname(path), 0o700)
        except FileExistsError:
            pass
        raw = json.dumps({"schema": SCHEMA_VERSION, "exec": to_doc(rec)},
                         separators=(",", ":")).encode()
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.rename(tmp, path)

    def load(self, container_id: str) -> list[ExecRecord]:
        """The container's records, oldest first; an unreadable one is logged and
        skipped (left on disk for a person to look at, removed with the container)."""
        directory = self.directory(container_id)
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return []
        out: list[ExecRecord] = []
        for name in names:
            exec_id, ext = os.path.splitext(name)
            if ext != ".json" or not CONTAINER_ID_RE.match(exec_id):
                continue  # a .tmp left by a daemon that died mid-write, or foreign
            path = os.path.join(directory, name)
            try:
                out.append(self._read(path, container_id, exec_id))
            except (OSError, ValueError, DockyardError) as exc:
                log.error("exec record %s unreadable, ignored: %s", path, exc)
        out.sort(key=lambda r: r.created_ns)
        return out

    @staticmethod
    def _read(path: str, container_id: str, exec_id: str) -> ExecRecord:
        with open(path, "rb") as f:
            doc = json.load(f)
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_VERSION:
            raise FailedPrecondition(f"not a schema {SCHEMA_VERSION} exec record")
        rec = from_doc(ExecRecord, doc.get("exec"))
        if rec.id != exec_id or rec.container_id != container_id:
            raise FailedPrecondition(f"holds exec {rec.id} of {rec.container_id}")
        return rec

    def delete(self, container_id: str, exec_id: str) -> None:
        try:
            os.unlink(self.path(container_id, exec_id))
        except FileNotFoundError:
            pass

    def delete_all(self, container_id: str) -> None:
        try:
            shutil.rmtree(self.directory(container_id))
        except FileNotFoundError:
            pass
