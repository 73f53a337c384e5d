"""The reactor: readers, writers, timers, and callbacks that fail."""

from __future__ import annotations

import os

import pytest

from dockyard.runtime.supervisor.loop import Loop


def test_readers_timers_and_stop() -> None:
    loop = Loop()
    r, w = os.pipe()
    seen: list[bytes] = []
    try:
        def on_read() -> None:
            seen.append(os.read(r, 10))
            loop.remove_reader(r)

        loop.add_reader(r, on_read)
        os.write(w, b"hi")
        late = loop.call_later(0.05, lambda: seen.append(b"never"))
        late.cancel()
        loop.call_later(0.01, loop.stop)
        loop.run()
    finally:
        loop.close()
        os.close(r)
        os.close(w)
    assert seen == [b"hi"]


def test_a_failing_callback_is_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    loop = Loop()
    r, w = os.pipe()
    try:
        def boom() -> None:
            raise RuntimeError("bug")

        loop.add_writer(w, boom)
        loop.call_later(0.02, loop.stop)
        loop.run()
        loop.forget(w)
        loop.forget(w)  # forgetting twice is fine
    finally:
        loop.close()
        os.close(r)
        os.close(w)
    assert "callback" in caplog.text and "bug" in caplog.text
