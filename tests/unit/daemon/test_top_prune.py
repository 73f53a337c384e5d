"""``docker top`` (ps arguments checked, ps output kept to the container's pids, threads
and commands with spaces) and the prune filters (until, label, label!)."""

from __future__ import annotations

import os

import pytest

from dockyard.daemon.containers.config import ContainerConfig, HostConfig
from dockyard.daemon.containers.filters import compile_prune_filters
from dockyard.daemon.containers.model import Container
from dockyard.daemon.containers.top import parse_ps_output, run_ps, validate_ps_args
from dockyard.errors import Internal, InvalidArgument

PS_EF = """UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root         100       1  0 10:01 ?        00:00:00 sh -c while true; do sleep 1; done
root         101     100  0 10:01 ?        00:00:00 sleep 1
"""

PS_M = """  PID TTY      STAT   TIME COMMAND
  100 ?        -      0:00 sh
    - -        Ss     0:00 -
    1 ?        -      0:00 init
    - -        Ss     0:00 -
"""


def test_ps_output_is_kept_to_the_containers_pids() -> None:
    r = parse_ps_output(PS_EF, {100, 101})
    assert r.titles == ("UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD")
    assert r.processes == (
        ("root", "100", "1", "0", "10:01", "?", "00:00:00", "sh -c while true; do sleep 1; done"),
        ("root", "101", "100", "0", "10:01", "?", "00:00:00", "sleep 1"))


def test_thread_lines_follow_a_kept_process() -> None:
    r = parse_ps_output(PS_M, {100})
    assert [p[0] for p in r.processes] == ["100", "-"]


def test_output_without_a_pid_column_is_refused() -> None:
    with pytest.raises(Internal, match="PID field"):
        parse_ps_output("USER COMMAND\nroot sh\n", {1})
    with pytest.raises(Internal, match="Unexpected pid"):
        parse_ps_output("PID CMD\nxx sh\n", {1})


def test_ps_args_may_only_rename_pid() -> None:
    validate_ps_args("-o pid=PID,comm")
    validate_ps_args("aux")
    with pytest.raises(InvalidArgument, match='specifying "user=PID" is not allowed'):
        validate_ps_args("-o user=PID")


def test_run_ps_on_this_process() -> None:
    r = run_ps("", [os.getpid()])
    assert "PID" in r.titles and len(r.processes) == 1
    assert r.processes[0][r.titles.index("PID")] == str(os.getpid())
    r = run_ps("-o pid,comm", [os.getpid()])
    assert r.titles == ("PID", "COMMAND")
    with pytest.raises(InvalidArgument):
        run_ps("--no-such-option", [os.getpid()])


def container(created_ns: int, **labels: str) -> Container:
    return Container(id="c" * 64, name="c", created_ns=created_ns, image_id="sha256:1",
                     config=ContainerConfig(image="busybox", labels=tuple(labels.items())),
                     host_config=HostConfig(), path="sh", args=())


def test_prune_filters() -> None:
    now = 1_000 * 10**9
    old, new = container(now - 3600 * 10**9, a="1"), container(now - 60 * 10**9, b="2")
    assert compile_prune_filters({})(old)
    until = compile_prune_filters({"until": ["10m"]}, now)
    assert until(old) and not until(new)
    assert compile_prune_filters({"until": [str(now // 10**9 - 120)]}, now)(old)
    assert compile_prune_filters({"label": ["a"]})(old)
    assert not compile_prune_filters({"label": ["a=2"]})(old)
    assert not compile_prune_filters({"label!": ["a"]})(old)
    assert compile_prune_filters({"label!": ["a"]})(new)
    assert compile_prune_filters({"label!": ["a", "b"]})(new)  # not all present: kept in
    with pytest.raises(InvalidArgument, match="invalid filter 'status'"):
        compile_prune_filters({"status": ["exited"]})
    with pytest.raises(InvalidArgument, match="more than one until"):
        compile_prune_filters({"until": ["1", "2"]})
    with pytest.raises(InvalidArgument):
        compile_prune_filters({"until": ["soon"]})
