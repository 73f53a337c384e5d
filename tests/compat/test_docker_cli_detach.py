"""Detaching with the real docker CLI driven through a pseudo-terminal, as a person types:
``ctrl-p ctrl-q`` out of ``run -it``, ``attach`` and ``exec -it`` leaves the process
running; a custom ``--detach-keys``; a broken sequence reaches the container intact. (With
a terminal the CLI watches for the sequence itself, as against dockerd; the daemon's own
scanning is tested through the API in tests/integration/daemon/test_detach_keys.py.)"""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "daemon"))
import daemon_harness as harness

pytestmark = pytest.mark.root


class Terminal:
    """The docker CLI on a pty; ``expect`` reads until a text appears."""

    def __init__(self, d: harness.Daemon, *args: str) -> None:
        argv = ["timeout", "60", harness.DOCKER, *args]
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe(argv[0], argv, d.env())
        self.seen = b""

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:
            chunk = b""
        self.seen += chunk
        return bool(chunk)

    def expect(self, text: bytes, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} not seen; got {self.seen[-1000:]!r}"
            assert self._read(left), f"EOF before {text!r}; got {self.seen[-1000:]!r}"

    def send(self, *keys: bytes) -> None:
        """Each key in its own write, a little apart, as typed."""
        for key in keys:
            os.write(self.fd, key)
            time.sleep(0.05)

    def wait(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    while self._read(0.05) and select.select([self.fd], [], [], 0)[0]:
                        pass
                    return os.waitstatus_to_exitcode(status)
                self._read(0.05)
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
            raise AssertionError(f"the CLI did not exit; saw {self.seen[-1000:]!r}")
        finally:
            os.close(self.fd)


@pytest.fixture
def names(d: harness.Daemon) -> Iterator[list[str]]:
    made: list[str] = []
    try:
        yield made
    finally:
        for name in made:
            d.docker("rm", "-f", name)


def running(d: harness.Daemon, name: str) -> bool:
    return d.docker("inspect", "-f", "{{.State.Running}}", name,
                    check=True).stdout.strip() == "true"


def test_run_it_detach_attach_and_exit(d: harness.Daemon, names: list[str]) -> None:
    names.append("detach-sh")
    term = Terminal(d, "run", "-it", "--name", "detach-sh", "busybox", "sh")
    term.expect(b"# ")
    term.send(b"\x10", b"\x11")
    assert term.wait() == 0
    assert running(d, "detach-sh")

    term = Terminal(d, "attach", "detach-sh")
    time.sleep(0.3)
    term.send(b"echo back-$((40+2))\n")
    term.expect(b"back-42")
    term.send(b"\x10", b"\x11")
    # docker 28's attach reports the detach as its error: the message, then status 1.
    assert term.wait() == 1
    assert b"read escape sequence" in term.seen
    assert running(d, "detach-sh")

    term = Terminal(d, "exec", "-it", "detach-sh", "sh")
    term.expect(b"# ")
    term.send(b"sleep 1000 & echo exec-$((6*7))\n")
    term.expect(b"exec-42")
    term.send(b"\x10", b"\x11")
    term.wait()  # docker 28's exec -it returns 1 after a detach, as against dockerd
    top = d.docker("top", "detach-sh", check=True).stdout
    assert top.count(" sh\n") == 2 and "sleep 1000" in top, top  # the exec's sh lives on

    term = Terminal(d, "attach", "detach-sh")
    time.sleep(0.3)
    term.send(b"exit 3\n")
    assert term.wait() == 3
    assert not running(d, "detach-sh")


def test_custom_keys_and_a_broken_sequence(d: harness.Daemon, names: list[str]) -> None:
    names.append("detach-cat")
    # cat on a terminal: the terminal echoes a ctrl-p it receives as "^P".
    term = Terminal(d, "run", "-it", "--name", "detach-cat", "busybox", "cat")
    time.sleep(0.5)
    term.send(b"x", b"\x10", b"a", b"\n")  # ctrl-p then 'a': not the sequence
    term.expect(b"x^Pa\r\n")
    term.send(b"\x10", b"\x11")
    assert term.wait() == 0
    assert running(d, "detach-cat")

    term = Terminal(d, "attach", "--detach-keys", "ctrl-x,x", "detach-cat")
    time.sleep(0.3)
    term.send(b"\x10", b"y", b"\n")  # the default sequence means nothing now
    term.expect(b"^Py\r\n")
    term.send(b"\x18", b"x")
    assert term.wait() == 1 and b"read escape sequence" in term.seen
    assert running(d, "detach-cat")
