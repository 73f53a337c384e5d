"""The supervisor's wire protocol: JSON lines over a unix stream socket, fds by SCM_RIGHTS.

Every request is one line holding one JSON object, every reply likewise::

    → {"seq": 7, "op": "kill", "args": {"id": "c1", "signal": 9, "all": false}}
    ← {"seq": 7, "ok": true, "result": {}}
    ← {"seq": 8, "ok": false, "error": {"kind": "NotFound", "message": "no container c9"}}

``seq`` is chosen by the client and echoed back; replies may come out of order because a
``wait`` (or a ``delete`` that must first see the container die) is answered only when the
container has exited, while later requests on the same connection are answered at once.
``kind`` is the name of one class of :mod:`dockyard.errors`; the client raises that class.

Descriptors travel as SCM_RIGHTS ancillary data of the ``sendmsg`` that carries the request
line; the request says how many with ``"fds": n``. On a stream socket the kernel delivers
the descriptors with the first bytes of that message, never later, so the receiver queues
every descriptor as it arrives and pops ``n`` of them when the line is complete.

After a successful ``attach`` (and an ``exec`` with ``"attach": true``) the connection stops
carrying JSON: it is the process's byte stream. The supervisor writes output either raw
(terminals) or in Docker's multiplexed framing, an 8-byte header ``[stream, 0, 0, 0,
size (big endian u32)]`` then the payload, stream 1 = stdout and 2 = stderr, exactly the
``application/vnd.docker.raw-stream`` format; the client writes raw stdin bytes and half-closes
its side to signal end of input. The supervisor closes the stream once the process has
exited and all of its output has been sent.
"""

from __future__ import annotations

import array
import enum
import json
import os
import re
import signal as _signal
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard import errors
from dockyard.runtime.detachkeys import keys_from_wire
from dockyard.runtime.supervisor.logs import LogOptions

PROTOCOL_VERSION = 1
MAX_LINE = 1 << 20
MAX_FDS_PER_MESSAGE = 8

# The names of the error classes a reply may carry, and back.
ERROR_KINDS: dict[str, type[errors.DockyardError]] = {
    "NotFound": errors.NotFound,
    "AlreadyExists": errors.AlreadyExists,
    "Conflict": errors.Conflict,
    "InvalidArgument": errors.InvalidArgument,
    "FailedPrecondition": errors.FailedPrecondition,
    "Unavailable": errors.Unavailable,
    "PermissionDenied": errors.PermissionDenied,
    "NotImplemented": errors.NotImplementedByDockyard,
    "Internal": errors.Internal,
}

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")


class Op(enum.Enum):
    """The operations the supervisor serves."""

    PING = "ping"
    CREATE = "create"
    START = "start"
    KILL = "kill"
    STATE = "state"
    LIST = "list"
    WAIT = "wait"
    DELETE = "delete"
    EXEC = "exec"
    ATTACH = "attach"
    RESIZE = "resize"
    SHUTDOWN = "shutdown"
    PAUSE = "pause"
    RESUME = "resume"


class Status(enum.Enum):
    """Where a container or exec is in its life: created → running → stopped.

    ``UNKNOWN`` is for a container recorded by an earlier supervisor that died before the
    container did: it is no longer our child, so its exit status cannot be known.
    """

    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"
    UNKNOWN = "unknown"


class RuntimeKind(enum.Enum):
    """How containers are created: an OCI runtime binary, or the in-process launcher."""

    OCI_CLI = "oci-cli"
    IN_PROCESS = "in-process"


class Framing(enum.Enum):
    """How output is written to an attached stream."""

    RAW = "raw"
    MULTIPLEXED = "multiplexed"


class Stream(enum.IntEnum):
    """Stream numbers of Docker's multiplexed framing."""

    STDIN = 0
    STDOUT = 1
    STDERR = 2


FRAME_HEADER = struct.Struct(">BxxxL")
_FD = array.array("i")


