"""The values of the event bus (``events``): an event and its type, as Docker names them."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class EventType(enum.Enum):
    """Docker's ``Type`` of an event (those dockyard emits so far)."""

    CONTAINER = "container"
    IMAGE = "image"
    DAEMON = "daemon"
    NETWORK = "network"
    VOLUME = "volume"


@dataclass(frozen=True, slots=True)
class Event:
    """One event, as Docker's ``events.Message`` (``scope`` is always ``local``)."""

    type: EventType
    action: str
    actor_id: str
    attributes: tuple[tuple[str, str], ...]
    time_ns: int
    scope: str = "local"

    @property
    def attrs(self) -> dict[str, str]:
        return dict(self.attributes)
