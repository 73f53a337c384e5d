"""``docker run -it`` driven through a pseudo-terminal, typing into ``sh``, as a person
would; the window size reaches the container (the CLI's resize calls)."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "daemon"))
import daemon_harness as harness

pytestmark = pytest.mark.root


class Terminal:
    """A child process on a pty; ``expect`` reads until a text appears."""

    def __init__(self, argv: list[str], env: dict[str, str], rows: int = 30,
                 cols: int = 100) -> None:
        import fcntl
        import struct
        import termios

        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe(argv[0], argv, env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.seen = b""

    def expect(self, text: bytes, timeout: float = 20.0) -> bytes:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{text!r} not seen; got {self.seen[-2000:]!r}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"EOF before {text!r}; got {self.seen[-2000:]!r}")
                self.seen += chunk
        return self.seen

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    self.seen += os.read(self.fd, 4096)
                except OSError:
                    pass
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        raise AssertionError(f"the CLI did not exit; saw {self.seen[-2000:]!r}")


def test_run_it_typing_into_sh(d: harness.Daemon) -> None:
    term = Terminal(["timeout", "60", harness.DOCKER, "run", "-it", "--rm", "busybox", "sh"],
                    d.env())
    term.expect(b"# ")
    term.send(b"echo hello-$((40+2))\n")
    term.expect(b"hello-42")
    term.send(b"stty size; tty\n")
    term.expect(b"/dev/pts/0")
    assert b"30 100" in term.seen
    term.send(b"exit 5\n")
    assert term.wait() == 5
    assert d.docker("ps", "-aq", check=True).stdout == ""