def frame(stream: Stream, data: bytes) -> bytes:
    """One frame of Docker's multiplexed stream format."""
    return FRAME_HEADER.pack(stream, len(data)) + data


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class ExitStatus:
    """How a process ended: ``exit_code`` is 128+signal for a signal death, as in Docker.

    ``lost`` is true when the status could not be observed (the process was not our child);
    the code is then 255, which is what dockerd reports in that case.
    """

    exit_code: int
    signal: int | None
    exited_at: str
    lost: bool = False

    @classmethod
    def from_wait_status(cls, status: int, exited_at: str) -> ExitStatus:
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            return cls(128 + sig, sig, exited_at)
        return cls(os.WEXITSTATUS(status), None, exited_at)

    def to_wire(self) -> dict[str, Any]:
        return {"exit_code": self.exit_code, "signal": self.signal,
                "exited_at": self.exited_at, "lost": self.lost}

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> ExitStatus:
        return cls(_int(d, "exit_code"), _opt_int(d, "signal"), _str(d, "exited_at"),
                   _bool(d, "lost"))


@dataclass(frozen=True, slots=True)
class RuntimeSpec:
    """Which driver creates a container: ``kind``, the binary (OCI CLI) and its ``--root``."""

    kind: RuntimeKind
    root: str
    binary: str = "runc"

    def to_wire(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "root": self.root, "binary": self.binary}

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> RuntimeSpec:
        kind = _enum(RuntimeKind, _str(d, "kind"), "runtime.kind")
        root = _abs_path(d, "root")
        binary = _opt_str(d, "binary") or "runc"
        return cls(kind, root, binary)


@dataclass(frozen=True, slots=True)
class ExecInfo:
    """What the supervisor knows of one exec'd process."""

    container_id: str
    exec_id: str
    status: Status
    pid: int
    tty: bool
    exit: ExitStatus | None

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.container_id, "exec_id": self.exec_id, "status": self.status.value,
                "pid": self.pid, "tty": self.tty,
                "exit": None if self.exit is None else self.exit.to_wire()}

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> ExecInfo:
        ex = d.get("exit")
        return cls(_str(d, "id"), _str(d, "exec_id"), _enum(Status, _str(d, "status"), "status"),
                   _int(d, "pid"), _bool(d, "tty"),
                   None if ex is None else ExitStatus.from_wire(_map(d, "exit")))


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    """What the supervisor knows of one container (the reply of ``state`` and ``list``)."""

    id: str
    status: Status
    pid: int
    bundle: str
    runtime: RuntimeSpec
    tty: bool
    stdin: bool
    log_path: str | None
    created_at: str
    exit: ExitStatus | None
    execs: tuple[ExecInfo, ...] = field(default=())

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status.value, "pid": self.pid,
                "bundle": self.bundle, "runtime": self.runtime.to_wire(), "tty": self.tty,
                "stdin": self.stdin, "log_path": self.log_path, "created_at": self.created_at,
                "exit": None if self.exit is None else self.exit.to_wire(),
                "execs": [e.to_wire() for e in self.execs]}

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> ContainerInfo:
        ex = d.get("exit")
        execs = d.get("execs") or []
        if not isinstance(execs, list):
            raise errors.InvalidArgument("execs: expected a list")
        return cls(_str(d, "id"), _enum(Status, _str(d, "status"), "status"), _int(d, "pid"),
                   _str(d, "bundle"), RuntimeSpec.from_wire(_map(d, "runtime")),
                   _bool(d, "tty"), _bool(d, "stdin"), _opt_str(d, "log_path"),
                   _str(d, "created_at"),
                   None if ex is None else ExitStatus.from_wire(_map(d, "exit")),
                   tuple(ExecInfo.from_wire(e) for e in execs))


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class CreateArgs:
    """``create``: make a container in the "created" state, holding its stdio."""

    id: str
    bundle: str
    runtime: RuntimeSpec
    log_path: str | None = None
    log_options: LogOptions = field(default_factory=LogOptions)
    tty: bool = False
    stdin: bool = False
    console_size: tuple[int, int] | None = None

    @classmethod
    def parse(cls, a: Mapping[str, Any]) -> CreateArgs:
        log_path = a.get("log_path")
        if log_path is not None:
            log_path = _abs_path(a, "log_path")
        opts = a.get("log_options") or {}
        if not isinstance(opts, Mapping) or not all(isinstance(v, str) for v in opts.values()):
            raise errors.InvalidArgument("log_options: expected an object of strings")
        return cls(container_id(a, "id"), _abs_path(a, "bundle"),
                   RuntimeSpec.from_wire(_map(a, "runtime")), log_path,
                   LogOptions.from_config(opts), _bool(a, "tty"), _bool(a, "stdin"),
                   _size(a, "console_size"))


