"""The daemon's side of the supervisor: start or find it, and talk to it from asyncio.

The supervisor (``dockyard.runtime.supervisor``) is the parent of every container and the
fork server: the daemon never forks a container itself. ``connect`` runs at start-up,
*before the daemon has any thread*: it spawns the supervisor of ``<exec-root>/supervisor``
or, when one already serves it (the daemon restarted while containers ran: live restore),
reconnects to it.

``AsyncSupervisor`` serves the event loop natively, without worker threads: ordinary
requests share one connection, replies matched by ``seq`` (``svchannel``), ``wait`` too
(untimed: the supervisor answers it when the process exits, and answers the other
requests meanwhile; no connection to set up after each start). The blocking ``SupervisorClient`` stays for start-up
(before the loop runs).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from collections.abc import Callable, Mapping
from typing import Any

from dockyard import errors
from dockyard.daemon.svchannel import SupervisorChannel
from dockyard.runtime.detachkeys import keys_to_wire
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
    ExitStatus,
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
    """The supervisor's operations as coroutines: requests on one shared connection
    (``svchannel``), a connection of its own per ``wait``."""

    def __init__(self, client: SupervisorClient, runtime: RuntimeSpec) -> None:
        self.client = client
        self.runtime = runtime
        self.channel = SupervisorChannel(client.socket_path, timeout=client.timeout)

    async def create(self, container_id: str, bundle: str, *, log_path: str | None,
                     log_options: Mapping[str, str], tty: bool, stdin: bool,
                     console_size: tuple[int, int] | None) -> ContainerInfo:
        args: dict[str, Any] = {"id": container_id, "bundle": bundle,
                                "runtime": self.runtime.to_wire(), "log_path": log_path,
                                "log_options": dict(log_options), "tty": tty, "stdin": stdin}
        if console_size is not None:
            args["console_size"] = list(console_size)
        return ContainerInfo.from_wire((await self.channel.call("create", args))["container"])

    def create_blocking(self, container_id: str, bundle: str, *, log_path: str | None,
                        log_options: Mapping[str, str], tty: bool, stdin: bool,
                        console_size: tuple[int, int] | None) -> ContainerInfo:
        """``create`` from a worker thread that has more blocking work around it (the
        start's bundle before, the loopback after): one thread for all, no hop back to
        the loop in between."""
        return self.client.create(container_id, bundle, self.runtime, log_path=log_path,
                                  log_options=log_options, tty=tty, stdin=stdin,
                                  console_size=console_size)

    async def start(self, container_id: str, *,
                    on_sent: Callable[[], None] | None = None) -> ContainerInfo:
        """``on_sent``: called once the request is written (``SupervisorChannel.call``)."""
        return ContainerInfo.from_wire((await self.channel.call(
            "start", {"id": container_id}, on_sent=on_sent))["container"])

    async def kill(self, container_id: str, signum: int, *, all: bool = False) -> None:
        await self.channel.call("kill", {"id": container_id, "signal": signum, "all": all,
                                         "exec_id": None})

    async def state(self, container_id: str) -> ContainerInfo:
        return ContainerInfo.from_wire(
            (await self.channel.call("state", {"id": container_id}))["container"])

    async def list(self) -> list[ContainerInfo]:
        return [ContainerInfo.from_wire(c)
                for c in (await self.channel.call("list", {}))["containers"]]

    async def delete(self, container_id: str) -> None:
        """Forget a stopped container (the supervisor refuses a running one)."""
        await self.channel.call("delete", {"id": container_id, "force": False,
                                           "exec_id": None})

    async def resize(self, container_id: str, height: int, width: int) -> None:
        await self.channel.call("resize", {"id": container_id, "height": height,
                                           "width": width, "exec_id": None})

    async def attach_socket(self, sock: socket.socket, container_id: str, *, stdin: bool,
                            stdout: bool, stderr: bool, close_stdin: bool,
                            detach_keys: bytes = b"") -> None:
        """Hand ``sock`` (a hijacked connection) to the supervisor, which streams on it
        from now on; the caller may close its copy once this returns."""
        await self.channel.call(
            "attach", {"id": container_id, "exec_id": None, "stdin": stdin, "stdout": stdout,
                       "stderr": stderr, "close_stdin": close_stdin, "framing": None,
                       "detach_keys": keys_to_wire(detach_keys)},
            fds=[sock.fileno()])

    async def pause(self, container_id: str) -> None:
        await self.channel.call("pause", {"id": container_id})

    async def resume(self, container_id: str) -> None:
        await self.channel.call("resume", {"id": container_id})

    async def exec(self, container_id: str, exec_id: str, process: Mapping[str, Any], *,
                   console_size: tuple[int, int] | None) -> ExecInfo:
        """Start a detached exec (no stdin; its output is read and dropped)."""
        args = _exec_args(container_id, exec_id, process, False, console_size)
        return ExecInfo.from_wire((await self.channel.call("exec", args))["exec"])

    async def exec_socket(self, sock: socket.socket, container_id: str, exec_id: str,
                          process: Mapping[str, Any], *, stdin: bool, stdout: bool,
                          stderr: bool, console_size: tuple[int, int] | None,
                          framing: Framing, detach_keys: bytes = b"") -> ExecInfo:
        """Start an exec streaming on ``sock`` (a hijacked connection) from its first
        byte; the supervisor closes the stream only after the exit is recorded."""
        args = _exec_args(container_id, exec_id, process, stdin, console_size)
        args.update({"attach": True, "stdout": stdout, "stderr": stderr,
                     "close_stdin": True, "framing": framing.value,
                     "detach_keys": keys_to_wire(detach_keys)})
        return ExecInfo.from_wire(
            (await self.channel.call("exec", args, fds=[sock.fileno()]))["exec"])

    async def kill_exec(self, container_id: str, exec_id: str, signum: int) -> None:
        """Signal one exec's process (a health probe past its timeout)."""
        await self.channel.call("kill", {"id": container_id, "signal": signum, "all": False,
                                         "exec_id": exec_id})

    async def exec_state(self, container_id: str, exec_id: str) -> ExecInfo:
        return ExecInfo.from_wire((await self.channel.call(
            "state", {"id": container_id, "exec_id": exec_id}))["exec"])

    async def delete_exec(self, container_id: str, exec_id: str) -> None:
        """Forget an exec that has exited (the daemon holds its exit code now)."""
        await self.channel.call("delete", {"id": container_id, "force": False,
                                           "exec_id": exec_id})

    async def resize_exec(self, container_id: str, exec_id: str, height: int,
                          width: int) -> None:
        await self.channel.call("resize", {"id": container_id, "height": height,
                                           "width": width, "exec_id": exec_id})

    async def wait(self, container_id: str, exec_id: str | None = None) -> ExitStatus:
        """The container's (or exec's) exit, once it has happened and is recorded (its
        log complete).

        On the shared channel, untimed: the supervisor answers when the process exits
        (other requests are answered meanwhile). ``Unavailable`` if the supervisor goes
        away meanwhile.
        """
        result = await self.channel.call("wait", {"id": container_id, "exec_id": exec_id},
                                         untimed=True)
        if not isinstance(result.get("exit"), dict):
            raise errors.Internal(f"malformed wait reply: {result!r}")
        return ExitStatus.from_wire(result["exit"])

    def close(self) -> None:
        self.channel.close()
        self.client.close()


def _exec_args(container_id: str, exec_id: str, process: Mapping[str, Any], stdin: bool,
               console_size: tuple[int, int] | None) -> dict[str, Any]:
    args: dict[str, Any] = {"id": container_id, "exec_id": exec_id,
                            "process": dict(process), "stdin": stdin}
    if console_size is not None:
        args["console_size"] = list(console_size)
    return args
