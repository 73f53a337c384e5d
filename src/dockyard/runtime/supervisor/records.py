"""The supervisor's state directory: who owns it, what each container was, how it ended.

Layout (schema 1; ``layout.json`` holds ``{"schema": 1}``)::

    <state>/                          one supervisor per state directory
    ├── layout.json                   {"schema": 1}
    ├── supervisor.lock               flock(LOCK_EX) held by the live supervisor for its life
    ├── supervisor.pid                its pid, decimal
    ├── supervisor.sock               the API socket (mode 0600), JSON lines + SCM_RIGHTS
    ├── supervisor.log                the supervisor's own log (its stderr)
    ├── console-<n>.sock              transient: a console socket during one create/exec
    ├── spare-parents                 cgroup parents the spare pool served, one per line
    └── containers/
        └── <id>/
            ├── container.json        ContainerRecord: what ``create`` was asked, and the pid
            ├── exit.json             ExitRecord, written once, durably, after the last line
            ├── runtime.log           the OCI runtime's own log (``--log``, JSON lines)
            ├── init.pid              pid file written by an OCI CLI runtime
            └── execs/
                └── <exec_id>/
                    ├── process.json  the OCI process given to ``runtime exec``
                    ├── exec.pid      pid file written by an OCI CLI runtime
                    └── exit.json     ExitRecord of the exec

Every record is written whole to a temporary name and renamed into place, so a reader (a
restarted daemon, a new supervisor) sees either nothing or the complete record; that is
what survives a crash of the daemon or the supervisor. Records are not fsynced: after a
machine crash the containers are gone too, and an fsync of file and directory costs
every container's exit a millisecond or more on a disk-backed state root (``layout.json``
alone is synced). ``exit.json`` is written only after the process's output has been
drained into its log, and before anyone is told of the exit: a daemon that finds
``exit.json`` finds every line too. A container's directory disappears only on
``delete``: it is renamed out of the way at once (``containers/.deleted-<id>-<random>``,
not a container id: ids start with a letter or digit) and removed right after the reply
(an rmdir costs milliseconds on some filesystems), within the same turn of the
supervisor's loop, so before it answers anything else; what a crash leaves under such a
name is removed when the next supervisor starts.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dockyard import errors
from dockyard.runtime.supervisor.protocol import (
    CreateArgs,
    ExitStatus,
    RuntimeSpec,
    container_id,
)

SCHEMA_VERSION = 1
MAX_UNIX_PATH = 107  # sun_path is 108 bytes with its NUL
DELETED_PREFIX = ".deleted-"


@dataclass(frozen=True, slots=True)
class ContainerRecord:
    """What a container was created with; written at create, read after a restart."""

    id: str
    bundle: str
    runtime: RuntimeSpec
    pid: int
    tty: bool
    stdin: bool
    log_path: str | None
    log_options: dict[str, str]
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, "id": self.id, "bundle": self.bundle,
                "runtime": self.runtime.to_wire(), "pid": self.pid, "tty": self.tty,
                "stdin": self.stdin, "log_path": self.log_path,
                "log_options": self.log_options, "created_at": self.created_at}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ContainerRecord:
        _check_schema(d)
        args = CreateArgs.parse({**d, "log_options": d.get("log_options") or {}})
        pid = d.get("pid")
        if not isinstance(pid, int) or isinstance(pid, bool):
            raise errors.InvalidArgument("container record: pid is not an integer")
        return cls(args.id, args.bundle, args.runtime, pid, args.tty, args.stdin,
                   args.log_path, dict(d.get("log_options") or {}), str(d["created_at"]))


@dataclass(frozen=True, slots=True)
class ExitRecord:
    """How a container's init (or an exec) ended, as recorded in ``exit.json``."""

    id: str
    exec_id: str | None
    pid: int
    status: ExitStatus

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, "id": self.id, "exec_id": self.exec_id,
                "pid": self.pid, **self.status.to_wire()}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ExitRecord:
        _check_schema(d)
        exec_id = d.get("exec_id")
        pid = d.get("pid")
        if not isinstance(pid, int):
            raise errors.InvalidArgument("exit record: pid is not an integer")
        return cls(container_id(d, "id"),
                   None if exec_id is None else container_id(d, "exec_id"),
                   pid, ExitStatus.from_wire(d))


def _check_schema(d: Mapping[str, Any]) -> None:
    if d.get("schema") != SCHEMA_VERSION:
        raise errors.FailedPrecondition(
            f"record schema {d.get('schema')!r} is not {SCHEMA_VERSION}")


