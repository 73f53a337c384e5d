"""Where the daemon keeps things: the data root (persistent) and the exec root (runtime).

Data root (schema 1; ``layout.json`` holds ``{"schema": 1}``)::

    <data-root>/                          default /var/lib/dockyard
    ├── layout.json                       {"schema": 1}
    ├── daemon.lock                       flock(LOCK_EX) of the running dockyardd
    ├── engine-id                         the engine's id (/info "ID"), made once
    ├── content/  snapshots/  metadata.db  tmp/
    │                                     the image service's stores (dockyard.image.stores)
    └── containers/
        └── <id>/                         one per container, removed with it
            ├── container.json            the container record (dockyard.daemon.containers.store)
            ├── execs/<exec-id>.json      exec records (dockyard.daemon.containers.execstore)
            ├── <id>-json.log             json-file log, written by the supervisor
            ├── <id>-json.log.<n>         rotated logs (max-file)
            ├── hostname                  bind-mounted at /etc/hostname
            ├── hosts                     bind-mounted at /etc/hosts
            └── resolv.conf               bind-mounted at /etc/resolv.conf

Exec root (schema 1; a tmpfs in practice, empty after a reboot, when nothing runs)::

    <exec-root>/                          default /run/dockyard
    ├── layout.json                       {"schema": 1}
    ├── dockyardd.pid                     the running daemon's pid
    ├── supervisor/                       the supervisor's state directory
    │                                     (dockyard.runtime.supervisor.records)
    ├── runtime/                          the OCI runtime's --root (its own state)
    └── bundles/
        └── <id>/                         an OCI bundle, rewritten at each start
            ├── config.json               the runtime spec
            └── rootfs/                   the container's snapshot, mounted while it runs

Nothing else is written under either root. A container's rootfs is mounted only from
start to exit; after a crash of the daemon, recovery unmounts the rootfs of every container
the supervisor no longer runs.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re

from dockyard.errors import AlreadyExists, FailedPrecondition, InvalidArgument

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
CONTAINER_ID_RE = re.compile(r"^[0-9a-f]{64}$")


def _check_id(container_id: str) -> str:
    if not CONTAINER_ID_RE.match(container_id):
        raise InvalidArgument(f"not a container id: {container_id!r}")
    return container_id


def _prepare_marker(root: str) -> None:
    marker = os.path.join(root, "layout.json")
    try:
        with open(marker, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        tmp = marker + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"schema": SCHEMA_VERSION}, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, marker)
        return
    except (OSError, ValueError) as exc:
        raise FailedPrecondition(f"{marker}: unreadable: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_VERSION:
        raise FailedPrecondition(
            f"{root} has layout schema {doc.get('schema') if isinstance(doc, dict) else doc!r}"
            f"; this dockyardd knows schema {SCHEMA_VERSION}")


class DataRoot:
    """Paths of the data-root layout above."""

    __slots__ = ("root",)

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    @property
    def lock(self) -> str:
        return os.path.join(self.root, "daemon.lock")

    @property
    def containers(self) -> str:
        return os.path.join(self.root, "containers")

    def container(self, container_id: str) -> str:
        return os.path.join(self.containers, _check_id(container_id))

    def record(self, container_id: str) -> str:
        return os.path.join(self.container(container_id), "container.json")

    def log(self, container_id: str) -> str:
        return os.path.join(self.container(container_id), f"{container_id}-json.log")

    def etc_file(self, container_id: str, name: str) -> str:
        if name not in ("hostname", "hosts", "resolv.conf"):
            raise InvalidArgument(f"not a per-container file: {name!r}")
        return os.path.join(self.container(container_id), name)

    def prepare(self) -> None:
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        _prepare_marker(self.root)
        os.makedirs(self.containers, mode=0o710, exist_ok=True)


class ExecRoot:
    """Paths of the exec-root layout above."""

    __slots__ = ("root",)

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    @property
    def pid_file(self) -> str:
        return os.path.join(self.root, "dockyardd.pid")

    @property
    def supervisor(self) -> str:
        return os.path.join(self.root, "supervisor")

    @property
    def runtime(self) -> str:
        return os.path.join(self.root, "runtime")

    @property
    def bundles(self) -> str:
        return os.path.join(self.root, "bundles")

    def bundle(self, container_id: str) -> str:
        return os.path.join(self.bundles, _check_id(container_id))

    def rootfs(self, container_id: str) -> str:
        return os.path.join(self.bundle(container_id), "rootfs")

    def prepare(self) -> None:
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        _prepare_marker(self.root)
        for d in (self.supervisor, self.runtime, self.bundles):
            os.makedirs(d, mode=0o700, exist_ok=True)


class DaemonLock:
    """The data root's flock, held for the daemon's life: a second daemon is refused."""

    __slots__ = ("_fd", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = -1

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            holder = ""
            try:
                with open(self.path, encoding="ascii") as f:
                    holder = f.read().strip()
            except OSError as read_exc:
                log.debug("could not read %s: %s", self.path, read_exc)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise AlreadyExists(f"another dockyardd{who} is using {os.path.dirname(self.path)}"
                                ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
