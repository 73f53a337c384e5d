"""``dockyard registry serve`` (issue 7's spelling) serves the Distribution API."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_dockyard_registry_serve_answers_v2(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard.cli.main", "registry", "serve",
         "--listen", f"127.0.0.1:{port}", "--storage", str(tmp_path / "store")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/v2/")
                resp = conn.getresponse()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        assert resp.status == 200
        assert resp.getheader("Docker-Distribution-API-Version") == "registry/2.0"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def test_dockyard_unknown_command_is_usage_error() -> None:
    r = subprocess.run([sys.executable, "-m", "dockyard.cli.main", "frobnicate"],
                       capture_output=True, text=True)
    assert r.returncode == 1  # the docker CLI's status for an unknown command
    assert "unknown command" in r.stderr
