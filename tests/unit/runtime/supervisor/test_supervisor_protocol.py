"""The wire: JSON lines, descriptors paired with their message, errors, argument checks."""

from __future__ import annotations

import os
import socket

import pytest

from dockyard import errors
from dockyard.runtime.supervisor.protocol import (
    ContainerInfo,
    CreateArgs,
    ExecInfo,
    ExitStatus,
    LineReader,
    RuntimeKind,
    RuntimeSpec,
    Status,
    Stream,
    encode,
    error_from_reply,
    error_reply,
    frame,
    parse_signal,
    recv_with_fds,
)


def test_descriptors_are_paired_with_the_message_that_announced_them() -> None:
    a, b = socket.socketpair()
    r, w = os.pipe()
    try:
        a.sendall(encode({"seq": 1, "op": "ping"}))
        socket.send_fds(a, [encode({"seq": 2, "op": "attach", "fds": 1})], [r])
        a.sendall(encode({"seq": 3, "op": "ping"}))
        reader = LineReader()
        got = []
        while len(got) < 3:
            data, fds = recv_with_fds(b)
            reader.feed(data, fds)
            while (item := reader.next_message()) is not None:
                got.append(item)
        assert [(m["seq"], len(f)) for m, f in got] == [(1, 0), (2, 1), (3, 0)]
        passed = got[1][1][0]
        os.write(w, b"through")
        assert os.read(passed, 7) == b"through"
        assert not os.get_inheritable(passed)
        os.close(passed)
    finally:
        for fd in (r, w):
            os.close(fd)
        a.close()
        b.close()


def test_bad_lines_are_consumed_with_a_clear_error() -> None:
    reader = LineReader()
    reader.feed(b'nope\n{"seq": 1, "fds": 1}\n[]\n{"seq": 2}\nrest', [])
    for text in ("not JSON", "announces 1 fds", "not a JSON object"):
        with pytest.raises(errors.InvalidArgument, match=text):
            reader.next_message()
    assert reader.next_message() == ({"seq": 2}, [])
    assert reader.next_message() is None
    assert reader.take_rest() == b"rest"


def test_a_huge_line_is_refused() -> None:
    reader = LineReader()
    with pytest.raises(errors.InvalidArgument, match="longer than"):
        reader.feed(b"x" * (2 << 20), [])


def test_errors_round_trip_by_kind() -> None:
    for cls in (errors.NotFound, errors.Conflict, errors.AlreadyExists,
                errors.InvalidArgument, errors.NotImplementedByDockyard, errors.Internal):
        reply = error_reply(5, cls("why"))
        exc = error_from_reply(reply["error"])
        assert type(exc) is cls and str(exc) == "why"
    assert isinstance(error_from_reply("garbage"), errors.Internal)


def test_create_arguments_are_checked() -> None:
    good = {"id": "c1", "bundle": "/b", "runtime": {"kind": "oci-cli", "root": "/r"}}
    args = CreateArgs.parse(good)
    assert args.runtime == RuntimeSpec(RuntimeKind.OCI_CLI, "/r", "runc")
    assert not args.tty and args.log_path is None
    bad = [
        ({"id": "-x"}, "invalid id"), ({"id": "a/b"}, "invalid id"),
        ({"bundle": "rel"}, "absolute"), ({"tty": "yes"}, "true or false"),
        ({"runtime": {"kind": "docker", "root": "/r"}}, "not one of"),
        ({"console_size": [0, 80]}, "rows, columns"), ({"log_path": "x.log"}, "absolute"),
        ({"log_options": {"max-size": 5}}, "object of strings"),
    ]
    for change, text in bad:
        with pytest.raises(errors.InvalidArgument, match=text):
            CreateArgs.parse({**good, **change})


def test_signals_by_number_or_name() -> None:
    assert parse_signal(9) == parse_signal("KILL") == parse_signal("sigkill") == 9
    for bad in (0, 999, "NOPE", True, 1.5):
        with pytest.raises(errors.InvalidArgument):
            parse_signal(bad)


def test_exit_status_from_wait_status() -> None:
    assert ExitStatus.from_wait_status(7 << 8, "t") == ExitStatus(7, None, "t")
    assert ExitStatus.from_wait_status(9, "t") == ExitStatus(137, 9, "t")


def test_info_round_trips() -> None:
    ex = ExitStatus(3, None, "2026-01-01T00:00:00Z")
    info = ContainerInfo("c", Status.STOPPED, 42, "/b", RuntimeSpec(RuntimeKind.IN_PROCESS, "/r"),
                         True, False, "/l", "2026-01-01T00:00:00Z", ex,
                         (ExecInfo("c", "e", Status.RUNNING, 43, False, None),))
    assert ContainerInfo.from_wire(info.to_wire()) == info


def test_frames_are_dockers_multiplexed_format() -> None:
    assert frame(Stream.STDERR, b"hi") == b"\x02\x00\x00\x00\x00\x00\x00\x02hi"
