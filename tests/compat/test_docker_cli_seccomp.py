"""dockyard's default seccomp filter (``daemon.containers.seccomp_profile``) through the
real docker CLI: on by default, for the container and what is exec'd in it; off with
``--security-opt seccomp=unconfined`` and ``--privileged``; a capability added gives its
calls back; ``docker info`` names it; a profile of one's own in Docker's format
(``--security-opt seccomp=profile.json``) replaces it."""

from __future__ import annotations

import json
from pathlib import Path

import daemon_harness as harness

# unshare -U: a user namespace (which needs no capability without a filter); the
# Seccomp line: 2 is "filter mode".
_PROBE = "unshare -U true 2>/dev/null; echo userns=$?; grep '^Seccomp:' /proc/self/status"


def _run(d: harness.Daemon, *args: str) -> list[str]:
    p = d.docker("run", "--rm", *args, "busybox", "sh", "-c", _PROBE, timeout=60)
    assert p.returncode == 0, (p.stderr, d.tail())
    return p.stdout.split()


def test_on_by_default_and_for_execs(d: harness.Daemon) -> None:
    assert _run(d) == ["userns=1", "Seccomp:", "2"]
    name = "seccomp-exec"
    p = d.docker("run", "-d", "--name", name, "busybox", "sleep", "60", timeout=60)
    assert p.returncode == 0, p.stderr
    try:
        p = d.docker("exec", name, "sh", "-c", _PROBE, timeout=60)
        assert p.returncode == 0, p.stderr
        assert p.stdout.split() == ["userns=1", "Seccomp:", "2"]
    finally:
        d.docker("rm", "-f", name, timeout=60)


def test_unconfined_and_privileged_run_without_it(d: harness.Daemon) -> None:
    assert _run(d, "--security-opt", "seccomp=unconfined") == ["userns=0", "Seccomp:", "0"]
    assert _run(d, "--privileged") == ["userns=0", "Seccomp:", "0"]


def test_an_added_capability_gets_its_calls_back(d: harness.Daemon) -> None:
    # unshare and mount are refused without CAP_SYS_ADMIN (by the capability as much as
    # by the filter); with it, a UTS namespace and a tmpfs mount work under the filter.
    p = d.docker("run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c",
                 "unshare -u hostname x && mount -t tmpfs t /mnt && echo ok; "
                 "grep '^Seccomp:' /proc/self/status", timeout=60)
    assert p.returncode == 0, (p.stderr, d.tail())
    assert p.stdout.split() == ["ok", "Seccomp:", "2"]


def test_docker_info_names_the_profile(d: harness.Daemon) -> None:
    p = d.docker("info", "--format", "{{json .SecurityOptions}}", timeout=60)
    assert p.returncode == 0, p.stderr
    assert "name=seccomp,profile=builtin" in p.stdout


def test_a_profile_of_one_s_own(d: harness.Daemon, tmp_path: Path) -> None:
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        # Only for a container with CAP_SYS_ADMIN, which this one has not.
        {"names": ["chmod", "fchmodat"], "action": "SCMP_ACT_ERRNO",
         "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile, indent=2))
    p = d.docker("run", "--rm", "--security-opt", f"seccomp={path}", "busybox", "sh", "-c",
                 "mkdir /tmp/x 2>&1; echo mkdir=$?; chmod 700 /tmp; echo chmod=$?; "
                 "unshare -U true 2>/dev/null; echo userns=$?", timeout=60)
    assert p.returncode == 0, (p.stderr, d.tail())
    # Its rule, not the default profile's (which would refuse the user namespace).
    assert p.stdout.split() == ["mkdir:", "can't", "create", "directory", "'/tmp/x':",
                                "Permission", "denied", "mkdir=1", "chmod=0", "userns=0"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"defaultAction": "SCMP_ACT_MAYBE"}))
    p = d.docker("run", "--rm", "--security-opt", f"seccomp={bad}", "busybox", "true",
                 timeout=60)
    assert p.returncode == 125
    assert "seccomp profile" in p.stderr and "defaultAction" in p.stderr, p.stderr
