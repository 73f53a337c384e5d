"""Shared by the ``dockyard`` container-command tests: a module daemon and a way to run
the CLI the way a person does (the ``-I -S`` launcher that bootstrap.sh installs,
written for the test into the daemon's temp root)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "daemon"))
import daemon_harness as harness

__all__ = ["CLI", "harness"]


class CLI:
    """``dockyard`` bound to one daemon."""

    def __init__(self, d: harness.Daemon) -> None:
        from dockyard.cli.launcher import install

        self.d = d
        self.path = str(d.root / "dockyard")
        install(self.path)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("DOCKER_", "DOCKYARD_"))}
        self.env["DOCKYARD_HOST"] = d.host

    def raw(self, *args: str, input: bytes | None = None, timeout: float = 60,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([self.path, *args], input=input, capture_output=True,
                              env={**self.env, **(env or {})}, timeout=timeout, check=False)

    def __call__(self, *args: str, input: str | None = None, check: bool = True,
                 timeout: float = 60, env: dict[str, str] | None = None
                 ) -> subprocess.CompletedProcess[str]:
        proc = self.raw(*args, input=input.encode() if input is not None else None,
                        timeout=timeout, env=env)
        out = subprocess.CompletedProcess(proc.args, proc.returncode,
                                          proc.stdout.decode(errors="replace"),
                                          proc.stderr.decode(errors="replace"))
        if check and out.returncode != 0:
            raise AssertionError(f"dockyard {' '.join(args)} exited {out.returncode}:\n"
                                 f"{out.stdout}\n{out.stderr}\n--- daemon:\n"
                                 f"{self.d.tail(30)}")
        return out

    def remove_all(self) -> None:
        ids = self("ps", "-aq", check=False).stdout.split()
        if ids:
            self("rm", "-f", *ids, check=False)
