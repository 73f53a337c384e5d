"""``dockyard`` and the real ``docker`` CLI against the same daemon print the same thing:
``ps`` tables (headers, columns, cells with times normalised), ``--format`` outputs of
``ps``/``inspect``/``stats``, ``top``, ``diff``, ``logs``, ``port``, ``wait`` and the
error messages and exit statuses of common mistakes."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import CLI, harness

pytestmark = pytest.mark.root

TIMES = re.compile(r"(Less than a second|About a minute|About an hour|an? \w+|\d+ \w+)"
                   r"( ago)?")


@pytest.fixture(scope="module")
def dy(d: harness.Daemon) -> Iterator[CLI]:
    cli = CLI(d)
    try:
        cli("run", "-d", "--name", "sbs-up", "-l", "tier=front", "busybox", "sh", "-c",
            "echo hello; echo oops >&2; touch /made; exec sleep 300")
        cli("run", "--name", "sbs-done", "busybox", "sh", "-c", "echo a long line of text "
            "for the command column; exit 3", check=False)
        cli("create", "--name", "sbs-new", "busybox@" + image_digest(d), "true",
            check=False)
        for _ in range(100):
            if cli("exec", "sbs-up", "test", "-e", "/made", check=False).returncode == 0:
                break
        yield cli
    finally:
        cli.remove_all()


def image_digest(d: harness.Daemon) -> str:
    repo_digests = d.request("GET", "/images/busybox/json").json().get("RepoDigests") or []
    return repo_digests[0].split("@", 1)[1] if repo_digests else "sha256:" + "0" * 64


def cells(text: str) -> list[list[str]]:
    return [[TIMES.sub("T", c) for c in re.split(r"\s{3,}", line.strip())]
            for line in text.splitlines()]


def both(d: harness.Daemon, dy: CLI, *args: str) -> tuple[tuple[int, str, str],
                                                         tuple[int, str, str]]:
    ours = dy(*args, check=False)
    theirs = d.docker(*args)
    return ((ours.returncode, ours.stdout, ours.stderr),
            (theirs.returncode, theirs.stdout, theirs.stderr))


@pytest.mark.parametrize("args", [["ps"], ["ps", "-a"], ["ps", "-a", "--no-trunc"],
                                  ["ps", "-a", "-s"]])
def test_ps_tables(d: harness.Daemon, dy: CLI, args: list[str]) -> None:
    ours, theirs = both(d, dy, *args)
    assert ours[0] == theirs[0] == 0
    assert cells(ours[1]) == cells(theirs[1])
    assert ours[1].splitlines()[0].split() == theirs[1].splitlines()[0].split()


@pytest.mark.parametrize("args", [
    ["ps", "-q"], ["ps", "-aq", "--no-trunc"], ["ps", "-l", "--format", "{{.Names}}"],
    ["ps", "-a", "--format", "{{.ID}} {{.Image}} {{.Command}} {{.State}} {{.Names}}"],
    ["ps", "-a", "--format", "table {{.Names}}\t{{.Labels}}\t{{.Mounts}}\t{{.Networks}}"],
    ["ps", "-a", "--filter", "status=exited", "--format", "{{.Names}} {{.Status}}"],
    ["ps", "-a", "--format", '{{.Names}}: {{.Label "tier"}}'],
    ["inspect", "-f", "{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{json .Config.Cmd}}",
     "sbs-up", "sbs-done"],
    ["inspect", "-f", "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{end}}", "sbs-up"],
    ["container", "inspect", "--format", "{{.HostConfig.NetworkMode}}", "sbs-done"],
    ["logs", "sbs-up"], ["logs", "--tail", "1", "sbs-done"], ["diff", "sbs-up"],
    ["port", "sbs-up"], ["wait", "sbs-done"],
    ["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "sbs-up"],
])
def test_same_output(d: harness.Daemon, dy: CLI, args: list[str]) -> None:
    ours, theirs = both(d, dy, *args)
    assert ours == theirs


def test_top_table(d: harness.Daemon, dy: CLI) -> None:
    ours, theirs = both(d, dy, "top", "sbs-up")
    assert ours[0] == theirs[0] == 0
    assert [row[:2] + row[3:5] + row[6:] for row in cells(ours[1])] == \
        [row[:2] + row[3:5] + row[6:] for row in cells(theirs[1])]  # C and TIME may tick


@pytest.mark.parametrize("args", [
    ["rm", "nope"], ["stop", "nope"], ["start", "nope"], ["kill", "nope"],
    ["pause", "nope"], ["logs", "nope"], ["inspect", "nope"], ["wait", "nope"],
    ["rename", "nope", "other"], ["top", "nope"], ["exec", "nope", "true"],
    ["exec", "sbs-done", "true"], ["rm", "sbs-up"], ["attach", "sbs-done"],
    ["ps", "--nope"], ["rm"], ["rename", "a"], ["port", "a", "b", "c"], ["ps", "x"],
    ["run", "-m", "xyz", "busybox"], ["run", "--shm-size", "1q", "busybox"],
    ["run", "--restart", "bogus", "busybox"], ["run", "--restart", "always:x", "busybox"],
    ["run", "--restart", "always", "--rm", "busybox"], ["run", "-e", "=x", "busybox"],
    ["run", "--mount", "type=bind", "busybox"], ["run", "--sysctl", "foo", "busybox"],
    ["run", "-d", "-a", "stdout", "busybox"], ["run", "--pull", "sometimes", "busybox"],
    ["run", "--stop-timeout", "x", "busybox"], ["run", "--rm", "busybox", "nonexistent-cmd"],
    ["run", "--rm", "--pull", "never", "no-such-image"], ["create", "--name", "x", "busybox"],
    ["run", "-it", "busybox"], ["run"],
    ["logs", "--since", "bogus", "sbs-up"], ["stats", "--no-stream", "nope"],
    ["commit", "sbs-up", "Bad/Name"], ["rm", "-f", "nope1", "nope2"],
    ["container", "prune", "--filter", "bad"], ["ps", "--filter", "bad"],
    ["port", "sbs-up", "80"], ["wait", "sbs-done", "nope"], ["kill", "-s", "BOGUS", "sbs-up"],
    ["update", "--memory", "xx", "sbs-up"], ["cp", "nope:/x", "/tmp"], ["cp", "a", "b"],
    ["export", "-o", "/no/such/dir/x.tar", "sbs-up"], ["export", "-o", "/tmp", "sbs-up"],
    ["save", "-o", "/no/such/dir/x.tar", "busybox"], ["save", "-o", "/tmp", "busybox"],
])
def test_same_errors(d: harness.Daemon, dy: CLI, args: list[str]) -> None:
    ours, theirs = both(d, dy, *args)
    assert ours[0] == theirs[0]
    assert ours[2].replace("dockyard", "docker") == theirs[2]
    assert ours[1] == theirs[1]


CREATE_FLAGS = [
    "-i", "-t", "-e", "A=1", "-l", "x=y", "-w", "/tmp", "-u", "1000", "--memory", "64m",
    "--memory-swap", "128m", "--cpus", "0.5", "--cpu-shares", "100", "--pids-limit", "50",
    "--read-only", "--cap-add", "NET_ADMIN", "--cap-drop", "MKNOD", "--init",
    "--restart", "on-failure:2", "--stop-signal", "SIGINT", "--stop-timeout", "3",
    "--log-opt", "max-size=1m", "--network", "none", "--tmpfs", "/run:size=1m",
    "--ulimit", "nofile=100:200", "--health-cmd", "true", "--health-interval", "2s",
    "-v", "/tmp:/host:ro", "--mount", "type=bind,src=/tmp,dst=/m,readonly",
    "--hostname", "hh", "--shm-size", "2m", "--oom-score-adj", "5",
    "--security-opt", "no-new-privileges", "--group-add", "10", "--add-host", "a:1.2.3.4",
    "--dns", "1.1.1.1", "--sysctl", "net.ipv4.ip_forward=1", "--entrypoint", "sh",
    "busybox", "-c", "true",
]


def test_create_flags_make_the_same_container(d: harness.Daemon, dy: CLI) -> None:
    """The same flags through both CLIs: the daemon records the same Config and
    HostConfig (so the create bodies carry the same meaning)."""
    import json

    dy("create", "--name", "sbs-flags-dy", *CREATE_FLAGS)
    d.docker("create", "--name", "sbs-flags-dk", *CREATE_FLAGS, check=True)
    try:
        ours = d.request("GET", "/containers/sbs-flags-dy/json").json()
        theirs = d.request("GET", "/containers/sbs-flags-dk/json").json()
        for key in ("Config", "HostConfig"):
            assert json.dumps(ours[key], sort_keys=True) == \
                json.dumps(theirs[key], sort_keys=True), key
        assert ours["Path"] == theirs["Path"] and ours["Args"] == theirs["Args"]
    finally:
        dy("rm", "sbs-flags-dy", "sbs-flags-dk", check=False)
