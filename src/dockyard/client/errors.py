"""The client's errors: an error answer of the daemon, or no daemon to answer.

Both are :mod:`dockyard.errors` kinds so callers above can catch ``DockyardError``; the
CLI prints ``Error response from daemon: <message>`` for :class:`APIError` (Docker's
words) and the connection message as is for :class:`DaemonUnreachable`.
"""

from __future__ import annotations

from dockyard.errors import DockyardError, Unavailable


class APIError(DockyardError):
    """The daemon answered with an error status; ``message`` is its ``{"message": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def not_found(self) -> bool:
        return self.status == 404

    def __str__(self) -> str:
        return self.message


class DaemonUnreachable(Unavailable):
    """The socket is missing, refuses connections or may not be opened by this user."""

    def __init__(self, host: str, reason: str = "") -> None:
        message = f"Cannot connect to the dockyard daemon at {host}. Is dockyardd running?"
        if reason:
            message += f" ({reason})"
        super().__init__(message)
        self.host = host
        self.reason = reason


class ProtocolError(Unavailable):
    """The daemon's answer was not the HTTP this client understands (a truncated head, a
    broken chunk): the connection is unusable."""