@dataclass(frozen=True, slots=True)
class ExecArgs:
    """``exec``: run one more process (an OCI ``process`` object) in a running container."""

    id: str
    exec_id: str
    process: Mapping[str, Any]
    stdin: bool = False
    console_size: tuple[int, int] | None = None
    attach: AttachArgs | None = None

    @property
    def tty(self) -> bool:
        return bool(self.process.get("terminal", False))

    @classmethod
    def parse(cls, a: Mapping[str, Any]) -> ExecArgs:
        process = _map(a, "process")
        args = process.get("args")
        if not isinstance(args, list) or not args or not all(isinstance(x, str) for x in args):
            raise errors.InvalidArgument("process.args: expected a non-empty list of strings")
        if not isinstance(process.get("cwd", "/"), str):
            raise errors.InvalidArgument("process.cwd: expected a string")
        att = None
        if _bool(a, "attach"):
            att = AttachArgs.parse({**a, "stdin": _bool(a, "stdin")})
        return cls(container_id(a, "id"), container_id(a, "exec_id"), dict(process),
                   _bool(a, "stdin"), _size(a, "console_size"), att)


@dataclass(frozen=True, slots=True)
class AttachArgs:
    """``attach``: stream a process's output to a socket and its stdin from it.

    The socket is this connection unless the request passes one descriptor (``"fds": 1``),
    a connected stream socket the supervisor then serves instead (a hand-off: the daemon can
    give it the hijacked HTTP connection and step out of the data path).
    ``close_stdin`` closes the process's stdin when this stream's input ends (Docker's
    ``StdinOnce``). ``framing`` defaults to raw for terminals and multiplexed otherwise.
    ``detach_keys`` (hex): input matching it ends this stream, not the process.
    """

    id: str
    exec_id: str | None = None
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    close_stdin: bool = False
    framing: Framing | None = None
    detach_keys: bytes = b""

    @classmethod
    def parse(cls, a: Mapping[str, Any]) -> AttachArgs:
        fr = _opt_str(a, "framing")
        return cls(container_id(a, "id"), _opt_exec_id(a), _bool(a, "stdin"),
                   _bool(a, "stdout", True), _bool(a, "stderr", True), _bool(a, "close_stdin"),
                   None if fr is None else _enum(Framing, fr, "framing"),
                   keys_from_wire(a.get("detach_keys")))


@dataclass(frozen=True, slots=True)
class KillArgs:
    """``kill``: send a signal to the container (every process with ``all``) or an exec."""

    id: str
    signal: int
    all: bool = False
    exec_id: str | None = None

    @classmethod
    def parse(cls, a: Mapping[str, Any]) -> KillArgs:
        return cls(container_id(a, "id"), parse_signal(a.get("signal", 15)), _bool(a, "all"),
                   _opt_exec_id(a))


@dataclass(frozen=True, slots=True)
class TargetArgs:
    """``start``, ``state``, ``wait``: a container, or one of its execs."""

    id: str
    exec_id: str | None = None

    @classmethod
    def parse(cls, a: Mapping[str, Any]) -> TargetArgs:
        return cls(container_id(a, "id"), _opt_exec_id(a))


