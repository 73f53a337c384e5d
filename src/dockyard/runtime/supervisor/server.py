"""The supervisor's event loop: the API socket, signals, and reaping.

One process per state directory, single-threaded, parent of every container (by
``PR_SET_CHILD_SUBREAPER``: a runtime's ``create`` exits and its container's init is
re-parented here). The loop waits on:

- the listening socket ``<state>/supervisor.sock`` (mode 0600) and each connection;
- every container's and exec's stdout/stderr pipe or pty master (see ``tasks``);
- a self-pipe given to ``signal.set_wakeup_fd``: SIGCHLD triggers the reap loop,
  SIGTERM/SIGINT stop the supervisor only when no container runs.

Reaping is ``waitpid(-1, WNOHANG)`` until nothing is left, mapping each pid to its task;
unknown pids (orphans re-parented to us, discarded half-created containers) are reaped and
forgotten. It runs only from the loop, never while a driver call is under way: drivers are
synchronous and wait for their own subprocesses, so no runtime's status is ever stolen.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from typing import TYPE_CHECKING, Any

from dockyard import errors
from dockyard.runtime.supervisor.connection import Connection
from dockyard.runtime.supervisor.handlers import Handlers
from dockyard.runtime.supervisor.loop import Loop
from dockyard.runtime.supervisor.protocol import Op, error_reply, ok_reply
from dockyard.runtime.supervisor.records import StateDir

if TYPE_CHECKING:
    from dockyard.runtime.pool import SparePool

log = logging.getLogger(__name__)


_HANDLED = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT)


def _ignore(signum: int, frame: Any) -> None:
    """A Python-level handler is needed for set_wakeup_fd to see the signal; the work is
    done by the loop when it reads the wakeup pipe."""


def _defaults_in_child() -> None:
    """After ``os.fork`` (the in-process launcher forks containers from us), the child
    must not keep our handlers: a SIGTERM to a created container would be swallowed by
    ``_ignore``, and its SIGCHLDs would be written into our wakeup pipe."""
    signal.set_wakeup_fd(-1)
    for sig in _HANDLED:
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


class Server:
    """Lifecycle: ``listen`` → ``install_signals`` → ``recover`` → ``run`` (until a
    ``shutdown`` or an idle SIGTERM) → ``close``."""

    def __init__(self, state: StateDir, pool: SparePool | None = None) -> None:
        self.state = state
        self.loop = Loop()
        self.handlers = Handlers(state, self.loop, self.stop, pool)
        self._listener: socket.socket | None = None
        self._conns: set[Connection] = set()
        self._wakeup_r = -1
        self._wakeup_w = -1

    def listen(self) -> None:
        path = self.state.socket
        if os.path.lexists(path):
            os.unlink(path)  # we hold the lock: whoever made it is gone
        sock = socket.socket(socket.AF_UNIX,
                             socket.SOCK_STREAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
        old = os.umask(0o177)
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        sock.listen(128)
        self._listener = sock
        self.loop.add_reader(sock.fileno(), self._accept)

    def install_signals(self) -> None:
        self._wakeup_r, self._wakeup_w = os.pipe()
        os.set_blocking(self._wakeup_r, False)
        os.set_blocking(self._wakeup_w, False)
        signal.set_wakeup_fd(self._wakeup_w, warn_on_full_buffer=False)
        for sig in _HANDLED:
            signal.signal(sig, _ignore)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        os.register_at_fork(after_in_child=_defaults_in_child)
        self.loop.add_reader(self._wakeup_r, self._on_signals)

    def recover(self) -> None:
        self.handlers.recover()
        if self.handlers.pool is not None:
            # Stale spares of a supervisor that was killed go; spares for the parents it
            # had seen are forked once the loop is idle.
            self.handlers.pool.start()
            self.handlers.refill_later()

    def run(self) -> None:
        self.reap()
        self.loop.run()

    def stop(self) -> None:
        self.loop.stop()

    def close(self) -> None:
        for conn in list(self._conns):
            conn.close()
        if self._listener is not None:
            self.loop.forget(self._listener.fileno())
            self._listener.close()
            self._listener = None
            if os.path.lexists(self.state.socket):
                os.unlink(self.state.socket)
        self.handlers.release_all()
        self.handlers.close_pool()
        if self._wakeup_w >= 0:
            signal.set_wakeup_fd(-1)
            os.close(self._wakeup_w)
            os.close(self._wakeup_r)
            self._wakeup_w = self._wakeup_r = -1
        self.loop.close()

    # ---------------------------------------------------------------- signals

    def _on_signals(self) -> None:
        got: set[int] = set()
        while True:
            try:
                data = os.read(self._wakeup_r, 512)
            except BlockingIOError:
                break
            if not data:
                break
            got.update(data)
        if signal.SIGCHLD in got:
            self.reap()
        if got & {signal.SIGTERM, signal.SIGINT}:
            active = self.handlers.active
            if active:
                log.warning("ignoring termination signal: %d container(s) still run "
                            "(use shutdown with force)", len(active))
            else:
                log.info("termination signal and nothing runs: stopping")
                self.stop()

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.handlers.reaped(pid, status)

    # ---------------------------------------------------------------- connections

    def _accept(self) -> None:
        if self._listener is None:
            return
        while True:
            try:
                sock, _ = self._listener.accept()
            except BlockingIOError:
                return
            self._conns.add(Connection(self.loop, sock, self._dispatch, self._conns.discard))

    def _dispatch(self, conn: Connection, msg: dict[str, Any], fds: list[int]) -> None:
        seq = msg.get("seq")
        try:
            try:
                op = Op(msg.get("op"))
            except ValueError:
                raise errors.InvalidArgument(f"unknown operation {msg.get('op')!r}") from None
            args = msg.get("args", {})
            if not isinstance(args, dict):
                raise errors.InvalidArgument("args: expected an object")
            result = self.handlers.table[op](conn, seq, args, fds)
        except errors.DockyardError as exc:
            log.info("%s: %s: %s", msg.get("op"), type(exc).__name__, exc)
            conn.send(error_reply(seq, exc))
            return
        except Exception as exc:
            log.exception("%s failed", msg.get("op"))
            conn.send(error_reply(seq, errors.Internal(f"{type(exc).__name__}: {exc}")))
            return
        finally:
            for fd in fds:  # descriptors no handler took
                os.close(fd)
        if isinstance(result, dict):
            conn.send(ok_reply(seq, result))
