"""A person at a terminal: ``dockyard run -it busybox sh`` driven through a pty (type a
command and see it, resize the window and see ``stty size`` follow, detach with ctrl-p
ctrl-q and find the container still running, ``attach`` again and ``exit 3`` → the CLI
exits 3), ``exec -it`` with its exit status, ``start -ai`` and custom detach keys; the
terminal's modes are back as they were after each command.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import CLI

pytestmark = pytest.mark.root


class Terminal:
    """``dockyard ARGS`` on the slave side of a fresh pty; this side types and reads."""

    def __init__(self, cli: CLI, *args: str, rows: int = 24, cols: int = 80) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: its stdio is the pty's slave
            try:
                os.execve(cli.path, [cli.path, *args], cli.env)
            finally:
                os._exit(127)
        self.resize(rows, cols, signal_child=False)
        self.seen = b""

    def resize(self, rows: int, cols: int, *, signal_child: bool = True) -> None:
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        if signal_child:  # what the terminal emulator's kernel does for its session
            os.kill(self.pid, signal.SIGWINCH)

    def type(self, text: bytes) -> None:
        os.write(self.fd, text)

    def expect(self, needle: bytes, timeout: float = 20) -> bytes:
        """Read until ``needle`` has been seen (since the last expect)."""
        deadline = time.monotonic() + timeout
        while needle not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{needle!r} not seen; got {self.seen!r}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                continue
            try:
                data = os.read(self.fd, 4096)
            except OSError:  # EIO: the child closed the slave
                data = b""
            if not data:
                raise AssertionError(f"{needle!r} not seen before the end; got {self.seen!r}")
            self.seen += data
        _, _, self.seen = self.seen.partition(needle)
        return needle

    def wait(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:  # keep the pty drained so the child never blocks writing
                if select.select([self.fd], [], [], 0.05)[0]:
                    self.seen += os.read(self.fd, 4096)
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        self.kill()
        raise AssertionError(f"dockyard did not exit; saw {self.seen!r}")

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        try:
            os.close(self.fd)
        except OSError:
            pass


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    made: list[Terminal] = []
    try:
        yield made
    finally:
        for t in made:
            t.kill()


def test_run_it_type_resize_detach_and_attach_again(dy: CLI,
                                                    terminals: list[Terminal]) -> None:
    t = Terminal(dy, "run", "-it", "--name", "cli-pty", "busybox", "sh", rows=30, cols=100)
    terminals.append(t)
    t.expect(b"# ")
    t.type(b"stty size; echo typed-$((40+2))\r")
    t.expect(b"30 100")
    t.expect(b"typed-42")  # the echo of the typing shows 40+2, only the shell prints 42
    t.resize(33, 111)
    time.sleep(0.2)  # the resize request goes out from the signal handler
    t.type(b"stty size\r")
    t.expect(b"33 111")
    t.type(b"\x10\x11")  # ctrl-p ctrl-q
    assert t.wait() == 0
    assert dy("inspect", "-f", "{{.State.Running}}", "cli-pty").stdout == "true\n"

    t2 = Terminal(dy, "attach", "cli-pty", rows=40, cols=120)
    terminals.append(t2)
    time.sleep(0.3)
    t2.type(b"stty size\r")
    t2.expect(b"40 120")  # attach resized the container's terminal to this window
    t2.type(b"\x10\x11")
    assert t2.wait() == 1  # docker's attach reports a detach as an error
    assert b"read escape sequence" in t2.seen

    t2 = Terminal(dy, "attach", "cli-pty", rows=40, cols=120)
    terminals.append(t2)
    time.sleep(0.3)
    t2.type(b"exit 3\r")
    assert t2.wait() == 3
    assert dy("inspect", "-f", "{{.State.ExitCode}}", "cli-pty").stdout == "3\n"


def test_exec_it_and_custom_detach_keys(dy: CLI, terminals: list[Terminal]) -> None:
    dy("run", "-d", "--name", "cli-pty-exec", "busybox", "sleep", "300")
    t = Terminal(dy, "exec", "-it", "cli-pty-exec", "sh", rows=20, cols=70)
    terminals.append(t)
    t.expect(b"# ")
    t.type(b"stty size; tty\r")
    t.expect(b"20 70")
    t.expect(b"/dev/pts/")
    t.type(b"exit 4\r")
    assert t.wait() == 4
    t = Terminal(dy, "exec", "-it", "cli-pty-exec", "sh")
    terminals.append(t)
    t.expect(b"# ")
    t.type(b"\x10\x11")
    assert t.wait() == 1 and b"read escape sequence" in t.seen

    t = Terminal(dy, "run", "-it", "--detach-keys", "ctrl-x,x", "--name", "cli-pty-keys",
                 "busybox", "sh")
    terminals.append(t)
    t.expect(b"# ")
    t.type(b"\x10\x11echo still-here\r")  # the default keys are plain input now
    t.expect(b"still-here")
    t.type(b"\x18x")
    assert t.wait() == 0
    assert dy("inspect", "-f", "{{.State.Running}}", "cli-pty-keys").stdout == "true\n"


def test_start_ai_and_the_terminal_restored(dy: CLI, terminals: list[Terminal]) -> None:
    dy("create", "-it", "--name", "cli-pty-start", "busybox", "sh")
    t = Terminal(dy, "start", "-ai", "cli-pty-start")
    terminals.append(t)
    before = termios.tcgetattr(t.fd)
    t.expect(b"# ")
    t.type(b"echo started\r")
    t.expect(b"started")
    t.type(b"exit 6\r")
    assert t.wait() == 6

    # After the CLI is gone, the pty it used has its modes back (echo, canonical input):
    master, slave = pty.openpty()
    try:
        pid = os.fork()
        if pid == 0:
            os.setsid()
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            os.execve(dy.path, [dy.path, "run", "--rm", "-it", "busybox", "true"], dy.env)
        os.close(slave)
        slave = -1
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    os.read(master, 4096)
                except OSError:
                    pass
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError("run -it true did not end")
        assert os.waitstatus_to_exitcode(status) == 0
        after = termios.tcgetattr(master)
        assert after[3] & termios.ECHO and after[3] & termios.ICANON
        assert before[3] & termios.ECHO
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def test_cp_reports_the_size_on_a_terminal(dy: CLI, terminals: list[Terminal],
                                           tmp_path: Path) -> None:
    dy("run", "-d", "--name", "cli-pty-cp", "busybox", "sleep", "300")
    (tmp_path / "f").write_text("abc\n")
    t = Terminal(dy, "cp", str(tmp_path / "f"), "cli-pty-cp:/tmp/")
    terminals.append(t)
    t.expect(b"Successfully copied 2.05kB to cli-pty-cp:/tmp/\r\n")  # as docker words it
    assert t.wait() == 0
    t = Terminal(dy, "cp", "cli-pty-cp:/tmp/f", str(tmp_path / "back"))
    terminals.append(t)
    t.expect(f"Successfully copied 2.05kB to {tmp_path / 'back'}\r\n".encode())
    assert t.wait() == 0
    assert (tmp_path / "back").read_text() == "abc\n"
    assert dy("cp", "-q", str(tmp_path / "f"), "cli-pty-cp:/tmp/g").stderr == ""
