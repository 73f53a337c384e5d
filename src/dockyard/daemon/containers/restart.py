"""Restart policies: whether an exited container runs again, and after how long (moby's
``restartmanager``).

Policies (``HostConfig.RestartPolicy``)::

    no              never
    always          after every exit
    unless-stopped  after every exit, unless it was stopped through the API
    on-failure[:N]  after a non-zero exit, at most N times (0: no maximum)

The delay before each restart starts at 100 ms and doubles (at most one minute); it goes
back to 100 ms once the container has run for 10 s. Between the exit and the restart the
container is ``restarting``.

A ``stop`` (or a ``kill`` with the stop signal, or SIGKILL) through the API *cancels* the
container's restart manager: no policy brings it back until its next start by the user or
the daemon's next start. It also sets ``manually_stopped`` (Docker's
``HasBeenManuallyStopped``, kept in the record), which keeps an ``unless-stopped``
container down for good, across daemon restarts too. At daemon start a container that
does not run is started if it ran before and its policy says so (``always``; ``unless-
stopped`` not stopped by the user; ``on-failure`` after a failure, retries left and not
stopped by the user — the last condition is dockyard's: Docker would start an
``on-failure`` container that ``docker stop`` ended with 143).

The per-container state here (delay, cancelled, pending restart) lives in memory, as in
moby; the restart count and ``manually_stopped`` live in the container's record.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from dockyard.daemon.containers.config import RestartPolicy
from dockyard.daemon.containers.model import Container

log = logging.getLogger(__name__)

FIRST_DELAY_NS = 100_000_000
MAX_DELAY_NS = 60_000_000_000
RESET_AFTER_NS = 10_000_000_000
BACKOFF_MULTIPLIER = 2


def should_restart(policy: RestartPolicy, exit_code: int, *, manually_stopped: bool,
                   restart_count: int) -> bool:
    """Whether the policy restarts a container that exited with ``exit_code``."""
    name = policy.name
    if name == "always":
        return True
    if name == "unless-stopped":
        return not manually_stopped
    if name == "on-failure":
        limit = policy.maximum_retry_count
        return exit_code != 0 and (limit <= 0 or restart_count < limit)
    return False


def next_delay(previous_ns: int, ran_ns: int) -> int:
    """The delay before the next restart, given the previous one (0: none yet) and how
    long the container ran this time."""
    if ran_ns >= RESET_AFTER_NS:
        previous_ns = 0
    if previous_ns <= 0:
        return FIRST_DELAY_NS
    return min(previous_ns * BACKOFF_MULTIPLIER, MAX_DELAY_NS)


def start_at_daemon_start(c: Container) -> bool:
    """Whether the daemon starts this (not running) container when it starts itself."""
    if c.state.started_ns == 0 or c.state.running:
        return False
    if c.host_config.restart_policy.name == "on-failure" and c.manually_stopped:
        return False
    return should_restart(c.host_config.restart_policy, c.state.exit_code,
                          manually_stopped=c.manually_stopped,
                          restart_count=c.restart_count)


def cancels_restart(signum: int, stop_signal: int | None) -> bool:
    """moby's ``killWithSignal``: a kill cancels the restart manager when it is SIGKILL,
    the container's own stop signal, or any signal if the container sets none."""
    return signum == 9 or stop_signal is None or signum == stop_signal


@dataclass(slots=True)
class _Slot:
    delay_ns: int = 0
    cancelled: bool = False
    forced: bool = False
    pending: asyncio.Task[None] | None = None


class RestartManager:
    """The daemon's restart managers, one slot per container (the event loop's only)."""

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}

    def _slot(self, container_id: str) -> _Slot:
        slot = self._slots.get(container_id)
        if slot is None:
            slot = self._slots[container_id] = _Slot()
        return slot

    def reset(self, container_id: str) -> None:
        """A start by the user (or the daemon's start): a fresh manager."""
        self.forget(container_id)

    def forget(self, container_id: str) -> None:
        slot = self._slots.pop(container_id, None)
        if slot is not None and slot.pending is not None:
            slot.pending.cancel()

    def cancel(self, container_id: str) -> None:
        """No restart until the next reset (a stop or kill through the API)."""
        slot = self._slot(container_id)
        slot.cancelled = True
        slot.forced = False

    def cancelled(self, container_id: str) -> bool:
        slot = self._slots.get(container_id)
        return slot is not None and slot.cancelled

    def force(self, container_id: str) -> None:
        """Restart after the next exit whatever the policy (the health-on-failure
        ``restart`` action); a later ``cancel`` wins."""
        slot = self._slot(container_id)
        if not slot.cancelled:
            slot.forced = True

    def decide(self, c: Container, exit_code: int, ran_ns: int) -> int | None:
        """At an exit: the delay before restarting in ns, or None for no restart."""
        slot = self._slot(c.id)
        if slot.cancelled:
            return None
        if slot.forced:
            slot.forced = False
            return 0
        if c.host_config.restart_policy.name in ("", "no"):
            return None
        slot.delay_ns = next_delay(slot.delay_ns, ran_ns)
        if not should_restart(c.host_config.restart_policy, exit_code,
                              manually_stopped=c.manually_stopped,
                              restart_count=c.restart_count):
            return None
        return slot.delay_ns

    def set_pending(self, container_id: str, task: asyncio.Task[None]) -> None:
        slot = self._slot(container_id)
        if slot.pending is not None:
            slot.pending.cancel()
        slot.pending = task

    def clear_pending(self, container_id: str, task: asyncio.Task[None]) -> None:
        slot = self._slots.get(container_id)
        if slot is not None and slot.pending is task:
            slot.pending = None

    def close(self) -> None:
        for slot in self._slots.values():
            if slot.pending is not None:
                slot.pending.cancel()
