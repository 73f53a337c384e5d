"""The daemon's side of the supervisor: start or find it, and talk to it from asyncio.

The supervisor (``dockyard.runtime.supervisor``) is the parent of every container and the
fork server: the daemon never forks a container itself. ``connect`` runs at start-up,
*before the daemon has any thread*: it spawns the supervisor of ``<exec-root>/supervisor``
or, when one already serves it (the daemon restarted while containers ran: live restore),
reconnects to it.

``AsyncSupervisor`` wraps the blocking ``SupervisorClient`` for the event loop: ordinary
requests run in a worker thread (the client serialises them on one connection); ``wait``
is native asyncio, one unix connection per waited container and no thread, because a
daemon with many running containers waits on all of them at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
from collections.abc import Mapping
from typing import Any

from dockyard import errors
from dockyard.runtime.supervisor.client import (
    ContainerInfo,
    ExecInfo,
    Framing,
    RuntimeKind,
    RuntimeSpec,
    SupervisorClient,
    spawn_supervisor,
)
from dockyard.runtime.supervisor.protocol import (
    MAX_LINE,
    ExitStatus,
    encode,
    error_from_reply,
)

log = logging.getLogger(__name__)

RUNTIME_IN_PROCESS = "dockyard"


def runtime_spec(runtime: str, runtime_root: str) -> RuntimeSpec:
    """The supervisor's driver for ``--runtime``: ours in-process, or an OCI binary."""
    if runtime == RUNTIME_IN_PROCESS:
        return RuntimeSpec(RuntimeKind.IN_PROCESS, root=runtime_root)
    binary = runtime if os.path.isabs(runtime) else shutil.which(runtime)
    if binary is None or not os.access(binary, os.X_OK):
        raise errors.FailedPrecondition(f"runtime {runtime!r}: no such executable")
    return RuntimeSpec(RuntimeKind.OCI_CLI, root=runtime_root, binary=binary)


def connect(state_dir: str, *, log_level: str = "INFO") -> tuple[SupervisorClient, bool]:
    """Spawn the supervisor of ``state_dir`` or reconnect to the running one.

    Returns the client and whether the supervisor was already running. Must be called
    before the daemon starts any thread (spawning forks).
    """
    reconnected = False
    try:
        pid = spawn_supervisor(state_dir, log_level=log_level.upper())
        log.info("supervisor started (pid %d)", pid)
    except errors.AlreadyExists as exc:
        log.info("reconnecting to the running supervisor: %s", exc)
        reconnected = True
    client = SupervisorClient.for_state(state_dir, timeout=120.0)
    info = client.ping()
    log.info("supervisor %s serves %s with %s container(s)", info.get("pid"),
             info.get("state_dir"), info.get("containers"))
    return client, reconnected


