"""Registries the tests push to and pull from, each a process of its own (own process
group, loopback only, stopped whatever happens): ours (``dockyard registry serve``) and
Debian's docker-registry (distribution 2.8, the reference); and a throttled, recording
loopback proxy in front of one.

Not a test module: ``tests/conftest.py`` puts this directory on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")
REFERENCE_REGISTRY = "/usr/bin/docker-registry"


@dataclass
class Registry:
    host: str  # 127.0.0.1:port
    root: Path
    access_log: Path | None = None


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it after 10 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@contextlib.contextmanager
def our_registry(root: Path, *args: str) -> Iterator[str]:
    """``dockyard registry serve`` on a free loopback port with its storage under
    ``root`` (``args``: more flags); yields its ``127.0.0.1:port``."""
    proc = subprocess.Popen([sys.executable, "-m", "dockyard.registry.cli", "serve",
                             "--listen", "127.0.0.1:0", "--storage", str(root / "store"),
                             *args],
                            stdout=subprocess.PIPE,
                            stderr=open(root / "server.log", "wb"),  # noqa: SIM115
                            env=dict(os.environ, PYTHONPATH=SRC), cwd=root,
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        m = re.search(r"listening on http://(127\.0\.0\.1:\d+)", line)
        assert m, f"registry did not start: {line!r} {(root / 'server.log').read_text()}"
        yield m.group(1)
    finally:
        stop(proc)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def reference_registry(root: Path, *, level: str = "info", auth: str = "") -> Iterator[str]:
    """Debian's docker-registry on a free loopback port, its storage under ``root``
    (``auth``: the config's ``auth:`` value, none by default); yields ``127.0.0.1:port``."""
    port = free_port()
    auth_line = f"auth: {auth}\n" if auth else ""
    (root / "config.yml").write_text(f"""version: 0.1
log: {{level: {level}}}
storage: {{filesystem: {{rootdirectory: {root / 'store'}}}, delete: {{enabled: true}}}}
http: {{addr: "127.0.0.1:{port}"}}
{auth_line}""")
    proc = subprocess.Popen([REFERENCE_REGISTRY, "serve", str(root / "config.yml")],
                            stdout=subprocess.DEVNULL,
                            stderr=open(root / "registry.log", "wb"),  # noqa: SIM115
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((root / "registry.log").read_text()) from None
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        stop(proc)


@dataclass
class Proxy:
    host: str
    rate: list[int]
    sent: list[bytes] = field(default_factory=list)

    def ranges(self) -> list[str]:
        return re.findall(r"(?im)^range: (bytes=\d+-)", b"".join(self.sent).decode("latin-1"))


@contextlib.contextmanager
def throttled_proxy(upstream: str, rate: int) -> Iterator[Proxy]:
    """A loopback TCP proxy to ``upstream`` sending answers back at ``proxy.rate[0]``
    bytes a second, recording what clients send."""
    listener = socket.create_server(("127.0.0.1", 0))
    host, port = upstream.rsplit(":", 1)
    socks: list[socket.socket] = [listener]
    proxy = Proxy(f"127.0.0.1:{listener.getsockname()[1]}", [rate])

    def pump(src: socket.socket, dst: socket.socket, slow: bool) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(32768):
                if not slow:
                    proxy.sent.append(data)
                dst.sendall(data)
                if slow:
                    time.sleep(len(data) / proxy.rate[0])
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                server = socket.create_connection((host, int(port)))
                socks.extend((client, server))
                for args in ((client, server, False), (server, client, True)):
                    threading.Thread(target=pump, args=args, daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield proxy
    finally:
        for s in socks:
            with contextlib.suppress(OSError):
                s.close()
