"""``dockyard`` container commands against a real dockyardd (no terminal here; the pty
tests are in test_cli_interactive.py): run and its flags as the container sees them,
create/start/wait/logs, ps, stop/kill/restart/pause/unpause/rename/rm, top, port,
inspect, exec, stats, cp, diff, commit, export, update, container prune, and the exit
statuses (the container's, 125/126/127, 1 for daemon errors).

One daemon for the module; every command has a timeout; each test removes what it made
(``clean`` runs ``rm -f`` on every container even when the test failed).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import CLI, harness

pytestmark = pytest.mark.root


def test_run_output_streams_and_exit_statuses(dy: CLI) -> None:
    r = dy("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 7",
           check=False)
    assert (r.returncode, r.stdout, r.stderr) == (7, "out\n", "err\n")
    r = dy("run", "--rm", "busybox", "nonexistent-cmd", check=False)
    assert r.returncode == 127
    assert r.stderr.startswith("dockyard: Error response from daemon: ")
    assert "executable file not found" in r.stderr
    assert r.stderr.endswith("\n\nRun 'dockyard run --help' for more information\n")
    assert dy("run", "--rm", "busybox", "/etc", check=False).returncode == 126
    r = dy("run", "--rm", "--pull", "never", "no-such-image:1", check=False)
    assert r.returncode == 125 and "No such image" in r.stderr
    assert dy("ps", "-aq").stdout == ""  # --rm removed them all


def test_run_flags_reach_the_container(dy: CLI, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\nFROM_FILE=1\n")
    (tmp_path / "bind").mkdir()
    (tmp_path / "bind" / "f").write_text("from host\n")
    script = ("echo $A $FROM_FILE; pwd; id -u; hostname; cat /b/f /m/f; "
              "touch / 2>/dev/null || echo ro; cat /sys/fs/cgroup/pids/pids.max; "
              "ls /sys/class/net")
    r = dy("run", "--rm", "-e", "A=a", "--env-file", str(env_file), "-w", "/tmp",
           "-u", "1000", "-h", "boxname", "-v", f"{tmp_path}/bind:/b:ro",
           "--mount", f"type=bind,source={tmp_path}/bind,target=/m,readonly",
           "--read-only", "--pids-limit", "33", "--network", "none", "busybox", "sh", "-c",
           script)
    assert r.stdout.split("\n")[:9] == ["a 1", "/tmp", "1000", "boxname",
                                        "from host", "from host", "ro", "33", "lo"]
    r = dy("run", "--rm", "--entrypoint", "echo", "busybox", "via", "entrypoint")
    assert r.stdout == "via entrypoint\n"
    r = dy("run", "--rm", "--cap-drop", "ALL", "busybox", "grep", "CapEff", "/proc/self/status")
    assert r.stdout.split() == ["CapEff:", "0000000000000000"]


def test_create_body_seen_by_inspect(dy: CLI) -> None:
    cid = dy("create", "--name", "cli-inspected", "-l", "k=v", "--memory", "64m",
             "--cpus", "0.5", "--cpu-shares", "512", "--restart", "on-failure:2",
             "--stop-signal", "SIGINT", "--stop-timeout", "3", "--init",
             "--log-opt", "max-size=1m", "--health-cmd", "true", "--health-interval",
             "5s", "busybox", "sleep", "1").stdout.strip()
    assert len(cid) == 64
    fmt = ("{{.Name}}|{{index .Config.Labels \"k\"}}|{{.HostConfig.Memory}}|"
           "{{.HostConfig.NanoCpus}}|{{.HostConfig.CpuShares}}|"
           "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}|"
           "{{.Config.StopSignal}}|{{.Config.StopTimeout}}|{{.HostConfig.Init}}|"
           "{{index .HostConfig.LogConfig.Config \"max-size\"}}|{{json .Config.Healthcheck.Test}}|"
           "{{.Config.Healthcheck.Interval}}|{{.State.Status}}")
    assert dy("inspect", "-f", fmt, "cli-inspected").stdout == (
        '/cli-inspected|v|67108864|500000000|512|on-failure:2|SIGINT|3|true|1m|'
        '["CMD-SHELL","true"]|5000000000|created\n')
    assert dy("container", "inspect", "-f", "{{.Id}}", cid[:12]).stdout == cid + "\n"
    r = dy("inspect", "cli-inspected", "nope", check=False)
    assert r.returncode == 1 and r.stderr == "Error: No such object: nope\n"
    assert r.stdout.startswith("[\n    {\n        \"Id\": ")
    r = dy("inspect", "--type", "container", "nope", check=False)
    assert r.stderr == "Error response from daemon: No such container: nope\n"
    assert dy("inspect", "-f", "{{.Id}}", "busybox").stdout.startswith("sha256:")


def test_start_attach_wait_and_logs(dy: CLI) -> None:
    dy("create", "--name", "cli-logs", "busybox", "sh", "-c",
       "echo one; echo two >&2; echo three; exit 4")
    r = dy("start", "-a", "cli-logs", check=False)
    assert (r.returncode, r.stdout, r.stderr) == (4, "one\nthree\n", "two\n")
    assert dy("wait", "cli-logs").stdout == "4\n"
    r = dy("logs", "cli-logs")
    assert (r.stdout, r.stderr) == ("one\nthree\n", "two\n")
    stamped = dy("logs", "-t", "cli-logs").stdout.splitlines()
    assert stamped[0].endswith("Z one") and stamped[0][:4].isdigit()
    assert dy("logs", "--until", "2000-01-01", "cli-logs").stdout == ""
    assert dy("logs", "--since", "1h", "cli-logs").stdout == "one\nthree\n"
    dy("run", "-d", "--name", "cli-follow", "busybox", "sh", "-c",
       "for i in 1 2 3; do echo $i; sleep 0.1; done")
    assert dy("logs", "-f", "cli-follow", timeout=30).stdout == "1\n2\n3\n"
    assert dy("logs", "--tail", "1", "cli-follow").stdout == "3\n"
    assert dy("logs", "-n", "2", "cli-follow").stdout == "2\n3\n"
    r = dy("logs", "nope", check=False)
    assert r.returncode == 1 and r.stderr == "Error response from daemon: No such container: nope\n"


def test_ps_listing_and_formats(dy: CLI) -> None:
    up = dy("run", "-d", "--name", "cli-ps-up", "-l", "role=web", "busybox",
            "sleep", "300").stdout.strip()
    dy("run", "--name", "cli-ps-done", "busybox", "true")
    lines = dy("ps").stdout.splitlines()
    assert lines[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                                "PORTS", "NAMES"]
    assert len(lines) == 2 and lines[1].startswith(up[:12] + "   busybox   \"sleep 300\"")
    assert "Up " in lines[1] and lines[1].endswith("cli-ps-up")
    assert dy("ps", "-q").stdout == up[:12] + "\n"
    assert dy("ps", "-q", "--no-trunc").stdout == up + "\n"
    assert dy("ps", "-a", "--format", "{{.Names}}").stdout == "cli-ps-done\ncli-ps-up\n"
    assert dy("ps", "-l", "--format", "{{.Names}} {{.State}}").stdout == "cli-ps-done exited\n"
    assert dy("ps", "-n", "2", "-q").stdout.count("\n") == 2
    r = dy("ps", "-a", "--filter", "status=exited", "--format", "table {{.Names}}\t{{.Status}}")
    assert r.stdout.splitlines()[0].split() == ["NAMES", "STATUS"]
    assert r.stdout.splitlines()[1].startswith("cli-ps-done   Exited (0) ")
    assert dy("ps", "--filter", "label=role=web", "--format", '{{.Label "role"}}').stdout == \
        "web\n"
    sized = dy("ps", "-s").stdout.splitlines()
    assert sized[0].split()[-1] == "SIZE" and "(virtual " in sized[1]
    assert '"Names":"cli-ps-up"' in dy("ps", "--format", "json").stdout
    r = dy("ps", "--format", "{{.Nope}", check=False)
    assert r.returncode == 1 and "template parsing error" in r.stderr
    assert dy("container", "ls", "-q").stdout == up[:12] + "\n"


def test_lifecycle_commands(dy: CLI) -> None:
    dy("run", "-d", "--name", "cli-life", "busybox", "sleep", "300")
    assert dy("pause", "cli-life").stdout == "cli-life\n"
    assert dy("inspect", "-f", "{{.State.Status}}", "cli-life").stdout == "paused\n"
    assert dy("unpause", "cli-life").stdout == "cli-life\n"
    top = dy("top", "cli-life").stdout.splitlines()
    assert top[0].split()[:3] == ["UID", "PID", "PPID"] and top[1].endswith("sleep 300")
    assert dy("top", "cli-life", "-o", "pid,comm").stdout.splitlines()[1].endswith("sleep")
    assert dy("rename", "cli-life", "cli-life2").stdout == ""
    assert dy("restart", "-t", "0", "cli-life2").stdout == "cli-life2\n"
    assert dy("inspect", "-f", "{{.RestartCount}} {{.State.Running}}",
              "cli-life2").stdout.split()[1] == "true"
    assert dy("kill", "-s", "KILL", "cli-life2").stdout == "cli-life2\n"
    assert dy("wait", "cli-life2").stdout == "137\n"
    assert dy("start", "cli-life2").stdout == "cli-life2\n"
    assert dy("stop", "-t", "1", "cli-life2").stdout == "cli-life2\n"
    r = dy("stop", "cli-life2", "ghost", check=False)
    assert r.returncode == 1 and r.stdout == "cli-life2\n"
    assert r.stderr == "Error response from daemon: No such container: ghost\n"
    r = dy("start", "ghost", check=False)
    assert r.stderr.endswith("Error: failed to start containers: ghost\n")
    assert dy("port", "cli-life2").stdout == ""
    dy("run", "-d", "--name", "cli-life3", "busybox", "sleep", "300")
    r = dy("rm", "cli-life3", check=False)
    assert r.returncode == 1 and "stop the container before removing" in r.stderr
    assert dy("rm", "-f", "cli-life2", "cli-life3").stdout == "cli-life2\ncli-life3\n"
    assert dy("ps", "-aq").stdout == ""


def test_exec_variants(dy: CLI) -> None:
    dy("run", "-d", "--name", "cli-exec", "busybox", "sleep", "300")
    r = dy("exec", "-e", "X=1", "-w", "/tmp", "-u", "1000", "cli-exec", "sh", "-c",
           "echo $X; pwd; id -u; echo e >&2; exit 5", check=False)
    assert (r.returncode, r.stdout, r.stderr) == (5, "1\n/tmp\n1000\n", "e\n")
    assert dy("exec", "-i", "cli-exec", "cat", input="piped\n").stdout == "piped\n"
    assert dy("exec", "-d", "cli-exec", "touch", "/tmp/detached").stdout == ""
    for _ in range(50):
        if dy("exec", "cli-exec", "test", "-e", "/tmp/detached", check=False).returncode == 0:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("exec -d did not run")
    assert dy("exec", "cli-exec", "nope", check=False).returncode == 127
    r = dy("exec", "--privileged", "cli-exec", "grep", "CapEff", "/proc/self/status")
    assert r.stdout.split()[1] != "00000000a80425fb"
    dy("stop", "-t", "0", "cli-exec")
    r = dy("exec", "cli-exec", "true", check=False)
    assert r.returncode == 1 and "is not running" in r.stderr


def test_signals_are_proxied_without_a_tty(dy: CLI) -> None:
    proc = subprocess.Popen(
        [dy.path, "run", "--rm", "--name", "cli-sig", "busybox", "sh", "-c",
         "trap 'echo got TERM; exit 42' TERM; echo ready; while true; do sleep 0.1; done"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dy.env)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert out == b"got TERM\n" and proc.returncode == 42
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for_attach(d: harness.Daemon, name: str, since: float) -> None:
    """Until the daemon has published an ``attach`` event for ``name``."""
    import json
    from urllib.parse import quote

    filters = quote(json.dumps({"event": ["attach"], "container": [name]}))
    for _ in range(200):
        r = d.request("GET", f"/events?since={since}&until={time.time()}&filters={filters}")
        if r.body.strip():
            return
        time.sleep(0.05)
    raise AssertionError(f"no attach event for {name}")


def test_attach_to_a_running_container(dy: CLI) -> None:
    dy("run", "-d", "--name", "cli-att", "busybox", "sh", "-c",
       "while [ ! -e /tmp/go ]; do sleep 0.05; done; echo late; exit 9")
    since = time.time()
    proc = subprocess.Popen([dy.path, "attach", "--no-stdin", "cli-att"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dy.env)
    try:
        wait_for_attach(dy.d, "cli-att", since)
        dy("exec", "cli-att", "touch", "/tmp/go")
        out, err = proc.communicate(timeout=30)
        assert (proc.returncode, out) == (9, b"late\n"), err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    r = dy("attach", "cli-att", check=False)
    assert r.returncode == 1 and "You cannot attach to a stopped container" in r.stderr


def test_stats_and_update(dy: CLI) -> None:
    dy("run", "-d", "--name", "cli-stats", "busybox", "sleep", "300")
    lines = dy("stats", "--no-stream").stdout.splitlines()
    assert lines[0].split("   ")[:2] == ["CONTAINER ID", "NAME     "] or \
        lines[0].startswith("CONTAINER ID   NAME")
    assert " cli-stats " in lines[1]
    r = dy("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}} {{.MemUsage}}",
           "cli-stats")
    name, pids, usage = r.stdout.split(" ", 2)
    assert (name, pids) == ("cli-stats", "1") and " / " in usage
    assert dy("update", "--memory", "32m", "--pids-limit", "10", "cli-stats").stdout == \
        "cli-stats\n"
    assert dy("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
              "cli-stats").stdout == "33554432 10\n"
    r = dy("update", "cli-stats", check=False)
    assert r.returncode == 1 and "one or more flags" in r.stderr
    # Streaming: the table is redrawn in place (cursor home, lines erased) every 0.5 s.
    proc = subprocess.Popen([dy.path, "stats", "--format", "{{.Name}} {{.PIDs}}",
                             "cli-stats"], stdout=subprocess.PIPE, env=dy.env)
    try:
        assert proc.stdout is not None
        seen = b""
        deadline = time.monotonic() + 20
        while seen.count(b"\033[Hcli-stats 1\033[K\n") < 2 and time.monotonic() < deadline:
            seen += proc.stdout.read1(4096)
        assert seen.count(b"\033[Hcli-stats 1\033[K\n") >= 2, seen
    finally:
        proc.kill()
        proc.wait()


def test_cp_both_ways(dy: CLI, tmp_path: Path) -> None:
    dy("run", "-d", "--name", "cli-cp", "busybox", "sh", "-c",
       "mkdir -p /data/logs && echo a > /data/logs/a.log && echo b > /data/logs/b.log "
       "&& echo c > /data/logs/c.txt && sleep 300")
    for _ in range(100):
        if dy("exec", "cli-cp", "test", "-e", "/data/logs/c.txt", check=False).returncode == 0:
            break
        time.sleep(0.05)
    out = tmp_path / "out"
    out.mkdir()
    dy("cp", "cli-cp:/data/logs/a.log", str(out / "renamed.log"))
    assert (out / "renamed.log").read_text() == "a\n"
    dy("cp", "cli-cp:/data/logs", str(out))  # into an existing directory
    assert sorted(os.listdir(out / "logs")) == ["a.log", "b.log", "c.txt"]
    dy("cp", "cli-cp:/data/logs/.", str(out / "contents"))  # a new directory
    assert sorted(os.listdir(out / "contents")) == ["a.log", "b.log", "c.txt"]
    globbed = tmp_path / "globbed"
    globbed.mkdir()
    dy("cp", "cli-cp:/data/logs/*.log", "cli-cp:/etc/hostname", str(globbed))
    assert sorted(os.listdir(globbed)) == ["a.log", "b.log", "hostname"]
    tar = dy.raw("cp", "cli-cp:/data/logs/c.txt", "-").stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        assert t.getnames() == ["c.txt"]
    r = dy("cp", "cli-cp:/nope", str(out), check=False)
    assert r.returncode == 1 and "Could not find the file /nope" in r.stderr
    # Copied again over the first copy: the absolute symlink already there is replaced,
    # neither followed nor refused as "outside the destination" (docker unlinks it).
    dy("exec", "cli-cp", "sh", "-c",
       "mkdir /data/dd && ln -s /etc/passwd /data/dd/abs && echo d > /data/dd/f")
    again = tmp_path / "again"
    again.mkdir()
    for _ in range(2):
        dy("cp", "cli-cp:/data/d*", f"{again}/")
        dy("cp", "cli-cp:/data/dd", str(out))
    for copy in (again / "dd", out / "dd"):
        assert os.readlink(copy / "abs") == "/etc/passwd" and (copy / "f").read_text() == "d\n"
    # The destination named on the command line is the user's: a symlink there is
    # followed (docker's CopyInfoDestinationPath), here onto renamed.log.
    (out / "link.log").symlink_to("renamed.log")
    dy("cp", "cli-cp:/data/logs/b.log", str(out / "link.log"))
    assert (out / "link.log").is_symlink() and (out / "renamed.log").read_text() == "b\n"

    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f").write_text("file")
    (src / "top.txt").write_text("top")
    dy("cp", str(src), "cli-cp:/tmp/")
    dy("cp", str(src / "top.txt"), "cli-cp:/tmp/renamed.txt")
    dy("cp", "--chown", "1000:50", str(src / "top.txt"), "cli-cp:/tmp/owned")
    dy("cp", "--chown", "nobody", str(src / "top.txt"), str(src / "sub"), "cli-cp:/root")
    dy("cp", str(src / "*.txt"), "cli-cp:/")  # an unexpanded glob, expanded here
    r = dy("exec", "cli-cp", "sh", "-c",
           "cat /tmp/src/sub/f /tmp/renamed.txt /top.txt; stat -c '%u:%g' /tmp/owned "
           "/root/top.txt /root/sub/f")
    assert r.stdout == "filetoptop1000:50\n65534:65534\n65534:65534\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("from-stdin")
        info.size = 2
        t.addfile(info, io.BytesIO(b"hi"))
    assert dy.raw("cp", "-", "cli-cp:/tmp", input=buf.getvalue()).returncode == 0
    assert dy("exec", "cli-cp", "cat", "/tmp/from-stdin").stdout == "hi"
    r = dy("cp", str(src), "cli-cp:/tmp/renamed.txt", check=False)
    assert r.returncode == 1 and "cannot copy directory" in r.stderr
    r = dy("cp", "cli-cp:/etc", "cli-cp:/tmp", check=False)
    assert "copying between containers is not supported" in r.stderr


def test_diff_commit_export_and_prune(dy: CLI, tmp_path: Path) -> None:
    dy("run", "--name", "cli-changes", "busybox", "sh", "-c", "echo x > /added; rm /etc/group")
    diff = dy("diff", "cli-changes").stdout.splitlines()
    assert "A /added" in diff and "D /etc/group" in diff and "C /etc" in diff
    image = dy("commit", "-m", "a message", "-a", "me", "-c", "ENV COMMITTED=yes",
               "cli-changes", "cli-committed:v1").stdout.strip()
    try:
        assert image.startswith("sha256:")
        assert dy("run", "--rm", "cli-committed:v1", "sh", "-c",
                  "cat /added; echo $COMMITTED").stdout == "x\nyes\n"
        assert dy("inspect", "-f", "{{.Comment}} {{.Author}}", "cli-committed:v1").stdout == \
            "a message me\n"
    finally:
        dy.d.request("DELETE", "/images/cli-committed:v1?force=1")
    dy("export", "-o", str(tmp_path / "fs.tar"), "cli-changes")
    with tarfile.open(tmp_path / "fs.tar") as t:
        names = t.getnames()
    assert "added" in names and "etc/group" not in names and "bin/busybox" in names
    piped = dy.raw("export", "cli-changes").stdout
    assert piped[:512] == (tmp_path / "fs.tar").read_bytes()[:512]
    dy("run", "-d", "--name", "cli-keep", "busybox", "sleep", "300")
    r = dy("container", "prune", "-f")
    assert r.stdout.startswith("Deleted Containers:\n") and "Total reclaimed space:" in r.stdout
    assert dy("ps", "-a", "--format", "{{.Names}}").stdout == "cli-keep\n"
    r = dy("container", "prune", input="n\n")
    assert "Are you sure you want to continue? [y/N]" in r.stdout
    assert dy("ps", "-aq").stdout.count("\n") == 1
