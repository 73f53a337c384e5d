"""Each create field dockyard honours, observed inside the container or in its cgroup
files; the defaults Docker gives; the fields it refuses, with a 400 naming them."""

from __future__ import annotations

import json
from pathlib import Path

import daemon_harness as harness
import pytest

Daemon = harness.Daemon


def run(d: Daemon, *args: str) -> str:
    """``docker run --rm <args>``: the output (stdout and stderr, in order of streams)."""
    p = d.docker("run", "--rm", *args, check=True)
    return p.stdout


def cgroup_file(d: Daemon, name: str, controller: str, file: str) -> str:
    cid = d.docker("inspect", "-f", "{{.Id}}", name, check=True).stdout.strip()
    path = harness.CGROUP_ROOT / controller / d.cgroup_parent.strip("/") / cid / file
    return path.read_text().strip()


def test_defaults(daemon: Daemon) -> None:
    out = run(daemon, "busybox", "sh", "-c",
              'echo "$HOSTNAME|$HOME|$PATH|$(hostname)|$(cat /etc/hostname)|$(pwd)|$(id -u)"')
    host, home, path, hostname, etc_hostname, cwd, uid = out.strip().split("|")
    assert len(host) == 12 and hostname == host == etc_hostname
    assert (home, cwd, uid) == ("/root", "/", "0")
    assert path == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    hosts = run(daemon, "busybox", "cat", "/etc/hosts")
    assert hosts.startswith("127.0.0.1\tlocalhost\n")
    shm = run(daemon, "busybox", "df", "-k", "/dev/shm").splitlines()[1].split()
    assert shm[1] == "65536"
    lo = run(daemon, "busybox", "cat", "/sys/class/net/lo/operstate")
    assert lo.strip() in ("unknown", "up")
    assert run(daemon, "busybox", "ls", "/sys/class/net").split() == ["lo"]
    caps = run(daemon, "busybox", "grep", "CapEff", "/proc/self/status").split()[1]
    assert caps == "00000000a80425fb"  # Docker's default set


def test_tty_sets_term(daemon: Daemon) -> None:
    out = daemon.docker("run", "--rm", "-t", "busybox", "sh", "-c", "echo $TERM; tty",
                        check=True).stdout
    assert out.replace("\r", "").splitlines() == ["xterm", "/dev/pts/0"]


def test_env_workdir_user_hostname_labels(daemon: Daemon) -> None:
    out = run(daemon, "-e", "A=1", "-e", "PATH=/bin", "-w", "/tmp/new", "-u", "65534:65534",
              "-h", "box", "--domainname", "example.org", "busybox", "sh", "-c",
              'echo "$A|$PATH|$(pwd)|$(id -u):$(id -g)|$(hostname)|'
              '$(cat /proc/sys/kernel/domainname)|$HOME"')
    assert out.strip() == "1|/bin|/tmp/new|65534:65534|box|example.org|/nonexistent"
    # -e NAME with NAME unset on the client (the CLI sends "NAME"): unset in the
    # container, as moby's ReplaceOrAppendEnvValues has it, not set to ""
    assert "DY_UNSET_HERE" not in daemon.env()
    out = run(daemon, "-e", "DY_UNSET_HERE", "-e", "SET_HERE=1", "busybox", "sh", "-c",
              'echo "${DY_UNSET_HERE-unset} $SET_HERE"; env | grep -c DY_UNSET_HERE; true')
    assert out == "unset 1\n0\n"
    # the primary group is also a supplementary one, as dockerd has it since 20.10.18
    # (CVE-2022-36109); then the groups listing the user, then --group-add
    assert run(daemon, "-u", "daemon", "busybox", "id").strip() \
        == "uid=1(daemon) gid=1(daemon) groups=1(daemon)"
    assert run(daemon, "-u", "1000", "--group-add", "tty", "--group-add", "0", "busybox",
               "id").strip() == "uid=1000 gid=0(root) groups=0(root),5(tty)"
    missing = daemon.docker("run", "--rm", "-u", "nosuchuser", "busybox", "true")
    assert missing.returncode != 0 and "unable to find user nosuchuser" in missing.stderr
    daemon.docker("create", "--name", "labelled", "--label", "a=b", "busybox", check=True)
    try:
        labels = daemon.docker("inspect", "-f", "{{json .Config.Labels}}", "labelled",
                               check=True).stdout
        assert json.loads(labels) == {"a": "b"}
    finally:
        daemon.docker("rm", "labelled", check=True)


def test_entrypoint_and_cmd_rules(daemon: Daemon) -> None:
    assert run(daemon, "--entrypoint", "echo", "busybox", "a", "b") == "a b\n"
    assert run(daemon, "--entrypoint", "/bin/echo", "busybox") == "\n"
    none = daemon.docker("run", "--rm", "--entrypoint", "", "busybox")
    assert none.returncode == 0  # the image's Cmd ["sh"] with stdin closed