class StateDir:
    """Paths of the layout above, and durable reads and writes of its records."""

    __slots__ = ("root",)

    def __init__(self, root: str) -> None:
        if not os.path.isabs(root):
            raise errors.InvalidArgument(f"state directory must be absolute: {root!r}")
        self.root = root

    @property
    def lock(self) -> str:
        return os.path.join(self.root, "supervisor.lock")

    @property
    def pid_file(self) -> str:
        return os.path.join(self.root, "supervisor.pid")

    @property
    def socket(self) -> str:
        return os.path.join(self.root, "supervisor.sock")

    @property
    def log(self) -> str:
        return os.path.join(self.root, "supervisor.log")

    @property
    def spare_parents(self) -> str:
        """The cgroup parents the spare pool has served (its stale spares are cleaned by
        the next supervisor; see ``dockyard.runtime.pool``)."""
        return os.path.join(self.root, "spare-parents")

    @property
    def containers(self) -> str:
        return os.path.join(self.root, "containers")

    def container(self, cid: str) -> str:
        return os.path.join(self.containers, cid)

    def exec_dir(self, cid: str, exec_id: str) -> str:
        return os.path.join(self.containers, cid, "execs", exec_id)

    def exit_file(self, cid: str, exec_id: str | None = None) -> str:
        d = self.container(cid) if exec_id is None else self.exec_dir(cid, exec_id)
        return os.path.join(d, "exit.json")

    def console_socket(self, n: int) -> str:
        return os.path.join(self.root, f"console-{n}.sock")

    # ---------------------------------------------------------------- lifecycle

    def prepare(self) -> None:
        """Create the directory (0700) and its layout marker, or check the marker."""
        os.makedirs(self.containers, mode=0o700, exist_ok=True)
        marker = os.path.join(self.root, "layout.json")
        if os.path.exists(marker):
            with open(marker, encoding="utf-8") as f:
                _check_schema(json.load(f))
        else:
            write_json_durably(marker, {"schema": SCHEMA_VERSION})
        if len(self.socket) > MAX_UNIX_PATH:
            raise errors.InvalidArgument(
                f"state directory path too long for a unix socket: {self.root!r}")

    def write_container(self, rec: ContainerRecord) -> None:
        # Atomic (rename) but not fsynced (see the module docstring).
        write_json_durably(os.path.join(self.container(rec.id), "container.json"),
                           rec.to_json(), sync=False)

    def write_exit(self, rec: ExitRecord) -> None:
        write_json_durably(self.exit_file(rec.id, rec.exec_id), rec.to_json(), sync=False)

    def read_exit(self, cid: str, exec_id: str | None = None) -> ExitRecord | None:
        return read_exit_record(self.root, cid, exec_id)

    def retire_container(self, cid: str) -> str | None:
        """Move a container's directory out of the way (its id is free at once); returns
        the new path, for ``remove_retired`` later, or None if there was none."""
        path = self.container(cid)
        retired = os.path.join(self.containers,
                               f"{DELETED_PREFIX}{cid}-{os.urandom(4).hex()}")
        try:
            os.rename(path, retired)
        except FileNotFoundError:
            return None
        return retired

    def remove_retired(self, path: str | None = None) -> None:
        """Remove a retired directory, or (None) every one a crashed supervisor left."""
        if path is not None:
            self._remove_dir(path)
            return
        for name in os.listdir(self.containers):
            if name.startswith(DELETED_PREFIX):
                self._remove_dir(os.path.join(self.containers, name))

    def remove_container(self, cid: str) -> None:
        """Remove a container's directory now."""
        self._remove_dir(self.container(cid))

    @staticmethod
    def _remove_dir(path: str) -> None:
        """Its few files one by one (cheaper than ``shutil.rmtree``'s descriptor walk), a
        subdirectory (``execs``) with rmtree; symlinks are removed, never followed."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return
        try:
            with os.scandir(fd) as it:
                entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
            for name, is_dir in entries:
                if is_dir:
                    shutil.rmtree(name, dir_fd=fd)
                else:
                    try:
                        os.unlink(name, dir_fd=fd)
                    except FileNotFoundError:
                        pass
        finally:
            os.close(fd)
        os.rmdir(path)

    def recorded_containers(self) -> Iterator[tuple[ContainerRecord, ExitRecord | None]]:
        """Every container record left by an earlier supervisor, with its exit if any."""
        for cid in sorted(os.listdir(self.containers)):
            if cid.startswith(DELETED_PREFIX):
                continue
            path = os.path.join(self.container(cid), "container.json")
            try:
                with open(path, encoding="utf-8") as f:
                    rec = ContainerRecord.from_json(json.load(f))
            except FileNotFoundError:
                continue  # a create that died half-way: nothing was promised about it
            yield rec, self.read_exit(cid)


def read_exit_record(state_root: str, cid: str, exec_id: str | None = None) -> ExitRecord | None:
    """The exit recorded for a container (or exec), or None; usable without a supervisor."""
    d = os.path.join(state_root, "containers", cid)
    if exec_id is not None:
        d = os.path.join(d, "execs", exec_id)
    try:
        with open(os.path.join(d, "exit.json"), encoding="utf-8") as f:
            return ExitRecord.from_json(json.load(f))
    except FileNotFoundError:
        return None


def write_json_durably(path: str, doc: Mapping[str, Any], sync: bool = True) -> None:
    """Write ``doc`` so that ``path`` holds either the old content or all of the new;
    with ``sync``, also so that it survives a machine crash (fsync of file and dir)."""
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp")
    data = json.dumps(doc, separators=(",", ":")).encode() + b"\n"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, 0o600)
    except FileNotFoundError:  # the first record of a container: its directory too
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(tmp, flags, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    if sync:
        fsync_dir(directory)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