@dataclass(frozen=True, slots=True)
class DeleteArgs:
    """``delete``: forget a stopped container (``force``: kill it first, then forget it),
    or, with ``exec_id``, an exec that has exited (its record and exit file)."""

    id: str
    force: bool = False
    exec_id: str | None = None

    @classmethod
    def parse(cls, a: Mapping[str, Any]) -> DeleteArgs:
        return cls(container_id(a, "id"), _bool(a, "force"), _opt_exec_id(a))


@dataclass(frozen=True, slots=True)
class ResizeArgs:
    """``resize``: set the terminal size of a container or exec (rows, columns)."""

    id: str
    height: int
    width: int
    exec_id: str | None = None

    @classmethod
    def parse(cls, a: Mapping[str, Any]) -> ResizeArgs:
        h, w = _int(a, "height"), _int(a, "width")
        if not (0 < h < 65536 and 0 < w < 65536):
            raise errors.InvalidArgument(f"terminal size out of range: {h}x{w}")
        return cls(container_id(a, "id"), h, w, _opt_exec_id(a))


@dataclass(frozen=True, slots=True)
class ShutdownArgs:
    """``shutdown``: stop the supervisor; refused while containers run unless ``force``
    (which kills them all, records their exits, then stops)."""

    force: bool = False

    @classmethod
    def parse(cls, a: Mapping[str, Any]) -> ShutdownArgs:
        return cls(_bool(a, "force"))


# --------------------------------------------------------------------------- messages