def test_user_resolution_does_not_leave_the_rootfs(daemon: Daemon, tmp_path: Path) -> None:
    # /etc/passwd as an absolute symlink to the host's: read inside the container's root.
    cid = daemon.docker("create", "-u", "nosuchuser", "busybox", "true", check=True).stdout
    cid = cid.strip()
    try:
        started = daemon.docker("start", cid)
        assert started.returncode != 0 and "unable to find user" in started.stderr
    finally:
        daemon.docker("rm", "-f", cid, check=True)


def test_resources_in_cgroup_files(daemon: Daemon) -> None:
    daemon.docker("run", "-d", "--name", "limited", "--memory", "64m",
                  "--memory-reservation", "32m", "--cpus", "0.5", "--cpu-shares", "512",
                  "--cpuset-cpus", "0", "--pids-limit", "42", "busybox", "sleep", "300",
                  check=True)
    try:
        assert cgroup_file(daemon, "limited", "memory", "memory.limit_in_bytes") \
            == str(64 << 20)
        assert cgroup_file(daemon, "limited", "memory", "memory.soft_limit_in_bytes") \
            == str(32 << 20)
        assert cgroup_file(daemon, "limited", "cpu", "cpu.cfs_quota_us") == "50000"
        assert cgroup_file(daemon, "limited", "cpu", "cpu.cfs_period_us") == "100000"
        assert cgroup_file(daemon, "limited", "cpu", "cpu.shares") == "512"
        assert cgroup_file(daemon, "limited", "cpuset", "cpuset.cpus") == "0"
        assert cgroup_file(daemon, "limited", "pids", "pids.max") == "42"
        inspect = json.loads(daemon.docker("inspect", "limited", check=True).stdout)[0]
        hc = inspect["HostConfig"]
        assert (hc["Memory"], hc["NanoCpus"], hc["PidsLimit"]) == (64 << 20, 500_000_000, 42)
    finally:
        daemon.docker("rm", "-f", "limited", check=True)
    online = Path("/sys/devices/system/cpu/online").read_text().strip()
    p = daemon.docker("run", "--rm", "--name", "too-many", "--cpuset-cpus", "4095", "busybox",
                      "true")
    assert p.returncode == 125  # refused at create in Docker's words, nothing made
    assert f"Requested CPUs are not available - requested 4095, available: {online}" \
        in p.stderr
    assert daemon.docker("ps", "-aq", "--filter", "name=too-many", check=True).stdout == ""


def test_capabilities_privileged_readonly(daemon: Daemon) -> None:
    eff = run(daemon, "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "busybox", "grep",
              "CapEff", "/proc/self/status").split()[1]
    assert int(eff, 16) == 1 << 12  # CAP_NET_ADMIN
    eff = run(daemon, "--cap-add", "SYS_ADMIN", "busybox", "grep", "CapEff",
              "/proc/self/status").split()[1]
    assert int(eff, 16) & (1 << 21)
    priv = run(daemon, "--privileged", "busybox", "sh", "-c",
               "grep CapEff /proc/self/status; ls /dev | wc -l")
    own = next(ln for ln in Path("/proc/self/status").read_text().splitlines()
               if ln.startswith("CapBnd:")).split()[1]
    assert int(priv.split()[1], 16) == int(own, 16)  # all the daemon may grant
    assert int(priv.split()[2]) > 10  # the host's devices
    ro = daemon.docker("run", "--rm", "--read-only", "busybox", "touch", "/x")
    assert ro.returncode == 1 and "Read-only file system" in ro.stderr
    assert run(daemon, "--read-only", "busybox", "sh", "-c", "echo ok > /dev/shm/x; echo ok") \
        == "ok\n"
    bad = daemon.docker("run", "--rm", "--cap-add", "NOPE", "busybox", "true")
    assert bad.returncode == 125 and "unknown capability" in bad.stderr


