"""The supervisor's refill of its spare pool: spares are forked as soon as the loop is
idle, but the zygote's memory is pre-faulted only once no container has been created,
started or exec'd in for ``QUIET`` seconds (a burst of containers does not pay for it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import pytest

from dockyard.runtime.supervisor import handlers as hmod
from dockyard.runtime.supervisor.handlers import Handlers


class FakeLoop:
    def __init__(self) -> None:
        self.later: list[tuple[float, Callable[[], None]]] = []
        self.idle: list[Callable[[], None]] = []

    def call_later(self, delay: float, cb: Callable[[], None]) -> None:
        self.later.append((delay, cb))

    def call_when_idle(self, cb: Callable[[], None], quiet: float = 0.005) -> None:
        self.idle.append(cb)


class FakePool:
    def __init__(self, to_fork: int, prefault_steps: int) -> None:
        self.to_fork = to_fork
        self.prefault_steps = prefault_steps
        self.steps: list[str] = []

    def short_of_spares(self) -> bool:
        return self.to_fork > 0

    def needs_fill(self) -> bool:
        return self.to_fork > 0 or self.prefault_steps > 0

    def fill_one(self) -> bool:
        if self.to_fork:
            self.to_fork -= 1
            self.steps.append("fork")
        elif self.prefault_steps:
            self.prefault_steps -= 1
            self.steps.append("prefault")
        return self.needs_fill()


def _handlers(pool: FakePool) -> tuple[Handlers, FakeLoop]:
    loop = FakeLoop()
    h = Handlers(cast(Any, None), cast(Any, loop), lambda: None, cast(Any, pool))
    return h, loop


def _run_idle(loop: FakeLoop) -> None:
    while loop.idle:
        loop.idle.pop(0)()


def test_spares_are_forked_at_once_and_the_prefault_waits_for_quiet(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    pool = FakePool(to_fork=2, prefault_steps=2)
    h, loop = _handlers(pool)
    h._last_work = now[0]  # a container was just created (its exit came: not young)
    h.refill_later()
    _run_idle(loop)
    assert pool.steps == ["fork", "fork"]  # not held back by the recent work
    assert len(loop.later) == 1  # the pre-faulting, put off
    delay, cb = loop.later.pop()
    assert delay == pytest.approx(hmod.QUIET)
    now[0] += hmod.QUIET / 2
    h._last_work = now[0]  # more work meanwhile: put off again
    cb()
    _run_idle(loop)
    assert pool.steps == ["fork", "fork"] and len(loop.later) == 1
    delay, cb = loop.later.pop()
    now[0] += delay
    cb()
    _run_idle(loop)
    assert pool.steps == ["fork", "fork", "prefault", "prefault"] and not loop.later


def test_a_quiet_supervisor_prefaults_right_after_forking(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "monotonic", lambda: 5000.0)
    pool = FakePool(to_fork=1, prefault_steps=3)
    h, loop = _handlers(pool)
    h.refill_later()
    _run_idle(loop)
    assert pool.steps == ["fork", "prefault", "prefault", "prefault"] and not loop.later