def encode(message: Mapping[str, Any]) -> bytes:
    """One JSON line."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def ok_reply(seq: Any, result: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"seq": seq, "ok": True, "result": dict(result or {})}


def error_reply(seq: Any, exc: errors.DockyardError) -> dict[str, Any]:
    kind = next((k for k, c in ERROR_KINDS.items() if isinstance(exc, c)), "Internal")
    return {"seq": seq, "ok": False, "error": {"kind": kind, "message": str(exc)}}


def error_from_reply(err: Any) -> errors.DockyardError:
    """The exception an error reply stands for."""
    if not isinstance(err, Mapping):
        return errors.Internal(f"malformed error reply: {err!r}")
    cls = ERROR_KINDS.get(str(err.get("kind")), errors.Internal)
    return cls(str(err.get("message", "")))


class LineReader:
    """Splits a byte stream into JSON messages and pairs them with the fds they carry."""

    __slots__ = ("_buf", "_fds")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._fds: list[int] = []

    def feed(self, data: bytes, fds: list[int]) -> None:
        self._buf += data
        self._fds.extend(fds)
        if len(self._buf) > MAX_LINE and b"\n" not in self._buf:
            raise errors.InvalidArgument(f"request line longer than {MAX_LINE} bytes")

    def take_rest(self) -> bytes:
        """Everything buffered after the last message taken (the start of a raw stream)."""
        rest = bytes(self._buf)
        self._buf.clear()
        return rest

    def next_message(self) -> tuple[dict[str, Any], list[int]] | None:
        """The next complete message with its descriptors, or None if none is complete.

        A line that is not a JSON object raises :class:`InvalidArgument`; the line is
        consumed, so the stream can go on.
        """
        nl = self._buf.find(b"\n")
        if nl < 0:
            return None
        line = bytes(self._buf[:nl])
        del self._buf[: nl + 1]
        try:
            msg = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise errors.InvalidArgument(f"request is not JSON: {exc}") from exc
        if not isinstance(msg, dict):
            raise errors.InvalidArgument("request is not a JSON object")
        n = msg.get("fds", 0)
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_FDS_PER_MESSAGE:
            raise errors.InvalidArgument("fds: expected a small non-negative integer")
        if n > len(self._fds):
            raise errors.InvalidArgument(f"request announces {n} fds, {len(self._fds)} arrived")
        fds, self._fds = self._fds[:n], self._fds[n:]
        return msg, fds

    def close_fds(self) -> None:
        """Close descriptors that arrived but were never claimed by a message."""
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()


def recv_with_fds(sock: socket.socket, bufsize: int = 65536,
                  maxfds: int = MAX_FDS_PER_MESSAGE) -> tuple[bytes, list[int]]:
    """recvmsg() returning the bytes and the SCM_RIGHTS descriptors that came with them.

    The descriptors are received close-on-exec (``MSG_CMSG_CLOEXEC``; Python 3.11's
    ``socket.recv_fds`` drops its ``flags`` argument, hence this function). If the sender
    sent more than ``maxfds``, the kernel closes the surplus and the count announced by the
    message will not match: the message is then refused.
    """
    data, ancdata, _flags, _addr = sock.recvmsg(
        bufsize, socket.CMSG_SPACE(maxfds * _FD.itemsize), socket.MSG_CMSG_CLOEXEC)
    fds: list[int] = []
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            arr = array.array("i")
            arr.frombytes(payload[: len(payload) - len(payload) % _FD.itemsize])
            fds.extend(arr)
    return data, fds


# --------------------------------------------------------------------------- field parsing


def container_id(a: Mapping[str, Any], key: str) -> str:
    """An id usable as a file name and by runc: ``[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}``."""
    v = _str(a, key)
    if not _ID_RE.match(v):
        raise errors.InvalidArgument(f"{key}: invalid id {v!r}")
    return v


def parse_signal(v: Any) -> int:
    """A signal number, or a name like ``KILL``/``SIGKILL``."""
    if isinstance(v, int) and not isinstance(v, bool):
        if 0 < v < _signal.NSIG:
            return v
        raise errors.InvalidArgument(f"signal out of range: {v}")
    if isinstance(v, str):
        name = v.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        try:
            return int(_signal.Signals[name])
        except KeyError:
            raise errors.InvalidArgument(f"unknown signal {v!r}") from None
    raise errors.InvalidArgument(f"signal: expected a number or a name, got {v!r}")


def _missing(key: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"{key}: required")


def _str(a: Mapping[str, Any], key: str) -> str:
    v = a.get(key)
    if v is None:
        raise _missing(key)
    if not isinstance(v, str) or not v:
        raise errors.InvalidArgument(f"{key}: expected a non-empty string")
    return v


def _opt_str(a: Mapping[str, Any], key: str) -> str | None:
    return None if a.get(key) is None else _str(a, key)


def _opt_exec_id(a: Mapping[str, Any]) -> str | None:
    return None if a.get("exec_id") is None else container_id(a, "exec_id")


def _abs_path(a: Mapping[str, Any], key: str) -> str:
    v = _str(a, key)
    if not v.startswith("/") or "\0" in v:
        raise errors.InvalidArgument(f"{key}: expected an absolute path, got {v!r}")
    return v


def _int(a: Mapping[str, Any], key: str) -> int:
    v = a.get(key)
    if v is None:
        raise _missing(key)
    if not isinstance(v, int) or isinstance(v, bool):
        raise errors.InvalidArgument(f"{key}: expected an integer")
    return v


def _opt_int(a: Mapping[str, Any], key: str) -> int | None:
    return None if a.get(key) is None else _int(a, key)


def _bool(a: Mapping[str, Any], key: str, default: bool = False) -> bool:
    v = a.get(key, default)
    if not isinstance(v, bool):
        raise errors.InvalidArgument(f"{key}: expected true or false")
    return v


def _map(a: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    v = a.get(key)
    if v is None:
        raise _missing(key)
    if not isinstance(v, Mapping):
        raise errors.InvalidArgument(f"{key}: expected an object")
    return v


def _size(a: Mapping[str, Any], key: str) -> tuple[int, int] | None:
    v = a.get(key)
    if v is None:
        return None
    if (not isinstance(v, list) or len(v) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) and 0 < x < 65536
                       for x in v)):
        raise errors.InvalidArgument(f"{key}: expected [rows, columns]")
    return (v[0], v[1])


def _enum(cls: type[enum.Enum], value: str, key: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in cls)
        raise errors.InvalidArgument(f"{key}: {value!r} is not one of {allowed}") from None
