"""Terminals: receiving a pty master over a console socket, and sizing it.

The OCI runtimes' ``--console-socket`` protocol (runc ``utils.SendFd``/``RecvFd``): the
runtime allocates the pty inside the container, connects to the unix socket the caller
listens on, and sends one ``sendmsg`` whose payload is the terminal's name and whose
SCM_RIGHTS ancillary data is the master descriptor. The runtime does not wait for the
caller to accept: the connection and the message sit in the socket's queue, so a
single-threaded caller can run ``runtime create`` to completion and accept afterwards.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import struct
import tempfile
import termios

from dockyard import errors
from dockyard.runtime.supervisor.protocol import recv_with_fds
from dockyard.runtime.supervisor.records import MAX_UNIX_PATH

_WINSIZE = struct.Struct("HHHH")
_MAX_NAME = 4096


class ConsoleListener:
    """A listening console socket for one create or exec; ``close`` removes it.

    The socket goes to ``preferred_path`` when that fits in ``sun_path``; otherwise to a
    fresh directory under the system's temporary directory (as containerd does).
    """

    __slots__ = ("_sock", "_tmpdir", "path")

    def __init__(self, preferred_path: str) -> None:
        self._tmpdir: str | None = None
        if len(preferred_path) > MAX_UNIX_PATH:
            self._tmpdir = tempfile.mkdtemp(prefix="dy-pty-")
            preferred_path = os.path.join(self._tmpdir, "pty.sock")
        self.path = preferred_path
        if os.path.lexists(self.path):
            os.unlink(self.path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            self._sock.bind(self.path)
            os.chmod(self.path, 0o600)
            self._sock.listen(1)
        except BaseException:
            self.close()
            raise

    def receive_master(self, timeout: float = 10.0) -> int:
        """Accept the runtime's connection and return the pty master it sent (non-blocking)."""
        self._sock.settimeout(timeout)
        try:
            conn, _ = self._sock.accept()
        except TimeoutError:
            raise errors.Internal("the runtime did not send the terminal's master") from None
        with conn:
            conn.settimeout(timeout)
            _name, fds = recv_with_fds(conn, _MAX_NAME, 1)
        if len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise errors.Internal(f"console socket: expected one descriptor, got {len(fds)}")
        os.set_blocking(fds[0], False)
        return fds[0]

    def close(self) -> None:
        self._sock_close()
        if os.path.lexists(self.path):
            os.unlink(self.path)
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    def _sock_close(self) -> None:
        sock = getattr(self, "_sock", None)
        if sock is not None:
            sock.close()

    def __enter__(self) -> ConsoleListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def set_size(fd: int, rows: int, cols: int) -> None:
    """TIOCSWINSZ on a pty master; the kernel sends SIGWINCH to the foreground group."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, _WINSIZE.pack(rows, cols, 0, 0))


def get_size(fd: int) -> tuple[int, int]:
    """(rows, columns) of a terminal."""
    rows, cols, _, _ = _WINSIZE.unpack(fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    return rows, cols
