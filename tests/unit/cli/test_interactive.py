"""The attached copy without a daemon: a socketpair plays the hijacked connection,
pipes play stdin/stdout/stderr, a pty plays the terminal."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import struct
import termios
import threading

import pytest

from dockyard.cli.commands import interactive
from dockyard.cli.commands.interactive import (
    DETACHED,
    ENDED,
    FrameSplitter,
    detach_keys,
    make_raw,
    pump,
    watch_resize,
)
from dockyard.client.http import MULTIPLEXED_STREAM, RAW_STREAM, Hijacked
from dockyard.errors import InvalidArgument


def frame(stream: int, data: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


def read_all(fd: int) -> bytes:
    out = b""
    while chunk := os.read(fd, 65536):
        out += chunk
    return out


class Stdio:
    def __init__(self) -> None:
        self.in_r, self.in_w = os.pipe()
        self.out_r, self.out_w = os.pipe()
        self.err_r, self.err_w = os.pipe()

    def outputs(self) -> tuple[bytes, bytes]:
        os.close(self.out_w)
        os.close(self.err_w)
        return read_all(self.out_r), read_all(self.err_r)

    def close(self) -> None:
        for fd in (self.in_r, self.in_w, self.out_r, self.out_w, self.err_r, self.err_w):
            try:
                os.close(fd)
            except OSError:
                pass


def test_frames_are_split_to_stdout_and_stderr_and_stdin_ends_with_a_half_close() -> None:
    ours, daemon = socket.socketpair()
    io = Stdio()
    received: list[bytes] = []

    def fake_daemon() -> None:
        data = b""
        while chunk := daemon.recv(100):  # until our half-close
            data += chunk
        received.append(data)
        daemon.sendall(frame(1, b"hello ") + frame(2, b"oops") + frame(1, b"world"))
        daemon.close()

    t = threading.Thread(target=fake_daemon)
    t.start()
    try:
        os.write(io.in_w, b"input data")
        os.close(io.in_w)
        conn = Hijacked(ours, frame(1, b"early "), MULTIPLEXED_STREAM)
        assert pump(conn, stdin_fd=io.in_r, stdout_fd=io.out_w, stderr_fd=io.err_w,
                    tty=False) == ENDED
        t.join(5)
        assert received == [b"input data"]
        assert io.outputs() == (b"early hello world", b"oops")
    finally:
        io.close()


def test_detach_keys_are_passed_on_and_the_end_is_a_detach() -> None:
    ours, daemon = socket.socketpair()
    io = Stdio()
    got: list[bytes] = []

    def fake_daemon() -> None:
        data = b""
        while b"\x10\x11" not in data:
            data += daemon.recv(100)
        got.append(data)
        daemon.close()  # the daemon saw the keys and ends the attachment

    t = threading.Thread(target=fake_daemon)
    t.start()
    try:
        os.write(io.in_w, b"ls\r\x10\x11")
        conn = Hijacked(ours, b"", RAW_STREAM)
        assert pump(conn, stdin_fd=io.in_r, stdout_fd=io.out_w, stderr_fd=io.err_w,
                    tty=True) == DETACHED
        t.join(5)
        assert got == [b"ls\r\x10\x11"]
    finally:
        io.close()


def test_detach_without_the_daemon_closing_ends_after_the_grace(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interactive, "DETACH_GRACE", 0.2)
    ours, daemon = socket.socketpair()
    io = Stdio()
    try:
        os.write(io.in_w, b"\x18x")  # ctrl-x then x
        conn = Hijacked(ours, b"", RAW_STREAM)
        assert pump(conn, stdin_fd=io.in_r, stdout_fd=io.out_w, stderr_fd=io.err_w,
                    tty=True, keys=detach_keys("ctrl-x,x")) == DETACHED
        assert daemon.recv(10) == b"\x18x"
    finally:
        daemon.close()
        io.close()


def test_without_a_tty_the_keys_are_plain_input() -> None:
    ours, daemon = socket.socketpair()
    io = Stdio()
    try:
        os.write(io.in_w, b"\x10\x11")
        os.close(io.in_w)
        daemon.sendall(b"")

        def close_later() -> None:
            data = b""
            while chunk := daemon.recv(10):
                data += chunk
            daemon.sendall(data)
            daemon.close()

        t = threading.Thread(target=close_later)
        t.start()
        conn = Hijacked(ours, b"", RAW_STREAM)
        assert pump(conn, stdin_fd=io.in_r, stdout_fd=io.out_w, stderr_fd=io.err_w,
                    tty=False) == ENDED
        t.join(5)
        assert io.outputs()[0] == b"\x10\x11"
    finally:
        io.close()


def test_frame_splitter_across_reads() -> None:
    data = frame(1, b"abc") + frame(2, b"") + frame(2, b"de")
    s = FrameSplitter()
    out = []
    for i in range(len(data)):
        out += s.feed(data[i:i + 1])
    assert out == [(1, b"abc"), (2, b""), (2, b"de")]


def test_detach_key_specs() -> None:
    assert detach_keys("") == b"\x10\x11"
    assert detach_keys("ctrl-a,x,ctrl-@,ctrl-\\") == b"\x01x\x00\x1c"
    with pytest.raises(InvalidArgument):
        detach_keys("ctrl-1")
    with pytest.raises(InvalidArgument):
        detach_keys("xy")


def test_raw_mode_is_restored() -> None:
    master, slave = os.openpty()
    try:
        before = termios.tcgetattr(slave)
        restore = make_raw(slave)
        raw = termios.tcgetattr(slave)
        assert not raw[3] & termios.ECHO and not raw[3] & termios.ICANON
        restore()
        assert termios.tcgetattr(slave) == before
        r, w = os.pipe()
        make_raw(r)()  # not a terminal: nothing happens
        os.close(r)
        os.close(w)
    finally:
        os.close(master)
        os.close(slave)


def test_resize_now_and_on_sigwinch() -> None:
    master, slave = os.openpty()
    sizes: list[tuple[int, int]] = []
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        restore = watch_resize(lambda rows, cols: sizes.append((rows, cols)), slave)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 132, 0, 0))
        os.kill(os.getpid(), signal.SIGWINCH)
        restore()
        assert sizes == [(24, 80), (50, 132)]
        assert signal.getsignal(signal.SIGWINCH) in (signal.SIG_DFL, None)
    finally:
        os.close(master)
        os.close(slave)
