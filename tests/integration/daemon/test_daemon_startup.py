"""dockyardd's start-up and shutdown: flags, config file, socket, the lock, live restore's
"SIGTERM stops the daemon, not the containers", recovery of what a crash left."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable

import daemon_harness as harness

Daemon = harness.Daemon


def test_socket_mode_pid_file_and_layouts(new_daemon: Callable[[], Daemon]) -> None:
    d = new_daemon()
    d.start()
    assert stat.S_IMODE(os.stat(d.socket).st_mode) == 0o660
    assert (d.exec_root / "dockyardd.pid").read_text().strip() == str(d.proc.pid)
    for root in (d.data_root, d.exec_root):
        assert json.loads((root / "layout.json").read_text()) == {"schema": 1}
    assert (d.exec_root / "supervisor" / "supervisor.sock").exists()
    assert d.stop() == 0
    assert not d.socket.exists()


def test_second_daemon_on_the_same_data_root_is_refused(new_daemon: Callable[[], Daemon]
                                                        ) -> None:
    d = new_daemon()
    d.start()
    other = subprocess.run(
        [sys.executable, "-m", "dockyard.entrypoints.dockyardd", "--data-root",
         str(d.data_root), "--exec-root", str(d.root / "run2"), "-H",
         f"unix://{d.root}/other.sock"], capture_output=True, text=True, timeout=60)
    assert other.returncode == 1
    assert "another dockyardd" in other.stderr and str(d.proc.pid) in other.stderr
    assert d.request("GET", "/_ping").status == 200


def test_config_file_and_flags(new_daemon: Callable[[], Daemon]) -> None:
    d = new_daemon()
    cfg = d.root / "daemon.json"
    cfg.write_text(json.dumps({"log-level": "info", "init-path": "/usr/bin/tini-static"}))
    d.extra_args = ["--config-file", str(cfg)]
    # --log-level is also a flag of the harness: a directive given both ways is refused.
    proc = subprocess.run(d.command(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "both as a flag and in the configuration file: log-level" in proc.stderr
    cfg.write_text(json.dumps({"init-path": "/usr/bin/tini-static", "bogus": 1}))
    proc = subprocess.run(d.command(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "unknown directive 'bogus'" in proc.stderr
    cfg.write_text(json.dumps({"init-path": "/usr/bin/tini-static"}))
    d.start()
    assert d.request("GET", "/info").json()["InitBinary"] == "/usr/bin/tini-static"


def test_sigterm_stops_the_daemon_not_the_containers(new_daemon: Callable[[], Daemon]
                                                     ) -> None:
    d = new_daemon()
    d.start()
    cid = d.docker("run", "-d", "busybox", "sleep", "300", check=True).stdout.strip()
    pid = d.request("GET", f"/containers/{cid}/json").json()["State"]["Pid"]
    sv = d.supervisor_pid()
    assert d.stop(signal.SIGTERM) == 0
    assert harness.pid_alive(pid) and sv is not None and harness.pid_alive(sv)
    d.start()
    assert d.supervisor_pid() == sv
    state = d.request("GET", f"/containers/{cid}/json").json()["State"]
    assert state["Running"] and state["Pid"] == pid
    assert d.docker("rm", "-f", cid).returncode == 0
    assert not harness.pid_alive(pid)
    assert d.leftovers() == []


def test_sigterm_with_open_streams_stops_promptly(new_daemon: Callable[[], Daemon]) -> None:
    d = new_daemon()
    d.start()
    cid = d.docker("run", "-d", "busybox", "sleep", "300", check=True).stdout.strip()
    waiter = subprocess.Popen(["timeout", "60", harness.DOCKER, "wait", cid], env=d.env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    follower = subprocess.Popen(["timeout", "60", harness.DOCKER, "logs", "-f", cid],
                                env=d.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)
        t0 = time.monotonic()
        assert d.stop(signal.SIGTERM) == 0
        assert time.monotonic() - t0 < 8
    finally:
        for p in (waiter, follower):
            p.kill()
            p.wait()
    d.start()
    assert d.docker("rm", "-f", cid, check=True).returncode == 0


def test_recovery_cleans_what_a_crash_left(new_daemon: Callable[[], Daemon]) -> None:
    d = new_daemon()
    d.start()
    d.stop()
    # A create that died half-way (a directory without a record), a stale bundle.
    junk = "0" * 63 + "1"
    (d.data_root / "containers" / junk).mkdir()
    (d.exec_root / "bundles" / junk / "rootfs").mkdir(parents=True)
    d.start()
    assert not (d.data_root / "containers" / junk).exists()
    assert not (d.exec_root / "bundles" / junk).exists()
    assert d.request("GET", "/containers/json?all=1").json() == []


def test_startup_time(new_daemon: Callable[[], Daemon]) -> None:
    d = new_daemon()
    t0 = time.monotonic()
    d.start()
    assert time.monotonic() - t0 < 10, d.tail()
