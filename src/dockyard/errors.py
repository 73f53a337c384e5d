"""The one error taxonomy of dockyard.

Every error that crosses a package boundary is exactly one of these classes. The HTTP
edges map them to status codes in one function each (the Engine API and the registry have
their own tables); the CLIs print their message and exit non-zero.
"""

from __future__ import annotations


class DockyardError(Exception):
    """Base of every dockyard error; never raised itself."""


class NotFound(DockyardError):
    """The named thing does not exist."""


class AlreadyExists(DockyardError):
    """Something with that identity exists already."""


class Conflict(DockyardError):
    """The request conflicts with the current state of the thing."""


class InvalidArgument(DockyardError):
    """The request (a flag, a file, a body) is malformed or not allowed."""


class FailedPrecondition(DockyardError):
    """The system is not in a state in which the request can be carried out."""


class Unavailable(DockyardError):
    """A service needed to answer is not reachable right now; retrying may help."""


class PermissionDenied(DockyardError):
    """The caller may not do this."""


class NotImplementedByDockyard(DockyardError):
    """The feature is valid but not implemented (yet)."""


class Internal(DockyardError):
    """A bug or an unexpected condition in dockyard itself."""


# The name used across the code base, kept distinct from the builtin NotImplementedError.
NotImplemented = NotImplementedByDockyard

__all__ = [
    "AlreadyExists",
    "Conflict",
    "DockyardError",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "NotImplemented",
    "NotImplementedByDockyard",
    "PermissionDenied",
    "Unavailable",
]
