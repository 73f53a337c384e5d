"""The terminal side of ``run``, ``start -a``, ``attach`` and ``exec``: copying bytes
between the local stdio and a hijacked connection.

What the docker CLI's ``hijack.go`` does, in one thread with ``poll``:

- output: the connection's bytes go to stdout, or through the 8-byte framing to stdout
  and stderr when the container has no TTY; the copy ends when the daemon closes the
  stream (the process ended, or the daemon saw the detach keys);
- input (``-i``): stdin's bytes go to the connection; at stdin's end the write half is
  shut (``CloseWrite``), which the daemon turns into the process's end of input;
- a terminal (``-t`` with a terminal on stdin) is put in raw mode for the copy and always
  restored, even on errors and signals;
- detach keys (``ctrl-p,ctrl-q`` or ``--detach-keys``): with a TTY, the keys are passed
  on *and* watched here. The daemon holds back a partial sequence and, on the full one,
  ends the attachment without closing the process's stdin; this side then knows the
  stream ended because of a detach (the container keeps running; ``run`` and ``start``
  exit 0, ``attach`` and ``exec`` say ``read escape sequence`` and exit 1, as docker). The
  daemon must see the keys: if only the client caught them and closed the connection,
  the daemon would take the close for the end of input (``StdinOnce``) and end a shell;
- window size: ``SIGWINCH`` → ``POST .../resize?h=&w=`` (also once after the start);
- signals (no TTY, ``--sig-proxy``): ``SIGINT``, ``SIGTERM``... are sent to the
  container with ``POST /containers/{id}/kill?signal=`` instead of ending the CLI.
"""

from __future__ import annotations

import _socket
import os
import select
import time

from dockyard.client.http import Hijacked
from dockyard.runtime.detachkeys import (
    DEFAULT_DETACH_KEYS,
    EscapeScanner,
    parse_detach_keys,
)

TYPE_CHECKING = False  # typing, contextlib, signal and socket cost start-up time (enum...)
if TYPE_CHECKING:
    import signal as _signal  # the same functions and numbers, with stubs
    from collections.abc import Callable

    Restore = Callable[[], None]
else:
    import _signal

DETACH_GRACE = 2.0
"""Seconds to wait, after the detach keys were sent, for the daemon to end the stream."""

# The docker CLI forwards every catchable signal but these (ForwardAllSignals).
_NOT_PROXIED = {_signal.SIGCHLD, _signal.SIGPIPE, _signal.SIGURG, _signal.SIGWINCH,
                _signal.SIGKILL, _signal.SIGSTOP, _signal.SIGCONT, _signal.SIGTSTP,
                _signal.SIGTTIN, _signal.SIGTTOU}


def detach_keys(spec: str) -> bytes:
    """The byte sequence of a ``--detach-keys`` spec (``ctrl-p,ctrl-q`` when empty);
    raises ``InvalidArgument`` with the daemon's words for a bad spec."""
    return parse_detach_keys(spec) if spec else DEFAULT_DETACH_KEYS


