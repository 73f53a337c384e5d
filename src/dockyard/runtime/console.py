"""Terminals: a pty made inside the container's devpts, its master handed over a socket.

This is the ``--console-socket`` protocol of runc: the runtime connects to a unix socket
the caller listens on and sends the pty master with SCM_RIGHTS (the message body is the
slave's name). ``setup_console`` runs in the init after pivot_root; ``receive_master`` and
``proxy`` are for a caller that runs a container in the foreground.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import socket
import struct
import termios
import tty
from collections.abc import Callable

TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431


def set_winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def get_winsize(fd: int) -> tuple[int, int]:
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    return rows, cols


def setup_console(sock_fd: int, uid: int, gid: int, size: tuple[int, int] | None) -> None:
    """In the init, after pivot_root: new pty, master sent away, slave becomes stdio + ctty."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        num = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
        slave_path = f"/dev/pts/{num}"
        slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY)
        if size is not None and size[0] and size[1]:
            set_winsize(master, size[0], size[1])
        sock = socket.socket(fileno=sock_fd)
        try:
            socket.send_fds(sock, [slave_path.encode()], [master])
        finally:
            sock.close()
    finally:
        os.close(master)
    os.fchown(slave, uid, gid)
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def pair() -> tuple[socket.socket, socket.socket]:
    """A connected pair for a foreground caller: (ours, the runtime's console socket)."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)


def recv_master(conn: socket.socket) -> int:
    """The pty master sent over a connected console socket."""
    _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
    if not fds:
        raise OSError("console socket: no file descriptor received")
    return fds[0]


def receive_master(listener: socket.socket) -> int:
    """Accept one connection on a console socket and return the pty master it carries."""
    conn, _ = listener.accept()
    with conn:
        _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
    if not fds:
        raise OSError("console socket: no file descriptor received")
    return fds[0]


def proxy(master: int, child_alive: Callable[[], bool]) -> None:
    """Copy our stdin to the pty and the pty to our stdout until the pty closes.

    Puts our stdin in raw mode when it is a terminal, forwarding its size (and SIGWINCH).
    """
    stdin_tty = os.isatty(0)
    saved = None
    if stdin_tty:
        saved = termios.tcgetattr(0)
        tty.setraw(0)
        rows, cols = get_winsize(0)
        set_winsize(master, rows, cols)

        def on_winch(_sig: int, _frame: object) -> None:
            r, c = get_winsize(0)
            set_winsize(master, r, c)

        signal.signal(signal.SIGWINCH, on_winch)
    inputs = [master, 0]
    try:
        while True:
            try:
                ready, _, _ = select.select(inputs, [], [], 0.5)
            except InterruptedError:
                continue
            if not ready:
                if not child_alive():
                    # Output may still be buffered in the pty: drain without blocking.
                    ready = select.select([master], [], [], 0)[0]
                    if not ready:
                        return
                else:
                    continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every slave fd is closed
                    return
                if not data:
                    return
                os.write(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if not data:
                    inputs.remove(0)
                else:
                    os.write(master, data)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)

