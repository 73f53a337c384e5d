"""Starting the supervisor: one per state directory, detached from whoever started it.

Order matters:

1. take ``flock(LOCK_EX | LOCK_NB)`` on ``<state>/supervisor.lock`` in the process that was
   started, so a second supervisor is refused at once with a clear message and exit status
   :data:`EXIT_ALREADY_RUNNING`; the lock lives on in the daemon after the forks below
   (a flock belongs to the open file, shared across fork);
2. fork, ``setsid``, fork again: the supervisor is in its own session, not the starter's
   child, and survives the starter's death (even SIGKILL) and its terminal's hangup;
3. in the supervisor: stdio to ``/dev/null`` and ``<state>/supervisor.log``,
   ``PR_SET_CHILD_SUBREAPER``, import the in-process launcher if present (the zygote has
   everything loaded before it ever forks) and make its spare pool, bind the socket, write the pid file, and only
   then report ``ready <pid>`` through a pipe to the first process, which prints it and
   exits 0. Whoever started it can connect as soon as that process has exited.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import logging
import os
from collections.abc import Callable

from dockyard import errors
from dockyard.linux.syscalls import PR_SET_CHILD_SUBREAPER, prctl
from dockyard.runtime.supervisor.drivers import make_pool, preload_launcher
from dockyard.runtime.supervisor.records import StateDir
from dockyard.runtime.supervisor.server import Server

log = logging.getLogger(__name__)

EXIT_ALREADY_RUNNING = 3
DEFAULT_SPARES = 2
LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


def acquire_lock(state: StateDir) -> int:
    """Lock the state directory for this process's life; ``AlreadyExists`` if taken."""
    fd = os.open(state.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise
        holder = _read_pid(state.pid_file)
        who = f" (pid {holder})" if holder else ""
        raise errors.AlreadyExists(
            f"a supervisor{who} already serves {state.root}") from None
    return fd


def _read_pid(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def serve(state: StateDir, ready: Callable[[int], None], spares: int = DEFAULT_SPARES) -> int:
    """Run the supervisor in this process until it is shut down; returns the exit status.

    ``spares``: how many pre-forked spares the in-process driver keeps per cgroup parent
    (0: none; see ``dockyard.runtime.pool``)."""
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    pool = None
    if preload_launcher():
        log.info("in-process launcher loaded")
        pool = make_pool(spares, state.spare_parents)
    # Everything loaded so far lives as long as we do: out of the collector's sight, its
    # pages are never written by a collection, so forks (spares, child1s) keep sharing them.
    gc.freeze()
    server = Server(state, pool)
    try:
        server.listen()
        server.install_signals()
        server.recover()
        with open(state.pid_file, "w", encoding="ascii") as f:
            f.write(f"{os.getpid()}\n")
        log.info("supervisor %d serving %s", os.getpid(), state.socket)
        ready(os.getpid())
        server.run()
    finally:
        server.close()
        if _read_pid(state.pid_file) == os.getpid():
            os.unlink(state.pid_file)
    log.info("supervisor %d stopped", os.getpid())
    return 0


def daemonize(state: StateDir, log_level: str = "INFO", spares: int = DEFAULT_SPARES) -> int:
    """Double-fork; in the first process, wait for readiness and return its exit status.

    Returns only in the first process and in the daemon (when it stops); the intermediate
    process exits at once.
    """
    r, w = os.pipe()
    first = os.fork()
    if first > 0:
        os.close(w)
        chunks = []
        while chunk := os.read(r, 4096):
            chunks.append(chunk)
        os.close(r)
        os.waitpid(first, 0)
        msg = b"".join(chunks)
        if msg.startswith(b"ready "):
            os.write(1, msg)
            return 0
        os.write(2, msg or b"supervisor: exited before it was ready\n")
        return 1
    os.close(r)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    try:
        os.chdir("/")
        _redirect_stdio(state.log)
        setup_logging(log_level)

        def ready(pid: int) -> None:
            os.write(w, f"ready {pid}\n".encode())
            os.close(w)

        return serve(state, ready, spares)
    except BaseException as exc:
        log.exception("supervisor failed")
        # EBADF/EPIPE once readiness was reported and the pipe closed: the log has it.
        with contextlib.suppress(OSError):
            os.write(w, f"supervisor: {exc}\n".encode())
        return 1


def _redirect_stdio(log_path: str) -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(null)
    os.close(out)


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)
