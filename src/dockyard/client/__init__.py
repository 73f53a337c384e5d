"""The Engine API client of the ``dockyard`` CLI (see :mod:`dockyard.client.http` for
why it is a small client of its own on a raw unix socket)."""

from dockyard.client.errors import APIError, DaemonUnreachable, ProtocolError
from dockyard.client.hosts import DEFAULT_HOST, resolve_host, socket_path
from dockyard.client.http import API_VERSION, Client, Hijacked, Response, demux

__all__ = [
    "API_VERSION",
    "DEFAULT_HOST",
    "APIError",
    "Client",
    "DaemonUnreachable",
    "Hijacked",
    "ProtocolError",
    "Response",
    "demux",
    "resolve_host",
    "socket_path",
]