class AsyncSupervisor:
    """The supervisor's operations as coroutines."""

    def __init__(self, client: SupervisorClient, runtime: RuntimeSpec) -> None:
        self.client = client
        self.runtime = runtime

    async def create(self, container_id: str, bundle: str, *, log_path: str | None,
                     log_options: Mapping[str, str], tty: bool, stdin: bool,
                     console_size: tuple[int, int] | None) -> ContainerInfo:
        return await asyncio.to_thread(
            self.client.create, container_id, bundle, self.runtime, log_path=log_path,
            log_options=log_options, tty=tty, stdin=stdin, console_size=console_size)

    async def start(self, container_id: str) -> ContainerInfo:
        return await asyncio.to_thread(self.client.start, container_id)

    async def kill(self, container_id: str, signum: int, *, all: bool = False) -> None:
        await asyncio.to_thread(self.client.kill, container_id, signum, all=all)

    async def state(self, container_id: str) -> ContainerInfo:
        return await asyncio.to_thread(self.client.state, container_id)

    async def list(self) -> list[ContainerInfo]:
        return await asyncio.to_thread(self.client.list)

    async def delete(self, container_id: str) -> None:
        """Forget a stopped container (the supervisor refuses a running one)."""
        await asyncio.to_thread(self.client.delete, container_id)

    async def resize(self, container_id: str, height: int, width: int) -> None:
        await asyncio.to_thread(self.client.resize, container_id, height, width)

    async def attach_socket(self, sock: socket.socket, container_id: str, *, stdin: bool,
                            stdout: bool, stderr: bool, close_stdin: bool,
                            detach_keys: bytes = b"") -> None:
        await asyncio.to_thread(self.client.attach_socket, sock, container_id, stdin=stdin,
                                stdout=stdout, stderr=stderr, close_stdin=close_stdin,
                                detach_keys=detach_keys)

    async def pause(self, container_id: str) -> None:
        await asyncio.to_thread(self.client.pause, container_id)

    async def resume(self, container_id: str) -> None:
        await asyncio.to_thread(self.client.resume, container_id)

    async def exec(self, container_id: str, exec_id: str, process: Mapping[str, Any], *,
                   console_size: tuple[int, int] | None) -> ExecInfo:
        """Start a detached exec (no stdin; its output is read and dropped)."""
        return await asyncio.to_thread(self.client.exec, container_id, exec_id, process,
                                       console_size=console_size)

    async def exec_socket(self, sock: socket.socket, container_id: str, exec_id: str,
                          process: Mapping[str, Any], *, stdin: bool, stdout: bool,
                          stderr: bool, console_size: tuple[int, int] | None,
                          framing: Framing, detach_keys: bytes = b"") -> ExecInfo:
        """Start an exec streaming on ``sock`` (a hijacked connection) from its first
        byte; the supervisor closes the stream only after the exit is recorded."""
        return await asyncio.to_thread(
            self.client.exec_socket, sock, container_id, exec_id, process, stdin=stdin,
            stdout=stdout, stderr=stderr, close_stdin=True, console_size=console_size,
            framing=framing, detach_keys=detach_keys)

    async def kill_exec(self, container_id: str, exec_id: str, signum: int) -> None:
        """Signal one exec's process (a health probe past its timeout)."""
        await asyncio.to_thread(self.client.kill, container_id, signum, exec_id=exec_id)

    async def exec_state(self, container_id: str, exec_id: str) -> ExecInfo:
        return await asyncio.to_thread(self.client.exec_state, container_id, exec_id)

    async def delete_exec(self, container_id: str, exec_id: str) -> None:
        """Forget an exec that has exited (the daemon holds its exit code now)."""
        await asyncio.to_thread(self.client.delete, container_id, exec_id=exec_id)

    async def resize_exec(self, container_id: str, exec_id: str, height: int,
                          width: int) -> None:
        await asyncio.to_thread(self.client.resize, container_id, height, width,
                                exec_id=exec_id)

    async def wait(self, container_id: str, exec_id: str | None = None) -> ExitStatus:
        """The container's (or exec's) exit, once it has happened and is recorded (its
        log complete).

        A connection of its own; the request is answered when the process exits.
        ``Unavailable`` if the supervisor goes away meanwhile.
        """
        reader, writer = await asyncio.open_unix_connection(self.client.socket_path,
                                                            limit=MAX_LINE)
        try:
            writer.write(encode({"seq": 1, "op": "wait",
                                 "args": {"id": container_id, "exec_id": exec_id}}))
            await writer.drain()
            while True:
                line = await reader.readline()
                if not line.endswith(b"\n"):
                    raise errors.Unavailable(
                        f"the supervisor closed the wait on {container_id[:12]}")
                reply: Any = json.loads(line)
                if isinstance(reply, dict) and reply.get("seq") in (1, None):
                    break
            if not reply.get("ok"):
                raise error_from_reply(reply.get("error"))
            result = reply.get("result")
            if not isinstance(result, dict) or not isinstance(result.get("exit"), dict):
                raise errors.Internal(f"malformed wait reply: {reply!r}")
            return ExitStatus.from_wire(result["exit"])
        finally:
            writer.close()

    def close(self) -> None:
        self.client.close()
