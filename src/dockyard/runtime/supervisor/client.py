"""What the daemon uses: start a supervisor, and talk to it.

Blocking calls (the asyncio daemon runs them with ``asyncio.to_thread``). A
:class:`SupervisorClient` keeps one connection for ordinary requests, serialised by a lock
so it can be shared between threads; ``wait`` and ``attach`` open a connection of their
own, because their answer comes when the container exits or never returns to JSON.

Typical use, Docker's ``run`` sequence (create → attach → wait → start)::

    pid = spawn_supervisor("/run/dockyard/supervisor")          # once; AlreadyExists if up
    sv = SupervisorClient.for_state("/run/dockyard/supervisor")
    sv.create("c1", "/var/lib/dockyard/bundles/c1", RuntimeSpec(RuntimeKind.OCI_CLI,
              root="/run/dockyard/runc"), log_path=".../c1-json.log", stdin=True)
    stream = sv.attach("c1", stdin=True, close_stdin=True)      # before start: no output lost
    sv.start("c1")
    for stream_no, data in stream: ...
    status = sv.wait("c1")                                      # ExitStatus(exit_code=0, ...)
    sv.delete("c1")
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from dockyard import errors
from dockyard.runtime.detachkeys import keys_to_wire
from dockyard.runtime.supervisor.protocol import (
    FRAME_HEADER,
    ContainerInfo,
    ExecInfo,
    ExitStatus,
    Framing,
    RuntimeKind,
    RuntimeSpec,
    Stream,
    encode,
    error_from_reply,
)
from dockyard.runtime.supervisor.records import (
    ExitRecord,
    StateDir,
    read_exit_record,
)

__all__ = [
    "AttachStream",
    "ContainerInfo",
    "ExecInfo",
    "ExitRecord",
    "ExitStatus",
    "Framing",
    "RuntimeKind",
    "RuntimeSpec",
    "Stream",
    "SupervisorClient",
    "read_exit_record",
    "spawn_supervisor",
]

EXIT_ALREADY_RUNNING = 3  # startup.EXIT_ALREADY_RUNNING, without importing the server


def spawn_supervisor(state_dir: str, *, python: str | None = None, log_level: str = "INFO",
                     timeout: float = 30.0, spares: int | None = None) -> int:
    """Start the supervisor of ``state_dir`` detached; return its pid once it is ready.

    ``spares``: pre-forked spares per cgroup parent for the in-process runtime (None: the
    supervisor's default; 0: none). Raises ``AlreadyExists`` if a supervisor already
    serves that directory.
    """
    cmd = [python or sys.executable, "-m", "dockyard.runtime.supervisor",
           "--state", os.path.abspath(state_dir), "--log-level", log_level]
    if spares is not None:
        cmd += ["--spares", str(spares)]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise errors.Unavailable(f"the supervisor of {state_dir} was not ready in "
                                 f"{timeout:.0f}s") from None
    err = proc.stderr.decode("utf-8", "replace").strip()
    if proc.returncode == EXIT_ALREADY_RUNNING:
        raise errors.AlreadyExists(err)
    out = proc.stdout.decode("ascii", "replace").split()
    if proc.returncode != 0 or len(out) != 2 or out[0] != "ready" or not out[1].isdigit():
        raise errors.Unavailable(f"the supervisor did not start: {err or proc.returncode}")
    return int(out[1])


class _Lines:
    """A socket read line by line, keeping what follows for a stream."""

    __slots__ = ("buf", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def readline(self) -> bytes:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise errors.Unavailable("the supervisor closed the connection")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line


class AttachStream:
    """A process's output (and stdin) after ``attach``; iterate for ``(stream, bytes)``.

    ``socket`` and ``leftover`` (bytes already read past the reply) let an asyncio caller
    take the stream over.
    """

    def __init__(self, sock: socket.socket, framing: Framing, leftover: bytes) -> None:
        self.socket = sock
        self.framing = framing
        self.leftover = leftover

    def _recv(self, n: int) -> bytes:
        if self.leftover:
            data, self.leftover = self.leftover[:n], self.leftover[n:]
            return data
        return self.socket.recv(n)

    def _recv_exact(self, n: int) -> bytes | None:
        out = b""
        while len(out) < n:
            chunk = self._recv(n - len(out))
            if not chunk:
                if out:
                    raise errors.Internal("attach stream ended inside a frame")
                return None
            out += chunk
        return out

    def read(self) -> tuple[Stream, bytes] | None:
        """The next chunk of output, or None when the stream has ended."""
        if self.framing is Framing.RAW:
            data = self._recv(65536)
            return (Stream.STDOUT, data) if data else None
        header = self._recv_exact(FRAME_HEADER.size)
        if header is None:
            return None
        stream, size = FRAME_HEADER.unpack(header)
        payload = self._recv_exact(size) if size else b""
        if payload is None:
            raise errors.Internal("attach stream ended inside a frame")
        return Stream(stream), payload

    def __iter__(self) -> Iterator[tuple[Stream, bytes]]:
        while (item := self.read()) is not None:
            yield item

    def read_all(self) -> dict[Stream, bytes]:
        """Everything until the process has exited, by stream."""
        out: dict[Stream, bytes] = {}
        for stream, data in self:
            out[stream] = out.get(stream, b"") + data
        return out

    def write(self, data: bytes) -> None:
        """Send bytes to the process's stdin (if the attach asked for stdin)."""
        self.socket.sendall(data)

    def close_stdin(self) -> None:
        """End of input (closes the process's stdin if the attach asked ``close_stdin``)."""
        self.socket.shutdown(socket.SHUT_WR)

    def settimeout(self, timeout: float | None) -> None:
        self.socket.settimeout(timeout)

    def close(self) -> None:
        self.socket.close()

    def __enter__(self) -> AttachStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SupervisorClient:
    """A connection to the supervisor of one state directory."""

    def __init__(self, socket_path: str, *, timeout: float | None = 120.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._conn: _Lines | None = None

    @classmethod
    def for_state(cls, state_dir: str, **kw: Any) -> SupervisorClient:
        return cls(StateDir(os.path.abspath(state_dir)).socket, **kw)

    def _connect(self, timeout: float | None) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        sock.settimeout(timeout)
        try:
            sock.connect(self.socket_path)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            sock.close()
            raise errors.Unavailable(f"no supervisor at {self.socket_path}: {exc}") from None
        except BaseException:
            sock.close()
            raise
        return sock

    @staticmethod
    def _request(lines: _Lines, seq: int, op: str, args: Mapping[str, Any],
                 fds: Sequence[int] = ()) -> None:
        msg: dict[str, Any] = {"seq": seq, "op": op, "args": dict(args)}
        if fds:
            msg["fds"] = len(fds)
            socket.send_fds(lines.sock, [encode(msg)], list(fds))
        else:
            lines.sock.sendall(encode(msg))

    @staticmethod
    def _reply(lines: _Lines, seq: int) -> dict[str, Any]:
        while True:
            reply = json.loads(lines.readline())
            if reply.get("seq") == seq or reply.get("seq") is None:
                break
        if not reply.get("ok"):
            raise error_from_reply(reply.get("error"))
        result = reply.get("result", {})
        if not isinstance(result, dict):
            raise errors.Internal(f"malformed reply: {reply!r}")
        return result

    def call(self, op: str, args: Mapping[str, Any] | None = None, *,
             fds: Sequence[int] = ()) -> dict[str, Any]:
        """One request on the shared connection; the reply's ``result``, or its error raised."""
        with self._lock:
            if self._conn is None:
                self._conn = _Lines(self._connect(self.timeout))
            seq = next(self._seq)
            try:
                self._request(self._conn, seq, op, args or {}, fds)
                return self._reply(self._conn, seq)
            except (OSError, errors.Unavailable):
                self._conn.sock.close()
                self._conn = None
                raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.sock.close()
                self._conn = None

    def __enter__(self) -> SupervisorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- operations

    def ping(self) -> dict[str, Any]:
        return self.call("ping")

    def create(self, container_id: str, bundle: str, runtime: RuntimeSpec, *,
               log_path: str | None = None, log_options: Mapping[str, str] | None = None,
               tty: bool = False, stdin: bool = False,
               console_size: tuple[int, int] | None = None) -> ContainerInfo:
        args: dict[str, Any] = {"id": container_id, "bundle": bundle,
                                "runtime": runtime.to_wire(), "log_path": log_path,
                                "log_options": dict(log_options or {}), "tty": tty,
                                "stdin": stdin}
        if console_size is not None:
            args["console_size"] = list(console_size)
        return ContainerInfo.from_wire(self.call("create", args)["container"])

    def start(self, container_id: str) -> ContainerInfo:
        return ContainerInfo.from_wire(self.call("start", {"id": container_id})["container"])

    def kill(self, container_id: str, signal: int | str = 15, *, all: bool = False,
             exec_id: str | None = None) -> None:
        self.call("kill", {"id": container_id, "signal": signal, "all": all,
                           "exec_id": exec_id})

    def state(self, container_id: str) -> ContainerInfo:
        return ContainerInfo.from_wire(self.call("state", {"id": container_id})["container"])

    def exec_state(self, container_id: str, exec_id: str) -> ExecInfo:
        return ExecInfo.from_wire(
            self.call("state", {"id": container_id, "exec_id": exec_id})["exec"])

    def list(self) -> list[ContainerInfo]:
        return [ContainerInfo.from_wire(c) for c in self.call("list")["containers"]]

    def wait(self, container_id: str, exec_id: str | None = None, *,
             timeout: float | None = None) -> ExitStatus:
        """Block until the container (or exec) has exited and its exit is recorded."""
        lines = _Lines(self._connect(timeout))
        try:
            self._request(lines, 1, "wait", {"id": container_id, "exec_id": exec_id})
            return ExitStatus.from_wire(self._reply(lines, 1)["exit"])
        finally:
            lines.sock.close()

    def delete(self, container_id: str, *, force: bool = False,
               exec_id: str | None = None) -> None:
        """Forget a stopped container, or (``exec_id``) an exec that has exited."""
        self.call("delete", {"id": container_id, "force": force, "exec_id": exec_id})

    def pause(self, container_id: str) -> None:
        """Freeze every process of a running container."""
        self.call("pause", {"id": container_id})

    def resume(self, container_id: str) -> None:
        self.call("resume", {"id": container_id})

    def exec(self, container_id: str, exec_id: str, process: Mapping[str, Any], *,
             stdin: bool = False, console_size: tuple[int, int] | None = None) -> ExecInfo:
        args = self._exec_args(container_id, exec_id, process, stdin, console_size)
        return ExecInfo.from_wire(self.call("exec", args)["exec"])

    def exec_attached(self, container_id: str, exec_id: str, process: Mapping[str, Any], *,
                      stdin: bool = False, close_stdin: bool = True,
                      console_size: tuple[int, int] | None = None,
                      framing: Framing | None = None) -> tuple[ExecInfo, AttachStream]:
        """Start an exec with its stream attached from the first byte (Docker's exec start)."""
        args = self._exec_args(container_id, exec_id, process, stdin, console_size)
        args.update({"attach": True, "close_stdin": close_stdin})
        if framing is not None:
            args["framing"] = framing.value
        lines = _Lines(self._connect(self.timeout))
        try:
            self._request(lines, 1, "exec", args)
            info = ExecInfo.from_wire(self._reply(lines, 1)["exec"])
        except BaseException:
            lines.sock.close()
            raise
        default = Framing.RAW if info.tty else Framing.MULTIPLEXED
        return info, AttachStream(lines.sock, framing or default, lines.buf)

    def exec_socket(self, sock: socket.socket, container_id: str, exec_id: str,
                    process: Mapping[str, Any], *, stdin: bool = False, stdout: bool = True,
                    stderr: bool = True, close_stdin: bool = True,
                    console_size: tuple[int, int] | None = None,
                    framing: Framing | None = None, detach_keys: bytes = b"") -> ExecInfo:
        """Start an exec whose stream goes to ``sock`` (e.g. a hijacked HTTP connection)
        from the first byte; the supervisor serves the socket from then on, and closes it
        after the exec's exit is recorded and its last output sent, or when its input
        brings ``detach_keys``. The caller may close its copy as soon as this returns."""
        args = self._exec_args(container_id, exec_id, process, stdin, console_size)
        args.update({"attach": True, "stdout": stdout, "stderr": stderr,
                     "close_stdin": close_stdin,
                     "framing": None if framing is None else framing.value,
                     "detach_keys": keys_to_wire(detach_keys)})
        return ExecInfo.from_wire(self.call("exec", args, fds=[sock.fileno()])["exec"])

    @staticmethod
    def _exec_args(container_id: str, exec_id: str, process: Mapping[str, Any], stdin: bool,
                   console_size: tuple[int, int] | None) -> dict[str, Any]:
        args: dict[str, Any] = {"id": container_id, "exec_id": exec_id,
                                "process": dict(process), "stdin": stdin}
        if console_size is not None:
            args["console_size"] = list(console_size)
        return args

    def attach(self, container_id: str, exec_id: str | None = None, *, stdin: bool = False,
               stdout: bool = True, stderr: bool = True, close_stdin: bool = False,
               framing: Framing | None = None, tty: bool | None = None) -> AttachStream:
        """Attach a new connection to a process's stdio. ``tty`` (if known) picks the
        default framing as the supervisor does; otherwise the state is asked."""
        args = self._attach_args(container_id, exec_id, stdin, stdout, stderr, close_stdin,
                                 framing)
        if framing is None:
            if tty is None:
                tty = (self.exec_state(container_id, exec_id).tty if exec_id
                       else self.state(container_id).tty)
            framing = Framing.RAW if tty else Framing.MULTIPLEXED
        lines = _Lines(self._connect(self.timeout))
        try:
            self._request(lines, 1, "attach", args)
            self._reply(lines, 1)
        except BaseException:
            lines.sock.close()
            raise
        return AttachStream(lines.sock, framing, lines.buf)

    def attach_socket(self, sock: socket.socket, container_id: str, exec_id: str | None = None,
                      *, stdin: bool = False, stdout: bool = True, stderr: bool = True,
                      close_stdin: bool = False, framing: Framing | None = None,
                      detach_keys: bytes = b"") -> None:
        """Hand ``sock`` (e.g. a hijacked HTTP connection) to the supervisor, which then
        streams to and from it directly; the caller may close its copy right away. Input
        matching ``detach_keys`` (if any) ends the stream, not the process."""
        args = self._attach_args(container_id, exec_id, stdin, stdout, stderr, close_stdin,
                                 framing)
        args["detach_keys"] = keys_to_wire(detach_keys)
        self.call("attach", args, fds=[sock.fileno()])

    @staticmethod
    def _attach_args(container_id: str, exec_id: str | None, stdin: bool, stdout: bool,
                     stderr: bool, close_stdin: bool,
                     framing: Framing | None) -> dict[str, Any]:
        return {"id": container_id, "exec_id": exec_id, "stdin": stdin, "stdout": stdout,
                "stderr": stderr, "close_stdin": close_stdin,
                "framing": None if framing is None else framing.value}

    def resize(self, container_id: str, height: int, width: int, *,
               exec_id: str | None = None) -> None:
        self.call("resize", {"id": container_id, "height": height, "width": width,
                             "exec_id": exec_id})

    def shutdown(self, *, force: bool = False) -> None:
        """Stop the supervisor (refused while containers run, unless ``force``)."""
        self.call("shutdown", {"force": force})
