"""The runtime's state directory: one sub-directory per container.

Layout (schema version 1), under ``--root`` (default ``/run/dockyard-runtime``)::

    <root>/
      <container-id>/            mode 0711, created by ``create``, removed by ``delete``
        state.json               ContainerState below (written atomically: tmp + rename)
        exec.fifo                present from create until start; the init blocks opening it

The status is never stored: it is derived from the process (alive? same start time, so a
recycled pid is not mistaken for ours), the exec fifo (still there → created) and the
freezer (frozen → paused), as runc does.
"""

from __future__ import annotations

import os
import time

from dockyard.errors import AlreadyExists, InvalidArgument, NotFound
from dockyard.oci import jsoncodec

# Not typing, json or re: this module is on the start-up path of every ``dockyard-runtime``
# command (see dockyard.records and dockyard.oci.jsoncodec).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple
else:
    from dockyard.records import NamedTuple

SCHEMA_VERSION = 1
DEFAULT_ROOT = "/run/dockyard-runtime"
STATE_FILE = "state.json"
EXEC_FIFO = "exec.fifo"

_ID_PUNCTUATION = frozenset("_+-.")


def _id_chars_ok(container_id: str) -> bool:
    """runc's ``[\\w+\\-.]+`` without ``re``: ``\\w`` is ``str.isalnum()`` and ``_``."""
    return all(c.isalnum() or c in _ID_PUNCTUATION for c in container_id)


def validate_id(container_id: str) -> None:
    """Container ids are names in the state dir: letters, digits, ``_+-.``; no ``.``/``..``."""
    if not container_id or not _id_chars_ok(container_id) or container_id in (".", ".."):
        raise InvalidArgument(f"invalid container id {container_id!r}: use letters, digits, _+-.")
    if len(container_id) > 1024:
        raise InvalidArgument("invalid container id: longer than 1024 characters")


class ContainerState(NamedTuple):
    id: str
    pid: int
    pid_start: int  # field 22 of /proc/<pid>/stat, to tell a recycled pid from ours
    bundle: str
    rootfs: str
    created: str  # RFC 3339, UTC, nanoseconds
    cgroups_path: str
    oci_version: str
    annotations: dict[str, str]
    new_pid_ns: bool
    version: int = SCHEMA_VERSION


def container_dir(root: str, container_id: str) -> str:
    validate_id(container_id)
    return os.path.join(root, container_id)


def rfc3339_now() -> str:
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def proc_start_time(pid: int) -> int | None:
    """Start time (clock ticks since boot) of a live, non-zombie process, else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = data[data.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def save(root: str, state: ContainerState) -> None:
    """Write state.json atomically."""
    commit(root, state.id, stage(root, state))


def stage(root: str, state: ContainerState) -> str:
    """Write the state next to state.json, not yet in its place (``commit`` puts it
    there); returns the staged file. A container whose state is only staged does not
    exist for ``list`` or ``state``; removing its directory removes the staged file."""
    tmp = os.path.join(container_dir(root, state.id), STATE_FILE + ".tmp")
    with open(tmp, "w") as f:
        f.write(jsoncodec.dumps(state._asdict()))
    return tmp


def commit(root: str, container_id: str, staged: str) -> None:
    """Put a staged state in place, atomically."""
    os.rename(staged, os.path.join(container_dir(root, container_id), STATE_FILE))


def load(root: str, container_id: str) -> ContainerState:
    path = os.path.join(container_dir(root, container_id), STATE_FILE)
    try:
        with open(path, "rb") as f:
            data: dict[str, Any] = jsoncodec.loads(f.read())
    except FileNotFoundError:
        raise NotFound(f"container {container_id!r} does not exist") from None
    except ValueError as e:
        raise InvalidArgument(f"{path}: corrupt state: {e}") from None
    if data.get("version") != SCHEMA_VERSION:
        raise InvalidArgument(f"{path}: unknown state schema version {data.get('version')!r}")
    return ContainerState(**data)


def list_ids(root: str) -> list[str]:
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    return [n for n in names if os.path.exists(os.path.join(root, n, STATE_FILE))]


def reserve(root: str, container_id: str) -> str:
    """Create the container's directory, refusing an id in use; returns the directory."""
    d = container_dir(root, container_id)
    os.makedirs(root, mode=0o711, exist_ok=True)
    try:
        os.mkdir(d, 0o711)
    except FileExistsError:
        raise AlreadyExists(f"container with id {container_id!r} already exists") from None
    return d
