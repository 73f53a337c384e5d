"""``run``/``create`` flags → the ``POST /containers/create`` body, flag by flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.cli.commands.run import CREATE, RUN, start_error_status
from dockyard.cli.commands.runopts import create_request, parse_mount, parse_volume
from dockyard.cli.context import StatusError
from dockyard.cli.values import go_duration, ram_in_bytes


def body(*argv: str, environ: dict[str, str] | None = None, detach: bool = False,
         console: tuple[int, int] | None = None) -> tuple[dict[str, str], dict[str, object]]:
    opts = RUN.parse(list(argv))
    return create_request(opts, environ=environ or {}, cwd="/work", detach=detach or
                          opts.flag("detach"), console_size=console)


def host(b: dict[str, object]) -> dict[str, object]:
    hc = b["HostConfig"]
    assert isinstance(hc, dict)
    return hc


def test_plain_run_attaches_stdout_and_stderr_only() -> None:
    query, b = body("busybox")
    assert query == {}
    assert b["Image"] == "busybox" and b["Cmd"] is None and b["Entrypoint"] is None
    assert (b["AttachStdin"], b["AttachStdout"], b["AttachStderr"]) == (False, True, True)
    assert b["OpenStdin"] is False and b["StdinOnce"] is False and b["Tty"] is False
    hc = host(b)
    assert hc["NetworkMode"] == "default" and hc["AutoRemove"] is False
    assert hc["RestartPolicy"] == {"Name": "no"}
    assert "Init" not in hc and "PidsLimit" not in hc and "StopTimeout" not in b


def test_interactive_tty_detach_and_attach_list() -> None:
    _, b = body("-it", "busybox", "sh", console=(24, 80))
    assert (b["AttachStdin"], b["OpenStdin"], b["StdinOnce"], b["Tty"]) == (
        True, True, True, True)
    assert host(b)["ConsoleSize"] == [24, 80]
    assert b["Cmd"] == ["sh"]
    _, b = body("-d", "-i", "busybox")
    assert (b["AttachStdin"], b["AttachStdout"], b["OpenStdin"]) == (False, False, True)
    _, b = body("-a", "stderr", "busybox")
    assert (b["AttachStdin"], b["AttachStdout"], b["AttachStderr"]) == (False, False, True)
    with pytest.raises(StatusError, match="cannot specify both --attach and --detach"):
        body("-d", "-a", "stdout", "busybox")
    with pytest.raises(StatusError, match="cannot specify both --restart and --rm"):
        body("--rm", "--restart", "always", "busybox")
    from dockyard.cli.args import UsageError

    with pytest.raises(UsageError, match='"-a, --attach" flag: valid streams are STDIN'):
        body("-a", "foo", "busybox")


def test_env_labels_files_and_local_values(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\n\nA=1\n  B=two words\nFROMHOST\nMISSING\n")
    labels = tmp_path / "labels"
    labels.write_text("team=core\nflag\n")
    _, b = body("--env-file", str(env_file), "-e", "C=3", "-e", "HOMEVAR",
                "--label-file", str(labels), "-l", "x=y", "busybox",
                environ={"FROMHOST": "h", "HOMEVAR": "/root"})
    assert b["Env"] == ["A=1", "B=two words", "FROMHOST=h", "C=3", "HOMEVAR=/root"]
    assert b["Labels"] == {"team": "core", "flag": "", "x": "y"}


def test_process_and_resources() -> None:
    query, b = body("--name", "web", "-w", "/srv", "-u", "1000:1000", "--entrypoint", "",
                    "-h", "box", "--memory", "64m", "--memory-swap", "-1", "--cpus", "1.5",
                    "-c", "512", "--cpuset-cpus", "0", "--pids-limit", "20", "--read-only",
                    "--cap-add", "NET_ADMIN", "--cap-drop", "ALL", "--privileged", "--init",
                    "--restart", "on-failure:3", "--stop-signal", "SIGINT",
                    "--stop-timeout", "5", "--log-opt", "max-size=1m", "--network", "none",
                    "busybox", "sh", "-c", "true")
    assert query == {"name": "web"}
    assert b["WorkingDir"] == "/srv" and b["User"] == "1000:1000"
    assert b["Entrypoint"] == [""] and b["Hostname"] == "box"
    assert b["StopSignal"] == "SIGINT" and b["StopTimeout"] == 5
    assert b["Cmd"] == ["sh", "-c", "true"]
    hc = host(b)
    assert hc["Memory"] == 64 * 1024 * 1024 and hc["MemorySwap"] == -1
    assert hc["NanoCpus"] == 1_500_000_000 and hc["CpuShares"] == 512
    assert hc["CpusetCpus"] == "0" and hc["PidsLimit"] == 20 and hc["Init"] is True
    assert hc["ReadonlyRootfs"] is True and hc["Privileged"] is True
    assert hc["CapAdd"] == ["NET_ADMIN"] and hc["CapDrop"] == ["ALL"]
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert hc["LogConfig"] == {"Type": "", "Config": {"max-size": "1m"}}
    assert hc["NetworkMode"] == "none" and hc["AutoRemove"] is False


def test_binds_mounts_tmpfs_and_anonymous_volumes() -> None:
    _, b = body("-v", "/data:/data:ro", "-v", "./rel:/rel", "-v", "/anon",
                "--mount", "type=bind,source=/src,target=/dst,readonly,"
                "bind-propagation=rshared",
                "--mount", "type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1777",
                "--tmpfs", "/run:rw,size=64m", "busybox")
    hc = host(b)
    assert hc["Binds"] == ["/data:/data:ro", "/work/rel:/rel"]
    assert b["Volumes"] == {"/anon": {}}
    assert hc["Mounts"] == [
        {"Type": "bind", "Source": "/src", "Target": "/dst", "ReadOnly": True,
         "BindOptions": {"Propagation": "rshared"}},
        {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20,
                                                         "Mode": 0o1777}}]
    assert hc["Tmpfs"] == {"/run": "rw,size=64m"}
    with pytest.raises(ValueError, match="target is required"):
        parse_mount("type=bind,source=/x")
    assert parse_volume("named", "/") == (None, "named")  # the daemon judges it


def test_healthcheck_flags() -> None:
    _, b = body("--health-cmd", "true", "--health-interval", "1m30s",
                "--health-timeout", "500ms", "--health-retries", "2",
                "--health-start-period", "1s", "busybox")
    assert b["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 90_000_000_000,
                                "Timeout": 500_000_000, "StartPeriod": 1_000_000_000,
                                "StartInterval": 0, "Retries": 2}
    _, b = body("--no-healthcheck", "busybox")
    assert b["Healthcheck"] == {"Test": ["NONE"]}
    with pytest.raises(StatusError, match="conflicts"):
        body("--no-healthcheck", "--health-cmd", "x", "busybox")


@pytest.mark.parametrize(("text", "value"), [
    ("512", 512), ("1k", 1024), ("64m", 64 << 20), ("1.5g", 3 << 29), ("2GiB", 2 << 30),
    ("10mb", 10 << 20), ("1b", 1), ("10 m", 10 << 20), ("3KiB", 3072)])
def test_sizes(text: str, value: int) -> None:
    assert ram_in_bytes(text) == value


@pytest.mark.parametrize(("text", "message"), [
    ("", "invalid size: ''"), ("x", "invalid size: 'x'"), ("-1", "invalid size: '-1'"),
    ("1q", "invalid suffix: 'q'"), ("m", "invalid size: 'm'"), ("1mbb", "invalid suffix: 'mbb'"),
    ("1.2.3", 'strconv.ParseFloat: parsing "1.2.3": invalid syntax')])
def test_bad_sizes(text: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        ram_in_bytes(text)
    assert str(err.value) == message


@pytest.mark.parametrize(("text", "ns"), [
    ("0", 0), ("30s", 30_000_000_000), ("1m30s", 90_000_000_000), ("1.5h", 5400 * 10**9),
    ("500ms", 500_000_000), ("2us", 2000), ("-1s", -10**9)])
def test_go_durations(text: str, ns: int) -> None:
    assert go_duration(text) == ns


@pytest.mark.parametrize("text", ["", "10", "1x", "s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="time: "):
        go_duration(text)


def test_start_errors_map_to_126_and_127() -> None:
    assert start_error_status('exec: "x": executable file not found in $PATH') == 127
    assert start_error_status("open /x: no such file or directory") == 127
    assert start_error_status("exec /etc: permission denied") == 126
    assert start_error_status("read /: is a directory") == 126
    assert start_error_status("cgroup trouble") == 125


def test_create_has_no_detach_flag() -> None:
    from dockyard.cli.args import UsageError

    with pytest.raises(UsageError, match="unknown shorthand flag: 'd'"):
        CREATE.parse(["-d", "busybox"])


def test_security_opt_reads_a_seccomp_profile_as_the_docker_cli(tmp_path: Path) -> None:
    profile = tmp_path / "p.json"
    profile.write_text('{\n  "defaultAction": "SCMP_ACT_ALLOW",\n  "syscalls": []\n}\n')
    _, b = body("--security-opt", f"seccomp={profile}", "--security-opt", "no-new-privileges",
                "--security-opt", "seccomp:unconfined", "--security-opt", "label=disable",
                "busybox")
    assert host(b)["SecurityOpt"] == [
        'seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}', "no-new-privileges",
        "seccomp:unconfined", "label=disable"]


@pytest.mark.parametrize(("opt", "words"), [
    ("seccomp", "Invalid --security-opt: 'seccomp'"),
    ("label=", "Invalid --security-opt: 'label='"),
    ("seccomp=/no/such/profile.json", "opening seccomp profile (/no/such/profile.json) failed"),
])
def test_security_opt_errors(opt: str, words: str) -> None:
    with pytest.raises(StatusError, match=words.replace("(", r"\(").replace(")", r"\)")):
        body("--security-opt", opt, "busybox")


def test_security_opt_profile_that_is_not_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(StatusError, match="compacting json for seccomp profile"):
        body("--security-opt", f"seccomp={bad}", "busybox")