def test_shm_size_init_binds_tmpfs(daemon: Daemon, tmp_path: Path) -> None:
    shm = run(daemon, "--shm-size", "8m", "busybox", "df", "-k", "/dev/shm")
    assert shm.splitlines()[1].split()[1] == "8192"
    init = run(daemon, "--init", "busybox", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '")
    assert init.startswith("/sbin/docker-init -- sh -c")
    (tmp_path / "in.txt").write_text("from the host\n")
    out = run(daemon, "-v", f"{tmp_path}:/data", "busybox", "sh", "-c",
              "cat /data/in.txt; echo back > /data/out.txt")
    assert out == "from the host\n"
    assert (tmp_path / "out.txt").read_text() == "back\n"
    ro = daemon.docker("run", "--rm", "-v", f"{tmp_path}:/data:ro", "busybox", "touch",
                       "/data/x")
    assert ro.returncode == 1 and "Read-only file system" in ro.stderr
    tmpfs = run(daemon, "--tmpfs", "/scratch:size=1m", "busybox", "df", "-k", "/scratch")
    assert tmpfs.splitlines()[1].split()[1] == "1024"
    mount = run(daemon, "--mount", f"type=bind,src={tmp_path},dst=/m,readonly", "busybox",
                "cat", "/m/in.txt")
    assert mount == "from the host\n"


def test_network_modes(daemon: Daemon) -> None:
    assert run(daemon, "--network", "none", "busybox", "ls", "/sys/class/net").split() \
        == ["lo"]
    host_ifaces = sorted(p.name for p in Path("/sys/class/net").iterdir())
    assert sorted(run(daemon, "--network", "host", "busybox", "ls",
                      "/sys/class/net").split()) == host_ifaces
    # As Docker: the container is created, its start fails.
    missing = daemon.docker("run", "--name", "nonet", "--network", "nosuchnet", "busybox",
                            "true")
    assert missing.returncode == 125 and "network nosuchnet not found" in missing.stderr
    daemon.docker("rm", "nonet", check=True)
    # The CLI pulls a missing image: from a registry that is not there (loopback only).
    pull = daemon.docker("run", "--rm", "127.0.0.1:1/nosuchimage")
    assert pull.returncode == 125 and "Unable to find image '127.0.0.1:1/nosuchimage:" \
        "latest'" in pull.stderr and "connection refused" in pull.stderr
    dns = run(daemon, "--dns", "9.9.9.9", "--dns-search", "example.org", "--add-host",
              "db:10.0.0.5", "busybox", "sh", "-c", "cat /etc/resolv.conf /etc/hosts")
    assert "nameserver 9.9.9.9" in dns and "search example.org" in dns
    assert "10.0.0.5\tdb" in dns


def test_log_options_and_stop_signal(daemon: Daemon) -> None:
    cid = daemon.docker("run", "-d", "--log-opt", "max-size=1k", "--log-opt", "max-file=3",
                        "busybox", "sh", "-c", "for i in $(seq 1 200); do echo line $i; done",
                        check=True).stdout.strip()
    assert daemon.docker("wait", cid, check=True).stdout == "0\n"
    log_path = Path(daemon.docker("inspect", "-f", "{{.LogPath}}", cid, check=True)
                    .stdout.strip())
    assert log_path.exists() and Path(f"{log_path}.1").exists()
    assert Path(f"{log_path}.2").exists() and not Path(f"{log_path}.3").exists()
    logs = daemon.docker("logs", cid, check=True).stdout.splitlines()
    assert logs[-1] == "line 200" and len(logs) < 200  # the oldest were rotated away
    daemon.docker("rm", cid, check=True)
    bad = daemon.docker("run", "--rm", "--log-driver", "syslog", "busybox", "true")
    assert bad.returncode == 125 and "syslog" in bad.stderr
    # StopSignal: sh as PID 1 ignores TERM but dies of HUP (no handler: default action).
    cid = daemon.docker("run", "-d", "--stop-signal", "HUP", "busybox", "sh", "-c",
                        "trap 'exit 9' HUP; while true; do sleep 0.1; done",
                        check=True).stdout.strip()
    assert daemon.docker("stop", "-t", "30", cid, check=True).returncode == 0
    assert daemon.docker("inspect", "-f", "{{.State.ExitCode}}", cid,
                         check=True).stdout == "9\n"
    daemon.docker("rm", cid, check=True)


@pytest.mark.parametrize(("body", "named"), [
    ({"Image": "busybox", "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "8080"}]}}},
     "HostConfig.PortBindings"),
    ({"Image": "busybox", "HostConfig": {"Devices": [{"PathOnHost": "/dev/fuse"}]}},
     "HostConfig.Devices"),
    ({"Image": "busybox", "HostConfig": {"CpuRealtimeRuntime": 5}},
     "HostConfig.CpuRealtimeRuntime"),
    ({"Image": "busybox", "HostConfig": {"NewFieldFromTheFuture": True}},
     "HostConfig.NewFieldFromTheFuture"),
    ({"Image": "busybox", "Healthcheck": {"Test": "true"}}, "Healthcheck"),
    ({"Image": "busybox", "HostConfig": {"Binds": ["named:/data"]}}, "HostConfig.Binds"),
    ({"Image": "busybox", "HostConfig": {"Memory": "lots"}}, "HostConfig.Memory"),
    ({"Image": "busybox", "Env": "A=1"}, "Env"),
    ({"Image": 7}, "Image"),
])
def test_unsupported_fields_are_refused_by_name(daemon: Daemon, body: dict[str, object],
                                                named: str) -> None:
    r = daemon.request("POST", "/v1.45/containers/create", body)
    assert r.status == 400, r.body
    assert named in r.json()["message"]
    assert daemon.request("GET", "/containers/json?all=1").json() == []


def test_auto_remove_with_restart_policy_is_refused(daemon: Daemon) -> None:
    r = daemon.request("POST", "/containers/create", {
        "Image": "busybox", "HostConfig": {"AutoRemove": True,
                                           "RestartPolicy": {"Name": "always"}}})
    assert r.status == 400 and "AutoRemove" in r.json()["message"]
    ok = daemon.docker("create", "--restart", "on-failure:3", "busybox", check=True)
    cid = ok.stdout.strip()
    policy = daemon.docker("inspect", "-f", "{{json .HostConfig.RestartPolicy}}", cid,
                           check=True).stdout
    assert json.loads(policy) == {"Name": "on-failure", "MaximumRetryCount": 3}
    daemon.docker("rm", cid, check=True)