def terminal_size(fd: int) -> tuple[int, int] | None:
    """``(rows, columns)`` of the terminal on ``fd``; None when it is not a terminal."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns


def make_raw(fd: int) -> Restore:
    """Put the terminal on ``fd`` in raw mode (no echo, no line editing, no signals from
    keys); the function that restores it. Nothing is changed when ``fd`` is not a
    terminal."""
    if not os.isatty(fd):
        return _nothing
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSANOW)

    def restore() -> None:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)

    return restore


def watch_resize(resize: Callable[[int, int], None], fd: int = 1) -> Restore:
    """Call ``resize(rows, cols)`` now and on every ``SIGWINCH``; the function that puts
    the previous handler back."""

    def handler(signum: int, frame: object) -> None:
        size = terminal_size(fd)
        if size is not None:
            try:
                resize(*size)
            except Exception:
                pass

    previous = _signal.signal(_signal.SIGWINCH, handler)
    handler(_signal.SIGWINCH, None)

    def restore() -> None:
        _signal.signal(_signal.SIGWINCH, previous)

    return restore


def proxy_signals(send: Callable[[int], None]) -> Restore:
    """Forward the signals sent to this process to the container (``send`` gets the
    signal's number); the function that puts the previous handlers back."""

    def handler(signum: int, frame: object) -> None:
        try:
            send(signum)
        except Exception:
            pass

    previous: dict[int, object] = {}
    for sig in range(1, _signal.NSIG):
        if sig in _NOT_PROXIED:
            continue
        try:
            previous[sig] = _signal.signal(sig, handler)
        except (OSError, ValueError):
            continue

    def restore() -> None:
        for sig, old in previous.items():
            _signal.signal(sig, old)  # type: ignore[arg-type]  # saved as object

    return restore


def _nothing() -> None:
    return None


def session(conn: Hijacked, *, stdin: bool, tty: bool, keys: bytes,
            resize: Callable[[int, int], None] | None = None,
            kill: Callable[[int], None] | None = None) -> str:
    """The whole attached copy: raw mode when stdin is a terminal given to a TTY, the
    window size followed when stdout is a terminal, signals proxied (``kill``) without a
    TTY; everything restored at the end. ``ENDED`` or ``DETACHED``."""
    restores: list[Restore] = []
    try:
        if tty and stdin:
            restores.append(make_raw(0))
        if tty and resize is not None and os.isatty(1):
            restores.append(watch_resize(resize, 1))
        if not tty and kill is not None:
            restores.append(proxy_signals(kill))
        return pump(conn, stdin_fd=0 if stdin else None, tty=tty, keys=keys)
    finally:
        for restore in reversed(restores):
            restore()


class FrameSplitter:
    """Incremental reader of the 8-byte stdout/stderr framing: ``feed`` bytes as they
    arrive, get complete ``(stream, payload)`` frames back."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buf += data
        out = []
        while len(self.buf) >= 8:
            size = int.from_bytes(self.buf[4:8], "big")
            if len(self.buf) < 8 + size:
                break
            out.append((self.buf[0], self.buf[8:8 + size]))
            self.buf = self.buf[8 + size:]
        return out


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (waiting if the descriptor is non-blocking)."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        view = view[n:]


ENDED = "ended"
DETACHED = "detached"


def pump(conn: Hijacked, *, stdin_fd: int | None, stdout_fd: int = 1, stderr_fd: int = 2,
         tty: bool, keys: bytes = DEFAULT_DETACH_KEYS) -> str:
    """Copy between stdio and ``conn`` until the daemon ends the stream; ``DETACHED``
    when it ended after the detach keys were typed, else ``ENDED``. ``stdin_fd=None``
    sends nothing (no ``-i``)."""
    sock = conn.sock
    sock.setblocking(True)
    splitter = FrameSplitter() if conn.multiplexed else None
    scanner = EscapeScanner(keys) if tty and stdin_fd is not None and keys else None
    out_fds = {1: stdout_fd, 2: stderr_fd}

    def output(data: bytes) -> None:
        if splitter is None:
            write_all(stdout_fd, data)
            return
        for stream, payload in splitter.feed(data):
            if payload:
                write_all(out_fds.get(stream, stdout_fd), payload)

    if conn.leftover:
        output(conn.leftover)
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    if stdin_fd is not None:
        poller.register(stdin_fd, select.POLLIN)
    detached_at: float | None = None
    try:
        while True:
            timeout = None
            if detached_at is not None:
                timeout = max(0, int((detached_at + DETACH_GRACE - time.monotonic()) * 1000))
            events = poller.poll(timeout)
            if not events and detached_at is not None:
                return DETACHED  # the daemon did not end the stream: leave anyway
            for fd, _ev in events:
                if fd == sock.fileno():
                    try:
                        data = sock.recv(65536)
                    except ConnectionResetError:
                        data = b""
                    if not data:
                        return DETACHED if detached_at is not None else ENDED
                    output(data)
                elif stdin_fd is not None and fd == stdin_fd:
                    try:
                        data = os.read(stdin_fd, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        poller.unregister(stdin_fd)
                        stdin_fd = None
                        try:
                            sock.shutdown(_socket.SHUT_WR)
                        except OSError:
                            pass
                        continue
                    hit = False
                    if scanner is not None:
                        _, hit = scanner.feed(data)
                    try:
                        sock.sendall(data)
                    except (BrokenPipeError, ConnectionResetError):
                        poller.unregister(stdin_fd)
                        stdin_fd = None
                        continue
                    if hit:
                        detached_at = time.monotonic()
                        poller.unregister(stdin_fd)
                        stdin_fd = None
    finally:
        conn.close()
