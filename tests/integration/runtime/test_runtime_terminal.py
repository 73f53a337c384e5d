"""Terminals: process.terminal with --console-socket (the pty master arrives over a unix
socket with SCM_RIGHTS, as containerd receives it), tty name, window size, input, exec -t.
"""

from __future__ import annotations

import array
import errno
import fcntl
import os
import re
import select
import shutil
import socket
import struct
import tempfile
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Runtime

pytestmark = pytest.mark.root


class ConsoleSocket:
    """Listens on a unix socket and receives one pty master fd sent with SCM_RIGHTS."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(4)
        self._masters: list[int] = []
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.listen_once()

    def listen_once(self) -> None:
        """Accept the next connection in the background (one per console handed over)."""
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        try:
            self._server.settimeout(30)
            conn, _ = self._server.accept()
            with conn:
                fds = array.array("i")
                _msg, ancdata, _flags, _addr = conn.recvmsg(
                    4096, socket.CMSG_SPACE(4 * fds.itemsize))
                for level, kind, data in ancdata:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
                self._masters.extend(fds)
        except BaseException as e:  # reported by master()
            self._error = e

    def master(self, timeout: float = 10.0) -> int:
        """The received pty master fd (the test owns it now)."""
        assert self._thread is not None
        self._thread.join(timeout)
        assert self._error is None, f"console socket failed: {self._error!r}"
        assert self._masters, "no pty master received on the console socket"
        return self._masters.pop(0)

    def close(self) -> None:
        self._server.close()
        for fd in self._masters:
            os.close(fd)


@pytest.fixture
def console() -> Iterator[ConsoleSocket]:
    # A short directory: sun_path holds 108 bytes, pytest's tmp_path can be longer.
    d = Path(tempfile.mkdtemp(prefix="dy-cs-"))
    cs = ConsoleSocket(d / "console.sock")
    try:
        yield cs
    finally:
        cs.close()
        shutil.rmtree(d, ignore_errors=True)


def set_winsize(master: int, rows: int, cols: int) -> None:
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def read_until(master: int, pattern: str, timeout: float = 10.0) -> str:
    """Read the pty until ``pattern`` (a regex) matches, EOF/EIO, or the deadline."""
    data = b""
    deadline = time.monotonic() + timeout
    while not re.search(pattern, data.decode(errors="replace")):
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"timed out waiting for {pattern!r} on the pty; got {data!r}")
        ready, _, _ = select.select([master], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError as e:
            if e.errno == errno.EIO:  # every slave fd closed: the process is gone
                break
            raise
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


def terminal(spec: dict[str, Any]) -> None:
    spec["process"]["terminal"] = True
    spec["process"]["env"].append("TERM=xterm")


def test_terminal_tty_is_dev_pts_0(oci_runtime: Runtime, console: ConsoleSocket) -> None:
    script = "tty; for fd in 0 1 2; do readlink /proc/self/fd/$fd; done; echo END"
    box = oci_runtime.bundle(["sh", "-c", script], terminal)
    r = oci_runtime.run_detached(box, "--console-socket", str(console.path))
    assert r.returncode == 0, r
    master = console.master()
    try:
        out = read_until(master, "END")
    finally:
        os.close(master)
    assert out.split() == ["/dev/pts/0"] * 4 + ["END"], out
    assert "\r\n" in out, "the pty's line discipline turns \\n into \\r\\n"


def test_terminal_size_set_on_master_shows_in_stty(oci_runtime: Runtime,
                                                   console: ConsoleSocket) -> None:
    box = oci_runtime.bundle(["sh", "-c", "stty size; echo END"], terminal)
    r = oci_runtime.create(box, "--console-socket", str(console.path))
    assert r.returncode == 0, r
    master = console.master()
    try:
        set_winsize(master, 33, 101)
        assert oci_runtime.start(box.id).returncode == 0
        out = read_until(master, "END")
    finally:
        os.close(master)
    assert out.split() == ["33", "101", "END"], out


def test_terminal_resize_while_running_sends_sigwinch(oci_runtime: Runtime,
                                                      console: ConsoleSocket) -> None:
    script = "trap 'stty size' WINCH; echo ready; while :; do sleep 0.05; done"
    box = oci_runtime.bundle(["sh", "-c", script], terminal)
    assert oci_runtime.create(box, "--console-socket", str(console.path)).returncode == 0
    master = console.master()
    try:
        set_winsize(master, 24, 80)
        assert oci_runtime.start(box.id).returncode == 0
        read_until(master, "ready")
        set_winsize(master, 50, 132)
        read_until(master, "50 132")
    finally:
        os.close(master)


def test_terminal_input_reaches_the_process(oci_runtime: Runtime,
                                            console: ConsoleSocket) -> None:
    box = oci_runtime.bundle(["sh", "-c", "echo ready; read line; echo got:$line"], terminal)
    r = oci_runtime.run_detached(box, "--console-socket", str(console.path))
    assert r.returncode == 0, r
    master = console.master()
    try:
        read_until(master, "ready")
        os.write(master, b"typed text\n")
        out = read_until(master, r"got:typed text")
    finally:
        os.close(master)
    assert "got:typed text" in out


def test_exec_with_terminal(oci_runtime: Runtime, console: ConsoleSocket) -> None:
    box = oci_runtime.bundle(["sh", "-c", "echo up; exec sleep 100"])
    oci_runtime.started(box, ready="up")
    r = oci_runtime.exec(box.id, "sh", "-c", "tty; echo END",
                         flags=["-t", "-d", "--console-socket", str(console.path)])
    assert r.returncode == 0, r
    master = console.master()
    try:
        out = read_until(master, "END")
    finally:
        os.close(master)
    assert re.fullmatch(r"/dev/pts/\d+", out.split()[0]), out


def test_detached_terminal_without_console_socket_is_refused(oci_runtime: Runtime) -> None:
    box = oci_runtime.bundle(["tty"], terminal)
    r = oci_runtime.run_detached(box)
    assert r.returncode != 0, r
    assert "console" in r.stderr.lower() or "tty" in r.stderr.lower(), r.stderr
    assert oci_runtime.cli("list", "-q").stdout.split() == []


def test_console_socket_without_terminal_is_refused(oci_runtime: Runtime,
                                                    console: ConsoleSocket) -> None:
    box = oci_runtime.bundle(["true"])
    r = oci_runtime.run_detached(box, "--console-socket", str(console.path))
    assert r.returncode != 0, r
    assert "console" in r.stderr.lower(), r.stderr
