"""Detach keys through the Engine API of a real daemon: raw hijacked attach and exec start
on the socket, typing the sequence the way a client would (``ctrl-p`` ``ctrl-q`` by
default, ``detachKeys`` / ``DetachKeys`` otherwise). The daemon (its supervisor, which
holds the connection) must end the stream and leave the process running; a broken
sequence must reach the process intact; streams without a terminal are not scanned."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import daemon_harness as harness
import pytest

Daemon = harness.Daemon


@pytest.fixture
def cat_tty(daemon: Daemon) -> Iterator[str]:
    """A running ``cat`` on a terminal with stdin open (its tty echoes what it gets)."""
    cid = create(daemon, {"Image": "busybox", "Cmd": ["cat"], "Tty": True, "OpenStdin": True})
    try:
        assert daemon.request("POST", f"/containers/{cid}/start").status == 204
        yield cid
    finally:
        daemon.request("DELETE", f"/containers/{cid}?force=1")


def create(daemon: Daemon, body: dict[str, Any]) -> str:
    r = daemon.request("POST", "/containers/create", body)
    assert r.status == 201, r.body
    return str(r.json()["Id"])


def hijack(daemon: Daemon, path: str, body: dict[str, Any] | None = None) -> socket.socket:
    """POST with ``Upgrade: tcp``; the socket after a ``101`` head."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(str(daemon.socket))
    data = b"" if body is None else json.dumps(body).encode()
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
              f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
              .encode() + data)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def expect(s: socket.socket, text: bytes, seen: bytearray) -> None:
    """Read until ``text`` has been seen (the socket's timeout bounds each read)."""
    while text not in seen:
        chunk = s.recv(4096)
        assert chunk, f"the stream ended before {text!r}; saw {bytes(seen)!r}"
        seen += chunk


def ends(s: socket.socket, seen: bytearray) -> None:
    """The daemon closes the stream (EOF within the socket's timeout)."""
    while chunk := s.recv(4096):
        seen += chunk


def running(daemon: Daemon, cid: str) -> bool:
    return bool(daemon.request("GET", f"/containers/{cid}/json").json()["State"]["Running"])


def attach(daemon: Daemon, cid: str, query: str = "") -> socket.socket:
    return hijack(daemon, f"/v1.45/containers/{cid}/attach?stream=1&stdin=1&stdout=1&stderr=1"
                          + query)


def test_default_keys_detach_and_the_container_keeps_running(daemon: Daemon,
                                                             cat_tty: str) -> None:
    seen = bytearray()
    with attach(daemon, cat_tty) as s:
        s.sendall(b"one\n")
        expect(s, b"one\r\n", seen)
        s.sendall(b"\x10")
        time.sleep(0.1)  # the sequence split over two reads, as typed
        s.sendall(b"\x11")
        ends(s, seen)
    assert b"^P" not in seen  # held back, then swallowed: cat never got it
    assert running(daemon, cat_tty)
    # Attach again: the container still answers, and the next detach works too.
    seen = bytearray()
    with attach(daemon, cat_tty) as s:
        s.sendall(b"two\n")
        expect(s, b"two\r\n", seen)
        s.sendall(b"\x10\x11")  # in one write: found anywhere in a chunk
        ends(s, seen)
    assert running(daemon, cat_tty)


def test_a_broken_sequence_reaches_the_container_intact(daemon: Daemon, cat_tty: str) -> None:
    seen = bytearray()
    with attach(daemon, cat_tty) as s:
        s.sendall(b"x\x10")
        expect(s, b"x", seen)
        time.sleep(0.2)
        assert b"^P" not in seen  # a possible start of the sequence is held back...
        s.sendall(b"a\x10\x10b\n")  # ...and released in order when the sequence breaks
        expect(s, b"x^Pa^P^Pb\r\n", seen)
        s.sendall(b"\x10\x11")
        ends(s, seen)
    assert running(daemon, cat_tty)


def test_custom_keys(daemon: Daemon, cat_tty: str) -> None:
    seen = bytearray()
    with attach(daemon, cat_tty, "&detachKeys=ctrl-x,x") as s:
        s.sendall(b"\x10\x11y\n")  # the default sequence is just input now
        expect(s, b"^Py\r\n", seen)
        s.sendall(b"\x18")
        time.sleep(0.1)
        s.sendall(b"x")
        ends(s, seen)
    assert b"^X" not in seen
    assert running(daemon, cat_tty)


@pytest.mark.parametrize("keys", ["ctrl-1", "ctrl-", "ab", "ctrl-p,"])
def test_invalid_keys_are_a_400(daemon: Daemon, cat_tty: str, keys: str) -> None:
    r = daemon.request("POST", f"/containers/{cat_tty}/attach?stream=1&stdin=1"
                               f"&detachKeys={keys}")
    assert r.status == 400, r.body
    assert r.json()["message"] == f"Invalid detach keys ({keys}) provided"


def test_without_a_terminal_nothing_is_scanned(daemon: Daemon) -> None:
    """moby scans only a terminal's input: a plain stream carries every byte."""
    cid = create(daemon, {"Image": "busybox", "Cmd": ["cat"], "OpenStdin": True})
    try:
        assert daemon.request("POST", f"/containers/{cid}/start").status == 204
        seen = bytearray()
        with attach(daemon, cid) as s:
            s.sendall(b"a\x10\x11b\n")
            expect(s, b"a\x10\x11b\n", seen)  # framed, but the bytes are all there
            s.sendall(b"c\n")
            expect(s, b"c\n", seen)
        assert running(daemon, cid)
    finally:
        daemon.request("DELETE", f"/containers/{cid}?force=1")


def test_exec_detach_keys(daemon: Daemon, cat_tty: str) -> None:
    r = daemon.request("POST", f"/containers/{cat_tty}/exec",
                       {"Cmd": ["cat"], "Tty": True, "AttachStdin": True,
                        "AttachStdout": True, "AttachStderr": True, "DetachKeys": "ctrl-e"})
    assert r.status == 201, r.body
    eid = r.json()["Id"]
    seen = bytearray()
    with hijack(daemon, f"/v1.45/exec/{eid}/start", {"Detach": False, "Tty": True}) as s:
        s.sendall(b"in-exec\n")
        expect(s, b"in-exec\r\n", seen)
        s.sendall(b"\x05")
        ends(s, seen)
    info = daemon.request("GET", f"/exec/{eid}/json").json()
    assert info["Running"] is True and info["ExitCode"] is None, info
    top = daemon.request("GET", f"/containers/{cat_tty}/top").json()
    pids = [row[top["Titles"].index("PID")] for row in top["Processes"]]
    assert str(info["Pid"]) in pids, (info, top)


def test_exec_default_keys(daemon: Daemon, cat_tty: str) -> None:
    r = daemon.request("POST", f"/containers/{cat_tty}/exec",
                       {"Cmd": ["sh"], "Tty": True, "AttachStdin": True,
                        "AttachStdout": True, "AttachStderr": True})
    eid = r.json()["Id"]
    seen = bytearray()
    with hijack(daemon, f"/v1.45/exec/{eid}/start", {"Detach": False, "Tty": True}) as s:
        s.sendall(b"echo $((6*7))\n")
        expect(s, b"42", seen)
        s.sendall(b"\x10\x11")
        ends(s, seen)
    assert daemon.request("GET", f"/exec/{eid}/json").json()["Running"] is True
