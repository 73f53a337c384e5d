"""Shared by the ``dockyard`` CLI tests: the module daemon, and two ways to run the CLI
against it: :class:`CLI` as a person does (the ``-I -S`` launcher that bootstrap.sh
installs, written for the test into the daemon's temp root) and :func:`python_m_cli`
(``python -m dockyard.cli``, the test runner's interpreter)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "daemon"))
import daemon_harness as harness

__all__ = ["CLI", "cli_env", "cli_session", "harness", "module_daemon", "python_m_cli"]


def module_daemon(prefix: str) -> Iterator[harness.Daemon]:
    """The body of a test module's ``d`` fixture (``yield from module_daemon(...)``): a
    started daemon, checked for logged errors after the module's tests, cleaned up."""
    if os.geteuid() != 0:
        pytest.skip("the daemon needs root")
    daemon = harness.new_daemon(prefix=prefix)
    try:
        daemon.start()
        yield daemon
        assert daemon.errors() == [], daemon.tail(80)
    finally:
        daemon.cleanup()


def cli_env(d: harness.Daemon) -> dict[str, str]:
    """The runner's environment without its DOCKER_*/DOCKYARD_* settings, pointed at d."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "DOCKYARD_"))}
    env["DOCKYARD_HOST"] = d.host
    return env


def _as_text(d: harness.Daemon, args: tuple[str, ...], proc: subprocess.CompletedProcess[bytes],
             check: bool) -> subprocess.CompletedProcess[str]:
    """The finished command with its output decoded; a failure (when ``check``) raised
    with the output and the daemon's last log lines."""
    out = subprocess.CompletedProcess(proc.args, proc.returncode,
                                      proc.stdout.decode(errors="replace"),
                                      proc.stderr.decode(errors="replace"))
    if check and out.returncode != 0:
        raise AssertionError(f"dockyard {' '.join(args)} exited {out.returncode}:\n"
                             f"{out.stdout}\n{out.stderr}\n--- daemon:\n{d.tail(30)}")
    return out


def python_m_cli(d: harness.Daemon, *args: str, input: bytes | None = None,
                 check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m dockyard.cli ARGS`` against d."""
    proc = subprocess.run([sys.executable, "-m", "dockyard.cli", *args], input=input,
                          capture_output=True, env=cli_env(d), timeout=timeout, check=False)
    return _as_text(d, args, proc, check)


class CLI:
    """``dockyard`` bound to one daemon."""

    def __init__(self, d: harness.Daemon) -> None:
        from dockyard.cli.launcher import install

        self.d = d
        self.path = str(d.root / "dockyard")
        install(self.path)
        self.env = cli_env(d)

    def raw(self, *args: str, input: bytes | None = None, timeout: float = 60,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([self.path, *args], input=input, capture_output=True,
                              env={**self.env, **(env or {})}, timeout=timeout, check=False)

    def __call__(self, *args: str, input: str | None = None, check: bool = True,
                 timeout: float = 60, env: dict[str, str] | None = None
                 ) -> subprocess.CompletedProcess[str]:
        proc = self.raw(*args, input=input.encode() if input is not None else None,
                        timeout=timeout, env=env)
        return _as_text(self.d, args, proc, check)

    def remove_all(self) -> None:
        ids = self("ps", "-aq", check=False).stdout.split()
        if ids:
            self("rm", "-f", *ids, check=False)


def cli_session(d: harness.Daemon, env: dict[str, str] | None = None) -> Iterator[CLI]:
    """The body of a ``dy`` fixture: a :class:`CLI` on d (with ``env`` added to its
    environment); every container removed after."""
    cli = CLI(d)
    cli.env.update(env or {})
    try:
        yield cli
    finally:
        cli.remove_all()
